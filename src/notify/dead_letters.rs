//! The operator's view of outgoing deliveries (`/admin/notifications`): the failed and the dead
//! letters, newest first, and retrying one with a fresh attempt budget (audited).

use crate::app::App;
use crate::clock::rfc3339;
use crate::db::keyset;
use crate::db::Cached;
use crate::hub::Hub;
use crate::web::auth::Principal;
use crate::web::page::{Page, PageRequest};
use crate::web::{ApiError, Ctx};
use rusqlite::{params, params_from_iter, OptionalExtension, Row};
use serde::Serialize;
use serde_json::json;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
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

/// Deliveries in `statuses` (failed and/or dead), by last change, newest first.
pub fn list(app: &App, statuses: &[&str], page: &PageRequest) -> Result<Page<DeliveryView>, ApiError> {
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut marks = Vec::new();
    for s in statuses {
        args.push(s.to_string().into());
        marks.push(format!("?{}", args.len()));
    }
    let mut sql = format!("SELECT {COLUMNS} FROM deliveries WHERE status IN ({})", marks.join(", "));
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "updated_at", "id", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY updated_at DESC, id DESC LIMIT {}", page.fetch()));
    let items: Vec<DeliveryView> = app.db.read(|c| {
        let mut st = c.prepare(&sql)?;
        let r = st.query_map(params_from_iter(args.iter()), row)?;
        Ok::<_, ApiError>(r.collect::<Result<Vec<_>, _>>()?)
    })?;
    Ok(page.finish(items, |d| (d.updated_ms, &d.id)))
}

/// Puts a failed or dead delivery back in the queue with a fresh attempt budget.
pub fn retry(app: &App, ctx: &Ctx, admin: &Principal, id: &str) -> Result<DeliveryView, ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        let status: Option<String> =
            tx.query_row_cached("SELECT status FROM deliveries WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        match status.as_deref() {
            None => return Err(ApiError::not_found()),
            Some("failed") | Some("dead") => {}
            Some(_) => return Err(ApiError::conflict("invalid_transition", "Only failed or dead deliveries can be retried.")),
        }
        tx.execute_cached(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?2, claimed_until = NULL, updated_at = ?2
             WHERE id = ?1",
            params![id, now],
        )?;
        Hub::defer_worker();
        crate::audit::log(tx, app, ctx, Some((&admin.user_id, admin.role)), "admin.delivery_retried", Some(id), json!({}))?;
        Ok(tx.query_row_cached(&format!("SELECT {COLUMNS} FROM deliveries WHERE id = ?1"), [id], row)?)
    })
}
