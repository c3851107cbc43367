//! Passes (a customer's right to book a category that requires one, e.g. labour) and bookings
//! paid through the platform: the building blocks payments calls inside the transaction that
//! records a verified payment or a refund. `create::create` reads `passes` for `pass_required`.

use crate::clock::DAY_MS;
use crate::db::Cached;
use crate::db::Tx;
use crate::web::ctx::new_id;
use rusqlite::{params, Connection, OptionalExtension};

/// Grants `days` of pass for `category_id`, bought by `payment_id`. Passes stack like listing
/// renewals: the new one starts when the user's latest pass for the category ends (or now).
/// Returns `(valid_from, valid_until)`.
pub fn grant(
    tx: &Tx,
    user_id: &str,
    category_id: &str,
    days: i64,
    payment_id: &str,
    now: i64,
) -> rusqlite::Result<(i64, i64)> {
    let latest: Option<i64> = tx.query_row_cached(
        "SELECT MAX(valid_until) FROM passes WHERE user_id = ?1 AND category_id = ?2",
        params![user_id, category_id],
        |r| r.get(0),
    )?;
    let from = latest.unwrap_or(0).max(now);
    let until = from + days * DAY_MS;
    tx.execute_cached(
        "INSERT INTO passes (id, user_id, category_id, valid_from, valid_until, created_at, payment_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![new_id("pas"), user_id, category_id, from, until, now, payment_id],
    )?;
    Ok((from, until))
}

/// Takes back the pass bought by `payment_id` (a full refund): its window closes where it began,
/// or now if it had begun. Returns whether there was one.
pub fn revoke(tx: &Tx, payment_id: &str, now: i64) -> rusqlite::Result<bool> {
    let n = tx.execute_cached(
        "UPDATE passes SET valid_until = MAX(valid_from, MIN(valid_until, ?2)) WHERE payment_id = ?1",
        params![payment_id, now],
    )?;
    Ok(n > 0)
}

/// The end of the user's latest pass for a category, if any is still valid at `now`.
pub fn valid_until(c: &Connection, user_id: &str, category_id: &str, now: i64) -> rusqlite::Result<Option<i64>> {
    c.query_row_cached(
        "SELECT MAX(valid_until) FROM passes WHERE user_id = ?1 AND category_id = ?2 AND valid_until > ?3",
        params![user_id, category_id, now],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
}

/// Marks a booking paid through the platform (once; a second call changes nothing).
pub fn mark_paid(tx: &Tx, booking_id: &str, at: i64) -> rusqlite::Result<bool> {
    let n = tx.execute_cached(
        "UPDATE bookings SET paid_at = ?2 WHERE id = ?1 AND paid_at IS NULL",
        params![booking_id, at],
    )?;
    Ok(n > 0)
}

/// When the booking was paid through the platform, if it was.
pub fn paid_at(c: &Connection, booking_id: &str) -> rusqlite::Result<Option<i64>> {
    c.query_row_cached("SELECT paid_at FROM bookings WHERE id = ?1", [booking_id], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

/// Clears the paid mark (a full refund of the booking's payment).
pub fn mark_unpaid(tx: &Tx, booking_id: &str) -> rusqlite::Result<()> {
    tx.execute_cached("UPDATE bookings SET paid_at = NULL WHERE id = ?1", [booking_id])?;
    Ok(())
}
