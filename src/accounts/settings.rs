//! Notification preferences: which kinds of notification go out, and on which channels.

use super::current_user;
use crate::app::App;
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

/// API.md: everything on except marketing (consent to marketing must be given, not assumed).
impl Default for Settings {
    fn default() -> Settings {
        Settings {
            booking_updates: true,
            reminders: true,
            calls: true,
            marketing: false,
            channels: Channels { push: true, sms: true, email: true },
        }
    }
}

/// The user's settings, or the defaults when they never saved any (read by notify, which honours them).
/// `GET /me/notification-settings`: the caller's settings.
pub fn get(app: &App, p: &Principal) -> Result<Settings, ApiError> {
    app.db.read(|c| load(c, &p.user_id).map_err(ApiError::from))
}

pub fn load(c: &Connection, user_id: &str) -> rusqlite::Result<Settings> {
    let p = crate::notify::outbox::prefs(c, user_id)?;
    Ok(Settings {
        booking_updates: p.booking_updates,
        reminders: p.reminders,
        calls: p.calls,
        marketing: p.marketing,
        channels: Channels { push: p.push, sms: p.sms, email: p.email },
    })
}

/// `PUT /me/notification-settings`: replaces the whole object.
pub fn put(app: &App, p: &Principal, s: Settings) -> Result<Settings, ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        current_user(tx, &p.user_id)?;
        tx.execute(
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
