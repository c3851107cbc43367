//! The public side: `GET /listings` (search over live listings) and `GET /listings/{id}`. Live
//! means `status = 'active' AND active_until > now`; deleted listings, inactive categories and
//! blocked or deleted providers never show. Addresses and phone numbers are never shown.
//!
//! Every filter combination is served by an index of `0004_marketplace.sql` whose leading
//! columns are `(status, <filter>)` and trailing `(created_at, id)`, so the newest-first keyset
//! walk reads only matching rows (`tests/integration/listings.rs` checks the plan).
//!
//! `q` is full-text over the FTS5 index `listing_search` (`0015_search_and_indexes.sql`). Ranking
//! rule and its bound: of the listings whose texts match every word, the newest [`WINDOW`] (by
//! insertion order, the FTS5 rowid) are ranked, and the live ones among them that pass the
//! `category`/`city`/`state` filters come best first by `listing_rank` ([`rank`]: bm25's
//! term-frequency and length scoring, column-weighted, without the document-frequency factor),
//! ties by id, paged with a `(rank, id)` cursor. Older matches are not returned. FTS5 walks the
//! match newest first and stops at the window, so a page costs the same at a thousand matches or a
//! million; the price is that a word matching more than [`WINDOW`] listings searches only the
//! newest of them.

use super::listings::{prices, CategoryRef, PricedSubService, Rating};
use super::money::Money;
use super::{categories, fields, rank};
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::keyset;
use crate::web::page::{Page, PageRequest};
use crate::web::ApiError;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OptionalExtension, Row};
use serde::Serialize;

/// `?category=<slug>&city=&state=&q=` as the client sent them (trimmed, never empty).
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub category: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub q: Option<String>,
}

/// A search, ready for SQL: keys are lower-cased and trimmed, `category_id` resolved from the slug.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub category_id: Option<String>,
    pub city_key: Option<String>,
    pub state_key: Option<String>,
    pub q: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRef {
    pub id: String,
    pub full_name: String,
}

/// One search result (API.md `GET /listings`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicListing {
    pub id: String,
    pub category: CategoryRef,
    pub provider: ProviderRef,
    pub city: String,
    pub state: String,
    pub experience_years: i64,
    pub description: String,
    pub price_from: Money,
    pub rating: Rating,
    #[serde(skip)]
    pub created_at: i64,
}

const SELECT: &str = "SELECT l.id, c.id, c.slug, c.name, u.id, u.full_name, l.city, l.state, l.experience_years, \
     l.description, l.price_from, l.rating_sum, l.rating_count, l.created_at, l.active_until \
     FROM listings l JOIN categories c ON c.id = l.category_id JOIN user_directory u ON u.id = l.provider_id";

/// Live, visible listings (`?1` = now). The unary `+` keeps the planner off `listings_lapsing`
/// (status, active_until): that range would need a sort of every live listing, while the
/// `(status, <filter>, created_at, id)` indexes give the page in order and stop at the limit.
/// The provider is read through accounts' `user_directory` view (the same plan as `users`).
const LIVE: &str = "l.status = 'active' AND +l.active_until > ?1 AND l.deleted_at IS NULL AND c.active = 1 \
     AND u.deleted = 0 AND u.blocked = 0";

fn from_row(r: &Row, currency: &str) -> rusqlite::Result<PublicListing> {
    Ok(PublicListing {
        id: r.get(0)?,
        category: CategoryRef { id: r.get(1)?, slug: r.get(2)?, name: r.get(3)? },
        provider: ProviderRef { id: r.get(4)?, full_name: r.get(5)? },
        city: r.get(6)?,
        state: r.get(7)?,
        experience_years: r.get(8)?,
        description: r.get(9)?,
        price_from: Money::new(r.get(10)?, currency),
        rating: Rating::new(r.get(11)?, r.get(12)?),
        created_at: r.get(13)?,
    })
}

/// The FTS5 query for the user's `q`: every word (a run of letters and digits; everything else
/// separates words, so quotes, operators, `*`, `NEAR`, parentheses and column filters are never
/// syntax) as a quoted prefix term, all of them required. None when `q` has no word.
pub fn fts_query(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_TERMS)
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Words of `q` searched at most (the rest are ignored).
const MAX_TERMS: usize = 16;

/// The column weights (description, provider, category, services) of [`rank`]'s score and the
/// scale that turns it into the integer the keyset cursor holds.
const RANK: &str = "CAST(listing_rank(listing_search, 1.0, 2.0, 4.0, 2.0) * 1000000 AS INTEGER)";

/// How many matches a `q` search ranks: the newest `WINDOW` listings whose texts match every word
/// (newest by insertion, the FTS5 rowid). FTS5 walks a match in rowid order and stops there, so a
/// page costs the same whether a word matches a thousand listings or a million.
pub const WINDOW: usize = 200;

/// The exact SQL and arguments of one page of a search at `now` (public so the query plan can be
/// tested). Without `q`: newest first, `(created_at, id)` cursor. With `q`: the FTS5 index
/// `listing_search` (`0015_search_and_indexes.sql`) gives the newest [`WINDOW`] matches of the
/// words (by rowid, where FTS5 stops early); of those, the live ones that pass the filters come
/// best first by [`rank`] (`listing_rank`, bm25 without its document-frequency term), ties by id.
/// Older matches beyond the window are not returned. The cursor is `(rank, id)`, the rank an
/// integer (score × 10⁶), so a page follows on from the one before as long as the index is
/// unchanged (a write in between can move a listing across the cursor or the window's edge).
/// Column 15 is the row's key for the cursor.
pub fn build(f: &Filter, page: &PageRequest, now: i64) -> (String, Vec<SqlValue>) {
    let mut args: Vec<SqlValue> = vec![now.into()];
    let mut filters = String::new();
    let eq = |col: &str, v: &Option<String>, sql: &mut String, args: &mut Vec<SqlValue>| {
        if let Some(v) = v {
            args.push(v.clone().into());
            sql.push_str(&format!(" AND {col} = ?{}", args.len()));
        }
    };
    eq("l.category_id", &f.category_id, &mut filters, &mut args);
    eq("l.city_key", &f.city_key, &mut filters, &mut args);
    eq("l.state_key", &f.state_key, &mut filters, &mut args);
    let Some(q) = &f.q else {
        let select = SELECT.replacen(" FROM listings l ", ", l.created_at FROM listings l ", 1);
        let mut sql = format!("{select} WHERE {LIVE}{filters}");
        if let Some((at, id)) = &page.after {
            keyset::push_before(&mut sql, &mut args, "l.created_at", "l.id", *at, id.clone());
        }
        sql.push_str(&format!(" ORDER BY l.created_at DESC, l.id DESC LIMIT {}", page.fetch()));
        return (sql, args);
    };
    // A `q` without a word matches nothing (the operation answers before asking the database).
    args.push(fts_query(q).unwrap_or_else(|| "\"\"".into()).into());
    let m = args.len();
    let window = format!(
        "(SELECT rowid AS r, {RANK} AS rk FROM listing_search WHERE listing_search MATCH ?{m} \
         ORDER BY rowid DESC LIMIT {WINDOW}) w"
    );
    // CROSS JOIN keeps the window first: each of its rows then finds its listing by rowid (left
    // free, the planner may walk every active listing and probe the window instead).
    let inner = SELECT.replacen("SELECT l.id,", "SELECT l.id AS lid,", 1).replacen(
        " FROM listings l ",
        &format!(", w.rk AS rk FROM {window} CROSS JOIN listings l ON l.rowid = w.r "),
        1,
    );
    let mut sql = format!("SELECT * FROM ({inner} WHERE {LIVE}{filters}) WHERE 1");
    if let Some((at, id)) = &page.after {
        keyset::push_before(&mut sql, &mut args, "rk", "lid", *at, id.clone());
    }
    sql.push_str(&format!(" ORDER BY rk DESC, lid DESC LIMIT {}", page.fetch()));
    (sql, args)
}

/// `GET /listings`: live listings matching `s`, newest first (ranked by relevance with `q`). The
/// category slug is matched case-insensitively; an unknown one simply matches nothing.
pub fn search(app: &App, s: &Search, page: &PageRequest) -> Result<Page<PublicListing>, ApiError> {
    let currency = app.config.business.currency.as_str();
    let now = app.now_ms();
    let mut f = Filter {
        category_id: None,
        city_key: s.city.as_deref().map(fields::key),
        state_key: s.state.as_deref().map(fields::key),
        q: s.q.clone(),
    };
    if f.q.as_deref().is_some_and(|q| fts_query(q).is_none()) {
        return Ok(Page { items: Vec::new(), next_cursor: None });
    }
    app.db.read(|c| {
        if let Some(slug) = &s.category {
            match categories::find_by_slug(c, &slug.to_ascii_lowercase())? {
                Some(cat) => f.category_id = Some(cat.id),
                None => return Ok(Page { items: Vec::new(), next_cursor: None }),
            }
        }
        let (sql, args) = build(&f, page, now);
        // Cached: a search takes one of a few shapes (filters given, cursor or not, limit), and
        // its providers are joined through a view that costs a little to expand at each prepare.
        let mut st = rank::prepare(c, &sql)?;
        let rows =
            st.query_map(params_from_iter(args.iter()), |r| Ok((from_row(r, currency)?, r.get::<_, i64>(15)?)))?;
        let page = page.finish(rows.collect::<Result<Vec<_>, _>>()?, |(r, key)| (*key, &r.id));
        Ok(Page { items: page.items.into_iter().map(|(r, _)| r).collect(), next_cursor: page.next_cursor })
    })
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewAuthor {
    pub full_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub stars: i64,
    pub review: String,
    pub created_at: String,
    pub customer: ReviewAuthor,
}

/// The public detail: the search shape plus prices, the period and the latest reviews.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicListingDetail {
    #[serde(flatten)]
    pub listing: PublicListing,
    pub status: &'static str,
    pub active_until: String,
    pub sub_services: Vec<PricedSubService>,
    pub reviews: Vec<Review>,
    pub created_at: String,
}

/// How many reviews the detail carries.
pub const LATEST_REVIEWS: i64 = 10;

/// Ratings are the bookings feature's and names accounts': both are read through the views
/// they export (`listing_reviews`, `user_directory`). The statements that read views are cached,
/// so the views are expanded once per connection, not per request.
fn reviews(c: &Connection, listing_id: &str) -> rusqlite::Result<Vec<Review>> {
    let mut st = c.prepare_cached(
        "SELECT r.stars, r.review, r.created_at, u.full_name FROM listing_reviews r
         JOIN user_directory u ON u.id = r.customer_id
         WHERE r.listing_id = ?1 ORDER BY r.created_at DESC LIMIT ?2",
    )?;
    let rows = st.query_map(rusqlite::params![listing_id, LATEST_REVIEWS], |r| {
        Ok(Review {
            stars: r.get(0)?,
            review: r.get(1)?,
            created_at: rfc3339(r.get(2)?),
            customer: ReviewAuthor { full_name: r.get(3)? },
        })
    })?;
    rows.collect()
}

/// A listing that can be seen, booked, called and paid for right now (the one definition of
/// "live" — search, detail, booking and later calls and payments all go through [`LIVE`]).
pub struct LiveListing {
    pub provider_id: String,
    /// Never shown: used to refuse booking one's own listing from a second account.
    pub provider_phone: String,
    pub category_id: String,
    pub requires_pass: bool,
}

/// The live listing `id`, or None (unknown, lapsed, suspended, deleted, its category inactive,
/// or its provider blocked or deleted).
pub fn live(c: &Connection, id: &str, now: i64) -> rusqlite::Result<Option<LiveListing>> {
    c.prepare_cached(&format!(
        "SELECT u.id, u.phone, c.id, c.requires_pass FROM listings l JOIN categories c ON c.id = l.category_id
         JOIN user_directory u ON u.id = l.provider_id WHERE l.id = ?2 AND {LIVE}"
    ))?
    .query_row(rusqlite::params![now, id], |r| {
        Ok(LiveListing {
            provider_id: r.get(0)?,
            provider_phone: r.get(1)?,
            category_id: r.get(2)?,
            requires_pass: r.get::<_, i64>(3)? != 0,
        })
    })
    .optional()
}

/// The statement `GET /listings/{id}` reads the listing with (`?1` now, `?2` the id; public so the
/// query plan can be tested).
pub fn detail_sql() -> String {
    format!("{SELECT} WHERE l.id = ?2 AND {LIVE}")
}

/// `GET /listings/{id}`: a live listing, else 404.
pub fn get(app: &App, id: &str) -> Result<PublicListingDetail, ApiError> {
    let currency = app.config.business.currency.as_str();
    let now = app.now_ms();
    app.db.read(|c| {
        let found = c
            .prepare_cached(&detail_sql())?
            .query_row(rusqlite::params![now, id], |r| Ok((from_row(r, currency)?, r.get::<_, i64>(14)?)))
            .optional()?;
        let (listing, until) = found.ok_or_else(ApiError::not_found)?;
        Ok(PublicListingDetail {
            sub_services: prices(c, id, currency)?,
            reviews: reviews(c, id)?,
            status: "active",
            active_until: rfc3339(until),
            created_at: rfc3339(listing.created_at),
            listing,
        })
    })
}
