//! Access attacks from the outside review (issue 8), replayed through the real server: booking
//! what cannot be seen, a calendar feed outliving its provider, idempotency replaying what it
//! should not, and a revoked session's long-poll still receiving events.

use crate::bookings::{book, booked, kinds, local_day, plumber_listing, TAP};
use crate::support::{spawn_app, spawn_app_with, Session, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

fn feed_path(url: &str) -> String {
    url.split_once("/api/v1/").map(|(_, p)| format!("/api/v1/{p}")).unwrap()
}

#[test]
fn a_listing_that_cannot_be_seen_cannot_be_booked() {
    let app = spawn_app();
    let admin = app.admin("9876508000");
    let customer = app.register("customer", "9876508001");
    let date = local_day(&app, 3);
    type Hide<'a> = &'a dyn Fn(&Session);
    let cases: [(&str, Hide); 3] = [
        ("9876508011", &|p: &Session| {
            let r = app.call(
                "PATCH",
                &format!("/api/v1/admin/users/{}", p.user_id),
                Some(&admin.access),
                Some(json!({"blocked": true})),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }),
        ("9876508012", &|p: &Session| assert_eq!(app.call("DELETE", "/api/v1/me", Some(&p.access), None).status, 204)),
        ("9876508013", &|_: &Session| {
            let r = app.call(
                "PATCH",
                "/api/v1/admin/categories/cat_plumber",
                Some(&admin.access),
                Some(json!({"active": false})),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }),
    ];
    for (digits, hide) in cases {
        let provider = app.register("provider", digits);
        let listing = plumber_listing(&app, &provider);
        assert_eq!(app.get(&format!("/api/v1/listings/{listing}")).status, 200);
        let before = kinds(&app, &provider.user_id).len();
        hide(&provider);
        assert_eq!(app.get(&format!("/api/v1/listings/{listing}")).status, 404, "{digits}: hidden");
        let r = book(&app, &customer, &listing, &[TAP], &date, "10:00");
        assert_eq!((r.status, r.code()), (404, "not_found".to_string()), "{digits}: {}", r.body);
        assert_eq!(kinds(&app, &provider.user_id).len(), before, "{digits}: no new-booking notification");
    }
}

#[test]
fn the_calendar_feed_dies_with_its_provider_and_admins_can_revoke_it() {
    let app = spawn_app();
    let admin = app.admin("9876508100");
    let token_url = |p: &Session| {
        let r = app.post("/api/v1/provider/calendar-token", Some(&p.access), json!({}));
        assert_eq!(r.status, 201, "{}", r.body);
        feed_path(r.json()["url"].as_str().unwrap())
    };
    let blocked = app.register("provider", "9876508101");
    let url = token_url(&blocked);
    assert_eq!(app.get(&url).status, 200);
    let path = format!("/api/v1/admin/users/{}", blocked.user_id);
    assert_eq!(app.call("PATCH", &path, Some(&admin.access), Some(json!({"blocked": true}))).status, 200);
    assert_eq!(app.get(&url).status, 404, "blocking ends the feed");
    assert_eq!(app.call("PATCH", &path, Some(&admin.access), Some(json!({"blocked": false}))).status, 200);
    assert_eq!(app.get(&url).status, 404, "and unblocking does not bring the old URL back");

    let deleted = app.register("provider", "9876508102");
    let url = token_url(&deleted);
    assert_eq!(app.call("DELETE", "/api/v1/me", Some(&deleted.access), None).status, 204);
    assert_eq!(app.get(&url).status, 404, "deleting the account ends the feed");

    let other = app.register("provider", "9876508103");
    let url = token_url(&other);
    let revoke = format!("/api/v1/admin/users/{}/calendar-token", other.user_id);
    assert_eq!(app.call("DELETE", &revoke, Some(&other.access), None).status, 403);
    assert_eq!(app.get(&url).status, 200);
    assert_eq!(app.call("DELETE", &revoke, Some(&admin.access), None).status, 204);
    assert_eq!(app.get(&url).status, 404, "an admin revoked it");
    assert_eq!(
        app.call("DELETE", "/api/v1/admin/users/usr_nobody/calendar-token", Some(&admin.access), None).status,
        404
    );
}

fn post_keyed(app: &TestApp, s: &Session, path: &str, key: &str, body: serde_json::Value) -> crate::support::Resp {
    let auth = format!("Bearer {}", s.access);
    let b = body.to_string();
    crate::support::request(
        "POST",
        &format!("{}{path}", app.url),
        &[("Authorization", &auth), ("Idempotency-Key", key)],
        Some(("application/json", b.as_bytes())),
    )
}

fn kept_rows(app: &TestApp, like: &str) -> i64 {
    app.app()
        .db
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM idempotency_keys WHERE path LIKE ?1", [like], |r| r.get(0))
                .map_err(buildxpert::db::DbError::from)
        })
        .unwrap()
}

#[test]
fn idempotency_replays_only_what_should_be_replayed() {
    // Access tokens outlive the hour the test waits.
    let app = spawn_app_with(&[
        ("BUILDXPERT_LIMITS__BOOKINGS_PER_USER_PER_HOUR", "1"),
        ("BUILDXPERT_AUTH__ACCESS_TTL_SECONDS", "7200"),
    ]);
    let provider = app.register("provider", "9876508201");
    let customer = app.register("customer", "9876508202");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 3);
    booked(&app, &customer, &listing, &date, "09:00"); // spends the hour's budget
    let body =
        json!({"listingId": listing, "subServiceIds": [TAP], "date": date, "time": "11:00", "address": "4 Lake View"});
    let r = post_keyed(&app, &customer, "/api/v1/bookings", "k-429", body.clone());
    assert_eq!(r.status, 429);
    app.clock.advance_secs(3601);
    let r = post_keyed(&app, &customer, "/api/v1/bookings", "k-429", body.clone());
    assert_eq!(r.status, 201, "a retry after Retry-After runs the request: {}", r.body);
    assert!(r.header("Idempotent-Replayed").is_none());

    // Keys belong to one session: another session of the same user is not replayed to.
    let second = Session::from(&app.post(
        "/api/v1/auth/login",
        None,
        json!({"phone": customer.phone, "password": "s3cret-pass", "role": "customer"}),
    ));
    let addr =
        json!({"label": "Home", "line": "1 Main St", "city": "Pune", "state": "Maharashtra", "pincode": "411001"});
    let a = post_keyed(&app, &customer, "/api/v1/me/addresses", "k-addr", addr.clone());
    let b = post_keyed(&app, &second, "/api/v1/me/addresses", "k-addr", addr.clone());
    assert_eq!((a.status, b.status), (201, 201));
    assert!(b.header("Idempotent-Replayed").is_none());
    assert_ne!(a.json()["id"], b.json()["id"]);
    assert_eq!(
        post_keyed(&app, &customer, "/api/v1/me/addresses", "k-addr", addr).header("Idempotent-Replayed"),
        Some("true")
    );

    // Routes that hand out credentials are never kept, so no stored response holds a live token.
    let login = json!({"phone": customer.phone, "password": "s3cret-pass", "role": "customer"});
    let t1 = post_keyed(&app, &customer, "/api/v1/auth/login", "k-login", login.clone());
    let t2 = post_keyed(&app, &customer, "/api/v1/auth/login", "k-login", login);
    assert_eq!((t1.status, t2.status), (200, 200));
    assert_ne!(t1.json()["refreshToken"], t2.json()["refreshToken"], "not replayed");
    let refresh = json!({"refreshToken": t1.json()["refreshToken"]});
    assert_eq!(post_keyed(&app, &customer, "/api/v1/auth/refresh", "k-ref", refresh).status, 200);
    assert_eq!(post_keyed(&app, &provider, "/api/v1/provider/calendar-token", "k-cal", json!({})).status, 201);
    assert_eq!(post_keyed(&app, &customer, "/api/v1/auth/logout-all", "k-out", json!({})).status, 204);
    assert_eq!(kept_rows(&app, "/api/v1/auth/%") + kept_rows(&app, "/api/v1/provider/calendar-token"), 0);
    assert_eq!(kept_rows(&app, "/api/v1/me/addresses"), 2, "ordinary POSTs are still kept");
}

/// Holds a long-poll for `s` on a thread; returns (status, how long it was held).
fn hold_poll(app: &TestApp, s: &Session) -> std::thread::JoinHandle<(u16, Duration)> {
    let url = app.url.clone();
    let auth = format!("Bearer {}", s.access);
    let cursor =
        app.call("GET", "/api/v1/events", Some(&s.access), None).json()["cursor"].as_str().unwrap().to_string();
    std::thread::spawn(move || {
        let t = Instant::now();
        let r = crate::support::request(
            "GET",
            &format!("{url}/api/v1/events?after={cursor}&wait=20"),
            &[("Authorization", &auth)],
            None,
        );
        (r.status, t.elapsed())
    })
}

#[test]
fn a_revoked_sessions_long_poll_is_answered_401_at_once() {
    let app = spawn_app();
    let admin = app.admin("9876508300");
    let settle = || std::thread::sleep(Duration::from_millis(300));
    // Logout.
    let a = app.register("customer", "9876508301");
    let poll = hold_poll(&app, &a);
    settle();
    assert_eq!(app.post("/api/v1/auth/logout", Some(&a.access), json!({})).status, 204);
    let (status, held) = poll.join().unwrap();
    assert_eq!(status, 401, "logout ends the poll");
    assert!(held < Duration::from_secs(5), "answered at once, not at the deadline: {held:?}");
    // Blocking by an admin.
    let b = app.register("provider", "9876508302");
    let poll = hold_poll(&app, &b);
    settle();
    let path = format!("/api/v1/admin/users/{}", b.user_id);
    assert_eq!(app.call("PATCH", &path, Some(&admin.access), Some(json!({"blocked": true}))).status, 200);
    let (status, held) = poll.join().unwrap();
    assert_eq!((status, held < Duration::from_secs(5)), (401, true), "{held:?}");
    // Reuse detection: presenting a rotated refresh token ends the family.
    let c = app.register("customer", "9876508303");
    let poll = hold_poll(&app, &c);
    settle();
    assert_eq!(app.post("/api/v1/auth/refresh", None, json!({"refreshToken": c.refresh})).status, 200);
    assert_eq!(
        app.post("/api/v1/auth/refresh", None, json!({"refreshToken": c.refresh})).code(),
        "refresh_token_reused"
    );
    let (status, held) = poll.join().unwrap();
    assert_eq!((status, held < Duration::from_secs(5)), (401, true), "{held:?}");
}
