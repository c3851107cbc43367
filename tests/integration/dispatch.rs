//! The request pipeline with routes made for the test: panics, JSON bodies, rate limits, client IP.

use crate::support::{test_config, TempDir};
use buildxpert::app::App;
use buildxpert::app::Handler;
use buildxpert::clock::ManualClock;
use buildxpert::server::handle;
use buildxpert::web::json::{ok, read_json};
use buildxpert::web::ratelimit::Limit;
use buildxpert::web::router::Router;
use buildxpert::web::{ApiError, Ctx, Params};
use rouille::Request;
use std::sync::Arc;

fn boom(_: &App, _: &Ctx, _: &Request, _: &Params) -> Result<rouille::Response, ApiError> {
    panic!("secret internal detail: table users at src/x.rs");
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Echo {
    full_name: String,
}

fn echo(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result<rouille::Response, ApiError> {
    let e: Echo = read_json(req, app.config.server.body_limit_bytes)?;
    ok(&serde_json::json!({ "fullName": e.full_name }))
}

fn limited(app: &App, ctx: &Ctx, _: &Request, _: &Params) -> Result<rouille::Response, ApiError> {
    let d = app.limiter.hit(&format!("test:{}", ctx.client_ip), Limit::per_minute(2)).check()?;
    let mut r = ok(&serde_json::json!({ "ip": ctx.client_ip.to_string() }))?;
    d.apply(&mut r);
    Ok(r)
}

fn whoami(_: &App, ctx: &Ctx, _: &Request, _: &Params) -> Result<rouille::Response, ApiError> {
    ok(&serde_json::json!({ "ip": ctx.client_ip.to_string() }))
}

fn setup(env: &[(&str, &str)]) -> (TempDir, App, Arc<ManualClock>, Router<Handler>) {
    let dir = TempDir::new("dispatch");
    let clock = Arc::new(ManualClock::new());
    let (app, _) = App::build(test_config(dir.path(), env), clock.clone()).expect("app builds");
    let mut r: Router<Handler> = Router::new();
    r.add("GET", "/boom", boom)
        .add("POST", "/echo", echo)
        .add("GET", "/limited", limited)
        .add("GET", "/whoami", whoami);
    (dir, app, clock, r)
}

fn body(resp: rouille::Response) -> (u16, Vec<(String, String)>, serde_json::Value) {
    let status = resp.status_code;
    let headers = resp.headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let (mut reader, _) = resp.data.into_reader_and_size();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut reader, &mut s).unwrap();
    (status, headers, serde_json::from_str(&s).unwrap_or(serde_json::Value::Null))
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[test]
fn a_panicking_handler_becomes_a_500_envelope_with_nothing_internal() {
    let (_d, app, _, router) = setup(&[]);
    let req = Request::fake_http("GET", "/boom", vec![("X-Request-Id".into(), "rid-panic".into())], vec![]);
    let (status, headers, j) = body(handle(&app, &router, &req));
    assert_eq!(status, 500);
    assert_eq!(j["error"]["code"], "internal");
    assert_eq!(j["requestId"], "rid-panic");
    assert_eq!(header(&headers, "X-Request-Id"), Some("rid-panic"));
    let text = j.to_string();
    assert!(!text.contains("secret") && !text.contains("src/"), "{text}");
    // The app keeps serving.
    let (status, _, _) = body(handle(&app, &router, &Request::fake_http("GET", "/whoami", vec![], vec![])));
    assert_eq!(status, 200);
}

#[test]
fn json_bodies_are_checked_for_type_size_and_shape() {
    let (_d, app, _, router) = setup(&[("BUILDXPERT_SERVER__BODY_LIMIT_BYTES", "64")]);
    let post = |ct: &str, b: &[u8]| {
        let req = Request::fake_http("POST", "/echo", vec![("Content-Type".into(), ct.into())], b.to_vec());
        body(handle(&app, &router, &req))
    };
    let (s, _, j) = post("text/plain", br#"{"fullName":"A"}"#);
    assert_eq!((s, j["error"]["code"].as_str()), (415, Some("unsupported_media_type")));
    let (s, _, j) = post("application/json", b"{not json");
    assert_eq!((s, j["error"]["code"].as_str()), (400, Some("invalid_json")));
    let (s, _, j) = post("application/json", br#"{"fullName": 5}"#);
    assert_eq!((s, j["error"]["code"].as_str()), (400, Some("validation_failed")));
    assert!(j["error"]["fields"]["fullName"].is_string(), "{j}");
    let (s, _, j) = post("application/json", format!(r#"{{"fullName":"{}"}}"#, "a".repeat(100)).as_bytes());
    assert_eq!((s, j["error"]["code"].as_str()), (413, Some("payload_too_large")));
    let (s, _, j) = post("application/json; charset=utf-8", br#"{"fullName":"Asha"}"#);
    assert_eq!((s, j["fullName"].as_str()), (200, Some("Asha")));
}

#[test]
fn rate_limits_answer_429_with_retry_after_and_refill_with_the_clock() {
    let (_d, app, clock, router) = setup(&[]);
    let get = || body(handle(&app, &router, &Request::fake_http("GET", "/limited", vec![], vec![])));
    let (s, h, _) = get();
    assert_eq!((s, header(&h, "X-RateLimit-Limit"), header(&h, "X-RateLimit-Remaining")), (200, Some("2"), Some("1")));
    let (s, h, _) = get();
    assert_eq!((s, header(&h, "X-RateLimit-Remaining")), (200, Some("0")));
    let (s, h, j) = get();
    assert_eq!(s, 429);
    assert_eq!(j["error"]["code"], "rate_limited");
    assert_eq!(header(&h, "Retry-After"), Some("30"));
    assert_eq!(header(&h, "X-RateLimit-Reset"), Some("60"));
    clock.advance_secs(30);
    assert_eq!(get().0, 200, "a token came back after Retry-After");
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let who = |env: &[(&str, &str)], peer: &str| {
        let (_d, app, _, router) = setup(env);
        let req = Request::fake_http_from(
            peer.parse().unwrap(),
            "GET",
            "/whoami",
            vec![("X-Forwarded-For".into(), "198.51.100.7".into())],
            vec![],
        );
        body(handle(&app, &router, &req)).2["ip"].as_str().unwrap().to_string()
    };
    assert_eq!(who(&[], "127.0.0.1:5000"), "127.0.0.1");
    assert_eq!(who(&[("BUILDXPERT_SERVER__TRUSTED_PROXIES", "127.0.0.1")], "127.0.0.1:5000"), "198.51.100.7");
    assert_eq!(who(&[("BUILDXPERT_SERVER__TRUSTED_PROXIES", "10.0.0.0/8")], "127.0.0.1:5000"), "127.0.0.1");
}

#[test]
fn outbound_client_times_out_and_opens_its_circuit() {
    use crate::support::fake::{FakeServer, Reply};
    use buildxpert::outbound::{Body, OutError, Outbound};
    let clock = Arc::new(ManualClock::new());
    let out = Outbound::new(clock.clone(), std::time::Duration::from_secs(2), std::time::Duration::from_millis(300));
    let fake = FakeServer::start(|rec, _| {
        if rec.path == "/slow" {
            std::thread::sleep(std::time::Duration::from_millis(800));
        }
        if rec.path == "/down" {
            return Reply::json(503, serde_json::json!({"message": "down"}));
        }
        Reply::json(200, serde_json::json!({"echo": rec.body_str(), "auth": rec.header("Authorization")}))
    });
    let r = out
        .send(
            "svc",
            "POST",
            &format!("{}/ok", fake.url),
            &[("Authorization", "Basic abc")],
            Body::Form(&[("To", "+91 9")]),
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let j: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(j["echo"], "To=%2B91+9");
    assert_eq!(j["auth"], "Basic abc");
    assert_eq!(
        out.send("slow", "GET", &format!("{}/slow", fake.url), &[], Body::Empty).unwrap_err(),
        OutError::Timeout
    );
    // Five 5xx answers in a row open the breaker; calls then fail fast without reaching the fake.
    for _ in 0..5 {
        assert_eq!(out.send("down", "GET", &format!("{}/down", fake.url), &[], Body::Empty).unwrap().status, 503);
    }
    let before = fake.received().len();
    assert!(matches!(
        out.send("down", "GET", &format!("{}/down", fake.url), &[], Body::Empty),
        Err(OutError::CircuitOpen { .. })
    ));
    assert_eq!(fake.received().len(), before, "nothing sent while open");
    assert!(!out.is_open("svc"), "breakers are per service");
    clock.advance_secs(31);
    assert_eq!(
        out.send("down", "GET", &format!("{}/down", fake.url), &[], Body::Empty).unwrap().status,
        503,
        "half-open trial"
    );
    let refused = out.send("x", "GET", "http://127.0.0.1:1/", &[], Body::Empty).unwrap_err();
    assert!(matches!(refused, OutError::Transport(_)), "{refused:?}");
}
