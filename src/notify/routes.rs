//! The in-app inbox: `/api/v1/notifications` (list with unread filter and cursor, unread count,
//! mark one read, read all). Only the caller's own notifications exist for them.

use super::outbox::NotificationView;
use crate::app::App;
use crate::app::Handler;
use crate::clock::rfc3339;
use crate::guard;
use crate::web::json::{no_content, ok};
use crate::web::router::Router;
use crate::web::{cursor, query, ApiError, Ctx, Params};
use rouille::{Request, Response};
use rusqlite::params;
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("GET", "/api/v1/notifications", list)
        .add("GET", "/api/v1/notifications/unread-count", unread_count)
        .add("POST", "/api/v1/notifications/read-all", read_all)
        .add("POST", "/api/v1/notifications/{id}/read", read_one);
}

fn list(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let limit = query::limit(req)?;
    let unread = match req.get_param("unread").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("unread", "must be true or false")),
    };
    let (at, id) = match req.get_param("cursor") {
        Some(c) => cursor::decode(&c)?,
        None => (i64::MAX, String::new()),
    };
    let unread_sql = if unread { "AND read_at IS NULL" } else { "" };
    let sql = format!(
        "SELECT id, kind, title, body, data, read_at, created_at FROM notifications
         WHERE user_id = ?1 {unread_sql} AND (created_at < ?2 OR (created_at = ?2 AND id < ?3))
         ORDER BY created_at DESC, id DESC LIMIT ?4"
    );
    let mut rows: Vec<(NotificationView, i64)> = app.db.read(|c| {
        let mut st = c.prepare(&sql)?;
        let id_bound = if id.is_empty() { "\u{10FFFF}".to_string() } else { id.clone() };
        let r = st.query_map(params![p.user_id, at, id_bound, limit + 1], |r| {
            let created: i64 = r.get(6)?;
            let data: String = r.get(4)?;
            Ok((
                NotificationView {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    title: r.get(2)?,
                    body: r.get(3)?,
                    data: serde_json::from_str(&data).unwrap_or_default(),
                    read: r.get::<_, Option<i64>>(5)?.is_some(),
                    created_at: rfc3339(created),
                },
                created,
            ))
        })?;
        Ok::<_, ApiError>(r.collect::<std::result::Result<Vec<_>, _>>()?)
    })?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|(v, at)| cursor::encode(*at, &v.id))
    } else {
        None
    };
    let items: Vec<NotificationView> = rows.into_iter().map(|(v, _)| v).collect();
    ok(&json!({"items": items, "nextCursor": next}))
}

fn unread_count(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let n: i64 = app.db.read(|c| {
        c.query_row("SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL", [&p.user_id], |r| {
            r.get(0)
        })
        .map_err(ApiError::from)
    })?;
    ok(&json!({"count": n}))
}

fn read_one(app: &App, _: &Ctx, req: &Request, params_: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let now = app.now_ms();
    app.db.write(|tx| {
        let n = tx.execute(
            "UPDATE notifications SET read_at = COALESCE(read_at, ?3) WHERE id = ?1 AND user_id = ?2",
            params![params_.get("id"), p.user_id, now],
        )?;
        if n == 0 {
            return Err(ApiError::not_found());
        }
        read_event(tx, &p.user_id, json!({"ids": [params_.get("id")]}), now)
    })?;
    no_content()
}

/// Tells the user's other devices to update their unread badge.
fn read_event(
    tx: &rusqlite::Transaction,
    user_id: &str,
    mut data: serde_json::Value,
    now: i64,
) -> std::result::Result<(), ApiError> {
    let unread: i64 =
        tx.query_row("SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL", [user_id], |r| {
            r.get(0)
        })?;
    data["unreadCount"] = json!(unread);
    crate::events::publish(tx, user_id, "notification.read", &data, now)?;
    Ok(())
}

fn read_all(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let now = app.now_ms();
    app.db.write(|tx| {
        tx.execute(
            "UPDATE notifications SET read_at = ?2 WHERE user_id = ?1 AND read_at IS NULL",
            params![p.user_id, now],
        )?;
        read_event(tx, &p.user_id, json!({"all": true}), now)
    })?;
    no_content()
}
