//! Attacks on accounts from the outside review (issue 8), each replayed through the real server:
//! signup takeover, weaponised lockouts, enumeration through lock answers, and wrong-code locks
//! that block the owner. Client addresses are set with `X-Forwarded-For` from a trusted proxy
//! (127.0.0.1); they are header values only (documentation ranges), no traffic goes there.

use crate::support::{request, spawn_app_with, Resp, Session, TestApp};
use serde_json::{json, Value};

const PROXY: [(&str, &str); 2] =
    [("BUILDXPERT_SERVER__TRUSTED_PROXIES", "127.0.0.1"), ("BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE", "0")];

/// A POST as if from client address `ip` (behind the trusted proxy).
fn post_from(app: &TestApp, ip: &str, path: &str, token: Option<&str>, body: Value) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut h = vec![("X-Forwarded-For", ip)];
    if let Some(a) = auth.as_deref() {
        h.push(("Authorization", a));
    }
    let b = body.to_string();
    request("POST", &format!("{}{path}", app.url), &h, Some(("application/json", b.as_bytes())))
}

fn login_from(app: &TestApp, ip: &str, phone: &str, password: &str, role: &str) -> Resp {
    post_from(app, ip, "/api/v1/auth/login", None, json!({"phone": phone, "password": password, "role": role}))
}

/// Every code texted to `phone`, oldest first.
fn codes(app: &TestApp, phone: &str) -> Vec<String> {
    app.twilio
        .received()
        .iter()
        .filter_map(|r| {
            let f = crate::support::url_decode_form(&r.body_str());
            (f.get("To").map(String::as_str) == Some(phone))
                .then(|| f.get("Body").and_then(|b| b.split_whitespace().next().map(str::to_string)))
                .flatten()
        })
        .collect()
}

fn signup_as(app: &TestApp, ip: &str, phone: &str, password: &str, email: &str) -> Resp {
    let body =
        json!({"fullName": "Asha Rao", "phone": phone, "email": email, "password": password, "role": "customer"});
    post_from(app, ip, "/api/v1/auth/signup", None, body)
}

fn verify_from(app: &TestApp, ip: &str, phone: &str, code: &str) -> Resp {
    post_from(app, ip, "/api/v1/auth/verify", None, json!({"phone": phone, "role": "customer", "code": code}))
}

#[test]
fn a_second_signup_for_a_pending_phone_never_replaces_its_credentials() {
    let app = spawn_app_with(&PROXY);
    let phone = "+919876507001";
    // The owner signs up; a stranger who knows the number signs up right after with their own
    // password and e-mail. The owner types the code they were sent.
    assert_eq!(signup_as(&app, "198.51.100.1", phone, "owners-pass-1", "owner@example.com").status, 202);
    assert_eq!(signup_as(&app, "203.0.113.66", phone, "attacker-pass-1", "evil@example.com").status, 202);
    let sent = codes(&app, phone);
    assert_eq!(sent.len(), 2, "each signup request gets its own code");
    let r = verify_from(&app, "198.51.100.1", phone, &sent[0]);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["user"]["email"], "owner@example.com", "the account the owner asked for");
    assert_eq!(login_from(&app, "203.0.113.66", phone, "attacker-pass-1", "customer").status, 401);
    assert_eq!(login_from(&app, "198.51.100.1", phone, "owners-pass-1", "customer").status, 200);
    // The stranger's code died with the other pending signups.
    assert_eq!(verify_from(&app, "203.0.113.66", phone, &sent[1]).code(), "invalid_code");

    // The other order: a stranger pre-registers a number, the owner signs up after and uses
    // their own (second) code.
    let phone = "+919876507002";
    signup_as(&app, "203.0.113.66", phone, "attacker-pass-1", "evil2@example.com");
    signup_as(&app, "198.51.100.1", phone, "owners-pass-1", "owner2@example.com");
    let sent = codes(&app, phone);
    let r = verify_from(&app, "198.51.100.1", phone, &sent[1]);
    assert_eq!((r.status, r.json()["user"]["email"].clone()), (201, json!("owner2@example.com")));
    assert_eq!(login_from(&app, "203.0.113.66", phone, "attacker-pass-1", "customer").status, 401);
}

#[test]
fn five_failures_from_a_stranger_lock_only_the_strangers_address() {
    let app = spawn_app_with(&PROXY);
    let admin = app.admin("9876507010"); // signs in from 127.0.0.1: a trusted address
    let _ = admin;
    for i in 1..=5 {
        let r = login_from(&app, "203.0.113.9", "9876507010", "guess-pass-1", "admin");
        assert_eq!((r.status, r.code()), (401, "invalid_credentials".to_string()), "attempt {i}");
    }
    let r = login_from(&app, "203.0.113.9", "9876507010", "admin-pass-123", "admin");
    assert_eq!((r.status, r.code()), (429, "account_locked".to_string()), "that address is locked out");
    // The admin, on their usual address, is not locked out.
    let r = app.post(
        "/api/v1/auth/login",
        None,
        json!({"phone": "9876507010", "password": "admin-pass-123", "role": "admin"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Repeating the attack after the lock keeps locking only the attacker.
    app.clock.advance_secs(15 * 60 + 1);
    for _ in 1..=5 {
        login_from(&app, "203.0.113.9", "9876507010", "guess-pass-1", "admin");
    }
    let r = app.post(
        "/api/v1/auth/login",
        None,
        json!({"phone": "9876507010", "password": "admin-pass-123", "role": "admin"}),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn a_distributed_guesser_is_slowed_more_and_more_while_the_owner_gets_in() {
    let app = spawn_app_with(&PROXY);
    app.register("customer", "9876507020"); // verified from 127.0.0.1
    let mut waits = Vec::new();
    let mut n = 0;
    while waits.len() < 8 {
        n += 1;
        let ip = format!("198.51.100.{n}");
        let r = login_from(&app, &ip, "9876507020", "guess-pass-1", "customer");
        match (r.status, r.code().as_str()) {
            (401, "invalid_credentials") => {}
            (429, "rate_limited") => {
                let secs: u64 = r.header("Retry-After").unwrap().parse().unwrap();
                waits.push(secs);
                app.clock.advance_secs(secs as i64);
            }
            other => panic!("unexpected {other:?}: {}", r.body),
        }
    }
    assert_eq!(n - waits.len(), 12, "guesses that got through");
    assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60], "the delay doubles to a minute");
    // Meanwhile the owner, on an address the account signed in from, is not slowed at all …
    let r = app.post(
        "/api/v1/auth/login",
        None,
        json!({"phone": "9876507020", "password": "s3cret-pass", "role": "customer"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // … and once they are in, the slow-down is over for everyone.
    assert_eq!(login_from(&app, "192.0.2.200", "9876507020", "s3cret-pass", "customer").status, 200);
}

/// The answers (status, code, message, Retry-After) to one scripted attack on `phone`.
fn attack_script(app: &TestApp, phone: &str) -> Vec<(u16, String, Value, Option<String>)> {
    let mut seen = Vec::new();
    let mut note = |r: Resp| {
        let code = if r.status >= 400 { r.code() } else { String::new() };
        seen.push((r.status, code, r.json()["error"]["message"].clone(), r.header("Retry-After").map(String::from)))
    };
    for _ in 0..5 {
        note(login_from(app, "203.0.113.7", phone, "guess-pass-1", "provider"));
    }
    note(login_from(app, "203.0.113.7", phone, "s3cret-pass", "provider"));
    note(login_from(app, "203.0.113.8", phone, "s3cret-pass", "provider"));
    note(post_from(
        app,
        "203.0.113.7",
        "/api/v1/auth/password/forgot",
        None,
        json!({"phone": phone, "role": "provider"}),
    ));
    seen
}

#[test]
fn an_unknown_phone_answers_exactly_like_a_known_one_under_attack() {
    let app = spawn_app_with(&PROXY);
    app.register("provider", "9876507030");
    let known = attack_script(&app, "9876507030");
    let unknown = attack_script(&app, "9876507039");
    assert_eq!(known, unknown, "a lock or slow-down reveals nothing about existence");
    assert_eq!(known[5].1, "account_locked");
    assert_eq!(known[6].1, "rate_limited", "another address is slowed, not locked");
}

#[test]
fn wrong_codes_lock_one_address_and_never_block_the_owners_reset() {
    let app = spawn_app_with(&PROXY);
    let s = app.register("customer", "9876507040");
    let forgot = json!({"phone": "9876507040", "role": "customer"});
    assert_eq!(post_from(&app, "198.51.100.5", "/api/v1/auth/password/forgot", None, forgot.clone()).status, 202);
    crate::support::eventually("reset code texted", || codes(&app, "+919876507040").len() == 2);
    let code = codes(&app, "+919876507040").pop().unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let reset = |ip: &str, code: &str| {
        let body = json!({"phone": "9876507040", "role": "customer", "code": code, "newPassword": "brand-new-pass"});
        post_from(&app, ip, "/api/v1/auth/password/reset", None, body)
    };
    for _ in 0..5 {
        assert_eq!(reset("203.0.113.50", wrong).code(), "invalid_code");
    }
    assert_eq!(reset("203.0.113.50", &code).code(), "otp_locked", "the guessing address is locked out");
    // The owner, elsewhere, still resets with the code they hold, and that address is trusted.
    assert_eq!(reset("198.51.100.5", &code).status, 204);
    assert_eq!(app.call("GET", "/api/v1/me", Some(&s.access), None).status, 401, "sessions ended by the reset");
    assert_eq!(login_from(&app, "198.51.100.5", "9876507040", "brand-new-pass", "customer").status, 200);

    // The same for signup codes: a stranger's wrong codes do not stop the owner's verify.
    let phone = "+919876507041";
    signup_as(&app, "198.51.100.6", phone, "owners-pass-1", "o3@example.com");
    let code = codes(&app, phone).pop().unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        verify_from(&app, "203.0.113.51", phone, wrong);
    }
    assert_eq!(verify_from(&app, "203.0.113.51", phone, &code).code(), "otp_locked");
    assert_eq!(verify_from(&app, "198.51.100.6", phone, &code).status, 201);
}

#[test]
fn wrong_current_passwords_on_change_count_as_failures() {
    let app = spawn_app_with(&PROXY);
    let s: Session = app.register("provider", "9876507050");
    let change = |current: &str| {
        let body = json!({"currentPassword": current, "newPassword": "changed-pass-1"});
        post_from(&app, "203.0.113.60", "/api/v1/auth/password/change", Some(&s.access), body)
    };
    for _ in 0..5 {
        assert_eq!(change("guess-pass-1").status, 400);
    }
    let r = change("s3cret-pass");
    assert_eq!((r.status, r.code()), (429, "account_locked".to_string()), "a stolen token is no password oracle");
    assert!(r.header("Retry-After").is_some());
    assert_eq!(login_from(&app, "203.0.113.60", "9876507050", "s3cret-pass", "provider").code(), "account_locked");
}
