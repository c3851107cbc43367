//! HTTP handlers for bookings, their chat, ratings, reports, provider earnings and the calendar
//! feed. They parse the request, check the caller and shape the response; the operations live
//! beside them.

use super::read::{self, Mine};
use super::transitions::{self, Action};
use super::{admin, calendar, create, earnings, messages, ratings, reports, Status};
use crate::app::App;
use crate::app::Handler;
use crate::guard;
use crate::web::auth::Role;
use crate::web::json::{body, created, json_response, no_content, ok, optional_body, private};
use crate::web::page::PageRequest;
use crate::web::router::Router;
use crate::web::{cursor, query};
use crate::web::{ApiError, Ctx, Params};
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
        .add("GET", "/api/v1/bookings/{id}/messages", list_messages)
        .add("POST", "/api/v1/bookings/{id}/messages", send_message)
        .add("POST", "/api/v1/bookings/{id}/messages/read", read_messages)
        .add("GET", "/api/v1/admin/bookings", admin_list_bookings)
        .add("GET", "/api/v1/admin/export/bookings.csv", admin_export_bookings)
        .add("GET", "/api/v1/admin/reports", admin_list_reports)
        .add("PATCH", "/api/v1/admin/reports/{id}", admin_resolve_report)
        .add("GET", "/api/v1/provider/earnings", provider_earnings)
        .add("POST", "/api/v1/provider/calendar-token", create_calendar_token)
        .add("DELETE", "/api/v1/provider/calendar-token", delete_calendar_token)
        .add("GET", "/api/v1/provider/calendar.ics", calendar_feed)
        .add("DELETE", "/api/v1/admin/users/{id}/calendar-token", admin_revoke_calendar);
}

pub fn create_booking(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Customer])?;
    app.limiter
        .hit(
            &format!("bookings:{}", p.user_id),
            crate::web::ratelimit::Limit::per_hour(app.config.limits.bookings_per_user_per_hour),
        )
        .check()?;
    created(&create::create(app, &p, body(ctx, req)?)?)
}

/// `?status=a,b`: any of these states (absent or empty: all).
fn statuses(req: &Request) -> std::result::Result<Vec<Status>, ApiError> {
    let Some(s) = req.get_param("status").filter(|s| !s.is_empty()) else { return Ok(Vec::new()) };
    s.split(',')
        .map(|part| {
            Status::parse(part.trim()).ok_or_else(|| {
                ApiError::field(
                    "status",
                    "must be pending, accepted, rejected, cancelled, in_progress, completed or expired (comma-separated)",
                )
            })
        })
        .collect()
}

// Bookings, reports, earnings and the feed are personal: `private` keeps them out of caches.

/// `?as=customer|provider&status=&limit=&cursor=`: the caller's own bookings, newest first.
pub fn list_bookings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Customer, Role::Provider])?;
    let side = match req.get_param("as").as_deref() {
        None => p.role,
        Some("customer") => Role::Customer,
        Some("provider") => Role::Provider,
        Some(_) => return Err(ApiError::field("as", "must be customer or provider")),
    };
    let page = PageRequest::from_query(req)?;
    let mine = Mine { side, statuses: statuses(req)? };
    private(ok(&read::mine(app, &p, &mine, &page)?)?)
}

/// Its customer, its provider, or an admin; anyone else 404.
pub fn get_booking(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(ok(&read::get(app, &p, params.get("id"))?)?)
}

fn transition(app: &App, ctx: &Ctx, req: &Request, params: &Params, action: Action) -> Result {
    let p = guard::principal(app, req)?;
    let b: transitions::Body = optional_body(ctx, req)?;
    ok(&transitions::apply(app, &p, params.get("id"), action, b)?)
}

pub fn accept(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, ctx, req, params, Action::Accept)
}

pub fn reject(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, ctx, req, params, Action::Reject)
}

pub fn start(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, ctx, req, params, Action::Start)
}

pub fn complete(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, ctx, req, params, Action::Complete)
}

pub fn cancel(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    transition(app, ctx, req, params, Action::Cancel)
}

pub fn rate(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    created(&ratings::rate(app, &p, params.get("id"), body(ctx, req)?)?)
}

pub fn report(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    created(&reports::report(app, &p, params.get("id"), body(ctx, req)?)?)
}

/// `?after=&limit=`: the booking's chat, oldest first; `after` is a `nextCursor` from before.
pub fn list_messages(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let after = req
        .get_param("after")
        .filter(|a| !a.is_empty())
        .map(|a| cursor::decode(&a).map_err(|_| ApiError::field("after", "is not a valid cursor")))
        .transpose()?;
    let page = PageRequest { limit: query::limit(req)?, after };
    private(ok(&messages::list(app, ctx, &p, params.get("id"), &page)?)?)
}

/// `{text}` → 201 Message, limited per user (`limits.messages_per_user_per_minute`).
pub fn send_message(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    app.limiter
        .hit(
            &format!("messages:{}", p.user_id),
            crate::web::ratelimit::Limit::per_minute(app.config.limits.messages_per_user_per_minute),
        )
        .check()?;
    created(&messages::send(app, &p, params.get("id"), body(ctx, req)?)?)
}

/// `{upTo}` → 204: the other party's messages up to that one are read.
pub fn read_messages(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    messages::mark_read(app, &p, params.get("id"), body(ctx, req)?)?;
    no_content()
}

/// `?status=open|resolved|dismissed&limit=&cursor=`, newest first.
/// The most rows one CSV export holds (newest first); narrow with `from`/`to` for older ones.
pub const EXPORT_MAX_ROWS: u32 = 100_000;

/// `?status=&customerId=&providerId=&listingId=&from=&to=` (local dates of creation, inclusive).
fn admin_filter(app: &App, req: &Request) -> std::result::Result<admin::Filter, ApiError> {
    let id = |name: &str| req.get_param(name).filter(|v| !v.is_empty());
    let day = |name: &'static str, next: bool| -> std::result::Result<Option<i64>, ApiError> {
        let Some(v) = id(name) else { return Ok(None) };
        let d = crate::tz::parse_date(&v).ok_or_else(|| ApiError::field(name, "must be a date YYYY-MM-DD"))?;
        let d = if next { d.succ_opt().unwrap_or(d) } else { d };
        Ok(Some(app.tz.day_start(d)))
    };
    let f = admin::Filter {
        statuses: statuses(req)?,
        customer_id: id("customerId"),
        provider_id: id("providerId"),
        listing_id: id("listingId"),
        from_ms: day("from", false)?,
        to_ms: day("to", true)?,
    };
    if let (Some(a), Some(b)) = (f.from_ms, f.to_ms) {
        if a >= b {
            return Err(ApiError::field("to", "must not be before from"));
        }
    }
    Ok(f)
}

/// `GET /admin/bookings`: every booking newest first, with the filters of [`admin_filter`].
pub fn admin_list_bookings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    guard::require(app, req, &[Role::Admin])?;
    let page = PageRequest::from_query(req)?;
    let f = admin_filter(app, req)?;
    private(ok(&admin::list(app, &f, &page)?)?)
}

/// `GET /admin/export/bookings.csv`: the same filters, as a CSV download.
pub fn admin_export_bookings(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let me = guard::require(app, req, &[Role::Admin])?;
    let f = admin_filter(app, req)?;
    let mut csv = crate::web::csv::CsvWriter::new(admin::CSV_HEADER);
    admin::export(app, ctx, &me, &f, EXPORT_MAX_ROWS, |row| csv.row(row.iter().map(String::as_str)))?;
    Ok(csv.into_response("bookings.csv"))
}

pub fn admin_list_reports(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    guard::require(app, req, &[Role::Admin])?;
    let page = PageRequest::from_query(req)?;
    let status = req.get_param("status").filter(|s| !s.is_empty());
    private(ok(&reports::list(app, status.as_deref(), &page)?)?)
}

pub fn admin_resolve_report(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let admin = guard::require(app, req, &[Role::Admin])?;
    ok(&reports::resolve(app, ctx, &admin, params.get("id"), body(ctx, req)?)?)
}

pub fn provider_earnings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Provider])?;
    private(ok(&earnings::earnings(app, &p)?)?)
}

/// `POST /provider/calendar-token`: a new secret feed URL; the previous one stops working.
pub fn create_calendar_token(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Provider])?;
    private(json_response(201, &json!({"url": calendar::new_feed(app, &p)?})))
}

/// `DELETE /provider/calendar-token`: the feed URL stops working (204 also when there was none).
pub fn delete_calendar_token(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Provider])?;
    calendar::revoke_own(app, &p)?;
    no_content()
}

/// `GET /provider/calendar.ics?token=`: no bearer token (calendar apps cannot send one); a bad
/// or revoked token is 404.
pub fn calendar_feed(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let body = calendar::feed(app, &req.get_param("token").unwrap_or_default())?;
    Ok(Response::from_data("text/calendar; charset=utf-8", body)
        .with_unique_header("Cache-Control", "private, no-store")
        .with_unique_header("Content-Disposition", "inline; filename=\"buildxpert.ics\""))
}

/// `DELETE /admin/users/{id}/calendar-token`: the provider's calendar feed URL stops working
/// (204 also when there was none; audited).
pub fn admin_revoke_calendar(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = guard::require(app, req, &[Role::Admin])?;
    calendar::admin_revoke(app, ctx, &me, p.get("id"))?;
    no_content()
}
