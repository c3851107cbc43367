//! HTTP handlers for the catalogue and listings: the public catalogue and search, providers' own
//! listings, and the admin's categories and listing moderation.

use super::{admin_categories, admin_listings, categories, provider_listings, search};
use crate::app::App;
use crate::app::Handler;
use crate::guard;
use crate::web::auth::{Principal, Role};
use crate::web::cache::{cacheable, REVALIDATE};
use crate::web::json::{body, created, no_content, ok, private};
use crate::web::page::PageRequest;
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
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

fn provider(app: &App, req: &Request) -> std::result::Result<Principal, ApiError> {
    guard::require(app, req, &[Role::Provider])
}

fn admin(app: &App, req: &Request) -> std::result::Result<Principal, ApiError> {
    guard::require(app, req, &[Role::Admin])
}

/// A trimmed, non-empty query parameter of at most `max` characters.
fn param(req: &Request, name: &str, max: usize) -> std::result::Result<Option<String>, ApiError> {
    match req.get_param(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max => Err(ApiError::field(name, &format!("must be at most {max} characters"))),
        v => Ok(v),
    }
}

/// Public and rarely edited: shared caches may keep it a minute (an admin's edit shows within
/// 60 s), then revalidate by ETag.
const CATEGORIES_CACHE: &str = "public, max-age=60";

pub fn list_categories(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    Ok(cacheable(req, ok(&json!({"items": categories::public_list(app)?}))?, CATEGORIES_CACHE))
}

/// `?category=<slug>&city=&state=&q=&limit=&cursor=`, newest first.
pub fn search_listings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let page = PageRequest::from_query(req)?;
    let s = search::Search {
        category: param(req, "category", 60)?,
        city: param(req, "city", 80)?,
        state: param(req, "state", 80)?,
        q: param(req, "q", 100)?,
    };
    ok(&search::search(app, &s, &page)?)
}

/// `no-cache` + ETag: a provider's edit or a moderation (hidden listing) shows at once; an
/// unchanged listing costs a 304.
pub fn get_listing(app: &App, _: &Ctx, req: &Request, p: &Params) -> Result {
    Ok(cacheable(req, ok(&search::get(app, p.get("id"))?)?, REVALIDATE))
}

// Owner and admin views carry the address: `private` keeps them out of shared caches.

pub fn list_own(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = provider(app, req)?;
    let page = PageRequest::from_query(req)?;
    private(ok(&provider_listings::list_own(app, &p, &page)?)?)
}

pub fn create_listing(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = provider(app, req)?;
    private(created(&provider_listings::create(app, &p, body(ctx, req)?)?)?)
}

pub fn get_own(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = provider(app, req)?;
    private(ok(&provider_listings::get_own(app, &p, params.get("id"))?)?)
}

pub fn update_listing(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = provider(app, req)?;
    private(ok(&provider_listings::update(app, &p, params.get("id"), body(ctx, req)?)?)?)
}

pub fn delete_listing(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = provider(app, req)?;
    provider_listings::delete(app, ctx, &p, params.get("id"))?;
    no_content()
}

pub fn admin_list_categories(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    admin(app, req)?;
    ok(&categories::admin_list(app)?)
}

pub fn admin_create_category(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let me = admin(app, req)?;
    created(&admin_categories::create(app, ctx, &me, body(ctx, req)?)?)
}

pub fn admin_update_category(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = admin(app, req)?;
    ok(&admin_categories::update(app, ctx, &me, p.get("id"), body(ctx, req)?)?)
}

/// `?status=&limit=&cursor=`, newest first.
pub fn admin_list_listings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    admin(app, req)?;
    let page = PageRequest::from_query(req)?;
    private(ok(&admin_listings::list(app, req.get_param("status").as_deref(), &page)?)?)
}

pub fn admin_update_listing(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = admin(app, req)?;
    private(ok(&admin_listings::update(app, ctx, &me, p.get("id"), body(ctx, req)?)?)?)
}
