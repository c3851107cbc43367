//! `/admin/listings`: every listing with its provider (phone included: the operator may call
//! them), filtered by status; and moderation: suspend, or (re)activate.

use super::activation::activate_listing;
use super::listings::{self, Listing, ListingRow, ROW_SELECT};
use crate::app::App;
use crate::db::keyset;
use crate::db::Cached;
use crate::web::auth::Principal;
use crate::web::page::{Page, PageRequest};
use crate::web::{ApiError, Ctx};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const STATUSES: [&str; 4] = ["pending_payment", "active", "expired", "suspended"];

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub id: String,
    pub full_name: String,
    pub phone: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminListing {
    #[serde(flatten)]
    pub listing: Listing,
    pub provider: Provider,
}

/// The listing's provider, from accounts (the listing's reference guarantees one).
fn provider(c: &Connection, id: &str) -> Result<Provider, ApiError> {
    let u =
        crate::accounts::find_by_id(c, id)?.ok_or_else(|| ApiError::internal(format!("provider {id} not found")))?;
    Ok(Provider { id: u.id, full_name: u.full_name, phone: u.phone })
}

fn admin_view(c: &Connection, row: ListingRow, currency: &str) -> Result<AdminListing, ApiError> {
    let provider = provider(c, &row.provider_id)?;
    Ok(AdminListing { listing: listings::view(c, row, currency)?, provider })
}

/// `GET /admin/listings?status=&limit=&cursor=`, newest first (deleted listings are left out).
pub fn list(app: &App, status: Option<&str>, page: &PageRequest) -> Result<Page<AdminListing>, ApiError> {
    let currency = app.config.business.currency.as_str();
    let mut sql = format!("{ROW_SELECT} WHERE l.deleted_at IS NULL");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(ApiError::field("status", "must be pending_payment, active, expired or suspended"));
        }
        args.push(s.to_string().into());
        sql.push_str(&format!(" AND l.status = ?{}", args.len()));
    }
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "l.created_at", "l.id", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY l.created_at DESC, l.id DESC LIMIT {}", page.fetch()));
    app.db.read(|c| {
        let found = listings::rows(c, &sql, &args)?;
        page.finish(found, |r| (r.created_at, &r.id)).try_map(|r| admin_view(c, r, currency))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchBody {
    pub status: String,
}

/// `PATCH /admin/listings/{id}` `{status: active|suspended}`. `active` on a listing with no current
/// period (never paid, or lapsed) starts one of the category's `listingDays` from now; on one
/// inside its period it only lifts a suspension. `suspended` keeps `activeUntil`. Audited.
pub fn update(app: &App, ctx: &Ctx, admin: &Principal, id: &str, b: PatchBody) -> Result<AdminListing, ApiError> {
    if !["active", "suspended"].contains(&b.status.as_str()) {
        return Err(ApiError::field("status", "must be active or suspended"));
    }
    let currency = app.config.business.currency.as_str();
    let now = app.now_ms();
    app.db.write(|tx| {
        let row = listings::find(tx, id)?.ok_or_else(ApiError::not_found)?;
        let mut started = None;
        if b.status == "suspended" {
            tx.execute_cached(
                "UPDATE listings SET status = 'suspended', updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
        } else {
            tx.execute_cached(
                "UPDATE listings SET status = 'active', updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            if row.active_until.is_none_or(|u| u <= now) {
                let days: i64 = tx.query_row_cached(
                    "SELECT listing_days FROM categories WHERE id = ?1",
                    [&row.category.id],
                    |r| r.get(0),
                )?;
                activate_listing(tx, app, id, days)?;
                started = Some(days);
            }
        }
        let details = json!({"from": row.status, "to": b.status, "periodStartedDays": started});
        crate::audit::log(
            tx,
            app,
            ctx,
            Some((&admin.user_id, admin.role)),
            "admin.listing_updated",
            Some(id),
            details,
        )?;
        let row = listings::find(tx, id)?.ok_or_else(ApiError::not_found)?;
        admin_view(tx, row, currency)
    })
}
