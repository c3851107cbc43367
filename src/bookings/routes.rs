//! HTTP handlers for bookings, ratings, reports, provider earnings and the calendar feed. They
//! parse the request, check the caller and shape the response; the operations live beside them.

use super::transitions::{self, Action};
use super::{calendar, create, earnings, ratings, reports, views, Party, Status, COLUMNS};
use crate::app::App;
use crate::app::Handler;
use crate::guard;
use crate::web::auth::{Principal, Role};
use crate::web::json::{created, no_content, ok, parse_json, read_body, read_json};
use crate::web::router::Router;
use crate::web::{cursor, query, ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("POST", "/api/v1/bookings", create_booking)
        .add("GET", "/api/v1/bookings", list_bookings)
        .add("GET", "/api/v1/bookings/{id}", get_booking)
        .add("POST", "/api/v1/bookings/{id}/accept", accept)
        .add("POST", "/api/v1/bookings/{id}/reject", reject)
        .add("POST", "/api/v1/bookings/{id}/start", start)
        .add("POST", "/api/v1/bookings/{id}/complete", complete)
        .add("POST", "/api/v1/bookings/{id}/cancel", cancel)
        .add("POST", "/api/v1/bookings/{id}/rating", rate)
        .add("POST", "/api/v1/bookings/{id}/report", report)
        .add("GET", "/api/v1/admin/reports", admin_list_reports)
        .add("PATCH", "/api/v1/admin/reports/{id}", admin_resolve_report)
        .add("GET", "/api/v1/provider/earnings", provider_earnings)
        .add("POST", "/api/v1/provider/calendar-token", create_calendar_token)
        .add("DELETE", "/api/v1/provider/calendar-token", delete_calendar_token)
        .add("GET", "/api/v1/provider/calendar.ics", calendar_feed)
        .add("DELETE", "/api/v1/admin/users/{id}/calendar-token", admin_revoke_calendar);
}

fn body<T: serde::de::DeserializeOwned>(app: &App, req: &Request) -> std::result::Result<T, ApiError> {
    read_json(req, app.config.server.body_limit_bytes)
}

/// Personal data must not linger in shared or browser caches.
fn private(r: Response) -> Result {
    Ok(r.with_unique_header("Cache-Control", "no-store"))
}

/// A body that may be absent (`{reason?}` actions): no body at all is the default.
fn optional_body<T: serde::de::DeserializeOwned + Default>(
    app: &App,
    req: &Request,
) -> std::result::Result<T, ApiError> {
    let raw = read_body(req, app.config.server.body_limit_bytes)?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    match req.header("Content-Type") {
        Some(ct) if ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") => {}
        _ => return Err(ApiError::unsupported_media_type()),
    }
    parse_json(&raw)
}

pub fn create_booking(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Customer])?;
    app.limiter
        .hit(
            &format!("bookings:{}", p.user_id),
            crate::web::ratelimit::Limit::per_hour(app.config.limits.bookings_per_user_per_hour),
        )
        .check()?;
    created(&create::create(app, &p, body(app, req)?)?)
}

/// `?as=customer|provider&status=&limit=&cursor=`: the caller's own bookings, newest first.
pub fn list_bookings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Customer, Role::Provider])?;
    let side = match req.get_param("as").as_deref() {
        None => p.role,
        Some("customer") => Role::Customer,
        Some("provider") => Role::Provider,
        Some(_) => return Err(ApiError::field("as", "must be customer or provider")),
    };
    let limit = query::limit(req)?;
    let column = if side == Role::Provider { "provider_id" } else { "customer_id" };
    let mut args: Vec<rusqlite::types::Value> = vec![p.user_id.clone().into()];
    let mut sql = format!("SELECT {COLUMNS} FROM bookings WHERE {column} = ?1");
    if let Some(s) = req.get_param("status").filter(|s| !s.is_empty()) {
        let mut marks = Vec::new();
        for part in s.split(',') {
            let st = Status::parse(part.trim()).ok_or_else(|| {
                ApiError::field(
                    "status",
                    "must be pending, accepted, rejected, cancelled, in_progress, completed or expired (comma-separated)",
                )
            })?;
            args.push(st.as_str().to_string().into());
            marks.push(format!("?{}", args.len()));
        }
        sql.push_str(&format!(" AND status IN ({})", marks.join(", ")));
    }
    if let Some(c) = req.get_param("cursor") {
        let (at, id) = cursor::decode(&c)?;
        crate::db::keyset::push_before(&mut sql, &mut args, "created_at", "id", at, id);
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", limit + 1));
    let (items, next) = app.db.read(|c| {
        let mut rows = views::list(c, &sql, &args)?;
        let next = (rows.len() > limit as usize).then(|| {
            rows.truncate(limit as usize);
            rows.last().map(|b| cursor::encode(b.created_at, &b.id))
        });
        let items = rows.iter().map(|b| views::view(c, b)).collect::<rusqlite::Result<Vec<_>>>()?;
        Ok::<_, ApiError>((items, next.flatten()))
    })?;
    private(crate::web::json::json_response(200, &json!({"items": items, "nextCursor": next})))
}

/// Its customer, its provider, or an admin; anyone else 404.
pub fn get_booking(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let v = app.db.read(|c| {
        let b = super::find(c, params.get("id"))?.ok_or_else(ApiError::not_found)?;
        if b.party(&p) == Party::Stranger {
            return Err(ApiError::not_found());
        }
        let mut v = views::view(c, &b)?;
        v.history = Some(views::history(c, &b.id)?);
        Ok(v)
    })?;
    private(crate::web::json::json_response(200, &v))
}

fn transition(app: &App, req: &Request, params: &Params, action: Action) -> Result {
    let p: Principal = guard::principal(app, req)?;
    let b: transitions::Body = optional_body(app, req)?;
    ok(&transitions::apply(app, &p, params.get("id"), action, b)?)
}

pub fn accept(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, req, params, Action::Accept)
}

pub fn reject(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, req, params, Action::Reject)
}

pub fn start(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, req, params, Action::Start)
}

pub fn complete(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, req, params, Action::Complete)
}

pub fn cancel(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, req, params, Action::Cancel)
}

pub fn rate(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    created(&ratings::rate(app, &p, params.get("id"), body(app, req)?)?)
}

pub fn report(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    created(&reports::report(app, &p, params.get("id"), body(app, req)?)?)
}

pub fn admin_list_reports(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    guard::require(app, req, &[Role::Admin])?;
    let limit = query::limit(req)?;
    let status = req.get_param("status").filter(|s| !s.is_empty());
    if let Some(s) = &status {
        if !matches!(s.as_str(), "open" | "resolved" | "dismissed") {
            return Err(ApiError::field("status", "must be open, resolved or dismissed"));
        }
    }
    let after = req.get_param("cursor").map(|c| cursor::decode(&c)).transpose()?;
    let (items, next) = app.db.read(|c| reports::list(c, status.as_deref(), limit, after))?;
    private(crate::web::json::json_response(200, &json!({"items": items, "nextCursor": next})))
}

pub fn admin_resolve_report(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let admin = guard::require(app, req, &[Role::Admin])?;
    ok(&reports::resolve(app, ctx, &admin, params.get("id"), body(app, req)?)?)
}

pub fn provider_earnings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Provider])?;
    let now = app.now_ms();
    let e = app.db.read(|c| {
        earnings::earnings(c, &app.tz, &app.config.business.currency, &p.user_id, now).map_err(ApiError::from)
    })?;
    private(crate::web::json::json_response(200, &e))
}

fn feed_url(app: &App, token: &str) -> String {
    format!("{}/api/v1/provider/calendar.ics?token={token}", app.config.server.public_url.trim_end_matches('/'))
}

/// The host of `server.public_url`, for event UIDs.
fn host(app: &App) -> String {
    let u = &app.config.server.public_url;
    let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if host.starts_with('[') { host } else { host.split(':').next().unwrap_or(host) };
    if host.is_empty() {
        "buildxpert".into()
    } else {
        host.to_string()
    }
}

/// `POST /provider/calendar-token`: a new secret feed URL; the previous one stops working.
pub fn create_calendar_token(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Provider])?;
    let token = calendar::new_token().map_err(ApiError::internal)?;
    let now = app.now_ms();
    app.db.write(|tx| {
        crate::accounts::current_user(tx, &p.user_id)?;
        calendar::replace(tx, &p.user_id, &token, now)?;
        Ok::<_, ApiError>(())
    })?;
    private(crate::web::json::json_response(201, &json!({"url": feed_url(app, &token)})))
}

/// `DELETE /provider/calendar-token`: the feed URL stops working (204 also when there was none).
pub fn delete_calendar_token(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Provider])?;
    app.db.write(|tx| calendar::revoke(tx, &p.user_id).map_err(ApiError::from))?;
    no_content()
}

/// `GET /provider/calendar.ics?token=`: no bearer token (calendar apps cannot send one); a bad
/// or revoked token is 404.
pub fn calendar_feed(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let token = req.get_param("token").unwrap_or_default();
    let now = app.now_ms();
    let events = app.db.read(|c| {
        let provider = calendar::provider_for(c, &token)?.ok_or_else(ApiError::not_found)?;
        Ok::<_, ApiError>(calendar::upcoming(c, &provider, now)?)
    })?;
    let body = calendar::render(&events, now, &host(app));
    Ok(Response::from_data("text/calendar; charset=utf-8", body)
        .with_unique_header("Cache-Control", "private, no-store")
        .with_unique_header("Content-Disposition", "inline; filename=\"buildxpert.ics\""))
}

/// `DELETE /admin/users/{id}/calendar-token`: the provider's calendar feed URL stops working
/// (204 also when there was none; audited).
pub fn admin_revoke_calendar(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = guard::require(app, req, &[Role::Admin])?;
    let id = p.get("id").to_string();
    calendar::admin_revoke(app, ctx, &me, &id)?;
    no_content()
}
