//! Idempotency-Key on POST: replay, mismatch, in-progress, per-user scope, 24 h expiry.

use crate::support::{request, spawn_app, Session, TestApp};
use serde_json::json;

fn post(app: &TestApp, s: &Session, key: &str, body: &serde_json::Value) -> crate::support::Resp {
    request(
        "POST",
        &format!("{}/api/v1/me/addresses", app.url),
        &[("Authorization", &format!("Bearer {}", s.access)), ("Idempotency-Key", key)],
        Some(("application/json", body.to_string().as_bytes())),
    )
}

fn addresses(app: &TestApp, s: &Session) -> usize {
    app.call("GET", "/api/v1/me/addresses", Some(&s.access), None).json()["items"].as_array().unwrap().len()
}

#[test]
fn a_retry_replays_the_first_response_and_creates_nothing_twice() {
    let app = spawn_app();
    let a = app.register("customer", "9876509001");
    let body =
        json!({"label": "Home", "line": "1 MG Road", "city": "Pune", "state": "Maharashtra", "pincode": "411001"});
    let first = post(&app, &a, "k-123", &body);
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(first.header("Idempotent-Replayed").is_none());
    let again = post(&app, &a, "k-123", &body);
    assert_eq!(again.status, 201);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.json(), first.json(), "the same body, same id");
    assert_eq!(addresses(&app, &a), 1);
    let other = post(
        &app,
        &a,
        "k-123",
        &json!({"label": "Work", "line": "2 MG Road", "city": "Pune", "state": "Maharashtra", "pincode": "411001"}),
    );
    assert_eq!((other.status, other.code()), (422, "idempotency_key_reused".to_string()));
    // Another user's identical key is theirs alone.
    let b = app.register("customer", "9876509002");
    let theirs = post(&app, &b, "k-123", &body);
    assert_eq!(theirs.status, 201);
    assert!(theirs.header("Idempotent-Replayed").is_none());
    assert_ne!(theirs.json()["id"], first.json()["id"]);
    // Quoted keys (the IETF draft's form) are the same key.
    assert_eq!(post(&app, &a, "\"k-123\"", &body).header("Idempotent-Replayed"), Some("true"));
    let bad = post(&app, &a, &"x".repeat(256), &body);
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["fields"]["Idempotency-Key"].is_string());
    // After 24 hours the key is forgotten: the same request runs again.
    app.clock.advance_secs(24 * 3600 + 1);
    let a = Session::from(&app.post("/api/v1/auth/refresh", None, json!({"refreshToken": a.refresh})));
    let later = post(&app, &a, "k-123", &body);
    assert_eq!(later.status, 201);
    assert!(later.header("Idempotent-Replayed").is_none());
    assert_eq!(addresses(&app, &a), 2);
}

#[test]
fn a_key_whose_first_request_is_still_running_answers_409() {
    let app = spawn_app();
    let a = app.register("customer", "9876509011");
    let now = buildxpert::clock::Clock::now_ms(app.clock.as_ref());
    let sid = a.session_id();
    app.app()
        .db
        .write(|tx| {
            tx.execute(
                "INSERT INTO idempotency_keys (user_id, session_id, idem_key, method, path, request_hash, state, created_at)
                 VALUES (?1, ?2, 'busy', 'POST', '/api/v1/me/addresses', 'x', 'running', ?3)",
                rusqlite::params![a.user_id, sid, now],
            )
            .map_err(buildxpert::db::DbError::from)
        })
        .unwrap();
    let r = post(&app, &a, "busy", &json!({}));
    assert_eq!((r.status, r.code()), (409, "idempotency_in_progress".to_string()));
    assert_eq!(addresses(&app, &a), 0);
}
