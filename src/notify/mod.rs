//! Notifications: every business event writes the in-app notification, the user's real-time
//! event and the external delivery in the same transaction as the event (the outbox), so none is
//! lost if the process dies. A worker sends deliveries with retries, backoff and channel fallback
//! (push → SMS → e-mail), ending in a dead-letter list an admin can retry.
//!
//! The generic machinery lives here (categories and preferences, the outbox, delivery, the
//! inbox); the kinds of notification belong to the features that send them (see [`kind`]).

pub mod dead_letters;
pub mod devices;
mod dispatch;
pub mod inbox;
pub mod kind;
pub mod outbox;
pub mod routes;
pub mod settings;
pub mod unowned;
mod worker;

pub use crate::channels::Channel;
pub use kind::{Category, Facts, Kind, Texts};

use crate::app::App;
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
pub fn forget_user(tx: &rusqlite::Transaction, user_id: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM devices WHERE user_id = ?1", [user_id])?;
    tx.execute("DELETE FROM notification_settings WHERE user_id = ?1", [user_id])?;
    Ok(())
}

pub fn recipient(c: &rusqlite::Connection, id: &str) -> rusqlite::Result<Option<Recipient>> {
    use rusqlite::OptionalExtension;
    c.query_row("SELECT id, full_name, phone, email, deleted_at FROM users WHERE id = ?1", [id], |r| {
        Ok(Recipient {
            id: r.get(0)?,
            full_name: r.get(1)?,
            phone: r.get(2)?,
            email: r.get(3)?,
            deleted: r.get::<_, Option<i64>>(4)?.is_some(),
        })
    })
    .optional()
}
