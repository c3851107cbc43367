//! HTTP handlers of the admin feature: /admin/stats, /admin/audit-log, /admin/backup,
//! /admin/system and /admin/alerts. Every one is for admins only;
//! each parses, checks the caller, calls one operation and shapes the answer; no SQL here.

use super::{alerts, audit_log, backup, stats, system};
use crate::app::{App, Handler};
use crate::guard;
use crate::web::auth::{Principal, Role};
use crate::web::json::{ok, private};
use crate::web::page::PageRequest;
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("GET", "/api/v1/admin/stats", get_stats)
        .add("GET", "/api/v1/admin/audit-log", list_audit_log)
        .add("GET", "/api/v1/admin/backup", download_backup)
        .add("GET", "/api/v1/admin/system", get_system)
        .add("GET", "/api/v1/admin/alerts", list_alerts);
}

fn admin(app: &App, req: &Request) -> std::result::Result<Principal, ApiError> {
    guard::require(app, req, &[Role::Admin])
}

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD` (local dates, inclusive; default the last 30 days).
pub fn get_stats(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    admin(app, req)?;
    let (from, to) = (req.get_param("from"), req.get_param("to"));
    private(ok(&stats::stats(app, from.as_deref(), to.as_deref())?)?)
}

/// `?actorId=&target=&action=&limit=&cursor=`, newest first.
pub fn list_audit_log(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    admin(app, req)?;
    let page = PageRequest::from_query(req)?;
    let param = |n: &str| req.get_param(n).filter(|v| !v.is_empty());
    let f = crate::audit::Filter { actor_id: param("actorId"), target: param("target"), action: param("action") };
    private(ok(&audit_log::list(app, &f, &page)?)?)
}

/// A consistent SQLite snapshot as a download (`buildxpert-<timestamp>.db`).
pub fn download_backup(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let me = admin(app, req)?;
    let snap = backup::snapshot(app, ctx, &me)?;
    Ok(Response::from_file("application/vnd.sqlite3", snap.file)
        .with_unique_header("Content-Disposition", format!("attachment; filename=\"{}\"", snap.filename))
        .with_unique_header("Cache-Control", "no-store")
        .with_unique_header("X-Backup-Bytes", snap.bytes.to_string()))
}

pub fn get_system(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    admin(app, req)?;
    private(ok(&system::system(app)?)?)
}

pub fn list_alerts(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    admin(app, req)?;
    private(ok(&json!({"items": alerts::list(app)?, "nextCursor": null}))?)
}
