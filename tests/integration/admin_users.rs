//! /api/v1/admin/users: listing with keyset pages and filters, block/lock/verify, forced logout.

use crate::support::spawn_app;
use serde_json::json;

const SESSIONS: &str = "/api/v1/auth/sessions";

#[test]
fn admins_page_through_users_with_filters_and_others_are_refused() {
    let app = spawn_app();
    let admin = app.admin("9876504000");
    app.clock.advance_secs(1); // distinct creation times: the order is then fully determined
    let a = app.register("customer", "9876504001");
    app.clock.advance_secs(1);
    let b = app.register("provider", "9876504002");
    app.clock.advance_secs(1);
    let c = app.register("customer", "9876504003");
    let page1 = app.call("GET", "/api/v1/admin/users?limit=2", Some(&admin.access), None);
    assert_eq!(page1.status, 200, "{}", page1.body);
    let j = page1.json();
    let ids: Vec<&str> = j["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![c.user_id.as_str(), b.user_id.as_str()], "newest first");
    let cursor = j["nextCursor"].as_str().unwrap();
    let j = app.call("GET", &format!("/api/v1/admin/users?limit=2&cursor={cursor}"), Some(&admin.access), None).json();
    let ids: Vec<&str> = j["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![a.user_id.as_str(), admin.user_id.as_str()]);
    assert!(j["nextCursor"].is_null());
    let j = app.call("GET", "/api/v1/admin/users?role=provider", Some(&admin.access), None).json();
    assert_eq!(j["items"].as_array().unwrap().len(), 1);
    let j = app.call("GET", "/api/v1/admin/users?q=04003", Some(&admin.access), None).json();
    assert_eq!(j["items"][0]["id"], c.user_id.as_str());
    assert_eq!(j["items"][0]["blocked"], false);
    assert_eq!(app.call("GET", "/api/v1/admin/users?cursor=%%%", Some(&admin.access), None).status, 400);
    assert_eq!(app.call("GET", "/api/v1/admin/users?role=wizard", Some(&admin.access), None).status, 400);
    assert_eq!(app.call("GET", "/api/v1/admin/users?limit=0", Some(&admin.access), None).status, 400);
    let r = app.call("GET", "/api/v1/admin/users", Some(&a.access), None);
    assert_eq!((r.status, r.code()), (403, "forbidden".to_string()));
    assert_eq!(app.call("GET", "/api/v1/admin/users", None, None).status, 401);
    assert_eq!(app.call("GET", "/api/v1/admin/users/usr_nope", Some(&admin.access), None).status, 404);
}

#[test]
fn blocking_ends_sessions_and_refuses_login_until_unblocked() {
    let app = spawn_app();
    let admin = app.admin("9876504100");
    let u = app.register("customer", "9876504101");
    let path = format!("/api/v1/admin/users/{}", u.user_id);
    let r = app.call("PATCH", &path, Some(&admin.access), Some(json!({"blocked": true})));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["blocked"], true);
    assert_eq!(app.call("GET", SESSIONS, Some(&u.access), None).status, 401, "sessions end at once");
    assert_eq!(app.post("/api/v1/auth/refresh", None, json!({"refreshToken": u.refresh})).status, 401);
    let login = || {
        app.post(
            "/api/v1/auth/login",
            None,
            json!({"phone": "9876504101", "password": "s3cret-pass", "role": "customer"}),
        )
    };
    assert_eq!(login().status, 403);
    assert_eq!(app.call("PATCH", &path, Some(&admin.access), Some(json!({"blocked": false}))).status, 200);
    assert_eq!(login().status, 200);
    let r = app.call("PATCH", &path, Some(&admin.access), Some(json!({"locked": true, "verified": false})));
    assert_eq!((r.json()["locked"].clone(), r.json()["verified"].clone()), (json!(true), json!(false)));
    assert_eq!(login().status, 429);
    app.call("PATCH", &path, Some(&admin.access), Some(json!({"locked": false})));
    assert_eq!(login().status, 200);
    let bad = app.call("PATCH", &path, Some(&admin.access), Some(json!({"role": "admin"})));
    assert_eq!(bad.status, 400, "role changes are not a field here");
    let me = format!("/api/v1/admin/users/{}", admin.user_id);
    assert_eq!(app.call("PATCH", &me, Some(&admin.access), Some(json!({"blocked": true}))).status, 409);
    let fresh = crate::support::Session::from(&login());
    assert_eq!(app.call("PATCH", &path, Some(&fresh.access), Some(json!({"blocked": false}))).status, 403);
}

#[test]
fn forced_logout_revokes_every_session_of_the_user() {
    let app = spawn_app();
    let admin = app.admin("9876504200");
    let u = app.register("provider", "9876504201");
    let r = app.post(&format!("/api/v1/admin/users/{}/logout-all", u.user_id), Some(&admin.access), json!({}));
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app.call("GET", SESSIONS, Some(&u.access), None).status, 401);
    assert_eq!(app.call("GET", SESSIONS, Some(&admin.access), None).status, 200);
    assert_eq!(app.post("/api/v1/admin/users/usr_missing/logout-all", Some(&admin.access), json!({})).status, 404);
    let actions: Vec<String> = app
        .app()
        .db
        .read(|c| {
            let mut st = c.prepare("SELECT action FROM audit_log WHERE actor_id = ?1 ORDER BY id")?;
            let rows = st.query_map([&admin.user_id], |r| r.get(0))?;
            Ok::<_, buildxpert::db::DbError>(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .unwrap();
    assert!(actions.contains(&"logout_all".to_string()), "{actions:?}");
}
