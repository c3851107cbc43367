//! Notifications: every business event writes the in-app notification, the user's real-time
//! event and the external delivery in the same transaction as the event (the outbox), so none is
//! lost if the process dies. A worker sends deliveries with retries, backoff and channel fallback
//! (push → SMS → e-mail), ending in a dead-letter list an admin can retry.
//!
//! The generic machinery lives here (categories and preferences, the outbox, delivery, the
//! inbox); the kinds of notification belong to the features that send them (see [`kind`]).
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

pub mod dead_letters;
pub mod devices;
mod dispatch;
pub mod inbox;
pub mod kind;
pub mod outbox;
pub mod routes;
pub mod settings;
pub mod stats;
pub mod unowned;
mod worker;

pub use crate::channels::Channel;
pub use kind::{Category, Facts, Kind, Texts};

use crate::app::App;
use crate::db::Cached;
use crate::db::Tx;
use std::sync::Arc;
use std::thread::JoinHandle;

/// The order external delivery falls back along.
pub const FALLBACK: [Channel; 3] = [Channel::Push, Channel::Sms, Channel::Email];

/// The notifier's threads: the delivery worker and the one-time-code sender.
pub struct Workers {
    deliveries: worker::Worker,
    codes: Option<JoinHandle<()>>,
    app: Arc<App>,
}

/// Starts the notifier's threads (the server does, once it serves).
pub fn start(app: Arc<App>) -> Workers {
    let deliveries = worker::Worker::start(app.clone());
    let a = app.clone();
    let codes = std::thread::Builder::new()
        .name("sms".into())
        .spawn(move || a.codes.run(&a.senders, &a.outbound))
        .map_err(|e| log::error!("cannot start the code sender: {e}"))
        .ok();
    Workers { deliveries, codes, app }
}

impl Workers {
    /// Stops both after the send in progress (undelivered outbox rows wait for the next start).
    pub fn stop(self) {
        self.app.codes.close();
        self.deliveries.stop();
        if let Some(h) = self.codes {
            let _ = h.join();
        }
    }
}

/// Who a notification goes to (read here, so notify does not depend on the accounts feature).
#[derive(Debug, Clone)]
pub struct Recipient {
    pub id: String,
    pub full_name: String,
    pub phone: String,
    pub email: Option<String>,
    pub deleted: bool,
}

/// The caller's own live account, or 401 (as `accounts::current_user`, read here through the
/// recipient lookup because notify sits below accounts).
pub fn account_holder(c: &rusqlite::Connection, user_id: &str) -> Result<Recipient, crate::web::ApiError> {
    match recipient(c, user_id)? {
        Some(r) if !r.deleted => Ok(r),
        _ => Err(crate::web::ApiError::unauthenticated()),
    }
}

/// A deleted account's push devices and preferences go with it.
pub fn forget_user(tx: &Tx, user_id: &str) -> rusqlite::Result<()> {
    tx.execute_cached("DELETE FROM devices WHERE user_id = ?1", [user_id])?;
    tx.execute_cached("DELETE FROM notification_settings WHERE user_id = ?1", [user_id])?;
    Ok(())
}

pub fn recipient(c: &rusqlite::Connection, id: &str) -> rusqlite::Result<Option<Recipient>> {
    use rusqlite::OptionalExtension;
    // Through accounts' view: notify sits below accounts and does not read its table.
    c.prepare_cached("SELECT id, full_name, phone, email, deleted FROM user_directory WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Recipient {
                id: r.get(0)?,
                full_name: r.get(1)?,
                phone: r.get(2)?,
                email: r.get(3)?,
                deleted: r.get::<_, i64>(4)? != 0,
            })
        })
        .optional()
}
