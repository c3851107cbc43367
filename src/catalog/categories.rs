//! Categories and their sub-services: reading them (`GET /categories`, `GET /admin/categories`),
//! and their public and admin JSON shapes.

use super::money::Money;
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::Cached;
use crate::web::page::Page;
use crate::web::ApiError;
use rusqlite::{Connection, OptionalExtension, Row};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Category {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub listing_fee: i64,
    pub listing_days: i64,
    pub requires_pass: bool,
    pub pass_fee: Option<i64>,
    pub pass_days: Option<i64>,
    pub position: i64,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const CATEGORY_COLUMNS: &str = "id, slug, name, listing_fee, listing_days, requires_pass, pass_fee, pass_days, \
     position, active, created_at, updated_at";

impl Category {
    pub fn from_row(r: &Row) -> rusqlite::Result<Category> {
        Ok(Category {
            id: r.get(0)?,
            slug: r.get(1)?,
            name: r.get(2)?,
            listing_fee: r.get(3)?,
            listing_days: r.get(4)?,
            requires_pass: r.get::<_, i64>(5)? != 0,
            pass_fee: r.get(6)?,
            pass_days: r.get(7)?,
            position: r.get(8)?,
            active: r.get::<_, i64>(9)? != 0,
            created_at: r.get(10)?,
            updated_at: r.get(11)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SubService {
    pub id: String,
    pub category_id: String,
    pub slug: String,
    pub name: String,
    pub position: i64,
    pub active: bool,
}

const SUB_COLUMNS: &str = "id, category_id, slug, name, position, active";

impl SubService {
    fn from_row(r: &Row) -> rusqlite::Result<SubService> {
        Ok(SubService {
            id: r.get(0)?,
            category_id: r.get(1)?,
            slug: r.get(2)?,
            name: r.get(3)?,
            position: r.get(4)?,
            active: r.get::<_, i64>(5)? != 0,
        })
    }
}

pub fn find(c: &Connection, id: &str) -> rusqlite::Result<Option<Category>> {
    c.prepare_cached(&format!("SELECT {CATEGORY_COLUMNS} FROM categories WHERE id = ?1"))?
        .query_row([id], Category::from_row)
        .optional()
}

pub fn find_by_slug(c: &Connection, slug: &str) -> rusqlite::Result<Option<Category>> {
    c.query_row_cached(
        &format!("SELECT {CATEGORY_COLUMNS} FROM categories WHERE slug = ?1"),
        [slug],
        Category::from_row,
    )
    .optional()
}

/// Categories by position (then slug); only active ones unless `all`.
pub fn list(c: &Connection, all: bool) -> rusqlite::Result<Vec<Category>> {
    let filter = if all { "" } else { "WHERE active = 1" };
    let mut st = c.prepare(&format!("SELECT {CATEGORY_COLUMNS} FROM categories {filter} ORDER BY position, slug"))?;
    let rows = st.query_map([], Category::from_row)?;
    rows.collect()
}

/// A category's sub-services by position; only active ones unless `all`.
pub fn sub_services(c: &Connection, category_id: &str, all: bool) -> rusqlite::Result<Vec<SubService>> {
    let filter = if all { "" } else { "AND active = 1" };
    let mut st = c.prepare(&format!(
        "SELECT {SUB_COLUMNS} FROM sub_services WHERE category_id = ?1 {filter} ORDER BY position, slug"
    ))?;
    let rows = st.query_map([category_id], SubService::from_row)?;
    rows.collect()
}

/// Every sub-service, for grouping under the categories of a whole-catalogue answer.
fn all_sub_services(c: &Connection, all: bool) -> rusqlite::Result<Vec<SubService>> {
    let filter = if all { "" } else { "WHERE active = 1" };
    let mut st =
        c.prepare(&format!("SELECT {SUB_COLUMNS} FROM sub_services {filter} ORDER BY category_id, position, slug"))?;
    let rows = st.query_map([], SubService::from_row)?;
    rows.collect()
}

/// The fields both shapes share (API.md `GET /categories`).
fn base(cat: &Category, currency: &str) -> Value {
    let mut v = json!({
        "id": cat.id,
        "slug": cat.slug,
        "name": cat.name,
        "listingFee": Money::new(cat.listing_fee, currency),
        "listingDays": cat.listing_days,
        "requiresPass": cat.requires_pass,
    });
    if cat.requires_pass {
        v["passFee"] = json!(cat.pass_fee.map(|f| Money::new(f, currency)));
        v["passDays"] = json!(cat.pass_days);
    }
    v
}

/// The public shape: active sub-services as `{id, name}`.
pub fn public_view(cat: &Category, subs: &[SubService], currency: &str) -> Value {
    let mut v = base(cat, currency);
    v["subServices"] = subs
        .iter()
        .filter(|s| s.active && s.category_id == cat.id)
        .map(|s| json!({"id": s.id, "name": s.name}))
        .collect();
    v
}

/// The admin shape: every sub-service with its slug, position and state, plus the category's own.
pub fn admin_view(cat: &Category, subs: &[SubService], currency: &str) -> Value {
    let mut v = base(cat, currency);
    v["subServices"] = subs
        .iter()
        .filter(|s| s.category_id == cat.id)
        .map(|s| json!({"id": s.id, "slug": s.slug, "name": s.name, "position": s.position, "active": s.active}))
        .collect();
    v["position"] = json!(cat.position);
    v["active"] = json!(cat.active);
    v["createdAt"] = json!(rfc3339(cat.created_at));
    v["updatedAt"] = json!(rfc3339(cat.updated_at));
    v
}

/// `GET /categories` (active only) or `GET /admin/categories` (`all`), by position.
pub fn catalogue(c: &Connection, all: bool, currency: &str) -> rusqlite::Result<Vec<Value>> {
    let subs = all_sub_services(c, all)?;
    let cats = list(c, all)?;
    Ok(cats
        .iter()
        .map(|cat| if all { admin_view(cat, &subs, currency) } else { public_view(cat, &subs, currency) })
        .collect())
}

/// `GET /categories`: the active categories, each with its active sub-services.
pub fn public_list(app: &App) -> Result<Vec<Value>, ApiError> {
    let currency = app.config.business.currency.as_str();
    app.db.read(|c| Ok(catalogue(c, false, currency)?))
}

/// `GET /admin/categories`: every category in the admin shape, as one page (a catalogue is a
/// few dozen categories; the envelope is the list one so paging can come without a new shape).
pub fn admin_list(app: &App) -> Result<Page<Value>, ApiError> {
    let currency = app.config.business.currency.as_str();
    app.db.read(|c| Ok(Page { items: catalogue(c, true, currency)?, next_cursor: None }))
}

/// One category in the admin shape.
pub fn admin_one(c: &Connection, id: &str, currency: &str) -> rusqlite::Result<Option<Value>> {
    let Some(cat) = find(c, id)? else { return Ok(None) };
    let subs = sub_services(c, id, true)?;
    Ok(Some(admin_view(&cat, &subs, currency)))
}
