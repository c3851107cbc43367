//! Password-guessing defences, keyed by what the client claims (phone and role) rather than by a
//! found account, so an unknown phone behaves exactly like a known one:
//!
//! - **Per address**: five failures in a row from one client address lock that address out of
//!   the account for 15 minutes (429 `account_locked`, even with the right password). Other
//!   addresses are not locked: a stranger cannot lock the owner (or the admin) out.
//! - **Across addresses**: past five failures in 15 minutes from anywhere, each failure makes the
//!   next attempt from an address the account has never proved itself from wait 1 s, 2 s, 4 s …
//!   up to a minute (429 `rate_limited` + `Retry-After`). A distributed guesser gets about one
//!   guess a minute; the owner, on an address they signed in from before (or after a password
//!   reset by SMS code, which trusts the address at once), is not slowed.

use super::{LOCK_MS, MAX_FAILURES};
use crate::db::Cached;
use crate::db::Tx;
use crate::web::auth::Role;
use crate::web::ApiError;
use rusqlite::{params, Connection, OptionalExtension};

/// The slow-down stops growing here: the owner on a new address waits at most this long.
const MAX_DELAY_MS: i64 = 60_000;
/// Addresses stay trusted this long after the account last proved itself from them.
const TRUST_MS: i64 = 30 * 24 * 3600 * 1000;

/// Who is trying: the claimed account and the client address.
pub struct Attempt<'a> {
    pub phone: &'a str,
    pub role: Role,
    pub ip: &'a str,
}

pub fn locked(until: i64, now: i64) -> ApiError {
    let message = "Too many failed attempts; the account is locked for a while.";
    ApiError::locked("account_locked", message, ((until - now) + 999) / 1000)
}

/// 429 `account_locked` while this address is locked out of the account.
pub fn check_address(c: &Connection, a: &Attempt, now: i64) -> Result<(), ApiError> {
    let until: Option<Option<i64>> = c
        .query_row(
            "SELECT locked_until FROM login_failures WHERE phone = ?1 AND role = ?2 AND ip = ?3",
            params![a.phone, a.role.as_str(), a.ip],
            |r| r.get(0),
        )
        .optional()?;
    match until.flatten() {
        Some(u) if u > now => Err(locked(u, now)),
        _ => Ok(()),
    }
}

/// 429 `rate_limited` while the account-wide slow-down holds, unless `user_id` has proved itself
/// from this address. An unknown phone (`user_id` None) is never trusted, like a known phone on
/// an unknown address.
pub fn check_throttle(c: &Connection, a: &Attempt, user_id: Option<&str>, now: i64) -> Result<(), ApiError> {
    let next: Option<i64> = c
        .query_row(
            "SELECT next_allowed_at FROM login_throttle WHERE phone = ?1 AND role = ?2 AND last_failure_at > ?3",
            params![a.phone, a.role.as_str(), now - LOCK_MS],
            |r| r.get(0),
        )
        .optional()?;
    let Some(next) = next.filter(|n| *n > now) else { return Ok(()) };
    let trusted = c
        .query_row(
            "SELECT 1 FROM trusted_addresses WHERE user_id = ?1 AND ip = ?2 AND at > ?3",
            params![user_id.unwrap_or(""), a.ip, now - TRUST_MS],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if trusted {
        return Ok(());
    }
    let message = "Too many failed attempts on this account; wait a moment.";
    Err(ApiError::locked("rate_limited", message, ((next - now) + 999) / 1000))
}

/// Records a failure (committed even though the request fails). Returns the failures in a row
/// from this address; the fifth locks it.
pub fn failed(tx: &Tx, a: &Attempt, now: i64) -> rusqlite::Result<i64> {
    let role = a.role.as_str();
    let in_row: i64 = tx.query_row_cached(
        "INSERT INTO login_failures (phone, role, ip, failures, locked_until, updated_at) VALUES (?1, ?2, ?3, 1, NULL, ?4)
         ON CONFLICT (phone, role, ip) DO UPDATE SET
             failures = CASE WHEN locked_until IS NOT NULL AND locked_until <= ?4 THEN 1 ELSE failures + 1 END,
             locked_until = CASE WHEN locked_until <= ?4 THEN NULL ELSE locked_until END, updated_at = ?4
         RETURNING failures",
        params![a.phone, role, a.ip, now],
        |r| r.get(0),
    )?;
    if in_row >= MAX_FAILURES {
        tx.execute_cached(
            "UPDATE login_failures SET failures = 0, locked_until = ?4 WHERE phone = ?1 AND role = ?2 AND ip = ?3",
            params![a.phone, role, a.ip, now + LOCK_MS],
        )?;
    }
    let overall: i64 = tx.query_row_cached(
        "INSERT INTO login_throttle (phone, role, failures, last_failure_at, next_allowed_at) VALUES (?1, ?2, 1, ?3, 0)
         ON CONFLICT (phone, role) DO UPDATE SET
             failures = CASE WHEN last_failure_at <= ?3 - ?4 THEN 1 ELSE failures + 1 END, last_failure_at = ?3
         RETURNING failures",
        params![a.phone, role, now, LOCK_MS],
        |r| r.get(0),
    )?;
    if overall >= MAX_FAILURES {
        tx.execute_cached(
            "UPDATE login_throttle SET next_allowed_at = ?3 WHERE phone = ?1 AND role = ?2",
            params![a.phone, role, now + delay_ms(overall)],
        )?;
    }
    Ok(if in_row >= MAX_FAILURES { MAX_FAILURES } else { in_row })
}

/// 1 s at the fifth failure across addresses, doubling, at most a minute.
fn delay_ms(failures: i64) -> i64 {
    let steps = (failures - MAX_FAILURES).clamp(0, 16) as u32;
    (1000i64 << steps).min(MAX_DELAY_MS)
}

/// A success from this address: its failure count and the slow-down end, and the address is
/// trusted from now on.
pub fn succeeded(tx: &Tx, a: &Attempt, user_id: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute_cached(
        "DELETE FROM login_failures WHERE phone = ?1 AND role = ?2 AND ip = ?3",
        params![a.phone, a.role.as_str(), a.ip],
    )?;
    tx.execute_cached("DELETE FROM login_throttle WHERE phone = ?1 AND role = ?2", params![a.phone, a.role.as_str()])?;
    trust(tx, user_id, a.ip, now)
}

/// The account proved itself from `ip` (a login, a verified signup, a reset code).
pub fn trust(tx: &Tx, user_id: &str, ip: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute_cached(
        "INSERT INTO trusted_addresses (user_id, ip, at) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, ip) DO UPDATE SET at = excluded.at",
        params![user_id, ip, now],
    )
    .map(|_| ())
}

/// An admin's unlock also lifts every per-address lock and the slow-down.
pub fn clear_all(tx: &Tx, phone: &str, role: Role) -> rusqlite::Result<()> {
    tx.execute_cached("DELETE FROM login_failures WHERE phone = ?1 AND role = ?2", params![phone, role.as_str()])?;
    tx.execute_cached("DELETE FROM login_throttle WHERE phone = ?1 AND role = ?2", params![phone, role.as_str()])
        .map(|_| ())
}

/// Forgets failure rows nobody has touched for a day (a job).
pub fn prune(tx: &Tx, now: i64) -> rusqlite::Result<usize> {
    let day = 24 * 3600 * 1000;
    let a = tx.execute_cached("DELETE FROM login_failures WHERE updated_at < ?1", [now - day])?;
    let b = tx.execute_cached("DELETE FROM login_throttle WHERE last_failure_at < ?1", [now - day])?;
    let c = tx.execute_cached("DELETE FROM otp_failures WHERE updated_at < ?1", [now - day])?;
    Ok(a + b + c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn delay_doubles_from_one_second_and_stops_at_a_minute() {
        let d: Vec<i64> = (4..=13).map(super::delay_ms).collect();
        assert_eq!(d, vec![1000, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    }
}
