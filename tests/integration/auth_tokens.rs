//! Tokens and sessions: expiry on the injectable clock, refresh rotation and reuse detection,
//! concurrent refresh, logout, logout-all, session listing and revocation, restarts.

use crate::support::{spawn_app, Session};
use serde_json::json;
use std::sync::{Arc, Barrier};

const SESSIONS: &str = "/api/v1/auth/sessions";

#[test]
fn access_tokens_expire_after_fifteen_minutes_with_five_seconds_leeway() {
    let app = spawn_app();
    let s = app.register("customer", "9876502001");
    app.clock.advance_secs(900 + 4);
    assert_eq!(app.call("GET", SESSIONS, Some(&s.access), None).status, 200);
    app.clock.advance_secs(2);
    let r = app.call("GET", SESSIONS, Some(&s.access), None);
    assert_eq!((r.status, r.code()), (401, "unauthenticated".to_string()));
    for bad in ["", "Bearer", "Bearer not.a.jwt", "Basic abc"] {
        let r = crate::support::request("GET", &format!("{}{SESSIONS}", app.url), &[("Authorization", bad)], None);
        assert_eq!(r.status, 401, "{bad:?}");
    }
}

#[test]
fn refresh_rotates_and_a_reused_token_kills_the_whole_family() {
    let app = spawn_app();
    let s = app.register("customer", "9876502011");
    let r = app.post("/api/v1/auth/refresh", None, json!({"refreshToken": s.refresh}));
    assert_eq!(r.status, 200, "{}", r.body);
    let next = Session::from(&r);
    assert_ne!(next.refresh, s.refresh);
    assert_ne!(next.access, s.access);
    // The rotated token is presented again: stolen. The family dies, with its access tokens.
    let r = app.post("/api/v1/auth/refresh", None, json!({"refreshToken": s.refresh}));
    assert_eq!((r.status, r.code()), (401, "refresh_token_reused".to_string()));
    assert_eq!(app.post("/api/v1/auth/refresh", None, json!({"refreshToken": next.refresh})).status, 401);
    assert_eq!(app.call("GET", SESSIONS, Some(&next.access), None).status, 401);
    assert_eq!(app.call("GET", SESSIONS, Some(&s.access), None).status, 401);
    // Other sessions of the same user are untouched.
    let other = Session::from(&app.post(
        "/api/v1/auth/login",
        None,
        json!({"phone": "9876502011", "password": "s3cret-pass", "role": "customer"}),
    ));
    assert_eq!(app.call("GET", SESSIONS, Some(&other.access), None).status, 200);
    let junk = app.post("/api/v1/auth/refresh", None, json!({"refreshToken": "rt_not-a-real-token"}));
    assert_eq!((junk.status, junk.code()), (401, "unauthenticated".to_string()));
}

#[test]
fn concurrent_refreshes_with_one_token_have_exactly_one_winner() {
    let app = spawn_app();
    let s = app.register("provider", "9876502021");
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let url = app.url.clone();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (b, url, token) = (barrier.clone(), url.clone(), s.refresh.clone());
            std::thread::spawn(move || {
                b.wait();
                let body = json!({"refreshToken": token}).to_string();
                crate::support::request(
                    "POST",
                    &format!("{url}/api/v1/auth/refresh"),
                    &[],
                    Some(("application/json", body.as_bytes())),
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
}

#[test]
fn logout_ends_this_session_at_once_and_logout_all_ends_every_one() {
    let app = spawn_app();
    let a = app.register("customer", "9876502031");
    let login = || {
        Session::from(&app.post(
            "/api/v1/auth/login",
            None,
            json!({"phone": "9876502031", "password": "s3cret-pass", "role": "customer"}),
        ))
    };
    let b = login();
    let r = app.post("/api/v1/auth/logout", Some(&a.access), json!({"refreshToken": a.refresh}));
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app.call("GET", SESSIONS, Some(&a.access), None).status, 401);
    assert_eq!(app.post("/api/v1/auth/refresh", None, json!({"refreshToken": a.refresh})).status, 401);
    assert_eq!(app.call("GET", SESSIONS, Some(&b.access), None).status, 200, "other sessions stay");
    // Logout with no body at all also works.
    let c = login();
    let r = crate::support::request(
        "POST",
        &format!("{}/api/v1/auth/logout", app.url),
        &[("Authorization", &format!("Bearer {}", c.access))],
        None,
    );
    assert_eq!(r.status, 204);
    assert_eq!(app.call("GET", SESSIONS, Some(&c.access), None).status, 401);
    let d = login();
    assert_eq!(app.post("/api/v1/auth/logout-all", Some(&d.access), json!({})).status, 204);
    for s in [&b, &d] {
        assert_eq!(app.call("GET", SESSIONS, Some(&s.access), None).status, 401);
        assert_eq!(app.post("/api/v1/auth/refresh", None, json!({"refreshToken": s.refresh})).status, 401);
    }
}

#[test]
fn sessions_are_listed_and_one_can_be_revoked_but_not_someone_elses() {
    let app = spawn_app();
    let a = app.register("customer", "9876502041");
    let b = Session::from(&app.post(
        "/api/v1/auth/login",
        None,
        json!({"phone": "9876502041", "password": "s3cret-pass", "role": "customer"}),
    ));
    let other = app.register("customer", "9876502042");
    let list = app.call("GET", SESSIONS, Some(&a.access), None).json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|i| i["current"] == true).count(), 1);
    for i in items {
        for k in ["id", "device", "ip", "createdAt", "lastSeenAt"] {
            assert!(!i[k].is_null(), "{k}");
        }
    }
    assert!(list["nextCursor"].is_null());
    let b_id = items.iter().find(|i| i["current"] == false).unwrap()["id"].as_str().unwrap().to_string();
    let theirs =
        app.call("GET", SESSIONS, Some(&other.access), None).json()["items"][0]["id"].as_str().unwrap().to_string();
    let r = app.call("DELETE", &format!("{SESSIONS}/{theirs}"), Some(&a.access), None);
    assert_eq!((r.status, r.code()), (404, "not_found".to_string()));
    assert_eq!(app.call("GET", SESSIONS, Some(&other.access), None).status, 200);
    assert_eq!(app.call("DELETE", &format!("{SESSIONS}/{b_id}"), Some(&a.access), None).status, 204);
    assert_eq!(app.call("GET", SESSIONS, Some(&b.access), None).status, 401, "its access token fails at once");
    assert_eq!(app.call("GET", SESSIONS, Some(&a.access), None).status, 200);
}

#[test]
fn revoked_tokens_stay_revoked_after_a_restart() {
    let mut app = spawn_app();
    let a = app.register("customer", "9876502051");
    let b = Session::from(&app.post(
        "/api/v1/auth/login",
        None,
        json!({"phone": "9876502051", "password": "s3cret-pass", "role": "customer"}),
    ));
    assert_eq!(app.post("/api/v1/auth/logout", Some(&a.access), json!({})).status, 204);
    app.restart(&[]);
    assert_eq!(app.call("GET", SESSIONS, Some(&a.access), None).status, 401, "revocation survived the restart");
    assert_eq!(app.call("GET", SESSIONS, Some(&b.access), None).status, 200, "and nothing else was revoked");
    assert_eq!(app.post("/api/v1/auth/refresh", None, json!({"refreshToken": b.refresh})).status, 200);
}

#[test]
fn pruning_forgets_old_revocations_but_never_lets_a_live_token_back_in() {
    let app = spawn_app();
    let a = app.register("customer", "9876502061");
    assert_eq!(app.post("/api/v1/auth/logout", Some(&a.access), json!({})).status, 204);
    buildxpert::jobs::run(app.app(), "revocations-prune").unwrap();
    assert_eq!(app.call("GET", SESSIONS, Some(&a.access), None).status, 401, "still inside the token's life");
    assert_eq!(app.app().revoked.len(), 1);
    app.clock.advance_secs(900 + 61);
    buildxpert::jobs::run(app.app(), "revocations-prune").unwrap();
    assert_eq!(app.app().revoked.len(), 0, "the token has expired on its own");
    assert_eq!(app.call("GET", SESSIONS, Some(&a.access), None).status, 401);
}
