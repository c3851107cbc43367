//! The operator's view of bookings (`GET /admin/bookings`, `GET /admin/export/bookings.csv`):
//! every booking newest first, filtered by state, party, listing and creation date. Served by
//! `bookings_created (created_at, id)`.

use super::views::{self, BookingView};
use super::{Status, COLUMNS};
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::keyset;
use crate::web::auth::Principal;
use crate::web::page::{Page, PageRequest};
use crate::web::{ApiError, Ctx};
use rusqlite::types::Value;

/// What to list; every field optional (`statuses` empty for all).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub statuses: Vec<Status>,
    pub customer_id: Option<String>,
    pub provider_id: Option<String>,
    pub listing_id: Option<String>,
    /// Created at or after (ms).
    pub from_ms: Option<i64>,
    /// Created before (ms).
    pub to_ms: Option<i64>,
}

fn where_clause(f: &Filter, sql: &mut String, args: &mut Vec<Value>) {
    if !f.statuses.is_empty() {
        let mut marks = Vec::with_capacity(f.statuses.len());
        for st in &f.statuses {
            args.push(st.as_str().to_string().into());
            marks.push(format!("?{}", args.len()));
        }
        sql.push_str(&format!(" AND status IN ({})", marks.join(", ")));
    }
    for (col, v) in [("customer_id", &f.customer_id), ("provider_id", &f.provider_id), ("listing_id", &f.listing_id)] {
        if let Some(v) = v {
            args.push(v.clone().into());
            sql.push_str(&format!(" AND {col} = ?{}", args.len()));
        }
    }
    if let Some(from) = f.from_ms {
        args.push(from.into());
        sql.push_str(&format!(" AND created_at >= ?{}", args.len()));
    }
    if let Some(to) = f.to_ms {
        args.push(to.into());
        sql.push_str(&format!(" AND created_at < ?{}", args.len()));
    }
}

/// `GET /admin/bookings`: newest first, the list shape of `GET /bookings`.
pub fn list(app: &App, f: &Filter, page: &PageRequest) -> Result<Page<BookingView>, ApiError> {
    let mut args: Vec<Value> = Vec::new();
    let mut sql = format!("SELECT {COLUMNS}, {} FROM bookings WHERE 1 = 1", views::REFS);
    where_clause(f, &mut sql, &mut args);
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "created_at", "id", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.fetch()));
    app.db.read(|c| {
        let rows = views::list_with_refs(c, &sql, &args)?;
        Ok(views::shape_page(c, page.finish(rows, |(b, _)| (b.created_at, &b.id)))?)
    })
}

/// The CSV export's header.
pub const CSV_HEADER: &[&str] = &[
    "id",
    "status",
    "createdAt",
    "date",
    "time",
    "startsAt",
    "customerId",
    "providerId",
    "listingId",
    "categoryId",
    "total",
    "currency",
    "completedAt",
];

/// Every booking matching `f`, newest first, as CSV rows (`each` is called per row, so the
/// export never holds the whole table in memory twice). At most `max` rows. Audited
/// (`admin.bookings_exported`).
pub fn export(
    app: &App,
    ctx: &Ctx,
    admin: &Principal,
    f: &Filter,
    max: u32,
    mut each: impl FnMut(Vec<String>),
) -> Result<(), ApiError> {
    let mut rows = 0u64;
    let mut args: Vec<Value> = Vec::new();
    let mut sql = format!("SELECT {COLUMNS}, {} FROM bookings WHERE 1 = 1", views::REFS);
    where_clause(f, &mut sql, &mut args);
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {max}"));
    app.db.read(|c| {
        for b in views::list(c, &sql, &args)? {
            each(vec![
                b.id,
                b.status.as_str().to_string(),
                rfc3339(b.created_at),
                b.local_date,
                b.local_time,
                rfc3339(b.starts_at),
                b.customer_id,
                b.provider_id,
                b.listing_id,
                b.category_id,
                b.total.to_string(),
                b.currency,
                b.completed_at.map(rfc3339).unwrap_or_default(),
            ]);
            rows += 1;
        }
        Ok::<_, ApiError>(())
    })?;
    app.db.write(|tx| {
        let details = serde_json::json!({"rows": rows});
        crate::audit::log(tx, app, ctx, Some((&admin.user_id, admin.role)), "admin.bookings_exported", None, details)?;
        Ok(())
    })
}
