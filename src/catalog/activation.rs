//! Activation: starting or extending a listing's paid period. Payments call
//! [`activate_listing`] when a listing fee is verified; listing creation calls it for free
//! categories and the admin's `PATCH /admin/listings/{id} {status: active}` for a listing with no
//! current period.

use super::listings::{find, load, Listing};
use crate::app::App;
use crate::clock::{rfc3339, DAY_MS};
use crate::db::Cached;
use crate::db::Tx;
use crate::notify::outbox;
use crate::web::ApiError;
use rusqlite::params;
use serde_json::json;

/// Starts or extends a listing's paid period by `days` and notifies the provider
/// (`listing.activated`). Renewals stack: the new end is `max(now, current end) + days`. The
/// warning mark is cleared so the new period gets its own expiry warning.
///
/// Payments call this inside the transaction that records the verified payment. A suspended
/// listing stays suspended (its period is extended, but only an admin lifts a suspension), so a
/// renewal can never undo moderation. 404 for a missing or deleted listing.
pub fn activate_listing(tx: &Tx, app: &App, listing_id: &str, days: i64) -> Result<Listing, ApiError> {
    if days <= 0 {
        return Err(ApiError::internal(format!("activate_listing: {days} days")));
    }
    let currency = app.config.business.currency.as_str();
    let row = find(tx, listing_id)?.ok_or_else(ApiError::not_found)?;
    let now = app.now_ms();
    let until = row.active_until.unwrap_or(0).max(now) + days * DAY_MS;
    let status = if row.status == "suspended" { "suspended" } else { "active" };
    tx.execute_cached(
        "UPDATE listings SET status = ?2, active_until = ?3, expiry_warned_at = NULL, updated_at = ?4 WHERE id = ?1",
        params![listing_id, status, until, now],
    )?;
    outbox::notify(
        tx,
        app,
        &row.provider_id,
        super::notices::ACTIVATED,
        json!({"listingId": listing_id, "category": row.category.name, "activeUntil": rfc3339(until)}),
    )?;
    load(tx, listing_id, currency)
}

/// Takes `days` back off a listing's paid period (a refunded listing fee). A listing whose period
/// then lies in the past is `expired` at once (a suspended one stays suspended). Missing or
/// deleted listings are left alone (Ok(false)).
pub fn revoke_listing_days(tx: &Tx, app: &App, listing_id: &str, days: i64) -> Result<bool, ApiError> {
    let Some(row) = find(tx, listing_id)? else { return Ok(false) };
    let Some(until) = row.active_until else { return Ok(false) };
    let now = app.now_ms();
    let until = (until - days.max(0) * DAY_MS).max(now.min(until));
    let status = if row.status == "active" && until <= now { "expired" } else { row.status.as_str() };
    tx.execute_cached(
        "UPDATE listings SET status = ?2, active_until = ?3, updated_at = ?4 WHERE id = ?1",
        params![listing_id, status, until, now],
    )?;
    Ok(true)
}
