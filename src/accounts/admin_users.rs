//! The operator's view of accounts (`/admin/users`): list and inspect, lock/unlock, verify, block
//! (which ends every session). Every change is audited with the admin as actor.

use super::{find_by_id, lockout, parse_role, sessions, User, LOCK_MS, USER_COLUMNS};
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::keyset;
use crate::db::Cached;
use crate::web::auth::Principal;
use crate::web::page::{like_pattern, Page, PageRequest};
use crate::web::{ApiError, Ctx};
use rusqlite::params_from_iter;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    #[serde(flatten)]
    user: super::UserView,
    blocked: bool,
    locked: bool,
    locked_until: Option<String>,
    deleted: bool,
}

fn view(u: &User, now: i64) -> AdminUser {
    let locked_until = u.locked_until.filter(|t| *t > now);
    AdminUser {
        user: u.view(),
        blocked: u.blocked,
        locked: locked_until.is_some(),
        locked_until: locked_until.map(rfc3339),
        deleted: u.deleted,
    }
}

/// `role` and `q` (name, phone or e-mail) filters, newest first.
pub fn list(app: &App, role: Option<&str>, q: Option<&str>, page: &PageRequest) -> Result<Page<AdminUser>, ApiError> {
    let mut sql = format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(role) = role {
        args.push(parse_role(role, true)?.as_str().to_string().into());
        sql.push_str(&format!(" AND role = ?{}", args.len()));
    }
    if let Some(q) = q.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty()) {
        if q.chars().count() > 100 {
            return Err(ApiError::field("q", "must be at most 100 characters"));
        }
        args.push(like_pattern(&q).into());
        let n = args.len();
        sql.push_str(&format!(
            " AND (lower(full_name) LIKE ?{n} ESCAPE '\\' OR phone LIKE ?{n} ESCAPE '\\' OR email LIKE ?{n} ESCAPE '\\')"
        ));
    }
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "created_at", "id", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.fetch()));
    let now = app.now_ms();
    let users: Vec<User> = app.db.read(|c| {
        let mut st = c.prepare(&sql)?;
        let rows = st.query_map(params_from_iter(args.iter()), User::from_row)?;
        Ok::<_, ApiError>(rows.collect::<Result<Vec<_>, _>>()?)
    })?;
    Ok(page.finish(users, |u| (u.created_at, &u.id)).map(|u| view(&u, now)))
}

pub fn get(app: &App, id: &str) -> Result<AdminUser, ApiError> {
    Ok(view(&load(app, id)?, app.now_ms()))
}

fn load(app: &App, id: &str) -> Result<User, ApiError> {
    app.db.read(|c| find_by_id(c, id).map_err(ApiError::from))?.ok_or_else(ApiError::not_found)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Changes {
    locked: Option<bool>,
    verified: Option<bool>,
    blocked: Option<bool>,
}

pub fn update(app: &App, ctx: &Ctx, admin: &Principal, id: &str, b: Changes) -> Result<AdminUser, ApiError> {
    if id == admin.user_id && b.blocked == Some(true) {
        return Err(ApiError::conflict("invalid_transition", "You cannot block yourself."));
    }
    let now = app.now_ms();
    let ended = app.db.write(|tx| {
        let user = find_by_id(tx, id)?.ok_or_else(ApiError::not_found)?;
        if let Some(locked) = b.locked {
            let until = locked.then_some(now + LOCK_MS);
            tx.execute_cached("UPDATE users SET locked_until = ?2 WHERE id = ?1", rusqlite::params![id, until])?;
            if !locked {
                lockout::clear_all(tx, &user.phone, user.role)?;
            }
        }
        if let Some(v) = b.verified {
            tx.execute_cached("UPDATE users SET verified = ?2 WHERE id = ?1", rusqlite::params![id, v])?;
        }
        let mut ended = Vec::new();
        if let Some(blocked) = b.blocked {
            tx.execute_cached("UPDATE users SET blocked = ?2 WHERE id = ?1", rusqlite::params![id, blocked])?;
            if blocked && !user.blocked {
                ended = sessions::revoke_all(tx, id, None, "blocked", now)?;
            }
        }
        tx.execute_cached("UPDATE users SET updated_at = ?2 WHERE id = ?1", rusqlite::params![id, now])?;
        let changes = json!({"locked": b.locked, "verified": b.verified, "blocked": b.blocked});
        crate::audit::log(tx, app, ctx, Some((&admin.user_id, admin.role)), "admin.user_updated", Some(id), changes)?;
        Ok::<_, ApiError>(ended)
    })?;
    sessions::forget(app, id, &ended);
    get(app, id)
}

/// The forced logout: every session of `id` ends (404 for an unknown user).
pub fn logout_all(app: &App, ctx: &Ctx, admin: &Principal, id: &str) -> Result<(), ApiError> {
    let id = load(app, id)?.id;
    super::login::logout_all(app, ctx, admin, &id)
}

/// One session as the operator sees it (`GET /admin/users/{id}/sessions`): live and ended ones.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminSession {
    id: String,
    device: String,
    ip: String,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    revoked_reason: Option<String>,
    active: bool,
}

/// `GET /admin/users/{id}/sessions`: the user's 100 most recent sessions, newest first (404 for
/// an unknown user).
pub fn sessions(app: &App, id: &str) -> Result<Vec<AdminSession>, ApiError> {
    let now = app.now_ms();
    app.db.read(|c| {
        find_by_id(c, id)?.ok_or_else(ApiError::not_found)?;
        let mut st = c.prepare(
            "SELECT id, device, ip, created_at, last_seen_at, expires_at, revoked_at, revoked_reason FROM sessions
             WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 100",
        )?;
        let rows = st.query_map([id], |r| {
            let expires: i64 = r.get(5)?;
            let revoked: Option<i64> = r.get(6)?;
            Ok(AdminSession {
                id: r.get(0)?,
                device: r.get(1)?,
                ip: r.get(2)?,
                created_at: rfc3339(r.get(3)?),
                last_seen_at: rfc3339(r.get(4)?),
                expires_at: rfc3339(expires),
                revoked_at: revoked.map(rfc3339),
                revoked_reason: r.get(7)?,
                active: revoked.is_none() && expires > now,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })
}

/// The users CSV export's header.
pub const CSV_HEADER: &[&str] =
    &["id", "role", "fullName", "phone", "email", "verified", "blocked", "locked", "deleted", "createdAt"];

/// Every user (optionally of one `role`), newest first, as CSV rows; at most `max`. Audited
/// (`admin.users_exported`): the file holds every account's contact details.
pub fn export(
    app: &App,
    ctx: &Ctx,
    admin: &Principal,
    role: Option<&str>,
    max: u32,
    mut each: impl FnMut(Vec<String>),
) -> Result<(), ApiError> {
    let mut sql = format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(role) = role {
        args.push(parse_role(role, true)?.as_str().to_string().into());
        sql.push_str(" AND role = ?1");
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {max}"));
    let now = app.now_ms();
    let mut rows = 0u64;
    app.db.read(|c| {
        let mut st = c.prepare(&sql)?;
        let users = st.query_map(params_from_iter(args.iter()), User::from_row)?;
        for u in users {
            let u = u?;
            let yes = |b: bool| if b { "true" } else { "false" }.to_string();
            each(vec![
                u.id.clone(),
                u.role.as_str().to_string(),
                u.full_name.clone(),
                u.phone.clone(),
                u.email.clone().unwrap_or_default(),
                yes(u.verified),
                yes(u.blocked),
                yes(u.locked_until.is_some_and(|t| t > now)),
                yes(u.deleted),
                rfc3339(u.created_at),
            ]);
            rows += 1;
        }
        Ok::<_, ApiError>(())
    })?;
    app.db.write(|tx| {
        let details = json!({"rows": rows, "role": role});
        crate::audit::log(tx, app, ctx, Some((&admin.user_id, admin.role)), "admin.users_exported", None, details)?;
        Ok(())
    })
}
