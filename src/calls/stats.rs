//! Calls per local day of the business time zone with the mean MOS, for the admin statistics
//! (`GET /admin/stats` charts "calls per day with mean MOS"). A call counts on the day it started;
//! `answered` counts those that became active; `mean_mos` is the mean of the per-call MOS of the
//! day's calls that have quality reports (None when none has).

use crate::tz::BusinessTz;
use chrono::Duration;
use rusqlite::{params, Connection};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallDay {
    /// `YYYY-MM-DD` in the business time zone.
    pub date: String,
    pub calls: i64,
    pub answered: i64,
    pub mean_mos: Option<f64>,
}

/// Every local day from the one holding `from_ms` to the one holding `to_ms − 1`, oldest first
/// (days without calls included, with zeros), for calls started in `[from_ms, to_ms)`.
pub fn daily_stats(c: &Connection, from_ms: i64, to_ms: i64, tz: &BusinessTz) -> rusqlite::Result<Vec<CallDay>> {
    if to_ms <= from_ms {
        return Ok(Vec::new());
    }
    let (first, last) = (tz.local_date(from_ms), tz.local_date(to_ms - 1));
    let mut days: BTreeMap<chrono::NaiveDate, (i64, i64, f64, i64)> = BTreeMap::new();
    let mut d = first;
    while d <= last {
        days.insert(d, (0, 0, 0.0, 0));
        d += Duration::days(1);
    }
    let mut st = c.prepare_cached(
        "SELECT started_at, answered_at IS NOT NULL, mos_sum, mos_count FROM calls
         WHERE started_at >= ?1 AND started_at < ?2",
    )?;
    let rows = st.query_map(params![from_ms, to_ms], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?, r.get::<_, f64>(2)?, r.get::<_, i64>(3)?))
    })?;
    for row in rows {
        let (at, answered, sum, count) = row?;
        let e = days.entry(tz.local_date(at)).or_insert((0, 0, 0.0, 0));
        e.0 += 1;
        e.1 += i64::from(answered);
        if count > 0 {
            e.2 += sum / count as f64;
            e.3 += 1;
        }
    }
    Ok(days
        .into_iter()
        .map(|(date, (calls, answered, mos, with_mos))| CallDay {
            date: date.format("%Y-%m-%d").to_string(),
            calls,
            answered,
            mean_mos: (with_mos > 0).then(|| (mos / with_mos as f64 * 100.0).round() / 100.0),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_count_on_their_local_day_with_the_mean_mos() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut c).unwrap();
        c.pragma_update(None, "foreign_keys", "OFF").unwrap();
        let tz = BusinessTz::parse("Asia/Kolkata").unwrap();
        // 2026-12-01 00:00 IST = 2026-11-30 18:30 UTC.
        let day1 = tz.day_start(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        let insert = |id: &str, at: i64, answered: bool, sum: f64, n: i64| {
            c.execute(
                "INSERT INTO calls (id, booking_id, caller_id, caller_role, callee_id, callee_role, status, started_at,
                     answered_at, caller_seen_at, callee_seen_at, mos_sum, mos_count, updated_at)
                 VALUES (?1, 'b', 'u1', 'customer', 'u2', 'provider', 'ended', ?2, ?3, ?2, ?2, ?4, ?5, ?2)",
                params![id, at, answered.then_some(at + 1000), sum, n],
            )
            .unwrap();
        };
        insert("c1", day1 + 60_000, true, 8.0, 2); // mos 4.0
        insert("c2", day1 + 3_600_000, false, 0.0, 0);
        insert("c3", day1 + 86_400_000 - 1, true, 3.0, 1); // still Dec 1 locally
        insert("c4", day1 + 2 * 86_400_000, true, 4.4, 1); // Dec 3
        insert("c5", day1 - 1, true, 4.4, 1); // Nov 30, outside
        let out = daily_stats(&c, day1, day1 + 3 * 86_400_000, &tz).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], CallDay { date: "2026-12-01".into(), calls: 3, answered: 2, mean_mos: Some(3.5) });
        assert_eq!(out[1], CallDay { date: "2026-12-02".into(), calls: 0, answered: 0, mean_mos: None });
        assert_eq!(out[2], CallDay { date: "2026-12-03".into(), calls: 1, answered: 1, mean_mos: Some(4.4) });
        assert!(daily_stats(&c, day1, day1, &tz).unwrap().is_empty());
    }
}
