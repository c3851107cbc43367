//! The operator's dashboard and what of the admin API no single feature owns: the statistics
//! with their daily series (`stats.rs`), the audit-log listing (`audit_log.rs`), the backup
//! download (`backup.rs`), the system page's facts (`system.rs`) and the alerts with their job
//! (`alerts.rs`). Admin routes over one feature's data (lists, exports) live in that feature's
//! `routes.rs`; this module is the top feature layer and reads the others through their functions.
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
//!   passes, calendar_tokens, messages and the reminder marks. admin: admin_alerts. Another
//!   owner's rows are read through a function it exports when it is below the reader
//!   (bookings → catalog → accounts → notify → events), and through a view it exports (`schema/0008_views.sql`) when they join into the
//!   reader's own statement or the reader may not import it (catalog never imports bookings).
//! - Periodic work is the feature's `jobs()`, listed in `src/jobs.rs`; notification kinds are
//!   constants in the feature's `notices.rs`.
//! - Spans of time are `clock::{HOUR_MS, DAY_MS}`.

pub mod alerts;
pub mod audit_log;
pub mod backup;
pub mod routes;
pub mod stats;
pub mod system;

/// The admin feature's periodic work: the alerts check every `alerts.check_interval_seconds`.
pub fn jobs(app: &crate::app::App) -> Vec<crate::runner::Job<crate::app::App>> {
    let every = std::time::Duration::from_secs(app.config.alerts.check_interval_seconds.into());
    vec![crate::runner::Job::new(alerts::JOB, every, alerts::check)]
}
