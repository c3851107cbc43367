//! `/admin/users`: list and inspect accounts, lock/unlock, verify, block (which ends every
//! session), and force a logout. Every change is audited with the admin as actor.

use crate::accounts::{self, find_by_id, guard, sessions, User, LOCK_MS, USER_COLUMNS};
use crate::app::App;
use crate::clock::rfc3339;
use crate::routes::Handler;
use crate::web::auth::{Principal, Role};
use crate::web::json::{no_content, ok, read_json};
use crate::web::router::Router;
use crate::web::{cursor, query, ApiError, Ctx, Params};
use rouille::{Request, Response};
use rusqlite::params_from_iter;
use serde::{Deserialize, Serialize};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("GET", "/api/v1/admin/users", list)
        .add("GET", "/api/v1/admin/users/{id}", get)
        .add("PATCH", "/api/v1/admin/users/{id}", patch)
        .add("POST", "/api/v1/admin/users/{id}/logout-all", logout_all)
        .add("DELETE", "/api/v1/admin/users/{id}/calendar-token", revoke_calendar);
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminUser {
    #[serde(flatten)]
    user: accounts::UserView,
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

fn admin(app: &App, req: &Request) -> std::result::Result<Principal, ApiError> {
    guard::require(app, req, &[Role::Admin])
}

/// `?role=&q=&limit=&cursor=`, newest first. `q` matches name, phone or e-mail.
fn list(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    admin(app, req)?;
    let limit = query::limit(req)?;
    let mut sql = format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(role) = req.get_param("role") {
        let role = accounts::parse_role(&role, true)?;
        args.push(role.as_str().to_string().into());
        sql.push_str(&format!(" AND role = ?{}", args.len()));
    }
    if let Some(q) = req.get_param("q").map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty()) {
        if q.chars().count() > 100 {
            return Err(ApiError::field("q", "must be at most 100 characters"));
        }
        let like = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        args.push(like.into());
        let n = args.len();
        sql.push_str(&format!(
            " AND (lower(full_name) LIKE ?{n} ESCAPE '\\' OR phone LIKE ?{n} ESCAPE '\\' OR email LIKE ?{n} ESCAPE '\\')"
        ));
    }
    if let Some(c) = req.get_param("cursor") {
        let (at, id) = cursor::decode(&c)?;
        crate::db::keyset::push_before(&mut sql, &mut args, "created_at", "id", at, id);
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", limit + 1));
    let now = app.now_ms();
    let mut users: Vec<User> = app.db.read(|c| {
        let mut st = c.prepare(&sql)?;
        let rows = st.query_map(params_from_iter(args.iter()), User::from_row)?;
        Ok::<_, ApiError>(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    })?;
    let next = (users.len() > limit as usize).then(|| {
        users.truncate(limit as usize);
        users.last().map(|u| cursor::encode(u.created_at, &u.id))
    });
    let items: Vec<AdminUser> = users.iter().map(|u| view(u, now)).collect();
    ok(&json!({"items": items, "nextCursor": next.flatten()}))
}

fn load(app: &App, id: &str) -> std::result::Result<User, ApiError> {
    app.db.read(|c| find_by_id(c, id).map_err(ApiError::from))?.ok_or_else(ApiError::not_found)
}

fn get(app: &App, _: &Ctx, req: &Request, p: &Params) -> Result {
    admin(app, req)?;
    ok(&view(&load(app, p.get("id"))?, app.now_ms()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchBody {
    locked: Option<bool>,
    verified: Option<bool>,
    blocked: Option<bool>,
}

fn patch(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = admin(app, req)?;
    let b: PatchBody = read_json(req, app.config.server.body_limit_bytes)?;
    let id = p.get("id").to_string();
    if id == me.user_id && b.blocked == Some(true) {
        return Err(ApiError::conflict("invalid_transition", "You cannot block yourself."));
    }
    let now = app.now_ms();
    let ended = app.db.write(|tx| {
        let user = find_by_id(tx, &id)?.ok_or_else(ApiError::not_found)?;
        if let Some(locked) = b.locked {
            let until = locked.then_some(now + LOCK_MS);
            tx.execute(
                "UPDATE users SET locked_until = ?2, failed_logins = 0 WHERE id = ?1",
                rusqlite::params![id, until],
            )?;
            if !locked {
                accounts::lockout::clear_all(tx, &user.phone, user.role)?;
            }
        }
        if let Some(v) = b.verified {
            tx.execute("UPDATE users SET verified = ?2 WHERE id = ?1", rusqlite::params![id, v])?;
        }
        let mut ended = Vec::new();
        if let Some(blocked) = b.blocked {
            tx.execute("UPDATE users SET blocked = ?2 WHERE id = ?1", rusqlite::params![id, blocked])?;
            if blocked && !user.blocked {
                ended = sessions::revoke_all(tx, &id, None, "blocked", now)?;
            }
        }
        tx.execute("UPDATE users SET updated_at = ?2 WHERE id = ?1", rusqlite::params![id, now])?;
        let changes = json!({"locked": b.locked, "verified": b.verified, "blocked": b.blocked});
        accounts::audit(tx, app, ctx, Some((&me.user_id, me.role)), "admin.user_updated", Some(&id), changes)?;
        Ok::<_, ApiError>(ended)
    })?;
    sessions::forget(app, &id, &ended);
    ok(&view(&load(app, &id)?, now))
}

fn logout_all(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = admin(app, req)?;
    let id = load(app, p.get("id"))?.id;
    accounts::login::logout_all(app, ctx, &me, &id)?;
    no_content()
}

/// `DELETE /admin/users/{id}/calendar-token`: the provider's calendar feed URL stops working
/// (204 also when there was none; audited).
fn revoke_calendar(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = admin(app, req)?;
    let id = p.get("id").to_string();
    app.db.write(|tx| {
        find_by_id(tx, &id)?.ok_or_else(ApiError::not_found)?;
        let revoked = crate::bookings::calendar::revoke(tx, &id)?;
        let details = json!({"revoked": revoked > 0});
        accounts::audit(tx, app, ctx, Some((&me.user_id, me.role)), "admin.calendar_revoked", Some(&id), details)?;
        Ok::<_, ApiError>(())
    })?;
    no_content()
}
