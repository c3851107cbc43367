//! Login: one answer for unknown phone and wrong password, lockout and its expiry, per-IP limits,
//! blocked accounts, password reset and change.

use crate::support::{spawn_app, spawn_app_with, TestApp};
use buildxpert::db::DbError;
use serde_json::json;

fn login(app: &TestApp, phone: &str, password: &str, role: &str) -> crate::support::Resp {
    app.post("/api/v1/auth/login", None, json!({"phone": phone, "password": password, "role": role}))
}

#[test]
fn login_returns_tokens_and_unknown_phone_looks_like_a_wrong_password() {
    let app = spawn_app();
    let s = app.register("provider", "9876501001");
    let r = login(&app, "+91 98765 01001", "s3cret-pass", "provider");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["user"]["id"], s.user_id.as_str());
    let wrong = login(&app, "9876501001", "wrong-pass-1", "provider");
    let unknown = login(&app, "9876501999", "wrong-pass-1", "provider");
    let other_role = login(&app, "9876501001", "s3cret-pass", "customer");
    for r in [&wrong, &unknown, &other_role] {
        assert_eq!((r.status, r.code()), (401, "invalid_credentials".to_string()));
        assert_eq!(r.json()["error"]["message"], wrong.json()["error"]["message"]);
    }
    // Equal work: the unknown phone also pays for a hash (no early answer).
    let t = std::time::Instant::now();
    login(&app, "9876501998", "whatever-pass", "provider");
    assert!(t.elapsed() >= std::time::Duration::from_millis(3), "an unknown phone must still hash");
}

#[test]
fn five_failures_lock_the_account_even_for_the_right_password_until_fifteen_minutes_pass() {
    let app = spawn_app();
    app.register("customer", "9876501011");
    for i in 1..=5 {
        let r = login(&app, "9876501011", "not-the-password", "customer");
        assert_eq!((r.status, r.code()), (401, "invalid_credentials".to_string()), "attempt {i} answers normally");
    }
    let r = login(&app, "9876501011", "s3cret-pass", "customer");
    assert_eq!((r.status, r.code()), (429, "account_locked".to_string()));
    let retry: i64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((890..=900).contains(&retry));
    app.clock.advance_secs(14 * 60);
    assert_eq!(login(&app, "9876501011", "s3cret-pass", "customer").status, 429);
    app.clock.advance_secs(61);
    assert_eq!(login(&app, "9876501011", "s3cret-pass", "customer").status, 200, "the lock ends");
    // Successes reset the counter: four failures after a success do not lock.
    for _ in 0..4 {
        login(&app, "9876501011", "not-the-password", "customer");
    }
    assert_eq!(login(&app, "9876501011", "s3cret-pass", "customer").status, 200);
    for _ in 0..4 {
        login(&app, "9876501011", "not-the-password", "customer");
    }
    assert_eq!(login(&app, "9876501011", "not-the-password", "customer").status, 401);
    assert_eq!(login(&app, "9876501011", "s3cret-pass", "customer").status, 429);
}

#[test]
fn a_per_ip_limit_stops_spraying_across_accounts() {
    let app = spawn_app_with(&[("BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE", "3")]);
    for (i, p) in ["9876501021", "9876501022", "9876501023"].iter().enumerate() {
        let r = login(&app, p, "guess-pass-1", "customer");
        assert_eq!(r.status, 401);
        assert_eq!(r.header("X-RateLimit-Limit"), Some("3"), "limit headers on every answer");
        assert_eq!(r.header("X-RateLimit-Remaining"), Some((2 - i).to_string().as_str()));
    }
    let r = login(&app, "9876501024", "guess-pass-1", "customer");
    assert_eq!((r.status, r.code()), (429, "rate_limited".to_string()));
    assert_eq!(r.header("X-RateLimit-Limit"), Some("3"));
    assert_eq!(r.header("X-RateLimit-Remaining"), Some("0"));
    assert!(r.header("Retry-After").is_some());
    app.clock.advance_secs(20);
    assert_eq!(login(&app, "9876501024", "guess-pass-1", "customer").status, 401, "refills with time");
}

#[test]
fn blocked_accounts_are_refused() {
    let app = spawn_app();
    let s = app.register("customer", "9876501031");
    app.app()
        .db
        .write(|tx| tx.execute("UPDATE users SET blocked = 1 WHERE id = ?1", [&s.user_id]).map_err(DbError::from))
        .unwrap();
    let r = login(&app, "9876501031", "s3cret-pass", "customer");
    assert_eq!((r.status, r.code()), (403, "account_blocked".to_string()));
    assert_eq!(login(&app, "9876501031", "wrong-pass-xx", "customer").status, 401, "no hint without the password");
}

#[test]
fn forgot_reveals_nothing_and_reset_sets_the_password_and_ends_every_session() {
    let app = spawn_app();
    let s = app.register("customer", "9876501041");
    let known = app.post("/api/v1/auth/password/forgot", None, json!({"phone": "9876501041", "role": "customer"}));
    let unknown = app.post("/api/v1/auth/password/forgot", None, json!({"phone": "9876501049", "role": "customer"}));
    assert_eq!((known.status, unknown.status), (202, 202));
    assert_eq!(known.json(), unknown.json());
    let before = app.sms_count("+919876501041");
    let code = {
        let mut c = None;
        for _ in 0..200 {
            if app.sms_count("+919876501041") > 1 {
                c = app.last_code("+919876501041");
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        c.expect("reset code texted")
    };
    assert!(before >= 1);
    assert_eq!(app.sms_count("+919876501049"), 0);
    let bad = app.post(
        "/api/v1/auth/password/reset",
        None,
        json!({"phone": "9876501041", "role": "customer", "code": "12345x", "newPassword": "brand-new-pass"}),
    );
    assert_eq!((bad.status, bad.code()), (400, "invalid_code".to_string()));
    let weak = app.post(
        "/api/v1/auth/password/reset",
        None,
        json!({"phone": "9876501041", "role": "customer", "code": code, "newPassword": "short"}),
    );
    assert_eq!(weak.json()["error"]["fields"]["newPassword"], "must be at least 8 characters");
    let r = app.post(
        "/api/v1/auth/password/reset",
        None,
        json!({"phone": "9876501041", "role": "customer", "code": code, "newPassword": "brand-new-pass"}),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app.call("GET", "/api/v1/auth/sessions", Some(&s.access), None).status, 401, "sessions revoked");
    assert_eq!(app.post("/api/v1/auth/refresh", None, json!({"refreshToken": s.refresh})).status, 401);
    assert_eq!(login(&app, "9876501041", "s3cret-pass", "customer").status, 401);
    assert_eq!(login(&app, "9876501041", "brand-new-pass", "customer").status, 200);
}

#[test]
fn change_needs_the_current_password_and_ends_the_other_sessions() {
    let app = spawn_app();
    let first = app.register("provider", "9876501051");
    let second = crate::support::Session::from(&login(&app, "9876501051", "s3cret-pass", "provider"));
    let r = app.post(
        "/api/v1/auth/password/change",
        Some(&first.access),
        json!({"currentPassword": "wrong-one-11", "newPassword": "changed-pass-1"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["fields"]["currentPassword"], "is incorrect");
    let r = app.post(
        "/api/v1/auth/password/change",
        Some(&first.access),
        json!({"currentPassword": "s3cret-pass", "newPassword": "changed-pass-1"}),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app.call("GET", "/api/v1/auth/sessions", Some(&first.access), None).status, 200, "this session stays");
    assert_eq!(app.call("GET", "/api/v1/auth/sessions", Some(&second.access), None).status, 401, "others end");
    assert_eq!(login(&app, "9876501051", "changed-pass-1", "provider").status, 200);
    let anon = app.post("/api/v1/auth/password/change", None, json!({"currentPassword": "x", "newPassword": "y"}));
    assert_eq!((anon.status, anon.code()), (401, "unauthenticated".to_string()));
    assert_eq!(anon.header("WWW-Authenticate"), Some("Bearer"));
}

/// `auth.max_hash_queue`: with every hash slot taken and the queue full, the next login is
/// answered 503 `unavailable` with `Retry-After` at once, changes nothing, and other routes are
/// served; the queued logins complete once slots free up.
#[test]
fn a_full_hash_queue_answers_503_at_once_and_other_routes_are_served() {
    let app = spawn_app_with(&[("BUILDXPERT_AUTH__MAX_HASH_QUEUE", "2")]);
    let s = app.register("customer", "9876501301");
    let hasher = &app.app().hasher;
    let held: Vec<_> = (0..hasher.slots()).map(|_| hasher.reserve()).collect();
    let queued: Vec<_> = (0..2)
        .map(|_| {
            let url = app.url.clone();
            std::thread::spawn(move || {
                let body = json!({"phone": "9876501301", "password": "s3cret-pass", "role": "customer"}).to_string();
                crate::support::request(
                    "POST",
                    &format!("{url}/api/v1/auth/login"),
                    &[],
                    Some(("application/json", body.as_bytes())),
                )
                .status
            })
        })
        .collect();
    while hasher.waiting() < 2 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let r = login(&app, "9876501301", "s3cret-pass", "customer");
    assert_eq!((r.status, r.code()), (503, "unavailable".to_string()), "{}", r.body);
    assert_eq!(r.header("Retry-After"), Some("1"));
    let unknown = login(&app, "9876501399", "wrong-pass-1", "customer");
    assert_eq!(unknown.status, 503, "an unknown phone too (no enumeration through the queue)");
    let signup = app.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "Queued Out", "phone": "9876501302", "password": "s3cret-pass", "role": "customer"}),
    );
    assert_eq!(signup.status, 503, "{}", signup.body);
    // Other routes do not wait for a hash slot.
    assert_eq!(app.get("/healthz").status, 200);
    let me = app.call("GET", "/api/v1/me", Some(&s.access), None);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(app.get("/api/v1/listings").status, 200);
    drop(held);
    for t in queued {
        assert_eq!(t.join().expect("login thread"), 200, "the queued logins complete");
    }
    // Nothing was counted against the account or the address, nor created.
    let r = login(&app, "9876501301", "s3cret-pass", "customer");
    assert_eq!(r.status, 200, "{}", r.body);
    let n: i64 = app
        .app()
        .db
        .read(|c| {
            c.query_row("SELECT count(*) FROM users WHERE phone = '+919876501302'", [], |r| r.get(0))
                .map_err(DbError::from)
        })
        .expect("count");
    assert_eq!(n, 0);
}
