//! `GET /admin/audit-log`: the hash-chained log (`audit`), newest first, filtered by actor,
//! target or action (an action ending in `.` is a prefix: `admin.`). The cursor is the last
//! row's id.

use crate::app::App;
use crate::audit::{Filter, Row};
use crate::web::page::{Page, PageRequest};
use crate::web::ApiError;

pub fn list(app: &App, f: &Filter, page: &PageRequest) -> Result<Page<Row>, ApiError> {
    for (name, v) in [("actorId", &f.actor_id), ("target", &f.target), ("action", &f.action)] {
        if v.as_ref().is_some_and(|v| v.chars().count() > 200) {
            return Err(ApiError::field(name, "must be at most 200 characters"));
        }
    }
    let before = page.after.as_ref().map(|(id, _)| *id);
    let rows = app.db.read(|c| Ok::<_, ApiError>(crate::audit::list(c, f, before, page.fetch())?))?;
    Ok(page.finish(rows, |r| (r.id, "")))
}
