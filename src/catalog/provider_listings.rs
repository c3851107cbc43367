//! A provider's own listings (`/provider/listings`): create, edit, read, list and delete them.
//! Created `pending_payment`, or `active` at once when the category's fee is 0;
//! [`super::activate_listing`] starts or extends the paid period.

use super::categories;
use super::fields;
use super::listing_input::{check_prices, clean, Errs, Fields};
use super::listings::{find_own, load, rows, view, view_all, Listing, ROW_SELECT};
use crate::accounts::current_user;
use crate::app::App;
use crate::db::keyset;
use crate::db::Cached;
use crate::db::Tx;
use crate::web::auth::Principal;
use crate::web::ctx::new_id;
use crate::web::page::{Page, PageRequest};
use crate::web::{ApiError, Ctx};
use rusqlite::{params, OptionalExtension};
use serde_json::json;

/// Replaces the listing's whole price list (a PATCH's `subServices` is the new list, not a diff).
fn insert_prices(tx: &Tx, listing_id: &str, prices: &[(String, i64)]) -> rusqlite::Result<()> {
    tx.execute_cached("DELETE FROM listing_prices WHERE listing_id = ?1", [listing_id])?;
    for (sub, price) in prices {
        tx.execute_cached(
            "INSERT INTO listing_prices (listing_id, sub_service_id, price) VALUES (?1, ?2, ?3)",
            params![listing_id, sub, price],
        )?;
    }
    Ok(())
}

/// `POST /provider/listings`.
pub fn create(app: &App, p: &Principal, f: Fields) -> Result<Listing, ApiError> {
    let currency = app.config.business.currency.as_str();
    let mut errs: Errs = Vec::new();
    let v = clean(&f, false, &mut errs);
    let now = app.now_ms();
    app.db.write(|tx| {
        current_user(tx, &p.user_id)?;
        let cat = match f.category_id.as_deref() {
            None => {
                errs.push(("categoryId".into(), "is required".into()));
                None
            }
            Some(id) => {
                let cat = categories::find(tx, id)?.filter(|c| c.active);
                if cat.is_none() {
                    errs.push(("categoryId".into(), "is not a known category".into()));
                }
                cat
            }
        };
        let prices = match (&cat, &f.sub_services) {
            (Some(cat), Some(items)) => check_prices(&mut errs, items, cat, tx, currency)?,
            (_, None) => {
                errs.push(("subServices".into(), "is required".into()));
                Vec::new()
            }
            (None, Some(_)) => Vec::new(),
        };
        if !errs.is_empty() {
            return Err(ApiError::validation(std::mem::take(&mut errs)));
        }
        let cat = cat.ok_or_else(|| ApiError::internal("category vanished"))?;
        let taken = tx
            .query_row(
                "SELECT 1 FROM listings WHERE provider_id = ?1 AND category_id = ?2 AND deleted_at IS NULL",
                params![p.user_id, cat.id],
                |_| Ok(()),
            )
            .optional()?;
        if taken.is_some() {
            return Err(ApiError::conflict(
                "already_exists",
                "You already have a listing in this category; edit it instead.",
            ));
        }
        let id = new_id("lst");
        let (city, state) = (v.city.unwrap_or_default(), v.state.unwrap_or_default());
        let price_from = prices.iter().map(|p| p.1).min().unwrap_or(0);
        tx.execute_cached(
            "INSERT INTO listings (id, provider_id, category_id, description, experience_years, city, state, address,
                 city_key, state_key, status, active_until, price_from, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending_payment', NULL, ?11, ?12, ?12)",
            params![
                id,
                p.user_id,
                cat.id,
                v.description,
                v.experience_years,
                city,
                state,
                v.address,
                fields::key(&city),
                fields::key(&state),
                price_from,
                now
            ],
        )?;
        insert_prices(tx, &id, &prices)?;
        if cat.listing_fee == 0 {
            // Nothing to pay: the first period starts now.
            return super::activate_listing(tx, app, &id, cat.listing_days);
        }
        load(tx, &id, currency)
    })
}

/// `PATCH /provider/listings/{id}`: any of the fields; `subServices` replaces the whole price list.
pub fn update(app: &App, p: &Principal, id: &str, f: Fields) -> Result<Listing, ApiError> {
    let currency = app.config.business.currency.as_str();
    let mut errs: Errs = Vec::new();
    let v = clean(&f, true, &mut errs);
    if f.category_id.is_some() {
        errs.push(("categoryId".into(), "cannot be changed; create a listing in the other category".into()));
    }
    let now = app.now_ms();
    app.db.write(|tx| {
        current_user(tx, &p.user_id)?;
        let row = find_own(tx, &p.user_id, id)?;
        let prices = match &f.sub_services {
            Some(items) => {
                let cat = categories::find(tx, &row.category.id)?.ok_or_else(|| ApiError::internal("no category"))?;
                Some(check_prices(&mut errs, items, &cat, tx, currency)?)
            }
            None => None,
        };
        if !errs.is_empty() {
            return Err(ApiError::validation(std::mem::take(&mut errs)));
        }
        let price_from = prices.as_ref().and_then(|p| p.iter().map(|x| x.1).min());
        tx.execute_cached(
            "UPDATE listings SET description = COALESCE(?2, description),
                 experience_years = COALESCE(?3, experience_years), city = COALESCE(?4, city),
                 city_key = COALESCE(?5, city_key), state = COALESCE(?6, state), state_key = COALESCE(?7, state_key),
                 address = COALESCE(?8, address), price_from = COALESCE(?9, price_from), updated_at = ?10
             WHERE id = ?1",
            params![
                id,
                v.description,
                v.experience_years,
                v.city,
                v.city.as_deref().map(fields::key),
                v.state,
                v.state.as_deref().map(fields::key),
                v.address,
                price_from,
                now
            ],
        )?;
        if let Some(prices) = &prices {
            insert_prices(tx, id, prices)?;
        }
        load(tx, id, currency)
    })
}

/// `GET /provider/listings/{id}`.
pub fn get_own(app: &App, p: &Principal, id: &str) -> Result<Listing, ApiError> {
    let currency = app.config.business.currency.as_str();
    app.db.read(|c| {
        let row = find_own(c, &p.user_id, id)?;
        Ok(view(c, row, currency)?)
    })
}

/// `GET /provider/listings`: the provider's listings (not deleted), newest first.
pub fn list_own(app: &App, p: &Principal, page: &PageRequest) -> Result<Page<Listing>, ApiError> {
    let currency = app.config.business.currency.as_str();
    let (sql, args) = own_sql(&p.user_id, page);
    app.db.read(|c| {
        // Two statements a page: the rows, then every price of the page.
        let found = rows(c, &sql, &args)?;
        let page = page.finish(found, |r| (r.created_at, &r.id));
        Ok(Page { items: view_all(c, page.items, currency)?, next_cursor: page.next_cursor })
    })
}

/// The SQL and arguments of one page of [`list_own`] (public so the query plan can be tested).
pub fn own_sql(provider_id: &str, page: &PageRequest) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = format!("{ROW_SELECT} WHERE l.provider_id = ?1 AND l.deleted_at IS NULL");
    let mut args: Vec<rusqlite::types::Value> = vec![provider_id.to_string().into()];
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "l.created_at", "l.id", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY l.created_at DESC, l.id DESC LIMIT {}", page.fetch()));
    (sql, args)
}

/// `DELETE /provider/listings/{id}`: 409 `has_open_bookings` while any booking of it is pending,
/// accepted or in progress; otherwise a soft delete (bookings and ratings keep pointing at it).
pub fn delete(app: &App, ctx: &Ctx, p: &Principal, id: &str) -> Result<(), ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        let row = find_own(tx, &p.user_id, id)?;
        // Bookings are the bookings feature's: it exports the open ones as a view.
        let open = tx
            .query_row_cached("SELECT 1 FROM open_bookings WHERE listing_id = ?1 LIMIT 1", [id], |_| Ok(()))
            .optional()?;
        if open.is_some() {
            return Err(ApiError::conflict(
                "has_open_bookings",
                "This listing has open bookings; finish, reject or cancel them first.",
            ));
        }
        tx.execute_cached("UPDATE listings SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1", params![id, now])?;
        crate::audit::log(
            tx,
            app,
            ctx,
            Some((&p.user_id, p.role)),
            "listing.deleted",
            Some(id),
            json!({"category": row.category.slug, "status": row.status}),
        )?;
        Ok(())
    })
}
