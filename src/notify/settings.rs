//! Notification preferences: which kinds of notification go out, and on which channels
//! (`/me/notification-settings`; notify owns the table and honours it when delivering).

use super::outbox::{prefs, Prefs};
use crate::app::App;
use crate::db::Cached;
use crate::db::Tx;
use crate::web::auth::Principal;
use crate::web::ApiError;
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    pub booking_updates: bool,
    pub reminders: bool,
    pub calls: bool,
    pub marketing: bool,
    pub channels: Channels,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    pub push: bool,
    pub sms: bool,
    pub email: bool,
}

impl From<Prefs> for Settings {
    fn from(p: Prefs) -> Settings {
        Settings {
            booking_updates: p.booking_updates,
            reminders: p.reminders,
            calls: p.calls,
            marketing: p.marketing,
            channels: Channels { push: p.push, sms: p.sms, email: p.email },
        }
    }
}

/// A new account's row: the defaults (`Prefs::default`), so later changes are updates.
pub fn create_defaults(tx: &Tx, user_id: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute_cached(
        "INSERT INTO notification_settings (user_id, updated_at) VALUES (?1, ?2)",
        params![user_id, now],
    )?;
    Ok(())
}

/// The user's settings, or the defaults when they never saved any (read by notify, which honours them).
/// `GET /me/notification-settings`: the caller's settings.
pub fn get(app: &App, p: &Principal) -> Result<Settings, ApiError> {
    app.db.read(|c| load(c, &p.user_id).map_err(ApiError::from))
}

pub fn load(c: &Connection, user_id: &str) -> rusqlite::Result<Settings> {
    Ok(prefs(c, user_id)?.into())
}

/// `PUT /me/notification-settings`: replaces the whole object.
pub fn put(app: &App, p: &Principal, s: Settings) -> Result<Settings, ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        super::account_holder(tx, &p.user_id)?;
        tx.execute_cached(
            "INSERT INTO notification_settings
                 (user_id, booking_updates, reminders, calls, marketing, channel_push, channel_sms, channel_email, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (user_id) DO UPDATE SET booking_updates = excluded.booking_updates,
                 reminders = excluded.reminders, calls = excluded.calls, marketing = excluded.marketing,
                 channel_push = excluded.channel_push, channel_sms = excluded.channel_sms,
                 channel_email = excluded.channel_email, updated_at = excluded.updated_at",
            params![
                p.user_id,
                s.booking_updates,
                s.reminders,
                s.calls,
                s.marketing,
                s.channels.push,
                s.channels.sms,
                s.channels.email,
                now
            ],
        )?;
        Ok(load(tx, &p.user_id)?)
    })
}
