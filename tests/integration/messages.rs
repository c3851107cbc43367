//! Booking chat: the two parties talk in real time (long-polled `message.created` and
//! `message.read`), oldest-first paging, who may read and write, the admin's audited read, the
//! 7-day window after a final state, the per-user limit, and text sanitising and bounds.

use crate::bookings::{act, booked, kinds, local_day, plumber_listing};
use crate::support::{request, spawn_app, spawn_app_with, Resp, Session, TestApp};
use buildxpert::db::DbError;
use serde_json::{json, Value};
use std::time::Duration;

fn send(app: &TestApp, who: &Session, booking: &str, text: &str) -> Resp {
    app.post(&format!("/api/v1/bookings/{booking}/messages"), Some(&who.access), json!({"text": text}))
}

fn list(app: &TestApp, who: &Session, booking: &str, query: &str) -> Resp {
    app.call("GET", &format!("/api/v1/bookings/{booking}/messages{query}"), Some(&who.access), None)
}

fn mark_read(app: &TestApp, who: &Session, booking: &str, up_to: &str) -> Resp {
    app.post(&format!("/api/v1/bookings/{booking}/messages/read"), Some(&who.access), json!({"upTo": up_to}))
}

fn cursor(app: &TestApp, s: &Session) -> String {
    app.call("GET", "/api/v1/events", Some(&s.access), None).json()["cursor"].as_str().unwrap().to_string()
}

/// Long-polls `s`'s events after `after` on a thread until an event of `kind` arrives (or 10 s).
fn await_event(app: &TestApp, s: &Session, after: &str, kind: &str) -> std::thread::JoinHandle<Value> {
    let (url, tok, mut after, kind) = (app.url.clone(), s.access.clone(), after.to_string(), kind.to_string());
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let r = request(
                "GET",
                &format!("{url}/api/v1/events?after={after}&wait=10"),
                &[("Authorization", &format!("Bearer {tok}"))],
                None,
            );
            assert_eq!(r.status, 200, "poll: {}", r.body);
            let j = r.json();
            if let Some(e) = j["events"].as_array().unwrap().iter().find(|e| e["type"] == kind.as_str()) {
                return e["data"].clone();
            }
            after = j["cursor"].as_str().unwrap().to_string();
        }
        panic!("no {kind} event");
    })
}

/// A customer, a provider and a booking between them.
fn booking(app: &TestApp, digits: &str) -> (Session, Session, String) {
    let provider = app.register("provider", &format!("98765{digits}1"));
    let customer = app.register("customer", &format!("98765{digits}2"));
    let listing = plumber_listing(app, &provider);
    let id = booked(app, &customer, &listing, &local_day(app, 2), "10:00");
    (customer, provider, id)
}

fn texts(r: &Resp) -> Vec<String> {
    r.json()["items"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_string()).collect()
}

#[test]
fn the_parties_talk_in_real_time_and_see_what_was_read() {
    let app = spawn_app();
    let (customer, provider, b) = booking(&app, "7001");

    let waiting = await_event(&app, &provider, &cursor(&app, &provider), "message.created");
    std::thread::sleep(Duration::from_millis(200));
    let sent = send(&app, &customer, &b, "Is 10:00 still fine?");
    assert_eq!(sent.status, 201, "{}", sent.body);
    let m = sent.json();
    assert_eq!(m["bookingId"], b.as_str());
    assert_eq!(m["from"], json!({"id": customer.user_id, "role": "customer"}));
    assert_eq!(m["text"], "Is 10:00 still fine?");
    assert_eq!(m["readAt"], Value::Null);
    assert!(m["createdAt"].as_str().unwrap().ends_with('Z'));
    let got = waiting.join().unwrap();
    assert_eq!(got["bookingId"], b.as_str());
    assert_eq!(got["message"], m, "the event carries the Message as served");
    assert!(kinds(&app, &provider.user_id).contains(&"message.received".to_string()));
    assert!(!kinds(&app, &customer.user_id).contains(&"message.received".to_string()), "not to the sender");

    let reply = send(&app, &provider, &b, "Yes, see you then.");
    assert_eq!(reply.status, 201);
    let both = list(&app, &customer, &b, "");
    assert_eq!(both.status, 200);
    assert_eq!(texts(&both), ["Is 10:00 still fine?", "Yes, see you then."], "oldest first");
    assert_eq!(both.json()["nextCursor"], Value::Null);
    assert_eq!(both.json()["items"][1]["from"]["role"], "provider");

    // The provider reads the customer's message; the customer hears of it.
    let waiting = await_event(&app, &customer, &cursor(&app, &customer), "message.read");
    std::thread::sleep(Duration::from_millis(200));
    let id = m["id"].as_str().unwrap();
    assert_eq!(mark_read(&app, &provider, &b, id).status, 204);
    let read = waiting.join().unwrap();
    assert_eq!(read["bookingId"], b.as_str());
    assert_eq!(read["upTo"], id);
    assert!(read["readAt"].as_str().unwrap().ends_with('Z'));
    let after = list(&app, &provider, &b, "").json();
    assert_eq!(after["items"][0]["readAt"], read["readAt"]);
    assert_eq!(after["items"][1]["readAt"], Value::Null, "the reader's own message is not marked");

    // Paging oldest first: `after` is the previous page's nextCursor.
    for t in ["three", "four", "five"] {
        assert_eq!(send(&app, &customer, &b, t).status, 201);
    }
    let first = list(&app, &provider, &b, "?limit=2");
    assert_eq!(texts(&first), ["Is 10:00 still fine?", "Yes, see you then."]);
    let next = first.json()["nextCursor"].as_str().unwrap().to_string();
    let second = list(&app, &provider, &b, &format!("?limit=2&after={next}"));
    assert_eq!(texts(&second), ["three", "four"]);
    let next = second.json()["nextCursor"].as_str().unwrap().to_string();
    let last = list(&app, &provider, &b, &format!("?limit=2&after={next}"));
    assert_eq!(texts(&last), ["five"]);
    assert_eq!(last.json()["nextCursor"], Value::Null);
    assert_eq!(list(&app, &provider, &b, "?after=nonsense").code(), "validation_failed");
}

#[test]
fn strangers_get_404_and_an_admin_reads_audited_but_cannot_write() {
    let app = spawn_app();
    let (customer, provider, b) = booking(&app, "7011");
    let (other_customer, other_provider, _) = booking(&app, "7012");
    let stranger = app.register("customer", "9876570130");
    assert_eq!(send(&app, &customer, &b, "hello").status, 201);
    let m = list(&app, &customer, &b, "").json()["items"][0]["id"].as_str().unwrap().to_string();

    for who in [&other_customer, &other_provider, &stranger] {
        assert_eq!(list(&app, who, &b, "").status, 404, "{}", who.role);
        assert_eq!(send(&app, who, &b, "hi").status, 404);
        assert_eq!(mark_read(&app, who, &b, &m).status, 404);
    }
    assert_eq!(list(&app, &customer, "bkg_nope", "").status, 404);

    let admin = app.admin("9876570140");
    let r = list(&app, &admin, &b, "");
    assert_eq!(r.status, 200);
    assert_eq!(texts(&r), ["hello"]);
    let audited: Vec<(String, Option<String>)> = app
        .app()
        .db
        .read(|c| {
            let mut st = c.prepare("SELECT action, target FROM audit_log WHERE actor_id = ?1 ORDER BY id")?;
            let rows = st.query_map([&admin.user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok::<_, DbError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    assert!(audited.contains(&("admin.messages_read".to_string(), Some(b.clone()))), "{audited:?}");
    assert_eq!(send(&app, &admin, &b, "admin here").status, 403);
    assert_eq!(mark_read(&app, &admin, &b, &m).status, 403);
    assert_eq!(list(&app, &provider, &b, "").json()["items"].as_array().unwrap().len(), 1);
}

fn relogin(app: &TestApp, s: &Session) -> Session {
    let r = app.post("/api/v1/auth/login", None, json!({"phone": s.phone, "password": "s3cret-pass", "role": s.role}));
    assert_eq!(r.status, 200, "login: {}", r.body);
    Session::from(&r)
}

#[test]
fn the_chat_closes_seven_days_after_a_final_state() {
    let app = spawn_app();
    let (customer, provider, b) = booking(&app, "7021");
    assert_eq!(act(&app, &customer, &b, "cancel", None).status, 200);
    assert_eq!(send(&app, &provider, &b, "Sorry to see it go").status, 201);
    app.clock.advance_secs(7 * 86_400 - 10);
    let (customer, provider) = (relogin(&app, &customer), relogin(&app, &provider));
    assert_eq!(send(&app, &customer, &b, "Maybe next month").status, 201, "still within 7 days");
    app.clock.advance_secs(11);
    let r = send(&app, &provider, &b, "Too late");
    assert_eq!((r.status, r.code()), (409, "chat_closed".into()), "{}", r.body);
    // Reading stays possible.
    assert_eq!(texts(&list(&app, &customer, &b, "")), ["Sorry to see it go", "Maybe next month"]);
}

#[test]
fn messages_are_limited_per_user() {
    let app = spawn_app_with(&[("BUILDXPERT_LIMITS__MESSAGES_PER_USER_PER_MINUTE", "2")]);
    let (customer, provider, b) = booking(&app, "7031");
    assert_eq!(send(&app, &customer, &b, "one").status, 201);
    assert_eq!(send(&app, &customer, &b, "two").status, 201);
    let r = send(&app, &customer, &b, "three");
    assert_eq!((r.status, r.code()), (429, "rate_limited".into()), "{}", r.body);
    assert!(r.header("Retry-After").is_some());
    assert_eq!(send(&app, &provider, &b, "the other party has their own budget").status, 201);
    assert_eq!(texts(&list(&app, &provider, &b, "")).len(), 3);
}

#[test]
fn text_is_sanitised_and_between_1_and_2000_characters() {
    let app = spawn_app();
    let (customer, _provider, b) = booking(&app, "7041");
    let r = send(&app, &customer, &b, "  Line one\r\nline\u{7} two\u{1b}[31m\t<b>x</b>  ");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["text"], "Line one\nline two[31m<b>x</b>", "stored as text, control characters gone");
    for bad in ["", "   \n ", "\u{7}\u{0}", &"a".repeat(2001)] {
        let r = send(&app, &customer, &b, bad);
        assert_eq!((r.status, r.code()), (400, "validation_failed".into()), "{:?}", bad.len());
        assert!(r.json()["error"]["fields"]["text"].is_string(), "{}", r.body);
    }
    assert_eq!(send(&app, &customer, &b, &"é".repeat(2000)).status, 201, "2000 characters, not bytes");
    let r =
        app.post(&format!("/api/v1/bookings/{b}/messages"), Some(&customer.access), json!({"text": "x", "html": true}));
    assert_eq!(r.status, 400, "unknown fields are refused");
}
