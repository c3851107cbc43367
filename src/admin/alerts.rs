//! The operator's alerts: a job (`admin-alerts`, every `alerts.check_interval_seconds`) measures
//! the payment failure rate over `alerts.window_minutes`, the 5xx rate since its last check
//! (`metrics` counters), the dead-letter count and the free disk, against the `[alerts]`
//! thresholds. An alert that starts firing begins an episode: ONE notice goes out (an e-mail to
//! `email.operator` through the outbox, and/or a signed `alert.firing` to `alerts.webhook_url`);
//! when it clears, one recovery notice (`alert.resolved`). The state lives in `admin_alerts`, so
//! a restart neither repeats nor forgets an episode; `GET /admin/alerts` shows it.

use crate::app::App;
use crate::clock::rfc3339;
use crate::db::Cached;
use crate::db::Tx;
use crate::notify::Channel;
use crate::web::ApiError;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};

pub const JOB: &str = "admin-alerts";

pub const PAYMENT_FAILURES: &str = "payment_failure_rate";
pub const SERVER_ERRORS: &str = "server_error_rate";
pub const DEAD_LETTERS: &str = "dead_letters";
pub const FREE_DISK: &str = "free_disk";

/// Every alert, in the order the dashboard shows them, with its title.
pub const ALL: &[(&str, &str)] = &[
    (PAYMENT_FAILURES, "Payment failure rate"),
    (SERVER_ERRORS, "Server error (5xx) rate"),
    (DEAD_LETTERS, "Dead notification deliveries"),
    (FREE_DISK, "Free disk space"),
];

fn title(name: &str) -> &'static str {
    ALL.iter().find(|(n, _)| *n == name).map_or("Alert", |(_, t)| *t)
}

/// Failed and all settled payments since `since_ms` (the payments feature counts them).
fn payment_failures(c: &Connection, since_ms: i64) -> Result<(i64, i64), ApiError> {
    crate::payments::stats::failure_rate(c, since_ms)
}

/// One measurement that can be judged (enough samples, alert enabled).
#[derive(Debug, Clone)]
struct Reading {
    value: f64,
    threshold: f64,
    firing: bool,
    message: String,
}

/// A stored alert row.
#[derive(Debug, Clone, Default)]
struct Stored {
    firing: bool,
    since: Option<i64>,
    value: Option<f64>,
    threshold: Option<f64>,
    message: String,
    checked_at: Option<i64>,
    notified_at: Option<i64>,
    state: Value,
}

fn load(c: &Connection, name: &str) -> rusqlite::Result<Option<Stored>> {
    c.query_row_cached(
        "SELECT firing, since, value, threshold, message, checked_at, notified_at, state FROM admin_alerts WHERE name = ?1",
        [name],
        |r| {
            let state: String = r.get(7)?;
            Ok(Stored {
                firing: r.get::<_, i64>(0)? != 0,
                since: r.get(1)?,
                value: r.get(2)?,
                threshold: r.get(3)?,
                message: r.get(4)?,
                checked_at: r.get(5)?,
                notified_at: r.get(6)?,
                state: serde_json::from_str(&state).unwrap_or(Value::Null),
            })
        },
    )
    .optional()
}

/// One alert's round: its name, its reading (None: disabled or too few samples, the episode
/// state is left as it is) and the state to keep for the next round.
type Measured = (&'static str, Option<Reading>, Value);

/// What the job measured this round, per alert.
fn measure(app: &App, now: i64) -> Result<Vec<Measured>, ApiError> {
    let a = &app.config.alerts;
    let min = i64::from(a.min_samples).max(1);
    let prev_requests = app.db.read(|c| Ok::<_, ApiError>(load(c, SERVER_ERRORS)?.map(|s| s.state)))?;
    let (failed, total, dead) = app.db.read(|c| {
        let since = now - i64::from(a.window_minutes) * 60_000;
        let (f, t) = payment_failures(c, since)?;
        Ok::<_, ApiError>((f, t, crate::notify::stats::dead_count(c)?))
    })?;
    let mut out = Vec::new();

    let payments = (a.payment_failure_rate > 0.0 && total >= min).then(|| {
        let v = failed as f64 / total as f64;
        Reading {
            value: v,
            threshold: a.payment_failure_rate,
            firing: v > a.payment_failure_rate,
            message: format!(
                "{failed} of {total} payments failed in the last {} minutes ({:.0}%, threshold {:.0}%)",
                a.window_minutes,
                v * 100.0,
                a.payment_failure_rate * 100.0
            ),
        }
    });
    out.push((PAYMENT_FAILURES, payments, json!({})));

    // The 5xx rate over the responses since the baseline kept by the last judged round.
    let (all, errors) = app.metrics.totals();
    let base = prev_requests.filter(|s| s.get("total").is_some());
    let (b_all, b_err) = base
        .as_ref()
        .map(|s| (s["total"].as_u64().unwrap_or(0), s["errors"].as_u64().unwrap_or(0)))
        .unwrap_or((all, errors));
    // Counters restart with the process: a smaller reading means a fresh start from zero.
    let (b_all, b_err) = if all < b_all || errors < b_err { (0, 0) } else { (b_all, b_err) };
    let (d_all, d_err) = (all - b_all, errors - b_err);
    let judged = base.is_some() && a.server_error_rate > 0.0 && d_all as i64 >= min;
    let server = judged.then(|| {
        let v = d_err as f64 / d_all as f64;
        Reading {
            value: v,
            threshold: a.server_error_rate,
            firing: v > a.server_error_rate,
            message: format!(
                "{d_err} of {d_all} responses were server errors ({:.1}%, threshold {:.1}%)",
                v * 100.0,
                a.server_error_rate * 100.0
            ),
        }
    });
    // Keep the baseline until a round has enough requests to judge (or there was none yet).
    let next_base = if judged || base.is_none() {
        json!({"total": all, "errors": errors})
    } else {
        json!({"total": b_all, "errors": b_err})
    };
    out.push((SERVER_ERRORS, server, next_base));

    let dead_reading = (a.dead_letters > 0).then(|| Reading {
        value: dead as f64,
        threshold: f64::from(a.dead_letters),
        firing: dead >= i64::from(a.dead_letters),
        message: format!("{dead} notification deliveries are dead (threshold {})", a.dead_letters),
    });
    out.push((DEAD_LETTERS, dead_reading, json!({})));

    let dir = app.db.path().parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
    let disk = (a.min_free_disk_mb > 0).then(|| crate::system::free_disk_bytes(&dir)).flatten().map(|free| {
        let mb = free / 1_048_576;
        Reading {
            value: mb as f64,
            threshold: a.min_free_disk_mb as f64,
            firing: mb < a.min_free_disk_mb,
            message: format!("{mb} MiB free for the database (minimum {} MiB)", a.min_free_disk_mb),
        }
    });
    out.push((FREE_DISK, disk, json!({})));
    Ok(out)
}

/// The job: measure, store, and send one notice per change of state.
pub fn check(app: &App) -> Result<(), ApiError> {
    let now = app.now_ms();
    let readings = measure(app, now)?;
    app.db.write(|tx| {
        for (name, reading, state) in &readings {
            let before = load(tx, name)?.unwrap_or_default();
            let (firing, value, threshold, message) = match reading {
                Some(r) => (r.firing, Some(r.value), Some(r.threshold), r.message.clone()),
                None => (before.firing, before.value, before.threshold, before.message.clone()),
            };
            let changed = reading.is_some() && firing != before.firing;
            let since = if changed { Some(now) } else { before.since };
            let notified = if changed { Some(now) } else { before.notified_at };
            tx.execute_cached(
                "INSERT INTO admin_alerts (name, firing, since, value, threshold, message, checked_at, notified_at, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (name) DO UPDATE SET firing = ?2, since = ?3, value = ?4, threshold = ?5, message = ?6,
                   checked_at = ?7, notified_at = ?8, state = ?9",
                params![*name, firing, since, value, threshold, message, now, notified, state.to_string()],
            )?;
            if changed {
                announce(tx, app, name, firing, &message, value, threshold, now)?;
            }
        }
        Ok::<_, ApiError>(())
    })
}

/// Queues the episode's notice (firing) or its recovery notice, through the outbox (retries and
/// dead letters as for every delivery).
#[allow(clippy::too_many_arguments)]
fn announce(
    tx: &Tx,
    app: &App,
    name: &str,
    firing: bool,
    message: &str,
    value: Option<f64>,
    threshold: Option<f64>,
    now: i64,
) -> rusqlite::Result<()> {
    let t = title(name);
    if firing {
        log::warn!("alert {name} firing: {message}");
    } else {
        log::info!("alert {name} resolved: {message}");
    }
    let a = &app.config.alerts;
    if a.email {
        let (subject, text) = if firing {
            (
                format!("[BuildXpert] ALERT: {t}"),
                format!("{t} is past its threshold.\n\n{message}\n\nSee /admin/ (System).\n"),
            )
        } else {
            (format!("[BuildXpert] Resolved: {t}"), format!("{t} is back within its threshold.\n\n{message}\n"))
        };
        crate::notify::outbox::email_operator(tx, app, &subject, &text)?;
    }
    if !a.webhook_url.is_empty() {
        let kind = if firing { "alert.firing" } else { "alert.resolved" };
        let data = json!({"name": name, "title": t, "firing": firing, "value": value, "threshold": threshold, "message": message});
        let body = crate::channels::webhook::envelope(kind, &rfc3339(now), &data);
        crate::notify::outbox::queue(tx, None, None, Channel::Webhook, &a.webhook_url, &body, now)?;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    pub name: &'static str,
    pub title: &'static str,
    pub enabled: bool,
    pub firing: bool,
    pub since: Option<String>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub message: String,
    pub checked_at: Option<String>,
    pub notified_at: Option<String>,
}

/// `GET /admin/alerts`: every alert, firing ones first.
pub fn list(app: &App) -> Result<Vec<AlertView>, ApiError> {
    let a = &app.config.alerts;
    let mut out = app.db.read(|c| {
        let mut v = Vec::new();
        for (name, t) in ALL {
            let s = load(c, name)?.unwrap_or_default();
            let enabled = match *name {
                PAYMENT_FAILURES => a.payment_failure_rate > 0.0,
                SERVER_ERRORS => a.server_error_rate > 0.0,
                DEAD_LETTERS => a.dead_letters > 0,
                _ => a.min_free_disk_mb > 0,
            };
            v.push(AlertView {
                name,
                title: t,
                enabled,
                firing: s.firing,
                since: s.since.map(rfc3339),
                value: s.value,
                threshold: s.threshold,
                message: s.message,
                checked_at: s.checked_at.map(rfc3339),
                notified_at: s.notified_at.map(rfc3339),
            });
        }
        Ok::<_, ApiError>(v)
    })?;
    out.sort_by_key(|v| !v.firing);
    Ok(out)
}
