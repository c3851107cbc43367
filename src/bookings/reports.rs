//! Reports: either party of a booking reports the other once (`POST /bookings/{id}/report`);
//! admins list them and resolve or dismiss each (`/admin/reports`), audited.

use crate::app::App;
use crate::clock::rfc3339;
use crate::db::keyset;
use crate::db::Cached;
use crate::web::auth::Principal;
use crate::web::ctx::new_id;
use crate::web::page::{Page, PageRequest};
use crate::web::{ApiError, Ctx};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const MAX_REASON: usize = 200;
pub const MAX_DESCRIPTION: usize = 2000;
pub const MAX_RESOLUTION: usize = 2000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    pub reason: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    pub status: String,
    pub resolution: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportView {
    pub id: String,
    pub booking_id: String,
    pub reporter_id: String,
    pub reported_id: String,
    pub reason: String,
    pub description: String,
    pub status: String,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<String>,
    pub created_at: String,
    #[serde(skip)]
    pub created_ms: i64,
}

const COLUMNS: &str = "id, booking_id, reporter_id, reported_id, reason, description, status, resolution, \
     resolved_by, resolved_at, created_at";

fn from_row(r: &Row) -> rusqlite::Result<ReportView> {
    Ok(ReportView {
        id: r.get(0)?,
        booking_id: r.get(1)?,
        reporter_id: r.get(2)?,
        reported_id: r.get(3)?,
        reason: r.get(4)?,
        description: r.get(5)?,
        status: r.get(6)?,
        resolution: r.get(7)?,
        resolved_by: r.get(8)?,
        resolved_at: r.get::<_, Option<i64>>(9)?.map(rfc3339),
        created_at: rfc3339(r.get(10)?),
        created_ms: r.get(10)?,
    })
}

pub fn find(c: &Connection, id: &str) -> rusqlite::Result<Option<ReportView>> {
    c.query_row_cached(&format!("SELECT {COLUMNS} FROM reports WHERE id = ?1"), [id], from_row).optional()
}

pub fn report(app: &App, p: &Principal, booking_id: &str, r: NewReport) -> Result<ReportView, ApiError> {
    let mut errs: Vec<(&str, String)> = Vec::new();
    let reason = super::required_text(&r.reason, MAX_REASON).map_err(|e| errs.push(("reason", e))).ok();
    let description =
        super::required_text(&r.description, MAX_DESCRIPTION).map_err(|e| errs.push(("description", e))).ok();
    let (Some(reason), Some(description)) = (reason, description) else {
        return Err(ApiError::validation(errs));
    };
    let now = app.now_ms();
    app.db.write(|tx| {
        let (b, party) = super::for_party(tx, booking_id, p)?;
        let id = new_id("rpt");
        // Once per party: UNIQUE (booking_id, reporter_id) refuses a second report.
        tx.execute_cached(
            "INSERT INTO reports (id, booking_id, reporter_id, reported_id, reason, description, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7)",
            params![id, b.id, p.user_id, b.other(party), reason, description, now],
        )?;
        find(tx, &id)?.ok_or_else(|| ApiError::internal("inserted report not found"))
    })
}

/// `GET /admin/reports?status=&limit=&cursor=`, newest first (`reports_status (status,
/// created_at, id)` serves a status filter).
pub fn list(app: &App, status: Option<&str>, page: &PageRequest) -> Result<Page<ReportView>, ApiError> {
    let mut sql = format!("SELECT {COLUMNS} FROM reports WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(s) = status {
        if !matches!(s, "open" | "resolved" | "dismissed") {
            return Err(ApiError::field("status", "must be open, resolved or dismissed"));
        }
        args.push(s.to_string().into());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "created_at", "id", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.fetch()));
    app.db.read(|c| {
        let mut st = c.prepare(&sql)?;
        let rows = st.query_map(params_from_iter(args.iter()), from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(page.finish(rows, |r| (r.created_ms, &r.id)))
    })
}

/// `PATCH /admin/reports/{id}`: an open report becomes resolved or dismissed, with the admin's note.
pub fn resolve(app: &App, ctx: &Ctx, admin: &Principal, id: &str, r: Resolve) -> Result<ReportView, ApiError> {
    let mut errs: Vec<(&str, String)> = Vec::new();
    if !matches!(r.status.as_str(), "resolved" | "dismissed") {
        errs.push(("status", "must be resolved or dismissed".into()));
    }
    let resolution = super::required_text(&r.resolution, MAX_RESOLUTION).map_err(|e| errs.push(("resolution", e))).ok();
    let Some(resolution) = resolution.filter(|_| errs.is_empty()) else {
        return Err(ApiError::validation(errs));
    };
    let now = app.now_ms();
    app.db.write(|tx| {
        let before = find(tx, id)?.ok_or_else(ApiError::not_found)?;
        let n = tx.execute_cached(
            "UPDATE reports SET status = ?2, resolution = ?3, resolved_by = ?4, resolved_at = ?5
             WHERE id = ?1 AND status = 'open'",
            params![id, r.status, resolution, admin.user_id, now],
        )?;
        if n == 0 {
            return Err(ApiError::conflict("invalid_transition", format!("This report is already {}.", before.status)));
        }
        crate::audit::log(
            tx,
            app,
            ctx,
            Some((&admin.user_id, admin.role)),
            "admin.report_resolved",
            Some(id),
            json!({"bookingId": before.booking_id, "status": r.status}),
        )?;
        find(tx, id)?.ok_or_else(ApiError::not_found)
    })
}

/// Reports waiting for the operator, for the overview.
pub fn open_count(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row_cached("SELECT COUNT(*) FROM reports WHERE status = 'open'", [], |r| r.get(0))
}
