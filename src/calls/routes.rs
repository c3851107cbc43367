//! HTTP handlers for calls: the state machine, the signalling relay, ICE servers, quality reports,
//! history (the admin list included) and the browser call page (`/call/`). They parse the request,
//! check the caller and shape the response; the operations live beside them.

use super::history::{self, Filter};
use super::transitions::{self, Action};
use super::{ice, quality, signal, start, Status};
use crate::app::{App, Handler};
use crate::assets;
use crate::guard;
use crate::web::auth::Role;
use crate::web::json::{body, created, json_response, ok, private};
use crate::web::page::PageRequest;
use crate::web::ratelimit::Limit;
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    // `ice-servers` before `{id}`: the first matching route wins.
    r.add("GET", "/api/v1/calls/ice-servers", ice_servers)
        .add("POST", "/api/v1/calls", start_call)
        .add("GET", "/api/v1/calls", list_calls)
        .add("GET", "/api/v1/calls/{id}", get_call)
        .add("POST", "/api/v1/calls/{id}/accept", accept)
        .add("POST", "/api/v1/calls/{id}/reject", reject)
        .add("POST", "/api/v1/calls/{id}/cancel", cancel)
        .add("POST", "/api/v1/calls/{id}/end", end)
        .add("POST", "/api/v1/calls/{id}/signal", send_signal)
        .add("POST", "/api/v1/calls/{id}/quality", report_quality)
        .add("GET", "/api/v1/admin/calls", admin_list_calls)
        .add("GET", "/call", page_redirect)
        .add("GET", "/call/", page_index)
        .add("GET", "/call/{file}", page_asset);
}

/// Any signed-in user: STUN URLs and short-lived TURN credentials (never cached).
pub fn ice_servers(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(ok(&ice::servers(app, &p))?)
}

/// `{bookingId}` → 201 Call (ringing); limited per user (`limits.calls_per_user_per_minute`).
pub fn start_call(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Customer, Role::Provider])?;
    app.limiter
        .hit(&format!("calls:{}", p.user_id), Limit::per_minute(app.config.limits.calls_per_user_per_minute))
        .check()?;
    created(&start::start(app, &p, body(ctx, req)?)?)
}

/// `?bookingId=&limit=&cursor=`: the caller's calls (an admin's: all), newest first.
pub fn list_calls(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let page = PageRequest::from_query(req)?;
    let booking = req.get_param("bookingId").filter(|b| !b.is_empty());
    private(ok(&history::mine(app, &p, booking.as_deref(), &page)?)?)
}

pub fn get_call(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(ok(&transitions::get(app, &p, params.get("id"))?)?)
}

fn transition(app: &App, req: &Request, params: &Params, action: Action) -> Result {
    let p = guard::principal(app, req)?;
    private(ok(&transitions::apply(app, &p, params.get("id"), action)?)?)
}

pub fn accept(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, req, params, Action::Accept)
}

pub fn reject(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, req, params, Action::Reject)
}

pub fn cancel(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, req, params, Action::Cancel)
}

pub fn end(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, req, params, Action::End)
}

/// `{type, sdp?, candidate?}` → 202 `{seq}`; relayed to the other party as `call.signal`.
pub fn send_signal(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let raw: serde_json::Value = body(ctx, req)?;
    let checked = signal::check(&raw)?;
    let seq = signal::relay(app, &p, params.get("id"), checked)?;
    private(json_response(202, &json!({"seq": seq})))
}

/// `{rttMs, jitterMs, packetLossPercent, bitrateKbps?}` → 202 `{mos}`.
pub fn report_quality(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let mos = quality::report(app, &p, params.get("id"), body(ctx, req)?)?;
    private(json_response(202, &json!({"mos": mos})))
}

fn instant(req: &Request, name: &str) -> std::result::Result<Option<i64>, ApiError> {
    match req.get_param(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => crate::clock::parse_rfc3339(&v)
            .map(Some)
            .ok_or_else(|| ApiError::field(name, "must be an RFC 3339 instant (2026-12-01T00:00:00Z)")),
    }
}

/// `?status=&bookingId=&userId=&from=&to=&limit=&cursor=`, newest first.
pub fn admin_list_calls(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    guard::require(app, req, &[Role::Admin])?;
    let page = PageRequest::from_query(req)?;
    let status = match req.get_param("status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Status::parse(&s).ok_or_else(|| {
            ApiError::field("status", "must be ringing, active, rejected, missed, cancelled or ended")
        })?),
    };
    let f = Filter {
        status,
        booking_id: req.get_param("bookingId").filter(|s| !s.is_empty()),
        user_id: req.get_param("userId").filter(|s| !s.is_empty()),
        from: instant(req, "from")?,
        to: instant(req, "to")?,
    };
    private(ok(&history::admin_list(app, &f, &page)?)?)
}

pub fn page_redirect(_: &App, _: &Ctx, _: &Request, _: &Params) -> Result {
    Ok(Response::redirect_301("/call/"))
}

/// The browser call page (`assets/call/`): static files, the API does the rest.
pub fn page_index(_: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    assets::response("call/index.html", req).ok_or_else(ApiError::not_found)
}

pub fn page_asset(_: &App, _: &Ctx, req: &Request, p: &Params) -> Result {
    let name = p.get("file");
    // Only plain file names: no traversal, no hidden files.
    if name.starts_with('.') || name.contains('/') || name.contains('\\') {
        return Err(ApiError::not_found());
    }
    assets::response(&format!("call/{name}"), req).ok_or_else(ApiError::not_found)
}
