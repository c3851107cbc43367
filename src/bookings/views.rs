//! The Booking as the API shows it (API.md "Bookings"), and its history.

use super::{Booking, COLUMNS};
use crate::clock::rfc3339;
use crate::web::page::Page;
use rusqlite::{params, Connection};
use serde::Serialize;

pub use crate::catalog::listings::CategoryRef;
pub use crate::catalog::money::Money;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartyRef {
    pub id: String,
    pub full_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub price: Money,
}

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    /// Null for the system (expiry).
    pub id: Option<String>,
    pub role: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub status: String,
    pub at: String,
    pub by: Actor,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingView {
    pub id: String,
    pub status: String,
    pub listing_id: String,
    pub category: CategoryRef,
    pub customer: PartyRef,
    pub provider: PartyRef,
    pub sub_services: Vec<Item>,
    pub total: Money,
    pub date: String,
    pub time: String,
    pub starts_at: String,
    pub address: String,
    pub notes: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
}

/// The parties' names and the category as a list query reads them next to [`COLUMNS`]: append
/// [`REFS`] to the select list (`SELECT {COLUMNS}, {REFS} FROM bookings …`); its columns are 16-19.
/// Names and categories are accounts' and catalog's, read through the views they export; each is
/// a primary-key lookup inside the one statement.
pub const REFS: &str = "(SELECT full_name FROM user_directory WHERE id = customer_id), \
     (SELECT full_name FROM user_directory WHERE id = provider_id), \
     (SELECT slug FROM category_directory WHERE id = category_id), \
     (SELECT name FROM category_directory WHERE id = category_id)";

/// What [`REFS`] reads for one booking.
#[derive(Debug, Clone, Default)]
pub struct Refs {
    customer_name: Option<String>,
    provider_name: Option<String>,
    slug: Option<String>,
    name: Option<String>,
}

impl Refs {
    fn from_row(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Refs> {
        Ok(Refs {
            customer_name: r.get(at)?,
            provider_name: r.get(at + 1)?,
            slug: r.get(at + 2)?,
            name: r.get(at + 3)?,
        })
    }
}

/// Shapes a stored booking (items and names read from `c`). Two cached statements: the parties'
/// names with the category, and the items. Lists use [`list_with_refs`] and [`shape_page`]
/// instead: two statements a page, whatever its length.
pub fn view(c: &Connection, b: &Booking) -> rusqlite::Result<BookingView> {
    let mut refs = c.prepare_cached(
        "SELECT (SELECT full_name FROM user_directory WHERE id = ?1),
                (SELECT full_name FROM user_directory WHERE id = ?2),
                (SELECT slug FROM category_directory WHERE id = ?3), (SELECT name FROM category_directory WHERE id = ?3)",
    )?;
    let refs = refs.query_row(params![b.customer_id, b.provider_id, b.category_id], |r| Refs::from_row(r, 0))?;
    let mut st = c.prepare_cached(
        "SELECT i.sub_service_id, i.name, i.price FROM booking_items i
         LEFT JOIN sub_service_directory s ON s.id = i.sub_service_id
         WHERE i.booking_id = ?1 ORDER BY COALESCE(s.position, 0), i.sub_service_id",
    )?;
    let items = st
        .query_map([&b.id], |r| Ok(Item { id: r.get(0)?, name: r.get(1)?, price: Money::new(r.get(2)?, &b.currency) }))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(shape(b, refs, items))
}

fn shape(b: &Booking, refs: Refs, items: Vec<Item>) -> BookingView {
    let category = CategoryRef {
        id: b.category_id.clone(),
        slug: refs.slug.unwrap_or_default(),
        name: refs.name.unwrap_or_default(),
    };
    BookingView {
        id: b.id.clone(),
        status: b.status.as_str().to_string(),
        listing_id: b.listing_id.clone(),
        category,
        customer: PartyRef { id: b.customer_id.clone(), full_name: refs.customer_name.unwrap_or_default() },
        provider: PartyRef { id: b.provider_id.clone(), full_name: refs.provider_name.unwrap_or_default() },
        sub_services: items,
        total: Money::new(b.total, &b.currency),
        date: b.local_date.clone(),
        time: b.local_time.clone(),
        starts_at: rfc3339(b.starts_at),
        address: b.address.clone(),
        notes: b.notes.clone(),
        created_at: rfc3339(b.created_at),
        updated_at: rfc3339(b.updated_at),
        history: None,
    }
}

/// The rows of a list query `SELECT {COLUMNS}, {REFS} FROM bookings …` (cached statement).
pub fn list_with_refs(
    c: &Connection,
    sql: &str,
    args: &[rusqlite::types::Value],
) -> rusqlite::Result<Vec<(Booking, Refs)>> {
    debug_assert!(sql.contains(COLUMNS) && sql.contains(REFS));
    let mut st = c.prepare_cached(sql)?;
    let rows =
        st.query_map(rusqlite::params_from_iter(args.iter()), |r| Ok((Booking::from_row(r)?, Refs::from_row(r, 16)?)))?;
    rows.collect()
}

/// Every item of the bookings whose ids `?1` lists (a JSON array), grouped by booking, in
/// catalogue order.
pub const ITEMS_OF_PAGE: &str =
    "SELECT i.booking_id, i.sub_service_id, i.name, i.price, b.currency FROM json_each(?1) j
     JOIN booking_items i ON i.booking_id = j.value
     JOIN bookings b ON b.id = i.booking_id
     LEFT JOIN sub_service_directory s ON s.id = i.sub_service_id
     ORDER BY i.booking_id, COALESCE(s.position, 0), i.sub_service_id";

/// Shapes a page of [`list_with_refs`] rows: every booking's items in one statement (the page's
/// ids as a JSON array through `json_each`, each a primary-key range of `booking_items`).
pub fn shape_page(c: &Connection, page: Page<(Booking, Refs)>) -> rusqlite::Result<Page<BookingView>> {
    let mut items: std::collections::HashMap<String, Vec<Item>> = std::collections::HashMap::new();
    if !page.items.is_empty() {
        let ids =
            serde_json::Value::from(page.items.iter().map(|(b, _)| b.id.as_str()).collect::<Vec<_>>()).to_string();
        let mut st = c.prepare_cached(ITEMS_OF_PAGE)?;
        let rows = st.query_map([ids], |r| {
            let currency: String = r.get(4)?;
            Ok((
                r.get::<_, String>(0)?,
                Item { id: r.get(1)?, name: r.get(2)?, price: Money::new(r.get(3)?, &currency) },
            ))
        })?;
        for row in rows {
            let (booking, item) = row?;
            items.entry(booking).or_default().push(item);
        }
    }
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|(b, refs)| {
                let its = items.remove(&b.id).unwrap_or_default();
                shape(&b, refs, its)
            })
            .collect(),
        next_cursor: page.next_cursor,
    })
}

/// The booking by id, shaped (None when missing).
pub fn by_id(c: &Connection, id: &str) -> rusqlite::Result<Option<BookingView>> {
    match super::find(c, id)? {
        Some(b) => view(c, &b).map(Some),
        None => Ok(None),
    }
}

/// Every recorded move, oldest first.
pub fn history(c: &Connection, booking_id: &str) -> rusqlite::Result<Vec<HistoryEntry>> {
    let mut st = c.prepare_cached(
        "SELECT to_status, at, actor_id, actor_role, reason FROM booking_history WHERE booking_id = ?1 ORDER BY id",
    )?;
    let rows = st.query_map(params![booking_id], |r| {
        Ok(HistoryEntry {
            status: r.get(0)?,
            at: rfc3339(r.get(1)?),
            by: Actor { id: r.get(2)?, role: r.get::<_, Option<String>>(3)?.unwrap_or_else(|| "system".into()) },
            reason: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// The rows of a list query (`SELECT {COLUMNS} ...`), shaped.
pub fn list(c: &Connection, sql: &str, args: &[rusqlite::types::Value]) -> rusqlite::Result<Vec<Booking>> {
    debug_assert!(sql.contains(COLUMNS));
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args.iter()), Booking::from_row)?;
    rows.collect()
}
