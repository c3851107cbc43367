//! System routes: /healthz, /readyz, /metrics, /api/v1/meta, /api/v1/openapi.json, /admin/.

use crate::app::{App, Handler};
use crate::assets;
use crate::clock::rfc3339;
use crate::metrics::Gauge;
use crate::web::json::{json_response, ok};
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;
use std::sync::atomic::Ordering;

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

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn metrics(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let token = &app.config.metrics.token;
    if !token.is_empty() {
        let given = req.header("Authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
        if !same_secret(given.as_bytes(), token.as_bytes()) {
            return Err(ApiError::unauthenticated());
        }
    }
    let (db_bytes, wal_bytes) = app.db.file_sizes();
    let mut gauges = vec![
        Gauge { name: "buildxpert_db_size_bytes", help: "Size of the database file.", value: db_bytes as f64 },
        Gauge { name: "buildxpert_db_wal_size_bytes", help: "Size of the write-ahead log.", value: wal_bytes as f64 },
        Gauge {
            name: "buildxpert_uptime_seconds",
            help: "Seconds since the process started.",
            value: app.started.elapsed().as_secs_f64().floor(),
        },
        Gauge {
            name: "buildxpert_jobs_healthy",
            help: "1 when the background job runner beats.",
            value: if app.jobs.check().is_ok() { 1.0 } else { 0.0 },
        },
        Gauge {
            name: "buildxpert_longpoll_waiters",
            help: "Long-polls waiting for an event (parked, holding no thread).",
            value: app.hub.waiting() as f64,
        },
        Gauge {
            name: "buildxpert_ratelimit_keys",
            help: "Keys tracked by the rate limiter.",
            value: app.limiter.len() as f64,
        },
    ];
    if let Some(n) = app.net.get() {
        let g = |name, help, v: u64| Gauge { name, help, value: v as f64 };
        gauges.extend([
            g(
                "buildxpert_open_connections",
                "Open client connections.",
                n.open_connections.load(Ordering::Relaxed) as u64,
            ),
            g(
                "buildxpert_workers_busy",
                "Worker threads running a handler.",
                n.busy_workers.load(Ordering::Relaxed) as u64,
            ),
            g("buildxpert_workers_total", "Worker threads.", u64::from(app.config.server.workers)),
            g(
                "buildxpert_requests_queued",
                "Complete requests waiting for a worker.",
                n.queued_requests.load(Ordering::Relaxed) as u64,
            ),
            g(
                "buildxpert_connections_accepted_total",
                "Connections accepted since start.",
                n.accepted_total.load(Ordering::Relaxed),
            ),
            g(
                "buildxpert_connections_refused_total",
                "Connections refused at the connection cap.",
                n.refused_total.load(Ordering::Relaxed),
            ),
            g(
                "buildxpert_connections_timed_out_total",
                "Connections closed by a header, request or idle timeout.",
                n.timed_out_total.load(Ordering::Relaxed),
            ),
            g(
                "buildxpert_connections_refused_per_ip_total",
                "Connections refused at server.max_connections_per_ip.",
                n.refused_per_ip_total.load(Ordering::Relaxed),
            ),
            g(
                "buildxpert_connections_shed_total",
                "Idle keep-alive connections closed to make room at server.max_connections.",
                n.shed_idle_total.load(Ordering::Relaxed),
            ),
            g(
                "buildxpert_body_memory_reserved_bytes",
                "Bytes of server.max_body_memory_bytes reserved by request bodies over 64 KiB.",
                n.body_reserved_bytes.load(Ordering::Relaxed) as u64,
            ),
            g(
                "buildxpert_body_memory_buffered_bytes",
                "Bytes those request bodies hold in their buffers now.",
                n.body_buffered_bytes.load(Ordering::Relaxed) as u64,
            ),
            g(
                "buildxpert_body_memory_waiting",
                "Connections whose request body waits, unread, for room in server.max_body_memory_bytes.",
                n.body_waiting.load(Ordering::Relaxed) as u64,
            ),
        ]);
    }
    Ok(Response::from_data("text/plain; version=0.0.4; charset=utf-8", app.metrics.render(&gauges))
        .with_unique_header("Cache-Control", "no-store"))
}

pub fn meta(app: &App, _: &Ctx, _: &Request, _: &Params) -> Result {
    let schema_version = app.db.schema_version()?;
    let b = &app.config.business;
    ok(&json!({
        "apiVersion": "v1",
        "version": env!("CARGO_PKG_VERSION"),
        "schemaVersion": schema_version,
        "serverTime": rfc3339(app.now_ms()),
        "timezone": b.timezone,
        "currency": b.currency,
        "defaultCountry": b.default_country,
    }))
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
