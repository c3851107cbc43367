//! The operator's side of enquiries (`/admin/enquiries`): the list by status, newest first, and
//! opening or closing one (audited).

use super::{row, Enquiry, Status, COLUMNS};
use crate::app::App;
use crate::db::keyset;
use crate::db::Cached;
use crate::web::auth::Principal;
use crate::web::page::{Page, PageRequest};
use crate::web::{ApiError, Ctx};
use rusqlite::{params, params_from_iter, OptionalExtension};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    pub status: String,
}

/// Enquiries in `status` (all when `None`), newest first.
pub fn list(app: &App, status: Option<Status>, page: &PageRequest) -> Result<Page<Enquiry>, ApiError> {
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut sql = format!("SELECT {COLUMNS} FROM enquiries WHERE 1 = 1");
    if let Some(s) = status {
        args.push(s.as_str().to_string().into());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "created_at", "id", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.fetch()));
    let items: Vec<Enquiry> = app.db.read(|c| {
        let mut st = c.prepare(&sql)?;
        let r = st.query_map(params_from_iter(args.iter()), row)?;
        Ok::<_, ApiError>(r.collect::<Result<Vec<_>, _>>()?)
    })?;
    Ok(page.finish(items, |e| (e.created_ms, &e.id)))
}

/// Opens or closes an enquiry; answers it as it now is.
pub fn set_status(app: &App, ctx: &Ctx, admin: &Principal, id: &str, b: SetStatus) -> Result<Enquiry, ApiError> {
    let status = Status::parse(&b.status).ok_or_else(|| ApiError::field("status", "must be open or closed"))?;
    let now = app.now_ms();
    app.db.write(|tx| {
        let from: Option<String> =
            tx.query_row_cached("SELECT status FROM enquiries WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        let Some(from) = from else { return Err(ApiError::missing("No such enquiry.")) };
        if from != status.as_str() {
            tx.execute_cached(
                "UPDATE enquiries SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, status.as_str(), now],
            )?;
            let details = json!({"from": from, "to": status.as_str()});
            crate::audit::log(
                tx,
                app,
                ctx,
                Some((&admin.user_id, admin.role)),
                "admin.enquiry_status",
                Some(id),
                details,
            )?;
        }
        Ok(tx.query_row_cached(&format!("SELECT {COLUMNS} FROM enquiries WHERE id = ?1"), [id], row)?)
    })
}
