//! A delivery in flight when the process is killed (SIGKILL) is sent after the restart: the
//! outbox row survives, and its claim is released at start-up.

use crate::support::binary::serve;
use crate::support::fake::{FakeServer, Reply};
use crate::support::{eventually, request, url_decode_form, TempDir, TWILIO_SID};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn post(url: &str, path: &str, token: Option<&str>, body: serde_json::Value) -> crate::support::Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    request("POST", &format!("{url}{path}"), &h, Some(("application/json", body.to_string().as_bytes())))
}

#[test]
fn a_delivery_interrupted_by_a_crash_is_sent_after_restart() {
    let notices = Arc::new(AtomicUsize::new(0));
    let n2 = notices.clone();
    // The first notice hangs (the process will be killed while waiting); later ones succeed.
    let twilio = FakeServer::start(move |rec, n| {
        let f = url_decode_form(&rec.body_str());
        if f.get("Body").is_some_and(|b| b.starts_with("Password changed")) && n2.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(std::time::Duration::from_secs(4));
        }
        Reply::json(201, json!({"sid": format!("SM{n:032}"), "status": "queued"}))
    });
    let dir = TempDir::new("crash");
    let env = [
        ("BUILDXPERT_SMS__PROVIDER", "twilio"),
        ("BUILDXPERT_SMS__TWILIO__BASE_URL", twilio.url.as_str()),
        ("BUILDXPERT_SMS__TWILIO__ACCOUNT_SID", TWILIO_SID),
        ("BUILDXPERT_SMS__TWILIO__AUTH_TOKEN", "twilio-test-token"),
        ("BUILDXPERT_SMS__TWILIO__FROM", "+14155550100"),
    ];
    let mut s = serve(dir.path(), &[], &env).expect("serves");
    let r = post(
        &s.url,
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "Kim", "phone": "9876508001", "password": "s3cret-pass", "role": "customer"}),
    );
    assert_eq!(r.status, 202);
    let code = url_decode_form(&twilio.received()[0].body_str())["Body"].split_whitespace().next().unwrap().to_string();
    let r = post(&s.url, "/api/v1/auth/verify", None, json!({"phone": "9876508001", "role": "customer", "code": code}));
    let token = r.json()["accessToken"].as_str().unwrap().to_string();
    let r = post(
        &s.url,
        "/api/v1/auth/password/change",
        Some(&token),
        json!({"currentPassword": "s3cret-pass", "newPassword": "another-pass-1"}),
    );
    assert_eq!(r.status, 204, "the change (and its outbox row) committed");
    eventually("the notice is in flight", || notices.load(Ordering::SeqCst) == 1);
    s.child.kill().expect("SIGKILL");
    let _ = s.child.wait();
    let s2 = serve(dir.path(), &[], &env).expect("restarts");
    eventually("the notice is sent again after the restart", || notices.load(Ordering::SeqCst) >= 2);
    let db = dir.path().join("buildxpert.db");
    let status = || -> String {
        let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        c.query_row("SELECT status FROM deliveries WHERE channel = 'sms'", [], |r| r.get(0)).unwrap()
    };
    eventually("recorded as sent", || status() == "sent");
    drop(s2);
}
