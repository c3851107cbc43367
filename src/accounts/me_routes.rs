//! HTTP handlers for /api/v1/me/*: the caller's profile, export, addresses, devices and
//! notification settings. Every route needs a valid bearer token, any role.

use super::{addresses, devices, guard, me, settings};
use crate::app::App;
use crate::routes::Handler;
use crate::web::json::{created, json_response, no_content, ok, read_json};
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("GET", "/api/v1/me", get_me)
        .add("PATCH", "/api/v1/me", patch_me)
        .add("DELETE", "/api/v1/me", delete_me)
        .add("GET", "/api/v1/me/export", export)
        .add("GET", "/api/v1/me/addresses", list_addresses)
        .add("POST", "/api/v1/me/addresses", create_address)
        .add("PATCH", "/api/v1/me/addresses/{id}", update_address)
        .add("DELETE", "/api/v1/me/addresses/{id}", delete_address)
        .add("POST", "/api/v1/me/devices", register_device)
        .add("DELETE", "/api/v1/me/devices/{token}", forget_device)
        .add("GET", "/api/v1/me/notification-settings", get_settings)
        .add("PUT", "/api/v1/me/notification-settings", put_settings);
}

fn body<T: serde::de::DeserializeOwned>(app: &App, req: &Request) -> std::result::Result<T, ApiError> {
    read_json(req, app.config.server.body_limit_bytes)
}

/// Personal data must not linger in shared or browser caches.
fn private(r: Response) -> Result {
    Ok(r.with_unique_header("Cache-Control", "no-store"))
}

pub fn get_me(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(json_response(200, &me::get(app, &p)?))
}

pub fn patch_me(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    ok(&me::update(app, ctx, &p, body(app, req)?)?)
}

pub fn delete_me(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    me::delete(app, ctx, &p)?;
    no_content()
}

pub fn export(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(json_response(200, &me::export(app, ctx, &p)?))
}

pub fn list_addresses(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let items = app.db.read(|c| addresses::list(c, &p.user_id).map_err(ApiError::from))?;
    private(json_response(200, &json!({"items": items, "nextCursor": null})))
}

pub fn create_address(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    created(&addresses::create(app, &p, body(app, req)?)?)
}

pub fn update_address(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    ok(&addresses::update(app, &p, params.get("id"), body(app, req)?)?)
}

pub fn delete_address(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    addresses::delete(app, &p, params.get("id"))?;
    no_content()
}

pub fn register_device(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    created(&devices::register(app, &p, body(app, req)?)?)
}

pub fn forget_device(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    devices::forget(app, &p, params.get("token"))?;
    no_content()
}

pub fn get_settings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(json_response(200, &app.db.read(|c| settings::load(c, &p.user_id).map_err(ApiError::from))?))
}

pub fn put_settings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    ok(&settings::put(app, &p, body(app, req)?)?)
}
