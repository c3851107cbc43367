//! The caller's own profile: read, update, delete (anonymise) and export everything stored about them.

use super::{addresses, check_email, check_name, current_user, sessions, UserView};
use crate::app::App;
use crate::audit;
use crate::clock::rfc3339;
use crate::db::Cached;
use crate::db::Tx;
use crate::notify::{devices, settings};
use crate::web::auth::Principal;
use crate::web::{ApiError, Ctx};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

/// Rows of sessions and audit events an export carries at most.
const EXPORT_ROWS: i64 = 1000;

/// `GET /me`.
pub fn get(app: &App, p: &Principal) -> Result<UserView, ApiError> {
    app.db.read(|c| Ok(current_user(c, &p.user_id)?.view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchBody {
    #[serde(default)]
    pub full_name: Option<String>,
    /// Absent: unchanged; null or "": cleared.
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
}

/// Maps a present JSON value (even null) to `Some`, so "absent" and "null" stay distinct.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

struct Changes {
    full_name: Option<String>,
    email: Option<Option<String>>,
}

fn validate(b: &PatchBody) -> Result<Changes, ApiError> {
    let mut errs: Vec<(&str, &str)> = Vec::new();
    let full_name = b.full_name.as_deref().and_then(|n| check_name(n).map_err(|e| errs.push(("fullName", e))).ok());
    let email = match &b.email {
        None => None,
        Some(e) => match e.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            None => Some(None),
            Some(e) => check_email(e).map(Some).map_err(|m| errs.push(("email", m))).ok(),
        },
    };
    if errs.is_empty() {
        Ok(Changes { full_name, email })
    } else {
        Err(ApiError::validation(errs))
    }
}

fn email_taken(tx: &Tx, email: &str, role: &str, user_id: &str) -> rusqlite::Result<bool> {
    let hit = tx
        .query_row(
            "SELECT 1 FROM users WHERE email = ?1 AND role = ?2 AND id <> ?3",
            params![email, role, user_id],
            |_| Ok(()),
        )
        .optional()?;
    Ok(hit.is_some())
}

/// `PATCH /me`: changes the name and/or e-mail; an e-mail held by another account of the same role is 409.
pub fn update(app: &App, ctx: &Ctx, p: &Principal, b: PatchBody) -> Result<UserView, ApiError> {
    let ch = validate(&b)?;
    let now = app.now_ms();
    app.db.write(|tx| {
        let mut user = current_user(tx, &p.user_id)?;
        let mut changed: Vec<&str> = Vec::new();
        if let Some(name) = ch.full_name.filter(|n| *n != user.full_name) {
            user.full_name = name;
            changed.push("fullName");
        }
        if let Some(email) = ch.email.filter(|e| *e != user.email) {
            if let Some(e) = &email {
                if email_taken(tx, e, user.role.as_str(), &user.id)? {
                    return Err(ApiError::conflict("already_exists", "This e-mail address is already in use."));
                }
            }
            user.email = email;
            changed.push("email");
        }
        if changed.is_empty() {
            return Ok(user.view());
        }
        tx.execute_cached(
            "UPDATE users SET full_name = ?2, email = ?3, updated_at = ?4 WHERE id = ?1",
            params![user.id, user.full_name, user.email, now],
        )?;
        // Field names only: the audit log is append-only, so personal data must not go into it.
        audit::log(
            tx,
            app,
            ctx,
            Some((&user.id, user.role)),
            "profile.updated",
            Some(&user.id),
            json!({"fields": changed}),
        )?;
        Ok(user.view())
    })
}

/// `DELETE /me`: anonymises the account in one transaction and ends every session. The row stays
/// so past bookings keep their other party; the phone is freed for a new signup.
pub fn delete(app: &App, ctx: &Ctx, p: &Principal) -> Result<(), ApiError> {
    let now = app.now_ms();
    let ended = app.db.write(|tx| {
        let user = current_user(tx, &p.user_id)?;
        tx.execute_cached(
            "UPDATE users SET full_name = 'Deleted user', phone = ?2, email = NULL, password_hash = '!',
                 locked_until = NULL, deleted_at = ?3, updated_at = ?3 WHERE id = ?1",
            params![user.id, format!("deleted:{}", user.id), now],
        )?;
        crate::notify::forget_user(tx, &user.id)?;
        tx.execute_cached("DELETE FROM addresses WHERE user_id = ?1", [&user.id])?;
        let ended = sessions::revoke_all(tx, &user.id, None, "account_deleted", now)?;
        audit::log(tx, app, ctx, Some((&user.id, user.role)), "account.deleted", Some(&user.id), json!({}))?;
        Ok::<_, ApiError>(ended)
    })?;
    sessions::forget(app, &p.user_id, &ended);
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    pub exported_at: String,
    pub user: UserView,
    pub addresses: Vec<addresses::Address>,
    pub devices: Vec<devices::Device>,
    pub notification_settings: settings::Settings,
    pub sessions: Vec<SessionRecord>,
    pub audit_log: Vec<AuditRecord>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub revoked: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub at: String,
    pub action: String,
    /// Only for the caller's own actions: an admin's address is not the caller's data.
    pub ip: Option<String>,
}

/// `GET /me/export`: everything stored about the caller, read from one snapshot. Never hashes.
pub fn export(app: &App, ctx: &Ctx, p: &Principal) -> Result<Export, ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        let user = current_user(tx, &p.user_id)?;
        audit::log(tx, app, ctx, Some((&user.id, user.role)), "account.exported", Some(&user.id), json!({}))?;
        Ok::<_, ApiError>(())
    })?;
    // One snapshot: every `app.db.read` call runs in one read transaction.
    app.db.read(|snap| {
        let user = current_user(snap, &p.user_id)?;
        Ok(Export {
            exported_at: rfc3339(now),
            addresses: addresses::list(snap, &user.id)?,
            devices: devices::list(snap, &user.id)?,
            notification_settings: settings::load(snap, &user.id)?,
            sessions: session_records(snap, &user.id)?,
            audit_log: audit_records(snap, &user.id)?,
            user: user.view(),
        })
    })
}

fn session_records(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<SessionRecord>> {
    let mut st = c.prepare(
        "SELECT id, device, ip, created_at, last_seen_at, revoked_at FROM sessions WHERE user_id = ?1
         ORDER BY created_at DESC, rowid DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![user_id, EXPORT_ROWS], |r| {
        Ok(SessionRecord {
            id: r.get(0)?,
            device: r.get(1)?,
            ip: r.get(2)?,
            created_at: rfc3339(r.get(3)?),
            last_seen_at: rfc3339(r.get(4)?),
            revoked: r.get::<_, Option<i64>>(5)?.is_some(),
        })
    })?;
    rows.collect()
}

fn audit_records(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<AuditRecord>> {
    let mut st = c.prepare(
        "SELECT at, action, CASE WHEN actor_id = ?1 THEN ip END FROM audit_log
         WHERE actor_id = ?1 OR target = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![user_id, EXPORT_ROWS], |r| {
        Ok(AuditRecord { at: rfc3339(r.get(0)?), action: r.get(1)?, ip: r.get(2)? })
    })?;
    rows.collect()
}
