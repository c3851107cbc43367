//! Operations: liveness, readiness checks, metrics gauges, service facts, scheduled backups.
//!
//! House rules (the same words open every feature's `mod.rs`):
//! - `routes.rs` has `register()` with all of the feature's routes, its admin routes included,
//!   and thin handlers: parse the request (`web::json::{body, optional_body, private}`,
//!   `web::page::PageRequest::from_query`), check the caller (`guard::{principal, require}`), call
//!   ONE operation, shape the response. No SQL and no `app.db` in route files.
//! - An operation is `pub fn op(app: &App, [ctx: &Ctx,] [caller: &Principal,] input) ->
//!   Result<Out, ApiError>` (`ctx` when it audits, `caller` unless the route is public or admin
//!   and nothing depends on who asks) and opens its own transaction: `app.db.read`, or
//!   `app.db.write` (`BEGIN IMMEDIATE`). Building blocks that other operations, or other
//!   features, call inside their transaction take `&Tx` / `&Connection`.
//! - Failures are named (`ApiError::{missing, denied, refused, conflict, locked, field, …}`); the
//!   web kit owns the statuses. A violated unique constraint becomes its answer in one table,
//!   `web::error::CONSTRAINTS`; operations let the database refuse and return the error (`?`).
//! - Lists page with the kit: take a `&PageRequest`, add `db::keyset::push_before` for its
//!   cursor, fetch `page.fetch()` rows newest first, return `page.finish(rows, key)` (a `Page`,
//!   shaped with `Page::map`/`try_map`).
//! - One owner per table. accounts: users, signups, one-time codes, sessions, refresh tokens,
//!   lockouts, trusted addresses, addresses. notify: notifications, deliveries, devices,
//!   notification_settings. events: events. enquiries: enquiries. catalog: categories, sub_services, listings,
//!   listing_prices. bookings: bookings, booking_items, booking_history, ratings, reports,
//!   passes, calendar_tokens, messages and the reminder marks. Another owner's rows are read through a
//!   function it exports when it is below the reader (bookings → catalog → accounts → notify →
//!   events), and through a view it exports (`schema/0008_views.sql`) when they join into the
//!   reader's own statement or the reader may not import it (catalog never imports bookings).
//! - Periodic work is the feature's `jobs()`, listed in `src/jobs.rs`; notification kinds are
//!   constants in the feature's `notices.rs`.
//! - Spans of time are `clock::{HOUR_MS, DAY_MS}`.

pub mod backups;
pub mod gauges;
pub mod routes;

pub use backups::jobs;

use crate::app::App;
use crate::db::Cached;
use crate::db::DbError;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: &'static str,
    pub checks: Checks,
}

#[derive(Debug, Serialize)]
pub struct Checks {
    pub database: &'static str,
    pub migrations: &'static str,
    pub disk: &'static str,
    pub workers: &'static str,
}

impl Readiness {
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Free bytes on the filesystem holding `path` (statvfs).
pub fn free_disk_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    #[allow(clippy::useless_conversion)] // the field types differ between platforms
    (rc == 0).then(|| u64::from(st.f_bavail) * u64::from(st.f_frsize))
}

/// Runs every readiness check; failures are logged with detail and reported by a short word.
pub fn readiness(app: &App) -> Readiness {
    let database = match app.db.read(|c| c.query_row_cached("SELECT 1", [], |_| Ok(())).map_err(DbError::from)) {
        Ok(()) => match app.db.writable() {
            Ok(()) => "ok",
            Err(e) => {
                log::warn!("readyz: database not writable: {e}");
                "read_only"
            }
        },
        Err(e) => {
            log::warn!("readyz: database unreachable: {e}");
            "unavailable"
        }
    };
    let migrations = match app.db.read(|c| crate::db::migrate_is_current(c).map_err(DbError::from)) {
        Ok(true) => "ok",
        Ok(false) => "pending",
        Err(e) => {
            log::warn!("readyz: cannot read migrations: {e}");
            "unknown"
        }
    };
    let dir = app.db.path().parent().unwrap_or(Path::new("."));
    let min = app.config.database.min_free_disk_mb.saturating_mul(1024 * 1024);
    let disk = match free_disk_bytes(dir) {
        Some(free) if free >= min => "ok",
        Some(free) => {
            log::warn!("readyz: only {} MiB free for the database (minimum {} MiB)", free / 1_048_576, min / 1_048_576);
            "low"
        }
        None => "unknown",
    };
    let workers = match app.jobs.check() {
        Ok(()) => "ok",
        Err(e) => {
            log::warn!("readyz: {e}");
            "stalled"
        }
    };
    let all_ok = [database, migrations, disk, workers].iter().all(|c| *c == "ok");
    Readiness { status: if all_ok { "ok" } else { "degraded" }, checks: Checks { database, migrations, disk, workers } }
}

/// `GET /api/v1/meta`: the service's facts, read from the database (a cheap liveness of reads).
pub fn meta(app: &App) -> Result<serde_json::Value, crate::web::ApiError> {
    let schema_version = app.db.schema_version()?;
    let b = &app.config.business;
    Ok(serde_json::json!({
        "apiVersion": "v1",
        "version": env!("CARGO_PKG_VERSION"),
        "schemaVersion": schema_version,
        "serverTime": crate::clock::rfc3339(app.now_ms()),
        "timezone": b.timezone,
        "currency": b.currency,
        "defaultCountry": b.default_country,
    }))
}
