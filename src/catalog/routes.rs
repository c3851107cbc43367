//! HTTP handlers for the catalogue and listings: the public catalogue and search, providers' own
//! listings, and the admin's categories and listing moderation.

use super::{admin_categories, admin_listings, categories, fields, listings, search};
use crate::app::App;
use crate::app::Handler;
use crate::guard;
use crate::web::auth::{Principal, Role};
use crate::web::json::{created, json_response, no_content, ok, read_json};
use crate::web::router::Router;
use crate::web::{cursor, query, ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("GET", "/api/v1/categories", list_categories)
        .add("GET", "/api/v1/listings", search_listings)
        .add("GET", "/api/v1/listings/{id}", get_listing)
        .add("GET", "/api/v1/provider/listings", list_own)
        .add("POST", "/api/v1/provider/listings", create_listing)
        .add("GET", "/api/v1/provider/listings/{id}", get_own)
        .add("PATCH", "/api/v1/provider/listings/{id}", update_listing)
        .add("DELETE", "/api/v1/provider/listings/{id}", delete_listing)
        .add("GET", "/api/v1/admin/categories", admin_list_categories)
        .add("POST", "/api/v1/admin/categories", admin_create_category)
        .add("PATCH", "/api/v1/admin/categories/{id}", admin_update_category)
        .add("GET", "/api/v1/admin/listings", admin_list_listings)
        .add("PATCH", "/api/v1/admin/listings/{id}", admin_update_listing);
}

fn body<T: serde::de::DeserializeOwned>(app: &App, req: &Request) -> std::result::Result<T, ApiError> {
    read_json(req, app.config.server.body_limit_bytes)
}

fn provider(app: &App, req: &Request) -> std::result::Result<Principal, ApiError> {
    guard::require(app, req, &[Role::Provider])
}

fn admin(app: &App, req: &Request) -> std::result::Result<Principal, ApiError> {
    guard::require(app, req, &[Role::Admin])
}

/// Owner and admin views carry the address: keep them out of shared caches.
fn private(r: Response) -> Result {
    Ok(r.with_unique_header("Cache-Control", "no-store"))
}

fn after(req: &Request) -> std::result::Result<Option<(i64, String)>, ApiError> {
    req.get_param("cursor").map(|c| cursor::decode(&c)).transpose()
}

/// A trimmed, non-empty query parameter of at most `max` characters.
fn param(req: &Request, name: &str, max: usize) -> std::result::Result<Option<String>, ApiError> {
    match req.get_param(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max => Err(ApiError::field(name, &format!("must be at most {max} characters"))),
        v => Ok(v),
    }
}

pub fn list_categories(app: &App, _: &Ctx, _: &Request, _: &Params) -> Result {
    let currency = app.config.business.currency.as_str();
    let items = app.db.read(|c| categories::catalogue(c, false, currency).map_err(ApiError::from))?;
    ok(&json!({"items": items}))
}

/// `?category=<slug>&city=&state=&q=&limit=&cursor=`, newest first. The slug is matched
/// case-insensitively; an unknown one simply matches nothing.
pub fn search_listings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let limit = query::limit(req)?;
    let slug = param(req, "category", 60)?.map(|s| s.to_ascii_lowercase());
    let mut f = search::Filter {
        city_key: param(req, "city", 80)?.map(|v| fields::key(&v)),
        state_key: param(req, "state", 80)?.map(|v| fields::key(&v)),
        q: param(req, "q", 100)?,
        after: after(req)?,
        limit,
        ..Default::default()
    };
    let currency = app.config.business.currency.as_str();
    let now = app.now_ms();
    let page = app.db.read(|c| {
        if let Some(slug) = &slug {
            match categories::find_by_slug(c, slug)? {
                Some(cat) => f.category_id = Some(cat.id),
                None => return Ok(json!({"items": [], "nextCursor": null})),
            }
        }
        search::search(c, &f, now, currency)
    })?;
    ok(&page)
}

pub fn get_listing(app: &App, _: &Ctx, _: &Request, p: &Params) -> Result {
    ok(&search::get(app, p.get("id"))?)
}

pub fn list_own(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = provider(app, req)?;
    let limit = query::limit(req)?;
    private(json_response(200, &listings::list_own(app, &p, limit, after(req)?)?))
}

pub fn create_listing(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = provider(app, req)?;
    private(created(&listings::create(app, &p, body(app, req)?)?)?)
}

pub fn get_own(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = provider(app, req)?;
    private(json_response(200, &listings::get_own(app, &p, params.get("id"))?))
}

pub fn update_listing(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = provider(app, req)?;
    private(ok(&listings::update(app, &p, params.get("id"), body(app, req)?)?)?)
}

pub fn delete_listing(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = provider(app, req)?;
    listings::delete(app, ctx, &p, params.get("id"))?;
    no_content()
}

pub fn admin_list_categories(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    admin(app, req)?;
    let currency = app.config.business.currency.as_str();
    let items = app.db.read(|c| categories::catalogue(c, true, currency).map_err(ApiError::from))?;
    ok(&json!({"items": items, "nextCursor": null}))
}

pub fn admin_create_category(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let me = admin(app, req)?;
    created(&admin_categories::create(app, ctx, &me, body(app, req)?)?)
}

pub fn admin_update_category(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = admin(app, req)?;
    ok(&admin_categories::update(app, ctx, &me, p.get("id"), body(app, req)?)?)
}

/// `?status=&limit=&cursor=`, newest first.
pub fn admin_list_listings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    admin(app, req)?;
    let limit = query::limit(req)?;
    let status = req.get_param("status");
    private(json_response(200, &admin_listings::list(app, status.as_deref(), limit, after(req)?)?))
}

pub fn admin_update_listing(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = admin(app, req)?;
    private(ok(&admin_listings::update(app, ctx, &me, p.get("id"), body(app, req)?)?)?)
}
