//! HTTP handlers of enquiries: the public contact form (`/api/v1/contact`) and the operator's
//! list (`/api/v1/admin/enquiries`). Parse, check the caller, call an operation, shape the
//! answer; no SQL here.

use super::{admin, contact, Status};
use crate::app::{App, Handler};
use crate::guard;
use crate::web::auth::Role;
use crate::web::json::{body, json_response, ok, private};
use crate::web::page::PageRequest;
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("POST", "/api/v1/contact", submit).add("GET", "/api/v1/admin/enquiries", admin_list).add(
        "PATCH",
        "/api/v1/admin/enquiries/{id}",
        admin_set_status,
    );
}

/// 202 `{"received": true}`, for a stored enquiry and a honeypot hit alike.
fn submit(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    contact::submit(app, ctx, body(ctx, req)?)?;
    Ok(json_response(202, &json!({"received": true})))
}

/// `?status=open|closed` (default both), newest first, cursor-paged.
fn admin_list(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    guard::require(app, req, &[Role::Admin])?;
    let status = match req.get_param("status").as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| ApiError::field("status", "must be open or closed"))?),
    };
    private(ok(&admin::list(app, status, &PageRequest::from_query(req)?)?)?)
}

fn admin_set_status(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = guard::require(app, req, &[Role::Admin])?;
    private(ok(&admin::set_status(app, ctx, &me, p.get("id"), body(ctx, req)?)?)?)
}
