//! Providers' listings: one live listing per provider and category, with the provider's own price
//! for each chosen sub-service. Created `pending_payment` (or `active` at once when the category's
//! fee is 0); [`super::activate_listing`] starts or extends the paid period.

use super::categories::{self, Category};
use super::fields;
use super::money::{self, Money};
use crate::accounts::current_user;
use crate::app::App;
use crate::clock::rfc3339;
use crate::web::auth::Principal;
use crate::web::ctx::new_id;
use crate::web::{cursor, ApiError, Ctx};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const DAY_MS: i64 = 86_400_000;

/// Bookings in these states keep a listing from being deleted.
pub const OPEN_BOOKING_STATES: &str = "'pending', 'accepted', 'in_progress'";

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
    let mut st = c.prepare(
        "SELECT s.id, s.name, p.price FROM listing_prices p JOIN sub_services s ON s.id = p.sub_service_id
         WHERE p.listing_id = ?1 AND s.active = 1 ORDER BY s.position, s.slug",
    )?;
    let rows = st.query_map([listing_id], |r| {
        Ok(PricedSubService { id: r.get(0)?, name: r.get(1)?, price: Money::new(r.get(2)?, currency) })
    })?;
    rows.collect()
}

pub fn view(c: &Connection, row: ListingRow, currency: &str) -> rusqlite::Result<Listing> {
    let sub_services = prices(c, &row.id, currency)?;
    Ok(Listing {
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
    })
}

/// A listing that is not deleted (any owner).
pub fn find(c: &Connection, id: &str) -> rusqlite::Result<Option<ListingRow>> {
    c.query_row(&format!("{ROW_SELECT} WHERE l.id = ?1 AND l.deleted_at IS NULL"), [id], ListingRow::from_row)
        .optional()
}

/// The provider's own listing; someone else's is 404 like a missing one.
fn find_own(c: &Connection, provider_id: &str, id: &str) -> Result<ListingRow, ApiError> {
    find(c, id)?.filter(|r| r.provider_id == provider_id).ok_or_else(ApiError::not_found)
}

/// The body of both POST (all required) and PATCH (any subset; `categoryId` cannot change).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Fields {
    #[serde(default)]
    pub category_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub experience_years: Option<i64>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub sub_services: Option<Vec<PriceInput>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PriceInput {
    pub id: String,
    /// Checked by hand so every problem with it is reported as `subServices[i].price`.
    pub price: Value,
}

/// The checked fields (None: not given, in a PATCH).
#[derive(Debug, Default)]
struct Clean {
    description: Option<String>,
    experience_years: Option<i64>,
    city: Option<String>,
    state: Option<String>,
    address: Option<String>,
}

type Errs = Vec<(String, String)>;

fn check<T>(
    errs: &mut Errs,
    partial: bool,
    name: &str,
    v: Option<T>,
    ok: impl Fn(T) -> Result<T, String>,
) -> Option<T> {
    match v {
        None if partial => None,
        None => {
            errs.push((name.to_string(), "is required".into()));
            None
        }
        Some(v) => ok(v).map_err(|e| errs.push((name.to_string(), e))).ok(),
    }
}

fn clean(f: &Fields, partial: bool, errs: &mut Errs) -> Clean {
    let t = |max: usize, multi: bool| move |v: String| fields::text(&v, max, multi);
    Clean {
        description: check(errs, partial, "description", f.description.clone(), t(2000, true)),
        experience_years: check(errs, partial, "experienceYears", f.experience_years, |v| fields::range(v, 0, 70)),
        city: check(errs, partial, "city", f.city.clone(), t(80, false)),
        state: check(errs, partial, "state", f.state.clone(), t(80, false)),
        address: check(errs, partial, "address", f.address.clone(), t(300, false)),
    }
}

/// Checks `subServices` against the category's active sub-services: each known, none twice,
/// every price a positive whole amount in the business currency, at least one.
fn check_prices(
    errs: &mut Errs,
    items: &[PriceInput],
    cat: &Category,
    c: &Connection,
    currency: &str,
) -> rusqlite::Result<Vec<(String, i64)>> {
    let subs = categories::sub_services(c, &cat.id, false)?;
    if items.is_empty() {
        errs.push(("subServices".into(), "must list at least one sub-service".into()));
    }
    let mut out: Vec<(String, i64)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let price =
            money::parse(&item.price, currency, 1).map_err(|e| errs.push((format!("subServices[{i}].price"), e)));
        if !subs.iter().any(|s| s.id == item.id) {
            errs.push((format!("subServices[{i}].id"), "is not a sub-service of this category".into()));
        } else if out.iter().any(|(id, _)| *id == item.id) {
            errs.push((format!("subServices[{i}].id"), "is listed twice".into()));
        } else if let Ok(p) = price {
            out.push((item.id.clone(), p));
        }
    }
    Ok(out)
}

fn insert_prices(tx: &Transaction, listing_id: &str, prices: &[(String, i64)]) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM listing_prices WHERE listing_id = ?1", [listing_id])?;
    for (sub, price) in prices {
        tx.execute(
            "INSERT INTO listing_prices (listing_id, sub_service_id, price) VALUES (?1, ?2, ?3)",
            params![listing_id, sub, price],
        )?;
    }
    Ok(())
}

/// The owner's view of listing `id`, read inside `c`.
pub fn load(c: &Connection, id: &str, currency: &str) -> Result<Listing, ApiError> {
    let row = find(c, id)?.ok_or_else(ApiError::not_found)?;
    Ok(view(c, row, currency)?)
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
        tx.execute(
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
        tx.execute(
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

/// `GET /provider/listings`: the provider's live listings, newest first, keyset pages.
pub fn list_own(app: &App, p: &Principal, limit: u32, after: Option<(i64, String)>) -> Result<Value, ApiError> {
    let currency = app.config.business.currency.as_str();
    let mut sql = format!("{ROW_SELECT} WHERE l.provider_id = ?1 AND l.deleted_at IS NULL");
    let mut args: Vec<rusqlite::types::Value> = vec![p.user_id.clone().into()];
    if let Some((at, cid)) = after {
        args.push(at.into());
        args.push(cid.into());
        sql.push_str(" AND (l.created_at, l.id) < (?2, ?3)");
    }
    sql.push_str(&format!(" ORDER BY l.created_at DESC, l.id DESC LIMIT {}", limit + 1));
    app.db.read(|c| list_page(c, &sql, &args, limit, |c, r| Ok(view(c, r, currency)?)))
}

/// Runs a listing list query that fetched `limit + 1` rows newest first, and shapes the page
/// `{items, nextCursor}` with `view`.
pub fn list_page<V: serde::Serialize>(
    c: &Connection,
    sql: &str,
    args: &[rusqlite::types::Value],
    limit: u32,
    view: impl Fn(&Connection, ListingRow) -> Result<V, ApiError>,
) -> Result<serde_json::Value, ApiError> {
    let mut st = c.prepare(sql)?;
    let mut rows: Vec<ListingRow> =
        st.query_map(params_from_iter(args.iter()), ListingRow::from_row)?.collect::<Result<_, _>>()?;
    let next = page(&mut rows, limit, |r| (r.created_at, r.id.as_str()));
    let items = rows.into_iter().map(|r| view(c, r)).collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"items": items, "nextCursor": next}))
}

/// Trims a fetched `limit + 1` rows to `limit`; the cursor of the last kept row when more exist.
pub fn page<T>(rows: &mut Vec<T>, limit: u32, key: impl Fn(&T) -> (i64, &str)) -> Option<String> {
    if rows.len() <= limit as usize {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(|r| {
        let (at, id) = key(r);
        cursor::encode(at, id)
    })
}

/// `DELETE /provider/listings/{id}`: 409 `has_open_bookings` while any booking of it is pending,
/// accepted or in progress; otherwise a soft delete (bookings and ratings keep pointing at it).
pub fn delete(app: &App, ctx: &Ctx, p: &Principal, id: &str) -> Result<(), ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        let row = find_own(tx, &p.user_id, id)?;
        let open = tx
            .query_row(
                &format!("SELECT 1 FROM bookings WHERE listing_id = ?1 AND status IN ({OPEN_BOOKING_STATES}) LIMIT 1"),
                [id],
                |_| Ok(()),
            )
            .optional()?;
        if open.is_some() {
            return Err(ApiError::conflict(
                "has_open_bookings",
                "This listing has open bookings; finish, reject or cancel them first.",
            ));
        }
        tx.execute("UPDATE listings SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1", params![id, now])?;
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
