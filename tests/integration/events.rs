//! Real-time events: the per-user log, long-poll wake-ups, ordering without loss or repeats,
//! isolation between users, admission caps, and atomicity with the business transaction.

use crate::support::{request, spawn_app, spawn_app_with, Session, TestApp};
use buildxpert::notify::outbox;
use serde_json::json;
use std::time::{Duration, Instant};

fn poll(app: &TestApp, s: &Session, query: &str) -> crate::support::Resp {
    app.call("GET", &format!("/api/v1/events{query}"), Some(&s.access), None)
}

/// Publishes `n` events for `user` in separate transactions, as features do.
fn publish(app: &TestApp, user: &str, kind: &str, n: usize) {
    for i in 0..n {
        app.app().db.write(|tx| outbox::event(tx, app.app(), &[user], kind, &json!({"seq": i}))).unwrap();
    }
}

#[test]
fn a_new_client_starts_from_now_and_then_gets_every_event_once_in_order() {
    let app = spawn_app();
    let a = app.register("customer", "9876506001");
    publish(&app, &a.user_id, "booking.created", 2); // before the client starts: not delivered
    let start = poll(&app, &a, "");
    assert_eq!(start.status, 200);
    assert_eq!(start.json()["events"], json!([]));
    let cursor = start.json()["cursor"].as_str().unwrap().to_string();
    publish(&app, &a.user_id, "booking.updated", 150);
    let mut seen = Vec::new();
    let mut c = cursor;
    loop {
        let r = poll(&app, &a, &format!("?after={c}"));
        let j = r.json();
        let evs = j["events"].as_array().unwrap().clone();
        c = j["cursor"].as_str().unwrap().to_string();
        if evs.is_empty() {
            break;
        }
        for e in evs {
            assert_eq!(e["type"], "booking.updated");
            assert!(e["at"].as_str().unwrap().ends_with('Z'));
            seen.push(e["data"]["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(seen, (0..150).collect::<Vec<i64>>(), "all, in order, no repeats (two pages)");
}

#[test]
fn a_waiting_poll_answers_as_soon_as_the_users_event_commits() {
    let app = spawn_app();
    let a = app.register("customer", "9876506011");
    let b = app.register("customer", "9876506012");
    let cur = |s: &Session| poll(&app, s, "").json()["cursor"].as_str().unwrap().to_string();
    let (ca, cb) = (cur(&a), cur(&b));
    std::thread::scope(|scope| {
        let (url, tok_a, tok_b) = (app.url.clone(), a.access.clone(), b.access.clone());
        let waiter_a = scope.spawn(move || {
            let t = Instant::now();
            let r = request(
                "GET",
                &format!("{url}/api/v1/events?after={ca}&wait=10"),
                &[("Authorization", &format!("Bearer {tok_a}"))],
                None,
            );
            (r, t.elapsed())
        });
        let url = app.url.clone();
        let waiter_b = scope.spawn(move || {
            let t = Instant::now();
            let r = request(
                "GET",
                &format!("{url}/api/v1/events?after={cb}&wait=1"),
                &[("Authorization", &format!("Bearer {tok_b}"))],
                None,
            );
            (r, t.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        let fired = Instant::now();
        publish(&app, &a.user_id, "booking.created", 1);
        let (ra, took) = waiter_a.join().unwrap();
        assert_eq!(ra.status, 200);
        assert_eq!(ra.json()["events"][0]["type"], "booking.created");
        assert!(fired.elapsed() < Duration::from_millis(500), "woken promptly, not at the timeout ({took:?})");
        let (rb, took_b) = waiter_b.join().unwrap();
        assert_eq!(rb.json()["events"], json!([]), "another user's event never reaches b");
        assert!(took_b >= Duration::from_millis(900), "b was not woken by a's event: {took_b:?}");
    });
}

#[test]
fn waiter_caps_answer_at_once_with_retry_after() {
    let app = spawn_app_with(&[("BUILDXPERT_EVENTS__MAX_WAITERS_PER_USER", "1")]);
    let a = app.register("customer", "9876506021");
    let c = poll(&app, &a, "").json()["cursor"].as_str().unwrap().to_string();
    std::thread::scope(|scope| {
        let (url, tok, c2) = (app.url.clone(), a.access.clone(), c.clone());
        let first = scope.spawn(move || {
            request(
                "GET",
                &format!("{url}/api/v1/events?after={c2}&wait=2"),
                &[("Authorization", &format!("Bearer {tok}"))],
                None,
            )
        });
        crate::support::eventually("the first poll is waiting", || app.app().hub.waiting() == 1);
        let t = Instant::now();
        let second = poll(&app, &a, &format!("?after={c}&wait=2"));
        assert!(t.elapsed() < Duration::from_millis(500));
        assert_eq!(second.status, 200);
        assert_eq!(second.json()["events"], json!([]));
        assert_eq!(second.header("Retry-After"), Some("1"));
        assert_eq!(first.join().unwrap().status, 200);
    });
}

#[test]
fn bad_parameters_and_missing_tokens_are_refused() {
    let app = spawn_app();
    let a = app.register("customer", "9876506031");
    assert_eq!(poll(&app, &a, "?after=abc").status, 400);
    assert_eq!(poll(&app, &a, "?after=-1").status, 400);
    assert_eq!(poll(&app, &a, "?after=0&wait=soon").status, 400);
    assert_eq!(app.call("GET", "/api/v1/events", None, None).status, 401);
    let t = Instant::now();
    assert_eq!(poll(&app, &a, "?after=0&wait=0").status, 200);
    assert!(t.elapsed() < Duration::from_millis(500), "wait=0 never waits");
}

#[test]
fn a_failing_business_transaction_leaves_no_notification_event_or_delivery() {
    let app = spawn_app();
    let a = app.register("customer", "9876506041");
    let count = |sql: &str| -> i64 {
        app.app().db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(buildxpert::db::DbError::from)).unwrap()
    };
    let before = (
        count("SELECT COUNT(*) FROM notifications"),
        count("SELECT COUNT(*) FROM events"),
        count("SELECT COUNT(*) FROM deliveries"),
    );
    let r: Result<(), buildxpert::web::ApiError> = app.app().db.write(|tx| {
        outbox::notify(
            tx,
            app.app(),
            &a.user_id,
            buildxpert::bookings::notices::ACCEPTED,
            json!({"category": "Plumber"}),
        )?;
        outbox::event(tx, app.app(), &[&a.user_id], "booking.updated", &json!({}))?;
        Err(buildxpert::web::ApiError::conflict("slot_unavailable", "the business rule failed after the outbox writes"))
    });
    assert!(r.is_err());
    let after = (
        count("SELECT COUNT(*) FROM notifications"),
        count("SELECT COUNT(*) FROM events"),
        count("SELECT COUNT(*) FROM deliveries"),
    );
    assert_eq!(before, after);
}

#[test]
fn the_global_waiter_cap_holds_across_users() {
    let app = spawn_app_with(&[("BUILDXPERT_EVENTS__MAX_WAITERS", "1")]);
    let a = app.register("customer", "9876506051");
    let b = app.register("customer", "9876506052");
    let ca = poll(&app, &a, "").json()["cursor"].as_str().unwrap().to_string();
    std::thread::scope(|scope| {
        let (url, tok) = (app.url.clone(), a.access.clone());
        let first = scope.spawn(move || {
            request(
                "GET",
                &format!("{url}/api/v1/events?after={ca}&wait=2"),
                &[("Authorization", &format!("Bearer {tok}"))],
                None,
            )
        });
        crate::support::eventually("a is waiting", || app.app().hub.waiting() == 1);
        let r = poll(&app, &b, "?after=0&wait=2");
        assert_eq!((r.status, r.header("Retry-After")), (200, Some("1")));
        assert_eq!(first.join().unwrap().status, 200);
    });
}
