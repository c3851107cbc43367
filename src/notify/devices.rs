//! Push tokens of the caller's devices. A token belongs to one user at a time: registering one held
//! by someone else moves it (the phone changed hands), so pushes never reach the previous owner.

use crate::app::App;
use crate::clock::rfc3339;
use crate::db::Cached;
use crate::web::auth::Principal;
use crate::web::ApiError;
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

/// Devices kept per user; registering more drops the oldest (long-unused phones, most likely).
pub const MAX_DEVICES: i64 = 10;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub push_token: String,
    pub platform: String,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceBody {
    pub push_token: String,
    pub platform: String,
}

/// 1-255 printable ASCII characters; no spaces, and no `/` so the token can name itself in
/// `DELETE /me/devices/{token}`.
fn check_token(t: &str) -> Result<String, &'static str> {
    let t = t.trim();
    if t.is_empty() || t.len() > 255 || !t.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
        return Err("must be 1-255 printable characters without spaces or '/'");
    }
    Ok(t.to_string())
}

fn validate(b: &DeviceBody) -> Result<(String, &'static str), ApiError> {
    let mut errs: Vec<(&str, &str)> = Vec::new();
    let token = check_token(&b.push_token).map_err(|e| errs.push(("pushToken", e))).ok();
    let platform = ["ios", "android", "web"].into_iter().find(|p| *p == b.platform);
    if platform.is_none() {
        errs.push(("platform", "must be ios, android or web"));
    }
    match (token, platform) {
        (Some(t), Some(p)) if errs.is_empty() => Ok((t, p)),
        _ => Err(ApiError::validation(errs)),
    }
}

/// The user's devices, newest first.
pub fn list(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<Device>> {
    let mut st = c.prepare(
        "SELECT push_token, platform, created_at FROM devices WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows = st.query_map([user_id], |r| {
        Ok(Device { push_token: r.get(0)?, platform: r.get(1)?, created_at: rfc3339(r.get(2)?) })
    })?;
    rows.collect()
}

/// `POST /me/devices`: idempotent for the caller's own token; takes over anyone else's.
pub fn register(app: &App, p: &Principal, b: DeviceBody) -> Result<Device, ApiError> {
    let (token, platform) = validate(&b)?;
    let now = app.now_ms();
    app.db.write(|tx| {
        super::account_holder(tx, &p.user_id)?;
        // A re-registration keeps its date; a moved token starts afresh. A disabled one is live again.
        let created: i64 = tx.query_row_cached(
            "INSERT INTO devices (push_token, user_id, platform, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (push_token) DO UPDATE SET
                 created_at = CASE WHEN devices.user_id = excluded.user_id THEN devices.created_at ELSE excluded.created_at END,
                 user_id = excluded.user_id, platform = excluded.platform, disabled_at = NULL
             RETURNING created_at",
            params![token, p.user_id, platform, now],
            |r| r.get(0),
        )?;
        tx.execute_cached(
            "DELETE FROM devices WHERE user_id = ?1 AND push_token NOT IN
                 (SELECT push_token FROM devices WHERE user_id = ?1
                  ORDER BY push_token = ?3 DESC, created_at DESC, rowid DESC LIMIT ?2)",
            params![p.user_id, MAX_DEVICES, token],
        )?;
        Ok(Device { push_token: token, platform: platform.to_string(), created_at: rfc3339(created) })
    })
}

/// `DELETE /me/devices/{token}`: 404 unless the token is the caller's.
pub fn forget(app: &App, p: &Principal, token: &str) -> Result<(), ApiError> {
    app.db.write(|tx| {
        let n =
            tx.execute_cached("DELETE FROM devices WHERE push_token = ?1 AND user_id = ?2", params![token, p.user_id])?;
        if n == 0 {
            return Err(ApiError::not_found());
        }
        Ok(())
    })
}
