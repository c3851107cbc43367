//! The per-user event log: every business event a user should see in real time is a row, in the
//! same transaction as the change it reports. The global row id is the cursor, so a client that
//! polls with the last id it saw never misses or repeats an event, even across reconnects.
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

pub mod routes;
pub mod wait;

use crate::clock::rfc3339;
use crate::db::Cached;
use crate::db::Tx;
use crate::hub::Hub;
use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::Value;

/// Most events returned by one poll (the client polls again with the new cursor).
pub const PAGE: u32 = 100;

/// Records an event for `user_id` and wakes their long-polls after the commit.
pub fn publish(tx: &Tx, user_id: &str, event_type: &str, data: &Value, now: i64) -> rusqlite::Result<i64> {
    tx.execute_cached(
        "INSERT INTO events (user_id, type, data, at) VALUES (?1, ?2, ?3, ?4)",
        params![user_id, event_type, data.to_string(), now],
    )?;
    Hub::defer_user(user_id);
    Ok(tx.last_insert_rowid())
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Value,
    pub at: String,
}

/// The user's events after `cursor`, oldest first, at most `limit`; with the id of the last one.
pub fn after(c: &Connection, user_id: &str, cursor: i64, limit: u32) -> rusqlite::Result<(Vec<EventView>, i64)> {
    let mut st =
        c.prepare_cached("SELECT id, type, data, at FROM events WHERE user_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3")?;
    let mut last = cursor;
    let rows = st.query_map(params![user_id, cursor, limit], |r| {
        let id: i64 = r.get(0)?;
        let data: String = r.get(2)?;
        Ok((id, r.get::<_, String>(1)?, data, r.get::<_, i64>(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, data, at) = row?;
        last = id;
        out.push(EventView {
            id: id.to_string(),
            kind,
            data: serde_json::from_str(&data).unwrap_or(Value::Null),
            at: rfc3339(at),
        });
    }
    Ok((out, last))
}

/// The newest event id overall: a new client starts from here ("from now on").
pub fn head(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row_cached("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
}

/// Deletes events older than `cutoff_ms` (retention job). Cursors stay valid: ids are never reused.
pub fn prune(tx: &Tx, cutoff_ms: i64) -> rusqlite::Result<usize> {
    tx.execute_cached("DELETE FROM events WHERE at < ?1", [cutoff_ms])
}

/// The cursor "now": the id of the newest event (a client starting without one gets this).
pub fn current_cursor(app: &crate::app::App) -> Result<i64, crate::web::ApiError> {
    app.db.read(|c| head(c).map_err(crate::web::ApiError::from))
}

/// A page of `user`'s events after `cursor`, and the cursor after them.
pub fn page_after(
    app: &crate::app::App,
    user: &str,
    cursor: i64,
) -> Result<(Vec<EventView>, i64), crate::web::ApiError> {
    app.db.read(|c| after(c, user, cursor, PAGE).map_err(crate::web::ApiError::from))
}

/// When each user last polled `GET /events` (ms on the app's clock), kept in memory: a liveness
/// signal for features above (calls close a call whose party stopped polling). A restart forgets
/// it; the client's next poll records it again.
static LAST_POLL: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, i64>>> =
    std::sync::LazyLock::new(Default::default);

/// Records that `user` polled at `now`.
pub fn touch(user: &str, now: i64) {
    let mut m = LAST_POLL.lock().unwrap_or_else(|e| e.into_inner());
    let e = m.entry(user.to_string()).or_insert(now);
    *e = (*e).max(now);
}

/// When `user` last polled, if since the start.
pub fn last_poll(user: &str) -> Option<i64> {
    LAST_POLL.lock().unwrap_or_else(|e| e.into_inner()).get(user).copied()
}

/// Forgets polls older than `cutoff_ms` (with the retention job).
fn forget_polls(cutoff_ms: i64) {
    LAST_POLL.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, at| *at >= cutoff_ms);
}

/// The event log's periodic work, on the one runner (src/jobs.rs lists every feature's).
pub fn jobs() -> Vec<crate::runner::Job<crate::app::App>> {
    // Events are kept at least `events.retention_hours` for clients to catch up.
    vec![crate::runner::Job::new("events-prune", std::time::Duration::from_secs(600), |app: &crate::app::App| {
        let cutoff = app.now_ms() - i64::from(app.config.events.retention_hours) * 3_600_000;
        forget_polls(app.now_ms() - 3_600_000);
        app.db.write(|tx| prune(tx, cutoff).map_err(crate::db::DbError::from))
    })]
}
