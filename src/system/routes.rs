//! System routes: /healthz, /readyz, /metrics, /api/v1/meta, /api/v1/openapi.json, /admin/.

use crate::app::{App, Handler};
use crate::assets;
use crate::web::json::{json_response, ok};
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("GET", "/healthz", healthz)
        .add("GET", "/readyz", readyz)
        .add("GET", "/metrics", metrics)
        .add("GET", "/api/v1/openapi.json", openapi)
        .add("GET", "/api/v1/meta", meta)
        .add("GET", "/admin", admin_redirect)
        .add("GET", "/admin/", admin_index)
        .add("GET", "/admin/{file}", admin_asset);
}

pub fn healthz(_: &App, _: &Ctx, _: &Request, _: &Params) -> Result {
    ok(&json!({"status": "ok"}))
}

pub fn readyz(app: &App, _: &Ctx, _: &Request, _: &Params) -> Result {
    let r = super::readiness(app);
    let mut resp = json_response(if r.ok() { 200 } else { 503 }, &r);
    if !r.ok() {
        resp.headers.push(("Retry-After".into(), "5".into()));
    }
    Ok(resp.with_unique_header("Cache-Control", "no-store"))
}

pub fn metrics(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let token = &app.config.metrics.token;
    if !token.is_empty() {
        let given = req.header("Authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
        if !crate::passwords::constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return Err(ApiError::unauthenticated());
        }
    }
    let gauges = super::gauges::gauges(app);
    Ok(Response::from_data("text/plain; version=0.0.4; charset=utf-8", app.metrics.render(&gauges))
        .with_unique_header("Cache-Control", "no-store"))
}

pub fn meta(app: &App, _: &Ctx, _: &Request, _: &Params) -> Result {
    ok(&super::meta(app)?)
}

pub fn openapi(_: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    assets::response("openapi.json", req).ok_or_else(|| ApiError::internal("openapi.json is not embedded"))
}

pub fn admin_index(_: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    assets::response("admin/index.html", req).ok_or_else(ApiError::not_found)
}

pub fn admin_redirect(_: &App, _: &Ctx, _: &Request, _: &Params) -> Result {
    Ok(Response::redirect_301("/admin/"))
}

pub fn admin_asset(_: &App, _: &Ctx, req: &Request, p: &Params) -> Result {
    let name = p.get("file");
    // Only plain file names: no traversal, no hidden files.
    if name.starts_with('.') || name.contains('/') || name.contains('\\') {
        return Err(ApiError::not_found());
    }
    assets::response(&format!("admin/{name}"), req).ok_or_else(ApiError::not_found)
}
