//! `/admin/listings`: every listing with its provider (phone included: the operator may call
//! them), filtered by status; and moderation: suspend, or (re)activate.

use super::activation::activate_listing;
use super::listings::{self, Listing, ListingRow, ROW_SELECT};
use crate::app::App;
use crate::web::auth::Principal;
use crate::web::{ApiError, Ctx};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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

fn provider(c: &Connection, id: &str) -> rusqlite::Result<Provider> {
    c.query_row("SELECT id, full_name, phone FROM users WHERE id = ?1", [id], |r| {
        Ok(Provider { id: r.get(0)?, full_name: r.get(1)?, phone: r.get(2)? })
    })
}

fn admin_view(c: &Connection, row: ListingRow, currency: &str) -> Result<AdminListing, ApiError> {
    let provider = provider(c, &row.provider_id)?;
    Ok(AdminListing { listing: listings::view(c, row, currency)?, provider })
}

/// `GET /admin/listings?status=&limit=&cursor=`, newest first (deleted listings are left out).
pub fn list(app: &App, status: Option<&str>, limit: u32, after: Option<(i64, String)>) -> Result<Value, ApiError> {
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
    if let Some((at, id)) = after {
        args.push(at.into());
        args.push(id.into());
        let n = args.len();
        sql.push_str(&format!(" AND (l.created_at, l.id) < (?{}, ?{n})", n - 1));
    }
    sql.push_str(&format!(" ORDER BY l.created_at DESC, l.id DESC LIMIT {}", limit + 1));
    app.db.read(|c| super::listings::list_page(c, &sql, &args, limit, |c, r| admin_view(c, r, currency)))
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
            tx.execute("UPDATE listings SET status = 'suspended', updated_at = ?2 WHERE id = ?1", params![id, now])?;
        } else {
            tx.execute("UPDATE listings SET status = 'active', updated_at = ?2 WHERE id = ?1", params![id, now])?;
            if row.active_until.is_none_or(|u| u <= now) {
                let days: i64 =
                    tx.query_row("SELECT listing_days FROM categories WHERE id = ?1", [&row.category.id], |r| {
                        r.get(0)
                    })?;
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
