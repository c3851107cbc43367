//! Logs cannot be forged and leak no tokens: control characters in paths and headers, a push
//! token in `DELETE /me/devices/{token}`, a calendar feed token; and user text with newlines
//! never reaches an SMS on more than one line. Through the real server and the compiled binary.

use crate::bookings::{act, booked, local_day, plumber_listing};
use crate::support::binary::{serve, Served};
use crate::support::http::raw;
use crate::support::{eventually, fake_twilio, request, spawn_app, url_decode_form, with_twilio, TempDir};
use serde_json::json;
use std::time::Duration;

fn addr(s: &Served) -> std::net::SocketAddr {
    s.url.trim_start_matches("http://").parse().expect("served url")
}

/// One raw request (bytes exactly as given), answered and closed.
fn raw_get(s: &Served, target: &str, headers: &[u8]) -> String {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: bx\r\nConnection: close\r\n").into_bytes();
    req.extend_from_slice(headers);
    req.extend_from_slice(b"\r\n");
    raw(addr(s), &req, Duration::from_secs(5))
}

#[test]
fn control_characters_in_paths_and_headers_never_forge_a_log_line() {
    let dir = TempDir::new("log-forge");
    let mut s = serve(dir.path(), &[], &[("BUILDXPERT_LOG__LEVEL", "info")]).expect("serves");
    let forged = "%0A2026-01-01T00:00:00.000Z%20INFO%20%20access%20rid=req_forged%20GET%20/admin/%20200%200.1ms";
    let answers = [
        raw_get(&s, &format!("/api/v1/nope{forged}"), b"X-Request-Id: hyg-1\r\n"),
        raw_get(&s, "/healthz%0D%0Aforged-line%0D", b"X-Request-Id: hyg-2\r\n"),
        raw_get(&s, "/api/v1/meta%09%1B[2J%00%E2%80%A8", b"X-Request-Id: hyg-3\r\n"),
        // Tab and obs-text are the only odd bytes a header value may carry; the id is refused.
        raw_get(&s, "/healthz", b"X-Request-Id: hyg-4\t\x85\r\nUser-Agent: a\tb\x85\xe2\x80\xa8c\r\n"),
        // A raw control byte in a header: the connection layer refuses the request.
        raw_get(&s, "/healthz", b"X-Request-Id: hyg-5\r\nX-Evil: a\x1bb\r\n"),
        raw_get(&s, "/api/v1/provider/calendar.ics?token=feed-secret-hyg", b"X-Request-Id: hyg-6\r\n"),
    ];
    let statuses: Vec<&str> = answers.iter().map(|a| a.get(9..12).unwrap_or("")).collect();
    assert_eq!(statuses, ["404", "404", "404", "200", "400", "404"], "{answers:?}");
    let lines = s.stop_and_logs();
    let all = lines.join("\n");
    for l in &lines {
        assert!(l.starts_with("20") && !l.chars().any(char::is_control), "a line the server did not write: {l:?}");
    }
    let access: Vec<&String> = lines.iter().filter(|l| l.contains(" access rid=")).collect();
    assert_eq!(access.len(), answers.len(), "one line per request: {all}");
    for rid in ["hyg-1", "hyg-2", "hyg-3", "hyg-6"] {
        let n = lines.iter().filter(|l| l.contains(&format!("rid={rid} "))).count();
        assert_eq!(n, 1, "{rid}: {all}");
    }
    assert!(!all.contains("rid=req_forged"), "no forged request id: {all}");
    assert!(all.contains("GET /api/v1/nope%0A2026"), "the path is logged as sent, still encoded: {all}");
    assert_eq!(lines.iter().filter(|l| l.contains("refused by the connection layer")).count(), 1, "{all}");
    assert!(!all.contains("feed-secret-hyg"), "query strings never reach the log");
}

#[test]
fn push_tokens_in_device_paths_never_reach_the_log() {
    let dir = TempDir::new("log-tokens");
    let twilio = fake_twilio();
    let mut env = with_twilio(&twilio, &[]);
    env.push(("BUILDXPERT_LOG__LEVEL", "info"));
    let mut s = serve(dir.path(), &[], &env).expect("serves");
    let post = |path: &str, auth: &[(&str, &str)], body: serde_json::Value| {
        request("POST", &format!("{}{path}", s.url), auth, Some(("application/json", body.to_string().as_bytes())))
    };
    let signup = json!({"fullName": "A", "phone": "9876509101", "password": "s3cret-pass", "role": "customer"});
    assert_eq!(post("/api/v1/auth/signup", &[], signup).status, 202);
    let form = url_decode_form(&twilio.received()[0].body_str());
    let code = form["Body"].split_whitespace().next().unwrap_or("").to_string();
    let r = post("/api/v1/auth/verify", &[], json!({"phone": "9876509101", "role": "customer", "code": code}));
    assert_eq!(r.status, 201, "{}", r.body);
    let bearer = format!("Bearer {}", r.json()["accessToken"].as_str().unwrap());
    let auth = [("Authorization", bearer.as_str())];
    let token = "ExponentPushToken-hygiene-secret-42";
    let r = post("/api/v1/me/devices", &auth, json!({"pushToken": token, "platform": "android"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let at = format!("{}/api/v1/me/devices/{token}", s.url);
    assert_eq!(request("GET", &at, &auth, None).status, 405, "a wrong method hides it too");
    assert_eq!(request("DELETE", &at, &auth, None).status, 204);
    assert_eq!(request("DELETE", &at, &[], None).status, 401);
    let all = s.stop_and_logs().join("\n");
    assert!(all.contains("DELETE /api/v1/me/devices/{token} 204"), "the template is logged: {all}");
    assert!(all.contains("GET /api/v1/me/devices/{token} 405"), "{all}");
    let leaked = all.lines().find(|l| l.contains("hygiene-secret-42"));
    assert!(leaked.is_none(), "the push token leaked into the log: {leaked:?}");
}

#[test]
fn a_rejection_reason_with_newlines_reaches_sms_on_one_line() {
    let app = spawn_app();
    let provider = app.register("provider", "9876509111");
    let customer = app.register("customer", "9876509112");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 3);
    let id = booked(&app, &customer, &listing, &date, "16:00");
    let reason = "Busy that day.\n\nPAY NOW at http://evil.example\nThanks";
    assert_eq!(act(&app, &provider, &id, "reject", Some(reason)).status, 200);
    let declined = || {
        app.twilio.received().iter().map(|r| url_decode_form(&r.body_str())).find(|f| {
            f.get("To") == Some(&customer.phone) && f.get("Body").is_some_and(|b| b.starts_with("Booking declined"))
        })
    };
    eventually("the customer is texted", || declined().is_some());
    let body = declined().map(|f| f["Body"].clone()).unwrap_or_default();
    assert!(!body.contains(['\n', '\r']), "one line: {body:?}");
    assert!(body.ends_with("Reason: Busy that day. PAY NOW at http://evil.example Thanks."), "{body:?}");
}
