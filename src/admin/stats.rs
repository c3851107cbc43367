//! `GET /admin/stats?from=&to=`: the overview's figures for a range of local days (in
//! `business.timezone`), with one row per day, zero-filled. Each owner computes its own series
//! for the whole range in a fixed number of statements (`db::series`), never one per day:
//! bookings (created, completed, cancelled), notify (deliveries sent and failed), payments
//! (succeeded, failed, revenue) and calls (calls, answered, mean MOS).

use crate::app::App;
use crate::calls::stats::CallDay;
use crate::catalog::money::Money;
use crate::payments::stats::PaymentDay;
use crate::tz::BusinessTz;
use crate::web::ApiError;
use chrono::{Duration, NaiveDate};
use serde::Serialize;

/// The longest range one request may ask for (a leap year).
pub const MAX_DAYS: i64 = 366;
/// The range when none is given: the last 30 days, today included.
pub const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    pub date: String,
    pub bookings: i64,
    pub completed: i64,
    pub cancelled: i64,
    pub revenue: Money,
    pub payments_succeeded: i64,
    pub payments_failed: i64,
    /// succeeded / (succeeded + failed); null with no payment that day.
    pub payment_success_rate: Option<f64>,
    pub notifications_sent: i64,
    pub notifications_failed: i64,
    /// sent / (sent + failed); null with no finished delivery that day.
    pub delivery_rate: Option<f64>,
    pub calls: i64,
    pub answered_calls: i64,
    pub mean_mos: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub bookings: i64,
    pub completed: i64,
    pub cancelled: i64,
    pub revenue: Money,
    pub payments_succeeded: i64,
    pub payments_failed: i64,
    pub payment_success_rate: Option<f64>,
    pub notifications_sent: i64,
    pub notifications_failed: i64,
    pub delivery_rate: Option<f64>,
    pub calls: i64,
    pub answered_calls: i64,
    /// The answered-call-weighted mean of the days' means.
    pub mean_mos: Option<f64>,
}

/// Figures of right now, not of the range (the overview's tiles).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Now {
    pub customers: i64,
    pub providers: i64,
    pub active_listings: i64,
    pub open_reports: i64,
    pub dead_letters: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub from: String,
    pub to: String,
    pub timezone: String,
    pub now: Now,
    pub totals: Totals,
    pub daily: Vec<Day>,
}

fn rate(good: i64, bad: i64) -> Option<f64> {
    let all = good + bad;
    (all > 0).then(|| good as f64 / all as f64)
}

/// The range asked for: `from`/`to` local dates, inclusive; defaults to the last 30 days, at most
/// [`MAX_DAYS`]; 400 naming the field otherwise.
pub fn range(today: NaiveDate, from: Option<&str>, to: Option<&str>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let date = |name: &'static str, v: &str| {
        crate::tz::parse_date(v).ok_or_else(|| ApiError::field(name, "must be a date YYYY-MM-DD"))
    };
    let to = match to.filter(|s| !s.is_empty()) {
        Some(t) => date("to", t)?,
        None => today,
    };
    let from = match from.filter(|s| !s.is_empty()) {
        Some(f) => date("from", f)?,
        None => to - Duration::days(DEFAULT_DAYS - 1),
    };
    if from > to {
        return Err(ApiError::field("from", "must not be after to"));
    }
    if (to - from).num_days() + 1 > MAX_DAYS {
        return Err(ApiError::field("from", "the range may cover at most 366 days"));
    }
    Ok((from, to))
}

/// `GET /admin/stats`.
pub fn stats(app: &App, from: Option<&str>, to: Option<&str>) -> Result<Stats, ApiError> {
    let tz = app.tz;
    let (first, last) = range(tz.local_date(app.now_ms()), from, to)?;
    let n = (last - first).num_days() + 1;
    let dates: Vec<NaiveDate> = (0..n).map(|i| first + Duration::days(i)).collect();
    let bounds: Vec<(i64, i64)> =
        dates.iter().map(|d| (tz.day_start(*d), tz.day_start(*d + Duration::days(1)))).collect();
    let (from_ms, to_ms) = (bounds[0].0, bounds[bounds.len() - 1].1);
    let currency = app.config.business.currency.clone();
    app.db.read(|c| {
        let bookings = crate::bookings::stats::daily(c, &bounds)?;
        let deliveries = crate::notify::stats::daily(c, &bounds)?;
        let payments = crate::payments::stats::daily_stats(c, from_ms, to_ms, tz)?;
        let calls = crate::calls::stats::daily_stats(c, from_ms, to_ms, &tz)?;
        let (customers, providers) = crate::accounts::count_by_role(c)?;
        let now = Now {
            customers,
            providers,
            active_listings: crate::catalog::listings::count_active(c)?,
            open_reports: crate::bookings::reports::open_count(c)?,
            dead_letters: crate::notify::stats::dead_count(c)?,
        };
        Ok::<_, ApiError>(assemble(&dates, &bookings, &deliveries, &payments, &calls, now, &currency, &tz))
    })
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    dates: &[NaiveDate],
    bookings: &[crate::bookings::stats::BookingDay],
    deliveries: &[crate::notify::stats::DeliveryDay],
    payments: &[PaymentDay],
    calls: &[CallDay],
    now: Now,
    currency: &str,
    tz: &BusinessTz,
) -> Stats {
    let by_date = |d: &str| payments.iter().find(|p| p.date == d).cloned().unwrap_or_default();
    let call_of = |d: &str| calls.iter().find(|p| p.date == d).cloned().unwrap_or_default();
    let mut daily = Vec::with_capacity(dates.len());
    let (mut mos_sum, mut mos_weight) = (0.0, 0i64);
    for (i, d) in dates.iter().enumerate() {
        let date = d.format("%Y-%m-%d").to_string();
        let b = bookings.get(i).copied().unwrap_or_default();
        let n = deliveries.get(i).copied().unwrap_or_default();
        let p = by_date(&date);
        let k = call_of(&date);
        if let Some(m) = k.mean_mos {
            mos_sum += m * k.answered.max(1) as f64;
            mos_weight += k.answered.max(1);
        }
        daily.push(Day {
            date,
            bookings: b.created,
            completed: b.completed,
            cancelled: b.cancelled,
            revenue: Money::new(p.revenue, currency),
            payments_succeeded: p.succeeded,
            payments_failed: p.failed,
            payment_success_rate: rate(p.succeeded, p.failed),
            notifications_sent: n.sent,
            notifications_failed: n.failed,
            delivery_rate: rate(n.sent, n.failed),
            calls: k.calls,
            answered_calls: k.answered,
            mean_mos: k.mean_mos,
        });
    }
    let sum = |f: fn(&Day) -> i64| daily.iter().map(f).sum::<i64>();
    let (ps, pf, ns, nf) = (
        sum(|d| d.payments_succeeded),
        sum(|d| d.payments_failed),
        sum(|d| d.notifications_sent),
        sum(|d| d.notifications_failed),
    );
    let totals = Totals {
        bookings: sum(|d| d.bookings),
        completed: sum(|d| d.completed),
        cancelled: sum(|d| d.cancelled),
        revenue: Money::new(sum(|d| d.revenue.amount), currency),
        payments_succeeded: ps,
        payments_failed: pf,
        payment_success_rate: rate(ps, pf),
        notifications_sent: ns,
        notifications_failed: nf,
        delivery_rate: rate(ns, nf),
        calls: sum(|d| d.calls),
        answered_calls: sum(|d| d.answered_calls),
        mean_mos: (mos_weight > 0).then(|| mos_sum / mos_weight as f64),
    };
    Stats {
        from: dates.first().map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default(),
        to: dates.last().map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default(),
        timezone: tz.0.name().to_string(),
        now,
        totals,
        daily,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_default_bound_and_refuse() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let (f, t) = range(today, None, None).unwrap();
        assert_eq!((t - f).num_days(), 29);
        assert_eq!(t, today);
        assert!(range(today, Some("2026-12-05"), Some("2026-12-04")).is_err());
        assert!(range(today, Some("2025-01-01"), Some("2026-12-04")).is_err());
        assert!(range(today, Some("2025-12-04"), Some("2026-12-03")).is_ok());
        assert!(range(today, Some("2026-13-01"), None).is_err());
        assert!(range(today, Some("yesterday"), None).is_err());
    }
}
