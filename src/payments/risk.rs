//! Risk and integrity flags for the admin (`GET /admin/payments?flagged=true`). A flag never
//! blocks a payment: it marks it for a look.

use crate::clock::{DAY_MS, HOUR_MS};
use crate::db::Cached;
use crate::db::Tx;
use rusqlite::params;

/// A gateway said a different amount or currency was paid; nothing was activated.
pub const AMOUNT_MISMATCH: &str = "amount_mismatch";
/// The payer opened many payments within the hour.
pub const VELOCITY: &str = "velocity";
/// The payer's payments failed repeatedly within a day.
pub const REPEATED_FAILURES: &str = "repeated_failures";
/// Far above what this purpose usually costs.
pub const AMOUNT_ANOMALY: &str = "amount_anomaly";
/// A success arrived after the order expired or failed (the money was taken; it was applied).
pub const LATE_SUCCESS: &str = "late_success";
/// Paid, but the listing or booking was gone: refund it.
pub const TARGET_GONE: &str = "target_gone";

/// Payments opened by one payer within an hour beyond which each new one is flagged.
pub const VELOCITY_PER_HOUR: i64 = 5;
/// Failures of one payer within a day from which the latest is flagged.
pub const FAILURES_PER_DAY: i64 = 3;
/// An amount this many times the purpose's average successful payment is flagged.
pub const ANOMALY_FACTOR: i64 = 10;

pub fn flag(tx: &Tx, payment_id: &str, flag: &str, detail: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute_cached(
        "INSERT OR IGNORE INTO payment_flags (payment_id, flag, detail, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![payment_id, flag, detail, now],
    )?;
    Ok(())
}

/// The flags a new order earns (checked before it is opened, written with it).
pub fn for_new_order(
    tx: &Tx,
    payer_id: &str,
    purpose: &str,
    amount: i64,
    now: i64,
) -> rusqlite::Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    let recent: i64 = tx.query_row_cached(
        "SELECT COUNT(*) FROM payments WHERE payer_id = ?1 AND created_at > ?2",
        params![payer_id, now - HOUR_MS],
        |r| r.get(0),
    )?;
    if recent >= VELOCITY_PER_HOUR {
        out.push((VELOCITY, format!("{} payments within the hour", recent + 1)));
    }
    let (count, avg): (i64, Option<f64>) = tx.query_row_cached(
        "SELECT COUNT(*), AVG(amount) FROM payments WHERE purpose = ?1 AND status IN ('succeeded', 'partially_refunded', 'refunded')",
        [purpose],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if let Some(avg) = avg.filter(|_| count >= 5) {
        if amount as f64 > avg * ANOMALY_FACTOR as f64 {
            out.push((AMOUNT_ANOMALY, format!("{amount} against an average of {avg:.0}")));
        }
    }
    Ok(out)
}

/// After a failure: flags it when the payer failed repeatedly today.
pub fn after_failure(tx: &Tx, payer_id: &str, payment_id: &str, now: i64) -> rusqlite::Result<()> {
    let failures: i64 = tx.query_row_cached(
        "SELECT COUNT(*) FROM payments WHERE payer_id = ?1 AND status = 'failed' AND updated_at > ?2",
        params![payer_id, now - DAY_MS],
        |r| r.get(0),
    )?;
    if failures >= FAILURES_PER_DAY {
        flag(tx, payment_id, REPEATED_FAILURES, &format!("{failures} failures within a day"), now)?;
    }
    Ok(())
}
