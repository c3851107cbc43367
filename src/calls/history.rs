//! Call history, newest first with the paging kit: `GET /calls` (a party's own calls,
//! `?bookingId=` for one booking's — 404 when the caller is not its party; an admin sees every
//! call, or one booking's) and `GET /admin/calls` (filters `status`, `bookingId`, `userId`,
//! `from`/`to` on the start time).

use super::{Call, CallView, Status, COLUMNS};
use crate::app::App;
use crate::bookings::{self, Party};
use crate::db::keyset;
use crate::web::auth::{Principal, Role};
use crate::web::page::{Page, PageRequest};
use crate::web::ApiError;
use rusqlite::params_from_iter;
use rusqlite::types::Value;

/// The admin list's filters (all optional).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<Status>,
    pub booking_id: Option<String>,
    pub user_id: Option<String>,
    /// Started at or after (ms).
    pub from: Option<i64>,
    /// Started before (ms).
    pub to: Option<i64>,
}

fn fetch(app: &App, mut sql: String, mut args: Vec<Value>, page: &PageRequest) -> Result<Page<CallView>, ApiError> {
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "started_at", "id", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY started_at DESC, id DESC LIMIT {}", page.fetch()));
    let now = app.now_ms();
    app.db.read(|c| {
        let mut st = c.prepare(&sql)?;
        let rows =
            st.query_map(params_from_iter(args.iter()), Call::from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        let views: Vec<CallView> = rows.iter().map(|r| r.view(now)).collect();
        Ok(page.finish(views, |v| (v.started_ms, &v.id)))
    })
}

/// `GET /calls?bookingId=`: see the module comment.
pub fn mine(
    app: &App,
    p: &Principal,
    booking_id: Option<&str>,
    page: &PageRequest,
) -> Result<Page<CallView>, ApiError> {
    let mut sql = format!("SELECT {COLUMNS} FROM calls WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(b) = booking_id {
        let booking = app.db.read(|c| Ok::<_, ApiError>(bookings::find(c, b)?))?;
        let visible = booking.is_some_and(|bk| bk.party(p) != Party::Stranger);
        if !visible {
            return Err(ApiError::missing("No such booking."));
        }
        args.push(b.to_string().into());
        sql.push_str(&format!(" AND booking_id = ?{}", args.len()));
    }
    if p.role != Role::Admin {
        args.push(p.user_id.clone().into());
        let n = args.len();
        sql.push_str(&format!(" AND (caller_id = ?{n} OR callee_id = ?{n})"));
    }
    fetch(app, sql, args, page)
}

/// `GET /admin/calls`: every call matching `f`.
pub fn admin_list(app: &App, f: &Filter, page: &PageRequest) -> Result<Page<CallView>, ApiError> {
    let mut sql = format!("SELECT {COLUMNS} FROM calls WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    let mut push = |sql: &mut String, cond: &str, v: Value| {
        args.push(v);
        sql.push_str(&cond.replace("?N", &format!("?{}", args.len())));
    };
    if let Some(s) = f.status {
        push(&mut sql, " AND status = ?N", s.as_str().to_string().into());
    }
    if let Some(b) = &f.booking_id {
        push(&mut sql, " AND booking_id = ?N", b.clone().into());
    }
    if let Some(u) = &f.user_id {
        push(&mut sql, " AND (caller_id = ?N OR callee_id = ?N)", u.clone().into());
    }
    if let Some(from) = f.from {
        push(&mut sql, " AND started_at >= ?N", from.into());
    }
    if let Some(to) = f.to {
        push(&mut sql, " AND started_at < ?N", to.into());
    }
    fetch(app, sql, args, page)
}
