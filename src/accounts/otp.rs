//! One-time codes: 6 digits from the OS CSPRNG, stored only as a keyed hash (HMAC-SHA256 under a
//! server secret, so a stolen database does not reveal codes by brute force), 5-minute life, one
//! live code per (phone, role, purpose) — for signups, per pending signup. Five wrong codes in a row
//! from one client address lock that address out of the phone's codes for 15 minutes.

use super::{LOCK_MS, MAX_FAILURES};
use crate::db::Cached;
use crate::db::Tx;
use crate::web::ApiError;
use hmac::{Hmac, Mac};
use rusqlite::{params, OptionalExtension};
use sha2::Sha256;

pub const CODE_TTL_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Signup,
    Reset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Signup => "signup",
            Purpose::Reset => "reset",
        }
    }
}

/// A uniformly random 6-digit code (rejection sampling: no modulo bias).
pub fn new_code() -> String {
    loop {
        let mut b = [0u8; 4];
        if getrandom::fill(&mut b).is_err() {
            continue;
        }
        let v = u32::from_le_bytes(b);
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if v < 4_294_000_000 {
            return format!("{:06}", v % 1_000_000);
        }
    }
}

pub fn hash_code(key: &[u8], phone: &str, role: &str, purpose: Purpose, code: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(format!("{phone}\n{role}\n{}\n{code}", purpose.as_str()).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Stores a fresh code (replacing any live one) and returns it for sending. Signup codes live
/// with their pending signup instead (`signup.rs`), one per signup request.
pub fn issue(tx: &Tx, key: &[u8], phone: &str, role: &str, purpose: Purpose, now: i64) -> rusqlite::Result<String> {
    let code = new_code();
    tx.execute_cached(
        "INSERT INTO otp_codes (phone, role, purpose, code_hash, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (phone, role, purpose) DO UPDATE SET code_hash = excluded.code_hash,
             expires_at = excluded.expires_at, created_at = excluded.created_at",
        params![phone, role, purpose.as_str(), hash_code(key, phone, role, purpose, &code), now + CODE_TTL_MS, now],
    )?;
    Ok(code)
}

/// 429 `otp_locked` while this client address is locked out of codes for the phone. The lock is
/// per (phone, address): an attacker locking themselves out never blocks the owner elsewhere.
pub fn check_lock(tx: &Tx, phone: &str, ip: &str, now: i64) -> Result<(), ApiError> {
    let locked: Option<Option<i64>> = tx
        .query_row("SELECT locked_until FROM otp_failures WHERE phone = ?1 AND ip = ?2", params![phone, ip], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(Some(until)) = locked {
        if until > now {
            let secs = ((until - now) + 999) / 1000;
            return Err(ApiError::locked("otp_locked", "Too many wrong codes; try again later.", secs));
        }
    }
    Ok(())
}

/// The outcome of checking a code.
pub enum Checked {
    Ok,
    /// Wrong or expired: answer 400 `invalid_code` (the fifth one also locks the address).
    Wrong,
}

pub fn well_formed(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// Counts a wrong code from `ip` (committed even though the request fails: the caller must
/// commit); the fifth in a row locks that address out for the phone.
pub fn record_wrong(tx: &Tx, phone: &str, ip: &str, now: i64) -> rusqlite::Result<()> {
    let failures: i64 = tx.query_row_cached(
        "INSERT INTO otp_failures (phone, ip, failures, locked_until, updated_at) VALUES (?1, ?2, 1, NULL, ?3)
         ON CONFLICT (phone, ip) DO UPDATE SET failures = CASE WHEN locked_until IS NOT NULL AND locked_until <= ?3
             THEN 1 ELSE failures + 1 END, locked_until = CASE WHEN locked_until <= ?3 THEN NULL ELSE locked_until END,
             updated_at = ?3
         RETURNING failures",
        params![phone, ip, now],
        |r| r.get(0),
    )?;
    if failures >= MAX_FAILURES {
        tx.execute_cached(
            "UPDATE otp_failures SET failures = 0, locked_until = ?3 WHERE phone = ?1 AND ip = ?2",
            params![phone, ip, now + LOCK_MS],
        )?;
    }
    Ok(())
}

pub fn clear_wrong(tx: &Tx, phone: &str, ip: &str) -> rusqlite::Result<()> {
    tx.execute_cached("DELETE FROM otp_failures WHERE phone = ?1 AND ip = ?2", params![phone, ip]).map(|_| ())
}

/// Checks a code kept in `otp_codes` (password resets); on success it is consumed and the
/// address's failure count cleared.
#[allow(clippy::too_many_arguments)]
pub fn check(
    tx: &Tx,
    key: &[u8],
    phone: &str,
    role: &str,
    purpose: Purpose,
    code: &str,
    ip: &str,
    now: i64,
) -> Result<Checked, ApiError> {
    check_lock(tx, phone, ip, now)?;
    let stored: Option<(String, i64)> = tx
        .query_row(
            "SELECT code_hash, expires_at FROM otp_codes WHERE phone = ?1 AND role = ?2 AND purpose = ?3",
            params![phone, role, purpose.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let matches = match &stored {
        Some((hash, expires)) if *expires > now && well_formed(code) => {
            crate::passwords::constant_time_eq(hash.as_bytes(), hash_code(key, phone, role, purpose, code).as_bytes())
        }
        _ => false,
    };
    if matches {
        tx.execute_cached(
            "DELETE FROM otp_codes WHERE phone = ?1 AND role = ?2 AND purpose = ?3",
            params![phone, role, purpose.as_str()],
        )?;
        clear_wrong(tx, phone, ip)?;
        return Ok(Checked::Ok);
    }
    record_wrong(tx, phone, ip, now)?;
    Ok(Checked::Wrong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..200).map(|_| new_code()).collect();
        assert!(codes.iter().all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        assert!(codes.len() > 190);
        let a = hash_code(b"k", "+91", "customer", Purpose::Signup, "123456");
        assert_ne!(a, hash_code(b"k", "+91", "customer", Purpose::Reset, "123456"));
        assert_ne!(a, hash_code(b"k2", "+91", "customer", Purpose::Signup, "123456"));
    }
}
