//! One-time codes: 6 digits from the OS CSPRNG, stored only as a keyed hash (HMAC-SHA256 under a
//! server secret, so a stolen database does not reveal codes by brute force), 5-minute life, one
//! live code per (phone, role, purpose). Five wrong codes in a row lock the phone for 15 minutes.

use super::{LOCK_MS, MAX_FAILURES};
use crate::web::ApiError;
use hmac::{Hmac, Mac};
use rusqlite::{params, OptionalExtension, Transaction};
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

/// Stores a fresh code (replacing any live one) and returns it for sending.
pub fn issue(
    tx: &Transaction,
    key: &[u8],
    phone: &str,
    role: &str,
    purpose: Purpose,
    now: i64,
) -> rusqlite::Result<String> {
    let code = new_code();
    tx.execute(
        "INSERT INTO otp_codes (phone, role, purpose, code_hash, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (phone, role, purpose) DO UPDATE SET code_hash = excluded.code_hash,
             expires_at = excluded.expires_at, created_at = excluded.created_at",
        params![phone, role, purpose.as_str(), hash_code(key, phone, role, purpose, &code), now + CODE_TTL_MS, now],
    )?;
    Ok(code)
}

/// 429 `otp_locked` while the phone is locked.
pub fn check_lock(tx: &Transaction, phone: &str, now: i64) -> Result<(), ApiError> {
    let locked: Option<Option<i64>> =
        tx.query_row("SELECT locked_until FROM otp_failures WHERE phone = ?1", [phone], |r| r.get(0)).optional()?;
    if let Some(Some(until)) = locked {
        if until > now {
            let secs = ((until - now) + 999) / 1000;
            return Err(ApiError::new(429, "otp_locked", "Too many wrong codes; try again later.")
                .with_header("Retry-After", secs.to_string()));
        }
    }
    Ok(())
}

/// The outcome of checking a code.
pub enum Checked {
    Ok,
    /// Wrong or expired: answer 400 `invalid_code` (the fifth one also locks the phone).
    Wrong,
}

/// Checks `code`; on success the code is consumed and the failure count cleared. Wrong codes are
/// counted per phone (committed even though the request fails: the caller must commit).
pub fn check(
    tx: &Transaction,
    key: &[u8],
    phone: &str,
    role: &str,
    purpose: Purpose,
    code: &str,
    now: i64,
) -> Result<Checked, ApiError> {
    check_lock(tx, phone, now)?;
    let stored: Option<(String, i64)> = tx
        .query_row(
            "SELECT code_hash, expires_at FROM otp_codes WHERE phone = ?1 AND role = ?2 AND purpose = ?3",
            params![phone, role, purpose.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let well_formed = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let matches = match &stored {
        Some((hash, expires)) if *expires > now && well_formed => {
            crate::passwords::constant_time_eq(hash.as_bytes(), hash_code(key, phone, role, purpose, code).as_bytes())
        }
        _ => false,
    };
    if matches {
        tx.execute(
            "DELETE FROM otp_codes WHERE phone = ?1 AND role = ?2 AND purpose = ?3",
            params![phone, role, purpose.as_str()],
        )?;
        tx.execute("DELETE FROM otp_failures WHERE phone = ?1", [phone])?;
        return Ok(Checked::Ok);
    }
    tx.execute(
        "INSERT INTO otp_failures (phone, failures, locked_until) VALUES (?1, 1, NULL)
         ON CONFLICT (phone) DO UPDATE SET failures = CASE WHEN locked_until IS NOT NULL AND locked_until <= ?2
             THEN 1 ELSE failures + 1 END, locked_until = CASE WHEN locked_until <= ?2 THEN NULL ELSE locked_until END",
        params![phone, now],
    )?;
    let failures: i64 = tx.query_row("SELECT failures FROM otp_failures WHERE phone = ?1", [phone], |r| r.get(0))?;
    if failures >= MAX_FAILURES {
        tx.execute(
            "UPDATE otp_failures SET failures = 0, locked_until = ?2 WHERE phone = ?1",
            params![phone, now + LOCK_MS],
        )?;
        // The code is burnt too: a locked phone needs a fresh code afterwards.
        tx.execute("DELETE FROM otp_codes WHERE phone = ?1", [phone])?;
    }
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
