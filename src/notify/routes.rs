//! HTTP handlers of notifications: the caller's inbox (`/api/v1/notifications`) and the
//! operator's dead letters (`/api/v1/admin/notifications`). Parse, check the caller, call an
//! operation, shape the answer; no SQL here.

use super::{dead_letters, inbox};
use crate::app::{App, Handler};
use crate::guard;
use crate::web::auth::Role;
use crate::web::json::{no_content, ok};
use crate::web::page::PageRequest;
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("GET", "/api/v1/notifications", list)
        .add("GET", "/api/v1/notifications/unread-count", unread_count)
        .add("POST", "/api/v1/notifications/read-all", read_all)
        .add("POST", "/api/v1/notifications/{id}/read", read_one);
    r.add("GET", "/api/v1/admin/notifications", admin_list).add(
        "POST",
        "/api/v1/admin/notifications/{id}/retry",
        admin_retry,
    );
}

fn list(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let page = PageRequest::from_query(req)?;
    let unread = match req.get_param("unread").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("unread", "must be true or false")),
    };
    ok(&inbox::list(app, &p, unread, &page)?)
}

fn unread_count(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    ok(&json!({"count": inbox::unread_count(app, &p)?}))
}

fn read_one(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    inbox::mark_read(app, &p, params.get("id"))?;
    no_content()
}

fn read_all(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    inbox::mark_all_read(app, &p)?;
    no_content()
}

/// `?status=failed|dead` (default both), newest first, cursor-paged.
fn admin_list(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    guard::require(app, req, &[Role::Admin])?;
    let statuses: &[&str] = match req.get_param("status").as_deref() {
        None => &["failed", "dead"],
        Some("failed") => &["failed"],
        Some("dead") => &["dead"],
        Some(_) => return Err(ApiError::field("status", "must be failed or dead")),
    };
    ok(&dead_letters::list(app, statuses, &PageRequest::from_query(req)?)?)
}

fn admin_retry(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = guard::require(app, req, &[Role::Admin])?;
    ok(&dead_letters::retry(app, ctx, &me, p.get("id"))?)
}
