//! `database.statement_timeout_ms`: a statement past it is interrupted and answered 503
//! `unavailable` with `Retry-After`; other requests keep answering, the pool and the writer stay
//! usable, and an interrupted write transaction keeps nothing it wrote.

use crate::support::{spawn_app_with_routes, TestApp};
use buildxpert::app::{App, Handler};
use buildxpert::web::router::Router;
use buildxpert::web::{ApiError, Ctx, Params};
use std::time::{Duration, Instant};

/// Counts forever: only the statement timeout stops it.
const ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

fn slow_read(app: &App, _: &Ctx, _: &rouille::Request, _: &Params) -> Result<rouille::Response, ApiError> {
    let n: i64 = app.db.read(|c| c.query_row(ENDLESS, [], |r| r.get(0)).map_err(ApiError::from))?;
    Ok(rouille::Response::text(n.to_string()))
}

/// Writes a mark, then runs the endless statement in the same transaction.
fn slow_write(app: &App, _: &Ctx, _: &rouille::Request, _: &Params) -> Result<rouille::Response, ApiError> {
    let n: i64 = app.db.write(|tx| {
        tx.execute("INSERT INTO test_marks (x) VALUES ('slow')", [])?;
        tx.query_row(ENDLESS, [], |r| r.get(0)).map_err(ApiError::from)
    })?;
    Ok(rouille::Response::text(n.to_string()))
}

fn test_routes(r: &mut Router<Handler>) {
    r.add("GET", "/test/slow-read", slow_read as Handler);
    r.add("POST", "/test/slow-write", slow_write as Handler);
}

fn spawn() -> TestApp {
    let app = spawn_app_with_routes(&[("BUILDXPERT_DATABASE__STATEMENT_TIMEOUT_MS", "200")], test_routes);
    app.app().db.write(|tx| tx.execute_batch("CREATE TABLE test_marks (x TEXT)").map_err(ApiError::from)).unwrap();
    app
}

fn interrupted_metric(app: &TestApp) -> String {
    let r = app.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .lines()
        .find_map(|l| l.strip_prefix("buildxpert_db_statements_interrupted_total "))
        .expect("interrupted counter in /metrics")
        .to_string()
}

fn assert_interrupted(r: &crate::support::Resp, took: Duration) {
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.code(), "unavailable");
    let retry: u64 = r.header("Retry-After").expect("Retry-After").parse().unwrap();
    assert!((1..=5).contains(&retry), "Retry-After {retry}");
    assert!(took < Duration::from_millis(1500), "answered after {took:?}");
    assert!(took >= Duration::from_millis(150), "answered before the timeout: {took:?}");
}

#[test]
fn bounded_slow_read_is_interrupted_while_others_keep_answering() {
    let app = spawn();
    assert_eq!(interrupted_metric(&app), "0");
    let url = app.url.clone();
    let slow = std::thread::spawn(move || {
        let t = Instant::now();
        let r = crate::support::get(&url, "/test/slow-read");
        (r, t.elapsed())
    });
    // While it runs: the process and other reads answer promptly.
    let mut others = 0;
    while !slow.is_finished() {
        for path in ["/healthz", "/api/v1/meta"] {
            let t = Instant::now();
            let r = app.get(path);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert!(t.elapsed() < Duration::from_millis(500), "{path} took {:?}", t.elapsed());
            others += 1;
        }
    }
    let (r, took) = slow.join().unwrap();
    assert_interrupted(&r, took);
    assert!(others >= 2, "nothing else was served during the slow statement");
    assert_eq!(interrupted_metric(&app), "1");
    // The pool still reads and the writer still writes.
    for _ in 0..8 {
        assert_eq!(app.get("/api/v1/meta").status, 200);
    }
    let s = app.register("customer", "9876500001");
    assert!(!s.access.is_empty());
}

#[test]
fn bounded_slow_write_is_interrupted_and_rolled_back() {
    let app = spawn();
    let t = Instant::now();
    let r = app.post("/test/slow-write", None, serde_json::json!({}));
    assert_interrupted(&r, t.elapsed());
    assert_eq!(interrupted_metric(&app), "1");
    let marks: i64 = app
        .app()
        .db
        .read(|c| c.query_row("SELECT count(*) FROM test_marks", [], |r| r.get(0)).map_err(ApiError::from))
        .unwrap();
    assert_eq!(marks, 0, "the interrupted transaction's insert was kept");
    // The writer is usable: outside a request, and through the API.
    app.app()
        .db
        .write(|tx| tx.execute("INSERT INTO test_marks (x) VALUES ('after')", []).map_err(ApiError::from))
        .unwrap();
    let s = app.register("customer", "9876500002");
    assert!(!s.access.is_empty());
}
