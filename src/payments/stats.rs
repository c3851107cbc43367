//! Figures for the admin dashboard and the operator alerts: payments per local day of the business
//! time zone, and the recent failure rate.

use crate::db::Cached;
use crate::tz::BusinessTz;
use crate::web::ApiError;
use chrono::NaiveDate;
use rusqlite::{params, Connection};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PaymentDay {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    pub succeeded: i64,
    pub failed: i64,
    /// Minor units paid that day, refunds subtracted on the day they succeeded.
    pub revenue: i64,
}

/// One entry per local day touched by `[from_ms, to_ms)`, oldest first, empty days included.
/// A payment counts on the day it completed (`succeeded` also covers payments refunded later).
pub fn daily_stats(conn: &Connection, from_ms: i64, to_ms: i64, tz: BusinessTz) -> Result<Vec<PaymentDay>, ApiError> {
    let mut days: BTreeMap<NaiveDate, PaymentDay> = BTreeMap::new();
    if to_ms <= from_ms {
        return Ok(Vec::new());
    }
    let (first, last) = (tz.local_date(from_ms), tz.local_date(to_ms - 1));
    let mut d = first;
    while d <= last {
        days.insert(d, PaymentDay { date: d.format("%Y-%m-%d").to_string(), succeeded: 0, failed: 0, revenue: 0 });
        d = match d.succ_opt() {
            Some(n) => n,
            None => break,
        };
    }
    let mut st = conn.prepare_cached(
        "SELECT status, amount, completed_at FROM payments
         WHERE completed_at >= ?1 AND completed_at < ?2 AND status IN ('succeeded', 'partially_refunded', 'refunded', 'failed')",
    )?;
    let rows = st.query_map(params![from_ms, to_ms], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })?;
    for row in rows {
        let (status, amount, at) = row?;
        if let Some(day) = days.get_mut(&tz.local_date(at)) {
            if status == "failed" {
                day.failed += 1;
            } else {
                day.succeeded += 1;
                day.revenue += amount;
            }
        }
    }
    let mut st = conn.prepare_cached(
        "SELECT amount, completed_at FROM payment_refunds WHERE status = 'succeeded' AND completed_at >= ?1 AND completed_at < ?2",
    )?;
    let rows = st.query_map(params![from_ms, to_ms], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (amount, at) = row?;
        if let Some(day) = days.get_mut(&tz.local_date(at)) {
            day.revenue -= amount;
        }
    }
    Ok(days.into_values().collect())
}

/// `(failed, settled)` since `since_ms`: payments completed as failed, and all completed
/// (succeeded, refunded later or not, and failed).
pub fn failure_rate(conn: &Connection, since_ms: i64) -> Result<(i64, i64), ApiError> {
    Ok(conn.query_row_cached(
        "SELECT COALESCE(SUM(status = 'failed'), 0), COUNT(*) FROM payments
         WHERE completed_at >= ?1 AND status IN ('succeeded', 'partially_refunded', 'refunded', 'failed')",
        [since_ms],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_local_and_refunds_subtract_on_their_day() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut c).unwrap();
        c.pragma_update(None, "foreign_keys", "OFF").unwrap();
        let tz = BusinessTz::parse("Asia/Kolkata").unwrap();
        // 2026-01-01T00:00 IST = 2025-12-31T18:30Z.
        let day1 = tz.day_start(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        let day2 = day1 + crate::clock::DAY_MS;
        let pay = |id: &str, status: &str, amount: i64, at: i64| {
            c.execute_cached(
                "INSERT INTO payments (id, payer_id, purpose, target_id, amount, currency, gateway, status, expires_at,
                     created_at, updated_at, completed_at)
                 VALUES (?1, 'u', 'pass', 'c', ?3, 'INR', 'sandbox', ?2, 0, ?4, ?4, ?4)",
                params![id, status, amount, at],
            )
            .unwrap();
        };
        pay("p1", "succeeded", 9900, day1 + 1000);
        pay("p2", "refunded", 9900, day1 + 2000);
        pay("p3", "failed", 9900, day2 + 1000);
        c.execute_cached(
            "INSERT INTO payment_refunds (id, payment_id, amount, reason, status, created_at, updated_at, completed_at)
             VALUES ('r1', 'p2', 9900, 'x', 'succeeded', ?1, ?1, ?1)",
            [day2 + 5000],
        )
        .unwrap();
        let days = daily_stats(&c, day1, day2 + crate::clock::DAY_MS, tz).unwrap();
        assert_eq!(
            days,
            vec![
                PaymentDay { date: "2026-01-01".into(), succeeded: 2, failed: 0, revenue: 19800 },
                PaymentDay { date: "2026-01-02".into(), succeeded: 0, failed: 1, revenue: -9900 },
            ]
        );
        assert_eq!(failure_rate(&c, day1).unwrap(), (1, 3));
        assert_eq!(failure_rate(&c, day2).unwrap(), (1, 1));
    }
}
