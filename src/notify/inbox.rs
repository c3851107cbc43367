//! The caller's in-app inbox: list (unread filter, cursor-paged), unread count, mark one or all
//! read. Marking read also sends `notification.read` so the user's other devices update their
//! badge. Only the caller's own notifications exist for them.

use super::outbox::NotificationView;
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::keyset;
use crate::db::Cached;
use crate::db::Tx;
use crate::web::auth::Principal;
use crate::web::page::{Page, PageRequest};
use crate::web::ApiError;
use rusqlite::{params, params_from_iter};
use serde_json::json;

/// The caller's notifications, newest first.
pub fn list(app: &App, p: &Principal, unread: bool, page: &PageRequest) -> Result<Page<NotificationView>, ApiError> {
    let (sql, args) = list_sql(&p.user_id, unread, page);
    let rows: Vec<(NotificationView, i64)> = app.db.read(|c| {
        let mut st = c.prepare_cached(&sql)?;
        let r = st.query_map(params_from_iter(args.iter()), |r| {
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
        Ok::<_, ApiError>(r.collect::<Result<Vec<_>, _>>()?)
    })?;
    Ok(page.finish(rows, |(v, at)| (*at, &v.id)).map(|(v, _)| v))
}

/// The SQL and arguments of one page of [`list`] (public so the query plan can be tested).
pub fn list_sql(user_id: &str, unread: bool, page: &PageRequest) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql =
        String::from("SELECT id, kind, title, body, data, read_at, created_at FROM notifications WHERE user_id = ?1");
    let mut args: Vec<rusqlite::types::Value> = vec![user_id.to_string().into()];
    if unread {
        sql.push_str(" AND read_at IS NULL");
    }
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "created_at", "id", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.fetch()));
    (sql, args)
}

pub fn unread_count(app: &App, p: &Principal) -> Result<i64, ApiError> {
    app.db.read(|c| {
        c.query_row_cached(
            "SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL",
            [&p.user_id],
            |r| r.get(0),
        )
        .map_err(ApiError::from)
    })
}

/// Marks one of the caller's notifications read (404 for anyone else's).
pub fn mark_read(app: &App, p: &Principal, id: &str) -> Result<(), ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        let n = tx.execute_cached(
            "UPDATE notifications SET read_at = COALESCE(read_at, ?3) WHERE id = ?1 AND user_id = ?2",
            params![id, p.user_id, now],
        )?;
        if n == 0 {
            return Err(ApiError::not_found());
        }
        read_event(tx, &p.user_id, json!({"ids": [id]}), now)
    })
}

pub fn mark_all_read(app: &App, p: &Principal) -> Result<(), ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        tx.execute_cached(
            "UPDATE notifications SET read_at = ?2 WHERE user_id = ?1 AND read_at IS NULL",
            params![p.user_id, now],
        )?;
        read_event(tx, &p.user_id, json!({"all": true}), now)
    })
}

/// Tells the user's other devices to update their unread badge.
fn read_event(tx: &Tx, user_id: &str, mut data: serde_json::Value, now: i64) -> Result<(), ApiError> {
    let unread: i64 = tx.query_row_cached(
        "SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL",
        [user_id],
        |r| r.get(0),
    )?;
    data["unreadCount"] = json!(unread);
    crate::events::publish(tx, user_id, "notification.read", &data, now)?;
    Ok(())
}
