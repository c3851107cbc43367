//! A crash between a webhook's receipt and its commit loses nothing and applies nothing twice:
//! the compiled binary is killed (SIGKILL) while sandbox notifications are in flight; after the
//! restart each payment is either wholly settled (payment, listing period, notification, event
//! record) or untouched, and the gateway's retry of the same events applies each exactly once.

use crate::support::binary::serve;
use crate::support::{fake_twilio, request, url_decode_form, with_twilio, TempDir};
use buildxpert::payments::gateways::sandbox;
use serde_json::{json, Value};
use std::io::Write;

const SECRET: &str = "crash-test-sandbox-secret-0123456789";
const DAY_MS: i64 = 86_400_000;

fn post(url: &str, path: &str, token: Option<&str>, body: Value) -> crate::support::Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    request("POST", &format!("{url}{path}"), &h, Some(("application/json", body.to_string().as_bytes())))
}

fn webhook_bytes(host: &str, body: &str) -> Vec<u8> {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let sig = sandbox::header(SECRET, t, body.as_bytes());
    format!(
        "POST /api/v1/webhooks/sandbox HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nX-Sandbox-Signature: {sig}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[derive(Debug, PartialEq)]
struct State {
    status: String,
    active_until: Option<i64>,
    created_at: i64,
    notices: i64,
    events: i64,
}

fn state(db: &std::path::Path, payment: &str, listing: &str) -> State {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let (status, created_at, payer): (String, i64, String) = c
        .query_row("SELECT status, created_at, payer_id FROM payments WHERE id = ?1", [payment], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    let active_until = c.query_row("SELECT active_until FROM listings WHERE id = ?1", [listing], |r| r.get(0)).unwrap();
    let notices = c
        .query_row(
            "SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND kind = 'payment.succeeded' AND data LIKE ?2",
            [payer, format!("%{payment}%")],
            |r| r.get(0),
        )
        .unwrap();
    let events =
        c.query_row("SELECT COUNT(*) FROM payment_events WHERE payment_id = ?1", [payment], |r| r.get(0)).unwrap();
    State { status, active_until, created_at, notices, events }
}

/// Either wholly applied or untouched.
fn consistent(s: &State) -> bool {
    match s.status.as_str() {
        "succeeded" => {
            s.notices == 1 && s.events == 1 && s.active_until.is_some_and(|u| u >= s.created_at + 30 * DAY_MS)
        }
        "pending" => s.notices == 0 && s.events == 0 && s.active_until.is_none(),
        _ => false,
    }
}

#[test]
fn a_crash_mid_webhook_loses_nothing_and_the_retry_applies_once() {
    let twilio = fake_twilio();
    let dir = TempDir::new("paycrash");
    let env = with_twilio(&twilio, &[("BUILDXPERT_PAYMENTS__SANDBOX__SECRET", SECRET)]);
    let mut s = serve(dir.path(), &[], &env).expect("serves");
    let r = post(
        &s.url,
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "Ravi Kumar", "phone": "9876509001", "password": "s3cret-pass", "role": "provider"}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let code = url_decode_form(&twilio.received()[0].body_str())["Body"].split_whitespace().next().unwrap().to_string();
    let r = post(&s.url, "/api/v1/auth/verify", None, json!({"phone": "9876509001", "role": "provider", "code": code}));
    let token = r.json()["accessToken"].as_str().unwrap().to_string();
    let mut pairs = Vec::new();
    for (cat, sub) in [
        ("cat_plumber", "sub_plumber_tap-installation"),
        ("cat_painting", "sub_painting_room-painting"),
        ("cat_electrician", "sub_electrician_wiring"),
        ("cat_carpenter", "sub_carpenter_furniture-repair"),
    ] {
        let l = post(
            &s.url,
            "/api/v1/provider/listings",
            Some(&token),
            json!({"categoryId": cat, "description": "Careful work", "experienceYears": 5, "city": "Pune",
                   "state": "Maharashtra", "address": "1 Main Road", "subServices": [{"id": sub, "price": {"amount": 20000, "currency": "INR"}}]}),
        );
        assert_eq!(l.status, 201, "{}", l.body);
        let listing = l.json()["id"].as_str().unwrap().to_string();
        let p = post(&s.url, "/api/v1/payments", Some(&token), json!({"purpose": "listing_fee", "listingId": listing}));
        assert_eq!(p.status, 201, "{}", p.body);
        pairs.push((p.json()["id"].as_str().unwrap().to_string(), listing));
    }
    let bodies: Vec<String> = pairs
        .iter()
        .enumerate()
        .map(|(i, (pay, _))| {
            json!({"id": format!("evt_crash_{i}"), "type": "payment.succeeded", "paymentId": pay, "amount": 9900, "currency": "INR"})
                .to_string()
        })
        .collect();
    // All four deliveries written at once, then the process is killed while they are processed.
    let host = s.url.trim_start_matches("http://").to_string();
    let mut socks = Vec::new();
    for b in &bodies {
        let mut sock = std::net::TcpStream::connect(&host).unwrap();
        sock.write_all(&webhook_bytes(&host, b)).unwrap();
        socks.push(sock);
    }
    s.child.kill().expect("SIGKILL");
    let _ = s.child.wait();
    drop(socks);
    let db = dir.path().join("buildxpert.db");
    for (pay, listing) in &pairs {
        let st = state(&db, pay, listing);
        assert!(consistent(&st), "half-done after the crash: {st:?}");
    }
    // The gateway retries every event (twice, for good measure): each applies exactly once.
    let s2 = serve(dir.path(), &[], &env).expect("restarts");
    for _ in 0..2 {
        for b in &bodies {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
            let r = request(
                "POST",
                &format!("{}/api/v1/webhooks/sandbox", s2.url),
                &[("X-Sandbox-Signature", &sandbox::header(SECRET, t, b.as_bytes()))],
                Some(("application/json", b.as_bytes())),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
    for (pay, listing) in &pairs {
        let st = state(&db, pay, listing);
        assert_eq!(st.status, "succeeded");
        assert!(consistent(&st), "{st:?}");
        // One 30-day period, not two.
        assert!(st.active_until.unwrap() < st.created_at + 31 * DAY_MS, "{st:?}");
    }
    drop(s2);
}
