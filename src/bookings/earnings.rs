//! `GET /provider/earnings`: completed bookings' totals today and this month (by completion time,
//! calendar days of the business time zone), the last 30 days day by day, and what is pending
//! (totals of the provider's pending, accepted and in-progress bookings).

use super::views::Money;
use crate::app::App;
use crate::db::Cached;
use crate::tz::BusinessTz;
use crate::web::auth::Principal;
use crate::web::ApiError;
use chrono::{Datelike, Duration, NaiveDate};
use rusqlite::{params, Connection};
use serde::Serialize;

pub const DAYS: i64 = 30;

#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub date: String,
    pub amount: Money,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Earnings {
    pub today: Money,
    pub this_month: Money,
    pub pending: Money,
    /// The last 30 local days, oldest first, today last.
    pub daily: Vec<Day>,
}

fn completed_between(c: &Connection, provider: &str, from: i64, to: i64) -> rusqlite::Result<i64> {
    c.query_row_cached(
        "SELECT COALESCE(SUM(total), 0) FROM bookings
         WHERE provider_id = ?1 AND status = 'completed' AND completed_at >= ?2 AND completed_at < ?3",
        params![provider, from, to],
        |r| r.get(0),
    )
}

/// `GET /provider/earnings` for the calling provider, at the clock's now.
pub fn earnings(app: &App, p: &Principal) -> Result<Earnings, ApiError> {
    let now = app.now_ms();
    app.db.read(|c| Ok(compute(c, &app.tz, &app.config.business.currency, &p.user_id, now)?))
}

/// The figures of `provider` at `now`, read inside `c`.
pub fn compute(
    c: &Connection,
    tz: &BusinessTz,
    currency: &str,
    provider: &str,
    now: i64,
) -> rusqlite::Result<Earnings> {
    let today = tz.local_date(now);
    let tomorrow = today + Duration::days(1);
    let month_start = today.with_day(1).unwrap_or(today);
    let next_month = if month_start.month() == 12 {
        NaiveDate::from_ymd_opt(month_start.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(month_start.year(), month_start.month() + 1, 1)
    }
    .unwrap_or(tomorrow);
    let today_sum = completed_between(c, provider, tz.day_start(today), tz.day_start(tomorrow))?;
    let month_sum = completed_between(c, provider, tz.day_start(month_start), tz.day_start(next_month))?;
    let pending: i64 = c.query_row_cached(
        "SELECT COALESCE(SUM(total), 0) FROM bookings
         WHERE provider_id = ?1 AND status IN ('pending', 'accepted', 'in_progress')",
        [provider],
        |r| r.get(0),
    )?;
    let first = today - Duration::days(DAYS - 1);
    let mut amounts = vec![0i64; DAYS as usize];
    let mut st = c.prepare_cached(
        "SELECT completed_at, total FROM bookings
         WHERE provider_id = ?1 AND status = 'completed' AND completed_at >= ?2 AND completed_at < ?3",
    )?;
    let rows = st.query_map(params![provider, tz.day_start(first), tz.day_start(tomorrow)], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (at, total) = row?;
        let i = (tz.local_date(at) - first).num_days();
        if (0..DAYS).contains(&i) {
            amounts[i as usize] += total;
        }
    }
    let daily = amounts
        .into_iter()
        .enumerate()
        .map(|(i, amount)| Day {
            date: (first + Duration::days(i as i64)).format("%Y-%m-%d").to_string(),
            amount: Money::new(amount, currency),
        })
        .collect();
    Ok(Earnings {
        today: Money::new(today_sum, currency),
        this_month: Money::new(month_sum, currency),
        pending: Money::new(pending, currency),
        daily,
    })
}
