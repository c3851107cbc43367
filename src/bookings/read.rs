//! Reading bookings: one booking with its history (`GET /bookings/{id}`) and the caller's own
//! bookings, newest first (`GET /bookings`).

use super::views::{self, BookingView};
use super::{Party, Status, COLUMNS};
use crate::app::App;
use crate::db::keyset;
use crate::web::auth::{Principal, Role};
use crate::web::page::{Page, PageRequest};
use crate::web::ApiError;

/// `GET /bookings/{id}`: its customer, its provider, or an admin; anyone else 404 (existence is
/// not revealed).
pub fn get(app: &App, p: &Principal, id: &str) -> Result<BookingView, ApiError> {
    app.db.read(|c| {
        let b = super::find(c, id)?.ok_or_else(ApiError::not_found)?;
        if b.party(p) == Party::Stranger {
            return Err(ApiError::not_found());
        }
        let mut v = views::view(c, &b)?;
        v.history = Some(views::history(c, &b.id)?);
        Ok(v)
    })
}

/// Which of the caller's bookings to list.
#[derive(Debug, Clone)]
pub struct Mine {
    /// The side the caller books on: their customer or their provider bookings.
    pub side: Role,
    /// Any of these states; empty for all.
    pub statuses: Vec<Status>,
}

/// `GET /bookings?as=&status=`: the caller's own bookings on `side`, newest first. Served by
/// `bookings_customer` / `bookings_provider` `(<party>_id, created_at, id)`, which give the page in
/// order from the cursor on.
pub fn mine(app: &App, p: &Principal, m: &Mine, page: &PageRequest) -> Result<Page<BookingView>, ApiError> {
    let (sql, args) = mine_sql(&p.user_id, m, page);
    app.db.read(|c| {
        // Two statements a page: the bookings with their names, then every item of the page.
        let rows = views::list_with_refs(c, &sql, &args)?;
        Ok(views::shape_page(c, page.finish(rows, |(b, _)| (b.created_at, &b.id)))?)
    })
}

/// The SQL and arguments of one page of [`mine`] (public so the query plan can be tested).
pub fn mine_sql(user_id: &str, m: &Mine, page: &PageRequest) -> (String, Vec<rusqlite::types::Value>) {
    let column = if m.side == Role::Provider { "provider_id" } else { "customer_id" };
    let mut args: Vec<rusqlite::types::Value> = vec![user_id.to_string().into()];
    let mut sql = format!("SELECT {COLUMNS}, {} FROM bookings WHERE {column} = ?1", views::REFS);
    if !m.statuses.is_empty() {
        let mut marks = Vec::with_capacity(m.statuses.len());
        for st in &m.statuses {
            args.push(st.as_str().to_string().into());
            marks.push(format!("?{}", args.len()));
        }
        sql.push_str(&format!(" AND status IN ({})", marks.join(", ")));
    }
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "created_at", "id", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.fetch()));
    (sql, args)
}
