//! `/api/v1/admin/notifications`: the failed and dead-letter deliveries, and retrying one.

use crate::app::App;
use crate::app::Handler;
use crate::clock::rfc3339;
use crate::guard;
use crate::hub::Hub;
use crate::web::auth::Role;
use crate::web::json::ok;
use crate::web::router::Router;
use crate::web::{cursor, query, ApiError, Ctx, Params};
use rouille::{Request, Response};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("GET", "/api/v1/admin/notifications", list).add("POST", "/api/v1/admin/notifications/{id}/retry", retry);
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryView {
    id: String,
    notification_id: Option<String>,
    user_id: Option<String>,
    channel: String,
    target: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    next_attempt_at: String,
    created_at: String,
    updated_at: String,
    #[serde(skip)]
    updated_ms: i64,
}

const COLUMNS: &str = "id, notification_id, user_id, channel, target, status, attempts, last_error, next_attempt_at, created_at, updated_at";

fn row(r: &Row) -> rusqlite::Result<DeliveryView> {
    let updated: i64 = r.get(10)?;
    Ok(DeliveryView {
        id: r.get(0)?,
        notification_id: r.get(1)?,
        user_id: r.get(2)?,
        channel: r.get(3)?,
        target: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        last_error: r.get(7)?,
        next_attempt_at: rfc3339(r.get(8)?),
        created_at: rfc3339(r.get(9)?),
        updated_at: rfc3339(updated),
        updated_ms: updated,
    })
}

/// `?status=failed|dead` (default both), newest first, cursor-paged.
fn list(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    guard::require(app, req, &[Role::Admin])?;
    let limit = query::limit(req)?;
    let statuses: Vec<&str> = match req.get_param("status").as_deref() {
        None => vec!["failed", "dead"],
        Some("failed") => vec!["failed"],
        Some("dead") => vec!["dead"],
        Some(_) => return Err(ApiError::field("status", "must be failed or dead")),
    };
    let (at, id) = match req.get_param("cursor") {
        Some(c) => cursor::decode(&c)?,
        None => (i64::MAX, "\u{10FFFF}".to_string()),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM deliveries WHERE status IN ('{}') AND (updated_at < ?1 OR (updated_at = ?1 AND id < ?2))
         ORDER BY updated_at DESC, id DESC LIMIT ?3",
        statuses.join("','")
    );
    let mut items: Vec<DeliveryView> = app.db.read(|c| {
        let mut st = c.prepare(&sql)?;
        let r = st.query_map(params![at, id, limit + 1], row)?;
        Ok::<_, ApiError>(r.collect::<std::result::Result<Vec<_>, _>>()?)
    })?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|d| cursor::encode(d.updated_ms, &d.id))
    } else {
        None
    };
    ok(&json!({"items": items, "nextCursor": next}))
}

/// Puts a failed or dead delivery back in the queue with a fresh attempt budget.
fn retry(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = guard::require(app, req, &[Role::Admin])?;
    let id = p.get("id").to_string();
    let now = app.now_ms();
    let view = app.db.write(|tx| {
        let status: Option<String> =
            tx.query_row("SELECT status FROM deliveries WHERE id = ?1", [&id], |r| r.get(0)).optional()?;
        match status.as_deref() {
            None => return Err(ApiError::not_found()),
            Some("failed") | Some("dead") => {}
            Some(_) => return Err(ApiError::conflict("invalid_transition", "Only failed or dead deliveries can be retried.")),
        }
        tx.execute(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?2, claimed_until = NULL, updated_at = ?2
             WHERE id = ?1",
            params![id, now],
        )?;
        Hub::defer_worker();
        crate::audit::log(tx, app, ctx, Some((&me.user_id, me.role)), "admin.delivery_retried", Some(&id), json!({}))?;
        Ok(tx.query_row(&format!("SELECT {COLUMNS} FROM deliveries WHERE id = ?1"), [&id], row)?)
    })?;
    ok(&view)
}
