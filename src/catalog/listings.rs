//! Providers' listings, as stored and as their owner (and the admin) sees them: one listing per
//! provider and category, with the provider's own price for each chosen sub-service. The reads
//! here are the building blocks of the listing operations (`provider_listings.rs`,
//! `admin_listings.rs`, `search.rs`, `activation.rs`) and what bookings asks of a listing.

use super::money::Money;
use crate::clock::rfc3339;
use crate::db::Cached;
use crate::db::Tx;
use crate::web::ApiError;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryRef {
    pub id: String,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedSubService {
    pub id: String,
    pub name: String,
    pub price: Money,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rating {
    /// Mean stars to one decimal; null before the first rating.
    pub average: Option<f64>,
    pub count: i64,
}

impl Rating {
    pub fn new(sum: i64, count: i64) -> Rating {
        let average = (count > 0).then(|| (sum as f64 / count as f64 * 10.0).round() / 10.0);
        Rating { average, count }
    }
}

/// A listing row with its category's slug and name.
#[derive(Debug, Clone)]
pub struct ListingRow {
    pub id: String,
    pub provider_id: String,
    pub category: CategoryRef,
    pub description: String,
    pub experience_years: i64,
    pub city: String,
    pub state: String,
    pub address: String,
    pub status: String,
    pub active_until: Option<i64>,
    pub price_from: i64,
    pub rating_sum: i64,
    pub rating_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted: bool,
}

pub const ROW_SELECT: &str = "SELECT l.id, l.provider_id, c.id, c.slug, c.name, l.description, l.experience_years, \
     l.city, l.state, l.address, l.status, l.active_until, l.price_from, l.rating_sum, l.rating_count, l.created_at, \
     l.updated_at, l.deleted_at FROM listings l JOIN categories c ON c.id = l.category_id";

impl ListingRow {
    pub fn from_row(r: &Row) -> rusqlite::Result<ListingRow> {
        Ok(ListingRow {
            id: r.get(0)?,
            provider_id: r.get(1)?,
            category: CategoryRef { id: r.get(2)?, slug: r.get(3)?, name: r.get(4)? },
            description: r.get(5)?,
            experience_years: r.get(6)?,
            city: r.get(7)?,
            state: r.get(8)?,
            address: r.get(9)?,
            status: r.get(10)?,
            active_until: r.get(11)?,
            price_from: r.get(12)?,
            rating_sum: r.get(13)?,
            rating_count: r.get(14)?,
            created_at: r.get(15)?,
            updated_at: r.get(16)?,
            deleted: r.get::<_, Option<i64>>(17)?.is_some(),
        })
    }

    /// Active and inside its paid period: searchable, bookable, callable.
    pub fn is_live(&self, now: i64) -> bool {
        !self.deleted && self.status == "active" && self.active_until.is_some_and(|u| u > now)
    }
}

/// The owner's (and admin's) shape of a listing: everything, including the address.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    pub id: String,
    pub category: CategoryRef,
    pub status: String,
    pub active_until: Option<String>,
    pub description: String,
    pub experience_years: i64,
    pub city: String,
    pub state: String,
    pub address: String,
    pub price_from: Money,
    pub sub_services: Vec<PricedSubService>,
    pub rating: Rating,
    pub created_at: String,
    pub updated_at: String,
}

/// A listing's prices for its category's active sub-services, in sub-service order.
pub fn prices(c: &Connection, listing_id: &str, currency: &str) -> rusqlite::Result<Vec<PricedSubService>> {
    let mut st = c.prepare_cached(
        "SELECT s.id, s.name, p.price FROM listing_prices p JOIN sub_services s ON s.id = p.sub_service_id
         WHERE p.listing_id = ?1 AND s.active = 1 ORDER BY s.position, s.slug",
    )?;
    let rows = st.query_map([listing_id], |r| {
        Ok(PricedSubService { id: r.get(0)?, name: r.get(1)?, price: Money::new(r.get(2)?, currency) })
    })?;
    rows.collect()
}

/// The statement of [`prices_of`] (`?1`: the listing ids as a JSON array).
pub const PRICES_OF: &str = "SELECT p.listing_id, s.id, s.name, p.price FROM json_each(?1) j
     JOIN listing_prices p ON p.listing_id = j.value JOIN sub_services s ON s.id = p.sub_service_id
     WHERE s.active = 1 ORDER BY p.listing_id, s.position, s.slug";

/// [`prices`] of several listings in one statement (their ids as a JSON array through
/// `json_each`, each a primary-key range of `listing_prices`).
pub fn prices_of(
    c: &Connection,
    ids: &[&str],
    currency: &str,
) -> rusqlite::Result<std::collections::HashMap<String, Vec<PricedSubService>>> {
    let mut out: std::collections::HashMap<String, Vec<PricedSubService>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut st = c.prepare_cached(PRICES_OF)?;
    let rows = st.query_map([serde_json::Value::from(ids.to_vec()).to_string()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            PricedSubService { id: r.get(1)?, name: r.get(2)?, price: Money::new(r.get(3)?, currency) },
        ))
    })?;
    for row in rows {
        let (id, price) = row?;
        out.entry(id).or_default().push(price);
    }
    Ok(out)
}

pub fn view(c: &Connection, row: ListingRow, currency: &str) -> rusqlite::Result<Listing> {
    let sub_services = prices(c, &row.id, currency)?;
    Ok(shape(row, sub_services, currency))
}

/// A page of listing rows, shaped: two statements (the rows, then every price of the page).
pub fn view_all(c: &Connection, rows: Vec<ListingRow>, currency: &str) -> rusqlite::Result<Vec<Listing>> {
    let mut prices = prices_of(c, &rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), currency)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let p = prices.remove(&r.id).unwrap_or_default();
            shape(r, p, currency)
        })
        .collect())
}

fn shape(row: ListingRow, sub_services: Vec<PricedSubService>, currency: &str) -> Listing {
    Listing {
        sub_services,
        price_from: Money::new(row.price_from, currency),
        rating: Rating::new(row.rating_sum, row.rating_count),
        active_until: row.active_until.map(rfc3339),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        id: row.id,
        category: row.category,
        status: row.status,
        description: row.description,
        experience_years: row.experience_years,
        city: row.city,
        state: row.state,
        address: row.address,
    }
}

/// A listing that is not deleted (any owner).
pub fn find(c: &Connection, id: &str) -> rusqlite::Result<Option<ListingRow>> {
    c.prepare_cached(&format!("{ROW_SELECT} WHERE l.id = ?1 AND l.deleted_at IS NULL"))?
        .query_row([id], ListingRow::from_row)
        .optional()
}

/// The provider's own listing; someone else's is 404 like a missing one.
pub fn find_own(c: &Connection, provider_id: &str, id: &str) -> Result<ListingRow, ApiError> {
    find(c, id)?.filter(|r| r.provider_id == provider_id).ok_or_else(ApiError::not_found)
}

/// The owner's view of listing `id`, read inside `c`.
pub fn load(c: &Connection, id: &str, currency: &str) -> Result<Listing, ApiError> {
    let row = find(c, id)?.ok_or_else(ApiError::not_found)?;
    Ok(view(c, row, currency)?)
}

/// The rows of a listing query (`{ROW_SELECT} WHERE ...`).
pub fn rows(c: &Connection, sql: &str, args: &[SqlValue]) -> rusqlite::Result<Vec<ListingRow>> {
    debug_assert!(sql.starts_with(ROW_SELECT));
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), ListingRow::from_row)?;
    rows.collect()
}

/// What `listing_id` charges for `sub_service_id`, with the sub-service's name: None when the
/// listing does not offer it or the sub-service is no longer active. Bookings price their items
/// with it, inside their transaction.
pub fn offered(c: &Connection, listing_id: &str, sub_service_id: &str) -> rusqlite::Result<Option<(String, i64)>> {
    c.prepare_cached(
        "SELECT s.name, p.price FROM listing_prices p JOIN sub_services s ON s.id = p.sub_service_id
         WHERE p.listing_id = ?1 AND p.sub_service_id = ?2 AND s.active = 1",
    )?
    .query_row(params![listing_id, sub_service_id], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()
}

/// Adds a customer's `stars` to the listing's rating aggregate (sum and count); bookings call it
/// in the transaction that records the rating.
pub fn add_rating(tx: &Tx, listing_id: &str, stars: i64) -> rusqlite::Result<()> {
    tx.execute_cached(
        "UPDATE listings SET rating_sum = rating_sum + ?2, rating_count = rating_count + 1 WHERE id = ?1",
        params![listing_id, stars],
    )?;
    Ok(())
}

/// Listings live in search now, for the operator's overview.
pub fn count_active(c: &rusqlite::Connection) -> rusqlite::Result<i64> {
    c.query_row_cached("SELECT COUNT(*) FROM listings WHERE status = 'active'", [], |r| r.get(0))
}
