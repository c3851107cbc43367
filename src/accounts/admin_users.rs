//! The operator's view of accounts (`/admin/users`): list and inspect, lock/unlock, verify, block
//! (which ends every session). Every change is audited with the admin as actor.

use super::{find_by_id, lockout, parse_role, sessions, User, LOCK_MS, USER_COLUMNS};
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::keyset;
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
            tx.execute("UPDATE users SET locked_until = ?2 WHERE id = ?1", rusqlite::params![id, until])?;
            if !locked {
                lockout::clear_all(tx, &user.phone, user.role)?;
            }
        }
        if let Some(v) = b.verified {
            tx.execute("UPDATE users SET verified = ?2 WHERE id = ?1", rusqlite::params![id, v])?;
        }
        let mut ended = Vec::new();
        if let Some(blocked) = b.blocked {
            tx.execute("UPDATE users SET blocked = ?2 WHERE id = ?1", rusqlite::params![id, blocked])?;
            if blocked && !user.blocked {
                ended = sessions::revoke_all(tx, id, None, "blocked", now)?;
            }
        }
        tx.execute("UPDATE users SET updated_at = ?2 WHERE id = ?1", rusqlite::params![id, now])?;
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
