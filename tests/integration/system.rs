//! Health, readiness, metrics, meta, admin assets, request ids, errors, CORS and security headers.

use crate::support::{request, spawn_app, spawn_app_with};

#[test]
fn healthz_answers_with_request_id_and_security_headers() {
    let app = spawn_app();
    let r = app.get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
    assert!(r.header("Content-Type").unwrap().starts_with("application/json"));
    assert!(r.header("X-Request-Id").unwrap().starts_with("req_"));
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
    assert!(r.header("Referrer-Policy").is_some());
    assert!(r.header("Strict-Transport-Security").is_none(), "no HSTS over plain http");
}

#[test]
fn request_ids_are_echoed_only_when_valid() {
    let app = spawn_app();
    let r = request("GET", &format!("{}/nope", app.url), &[("X-Request-Id", "trace-42.a_b")], None);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("X-Request-Id"), Some("trace-42.a_b"));
    assert_eq!(r.code(), "not_found");
    let long = "x".repeat(129);
    for bad in ["has space", "semi;colon", long.as_str()] {
        let r = request("GET", &format!("{}/healthz", app.url), &[("X-Request-Id", bad)], None);
        let id = r.header("X-Request-Id").unwrap();
        assert!(id.starts_with("req_") && id != bad, "{bad:?} replaced by {id}");
    }
}

#[test]
fn unknown_paths_404_and_wrong_methods_405_in_the_envelope() {
    let app = spawn_app();
    let r = app.get("/api/v1/does-not-exist");
    assert_eq!((r.status, r.code()), (404, "not_found".to_string()));
    let r = request("DELETE", &format!("{}/healthz", app.url), &[], None);
    assert_eq!(r.status, 405);
    assert_eq!(r.code(), "method_not_allowed");
    assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));
    let r = request("POST", &format!("{}/api/v1/meta", app.url), &[], Some(("application/json", b"{}")));
    assert_eq!(r.status, 405);
    let body = r.body.to_lowercase();
    for leak in ["panic", "sqlite", "rusqlite", "src/", "thread"] {
        assert!(!body.contains(leak), "{leak} leaked: {body}");
    }
}

#[test]
fn readyz_reports_each_check_and_degrades_on_low_disk() {
    let app = spawn_app();
    let r = app.get("/readyz");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "ok", "checks": {"database": "ok", "migrations": "ok", "disk": "ok", "workers": "ok"}})
    );
    // Ask for more free space than any disk has: the disk check fails, the rest stay ok.
    let app = spawn_app_with(&[("BUILDXPERT_DATABASE__MIN_FREE_DISK_MB", "999999999999")]);
    let r = app.get("/readyz");
    assert_eq!(r.status, 503);
    assert!(r.header("Retry-After").is_some());
    let j = r.json();
    assert_eq!(j["status"], "degraded");
    assert_eq!(j["checks"]["disk"], "low");
    assert_eq!(j["checks"]["database"], "ok");
}

#[test]
fn readyz_fails_when_the_job_runner_stops_beating() {
    let app = spawn_app();
    assert_eq!(app.get("/readyz").status, 200);
    app.app().jobs.stopped();
    let r = app.get("/readyz");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["checks"]["workers"], "stalled");
}

#[test]
fn metrics_count_route_templates_and_expose_gauges() {
    let app = spawn_app();
    for _ in 0..3 {
        app.get("/healthz");
    }
    app.get("/admin/missing.js");
    app.get("/totally/unknown/1");
    let r = app.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Type").unwrap().starts_with("text/plain"));
    let m = &r.body;
    assert!(m.contains(r#"buildxpert_http_requests_total{method="GET",route="/healthz",status="200"} 3"#), "{m}");
    assert!(m.contains(r#"route="/admin/{file}",status="404""#), "templates, not raw paths: {m}");
    assert!(m.contains(r#"route="unmatched",status="404""#));
    assert!(!m.contains("/totally/unknown"), "raw paths never become labels");
    for g in [
        "buildxpert_http_request_duration_seconds_bucket",
        "buildxpert_open_connections ",
        "buildxpert_workers_busy ",
        "buildxpert_db_size_bytes ",
        "buildxpert_db_wal_size_bytes ",
        "buildxpert_db_checkpoints_total ",
        "buildxpert_db_checkpoints_busy_total ",
        "buildxpert_db_checkpoint_last_busy ",
        "buildxpert_db_checkpoint_last_log_frames ",
        "buildxpert_db_checkpoint_last_checkpointed_frames ",
    ] {
        assert!(m.contains(g), "missing {g}");
    }
}

#[test]
fn metrics_token_is_required_when_configured() {
    let app = spawn_app_with(&[("BUILDXPERT_METRICS__TOKEN", "s3cret-metrics-token")]);
    let r = app.get("/metrics");
    assert_eq!((r.status, r.code()), (401, "unauthenticated".to_string()));
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
    let r = request("GET", &format!("{}/metrics", app.url), &[("Authorization", "Bearer wrong")], None);
    assert_eq!(r.status, 401);
    let r = request("GET", &format!("{}/metrics", app.url), &[("Authorization", "Bearer s3cret-metrics-token")], None);
    assert_eq!(r.status, 200);
}

#[test]
fn meta_reads_the_database() {
    let app = spawn_app();
    let j = app.get("/api/v1/meta").json();
    assert_eq!(j["apiVersion"], "v1");
    assert_eq!(j["schemaVersion"], buildxpert::db::MIGRATIONS.last().unwrap().version);
    assert_eq!(j["timezone"], "Asia/Kolkata");
    assert_eq!(j["currency"], "INR");
    let t = j["serverTime"].as_str().unwrap();
    assert_eq!(buildxpert::clock::parse_rfc3339(t).unwrap() / 1000, app.clock_secs());
}

#[test]
fn admin_dashboard_is_embedded_with_a_csp() {
    let app = spawn_app();
    let r = app.get("/admin/");
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    // The dashboard's own, stricter policy (assets::CSP_ADMIN).
    assert!(r.header("Content-Security-Policy").unwrap().contains("default-src 'none'"));
    assert!(r.body.contains("/admin/app.js"));
    let js = app.get("/admin/app.js");
    assert_eq!(js.status, 200);
    assert!(js.header("Content-Type").unwrap().starts_with("text/javascript"));
    let etag = js.header("ETag").unwrap().to_string();
    let again = request("GET", &format!("{}/admin/app.js", app.url), &[("If-None-Match", &etag)], None);
    assert_eq!(again.status, 304);
    assert_eq!(app.get("/admin/..%2Fopenapi.json").status, 404);
    assert_eq!(app.get("/admin/.hidden").status, 404);
    assert_eq!(app.get("/admin").status, 301);
}

#[test]
fn cors_preflight_and_simple_requests_follow_configured_origins() {
    let app = spawn_app_with(&[("BUILDXPERT_SERVER__CORS_ORIGINS", "https://app.example.com")]);
    let url = format!("{}/api/v1/meta", app.url);
    let pre = request(
        "OPTIONS",
        &url,
        &[("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET")],
        None,
    );
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("Access-Control-Allow-Origin"), Some("https://app.example.com"));
    assert!(pre.header("Access-Control-Allow-Methods").unwrap().contains("GET"));
    assert!(pre.header("Access-Control-Allow-Headers").unwrap().contains("Authorization"));
    let simple = request("GET", &url, &[("Origin", "https://app.example.com")], None);
    assert_eq!(simple.header("Access-Control-Allow-Origin"), Some("https://app.example.com"));
    let evil = request("GET", &url, &[("Origin", "https://evil.example")], None);
    assert_eq!(evil.status, 200);
    assert!(evil.header("Access-Control-Allow-Origin").is_none());
    let evil_pre =
        request("OPTIONS", &url, &[("Origin", "https://evil.example"), ("Access-Control-Request-Method", "GET")], None);
    assert!(evil_pre.header("Access-Control-Allow-Origin").is_none());
    let plain = request("OPTIONS", &url, &[], None);
    assert_eq!((plain.status, plain.header("Allow")), (204, Some("GET, HEAD, OPTIONS")));
}

#[test]
fn hsts_is_sent_when_the_public_url_is_https() {
    let app = spawn_app_with(&[("BUILDXPERT_SERVER__PUBLIC_URL", "https://bx.example.com")]);
    assert!(app.get("/healthz").header("Strict-Transport-Security").unwrap().contains("max-age="));
}
