//! HTTP handlers for payments: orders, the payer's and the admin's views, refunds, gateway
//! webhooks and the sandbox's pay page. They parse the request, check the caller and shape the
//! response; the operations live beside them.

use super::read::{self, Filters};
use super::webhooks::Answer;
use super::{orders, refunds, sandbox_page, webhooks, Purpose, Status};
use crate::app::App;
use crate::app::Handler;
use crate::clock::parse_rfc3339;
use crate::guard;
use crate::web::auth::Role;
use crate::web::json::{body, created, ok, private, read_body};
use crate::web::page::PageRequest;
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("POST", "/api/v1/payments", create_payment)
        .add("GET", "/api/v1/payments", list_payments)
        .add("GET", "/api/v1/payments/{id}", get_payment)
        .add("POST", "/api/v1/payments/{id}/refunds", create_refund)
        .add("GET", "/api/v1/admin/payments", admin_list_payments)
        .add("GET", "/api/v1/admin/payments/{id}", admin_get_payment)
        .add("GET", "/api/v1/admin/export/payments.csv", admin_export_payments)
        .add("POST", "/api/v1/webhooks/{gateway}", webhook)
        .add("GET", "/pay/sandbox/{id}", sandbox_show)
        .add("POST", "/pay/sandbox/{id}", sandbox_submit)
        .add("GET", "/pay/return/{id}", pay_return);
}

/// `{purpose, listingId?|categoryId?|bookingId?, expectedAmount?}` → 201 Payment with `checkout`,
/// limited per user (`limits.payments_per_user_per_hour`).
pub fn create_payment(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::require(app, req, &[Role::Customer, Role::Provider])?;
    app.limiter
        .hit(
            &format!("payments:{}", p.user_id),
            crate::web::ratelimit::Limit::per_hour(app.config.limits.payments_per_user_per_hour),
        )
        .check()?;
    created(&orders::create(app, &p, body(ctx, req)?)?)
}

// Payments are personal: `private` keeps them out of caches.

pub fn list_payments(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let page = PageRequest::from_query(req)?;
    private(ok(&read::mine(app, &p, &page)?)?)
}

/// Its payer or an admin; anyone else 404.
pub fn get_payment(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(ok(&read::get(app, &p, params.get("id"))?)?)
}

/// `{amount?: Money, reason}` → 201 Refund (admin).
pub fn create_refund(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let admin = guard::require(app, req, &[Role::Admin])?;
    created(&refunds::create(app, ctx, &admin, params.get("id"), body(ctx, req)?)?)
}

fn filters(req: &Request) -> std::result::Result<Filters, ApiError> {
    let param = |k: &str| req.get_param(k).filter(|v| !v.is_empty());
    let status = match param("status") {
        Some(s) => Some(Status::parse(&s).filter(|s| *s != Status::Creating).ok_or_else(|| {
            ApiError::field("status", "must be pending, succeeded, failed, expired, partially_refunded or refunded")
        })?),
        None => None,
    };
    let purpose = match param("purpose") {
        Some(s) => {
            Some(Purpose::parse(&s).ok_or_else(|| ApiError::field("purpose", "must be listing_fee, pass or booking"))?)
        }
        None => None,
    };
    let gateway = match param("gateway") {
        Some(g) if super::gateways::NAMES.contains(&g.as_str()) => Some(g),
        Some(_) => return Err(ApiError::field("gateway", "must be sandbox, stripe, razorpay or paytm")),
        None => None,
    };
    let flagged = match param("flagged").as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::field("flagged", "must be true or false")),
        None => None,
    };
    let instant = |k: &str| match param(k) {
        Some(v) => parse_rfc3339(&v).map(Some).ok_or_else(|| ApiError::field(k, "must be an RFC 3339 instant")),
        None => Ok(None),
    };
    Ok(Filters {
        status,
        purpose,
        gateway,
        user_id: param("userId"),
        flagged,
        from: instant("from")?,
        to: instant("to")?,
    })
}

/// `?status=&purpose=&gateway=&userId=&flagged=&from=&to=&limit=&cursor=`, newest first.
pub fn admin_list_payments(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    guard::require(app, req, &[Role::Admin])?;
    let page = PageRequest::from_query(req)?;
    private(ok(&read::admin_list(app, &filters(req)?, &page)?)?)
}

/// Rows in one CSV export at most (it is built in memory).
pub const EXPORT_MAX_ROWS: u32 = 100_000;

/// `GET /admin/export/payments.csv`: the admin list's filters, as a CSV download.
pub fn admin_export_payments(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let me = guard::require(app, req, &[Role::Admin])?;
    let f = filters(req)?;
    let mut csv = crate::web::csv::CsvWriter::new(read::CSV_HEADER);
    read::export(app, ctx, &me, &f, EXPORT_MAX_ROWS, |row| csv.row(row.iter().map(String::as_str)))?;
    Ok(csv.into_response("payments.csv"))
}

pub fn admin_get_payment(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    guard::require(app, req, &[Role::Admin])?;
    private(ok(&read::admin_get(app, params.get("id"))?)?)
}

fn html(status: u16, text: String) -> Response {
    Response::html(text).with_status_code(status).with_unique_header("Cache-Control", "no-store")
}

/// The raw body, verified by the gateway named in the path; 200 once verified.
pub fn webhook(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let raw = read_body(req, ctx.body_limit)?;
    let headers: Vec<(String, String)> = req.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match webhooks::receive(app, ctx, params.get("gateway"), &headers, &raw)? {
        Answer::Json(v) => ok(&v),
        a @ Answer::Html { .. } => Ok(html(200, sandbox_page::callback_page(&a).unwrap_or_default())),
    }
}

pub fn sandbox_show(app: &App, _: &Ctx, _: &Request, params: &Params) -> Result {
    Ok(html(200, sandbox_page::show(app, params.get("id"))?))
}

/// The page's form: `token`, `exp`, `action=pay|fail`.
pub fn sandbox_submit(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let form = sandbox_page::parse_form(&read_body(req, ctx.body_limit)?);
    Ok(html(200, sandbox_page::submit(app, params.get("id"), &form)?))
}

pub fn pay_return(app: &App, _: &Ctx, _: &Request, params: &Params) -> Result {
    Ok(html(200, sandbox_page::return_page(app, params.get("id"))?))
}
