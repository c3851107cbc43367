//! Calls: every transition with its events and notifications, who may call, strangers' 404 on
//! every call route, busy (also concurrent), the ring timeout and stale close on the manual
//! clock, signals relayed in order to the other party only, size and rate limits, quality
//! validation and MOS, TURN credentials against an independent HMAC, restart survival, history
//! and the admin list. (The real-WebRTC test is `calls_browser.rs`.)

use crate::bookings::{act, booked, kinds, local_day, notifications, plumber_listing};
use crate::support::{request, spawn_app, spawn_app_with, Resp, Session, TestApp};
use buildxpert::clock::Clock;
use buildxpert::db::DbError;
use serde_json::{json, Value};
use std::time::Duration;

/// Calls per user are limited to 5 a minute by default; most tests here make more.
const NO_CALL_LIMIT: (&str, &str) = ("BUILDXPERT_LIMITS__CALLS_PER_USER_PER_MINUTE", "0");

fn app_for_calls() -> TestApp {
    spawn_app_with(&[NO_CALL_LIMIT])
}

/// A customer, a provider and a booking between them (provider 98766{d}1, customer 98766{d}2).
fn booking(app: &TestApp, digits: &str) -> (Session, Session, String) {
    let provider = app.register("provider", &format!("98766{digits}1"));
    let customer = app.register("customer", &format!("98766{digits}2"));
    let listing = plumber_listing(app, &provider);
    let id = booked(app, &customer, &listing, &local_day(app, 2), "10:00");
    (customer, provider, id)
}

fn ring(app: &TestApp, who: &Session, booking: &str) -> Resp {
    app.post("/api/v1/calls", Some(&who.access), json!({"bookingId": booking}))
}

fn rung(app: &TestApp, who: &Session, booking: &str) -> String {
    let r = ring(app, who, booking);
    assert_eq!(r.status, 201, "ring: {}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

fn mv(app: &TestApp, who: &Session, call: &str, action: &str) -> Resp {
    app.post(&format!("/api/v1/calls/{call}/{action}"), Some(&who.access), json!({}))
}

fn signal(app: &TestApp, who: &Session, call: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/calls/{call}/signal"), Some(&who.access), body)
}

fn quality(app: &TestApp, who: &Session, call: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/calls/{call}/quality"), Some(&who.access), body)
}

fn get_call(app: &TestApp, who: &Session, call: &str) -> Value {
    let r = app.call("GET", &format!("/api/v1/calls/{call}"), Some(&who.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn run_job(app: &TestApp, job: &str) {
    buildxpert::jobs::run(app.app(), job).unwrap_or_else(|e| panic!("{job}: {e}"));
}

/// (type, data) of the user's `call.*` events, oldest first.
fn call_events(app: &TestApp, user_id: &str) -> Vec<(String, Value)> {
    app.app()
        .db
        .read(|c| {
            let mut st =
                c.prepare("SELECT type, data FROM events WHERE user_id = ?1 AND type LIKE 'call.%' ORDER BY id")?;
            let rows = st.query_map([user_id], |r| {
                Ok((r.get::<_, String>(0)?, serde_json::from_str(&r.get::<_, String>(1)?).unwrap_or(Value::Null)))
            })?;
            Ok::<_, DbError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|e| e.0.as_str()).collect()
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.app().db.read(|c| Ok::<_, DbError>(c.query_row(sql, [], |r| r.get(0))?)).unwrap()
}

fn cursor(app: &TestApp, s: &Session) -> String {
    app.call("GET", "/api/v1/events", Some(&s.access), None).json()["cursor"].as_str().unwrap().to_string()
}

/// Long-polls `s`'s events from `after` until `n` events of type `kind` arrived (or 15 s).
fn collect_events(
    app: &TestApp,
    s: &Session,
    after: &str,
    kind: &str,
    n: usize,
) -> std::thread::JoinHandle<Vec<Value>> {
    let (url, tok, mut after, kind) = (app.url.clone(), s.access.clone(), after.to_string(), kind.to_string());
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let mut got = Vec::new();
        while std::time::Instant::now() < deadline && got.len() < n {
            let r = request(
                "GET",
                &format!("{url}/api/v1/events?after={after}&wait=5"),
                &[("Authorization", &format!("Bearer {tok}"))],
                None,
            );
            assert_eq!(r.status, 200, "poll: {}", r.body);
            let j = r.json();
            for e in j["events"].as_array().unwrap() {
                if e["type"] == kind.as_str() {
                    got.push(e["data"].clone());
                }
            }
            after = j["cursor"].as_str().unwrap().to_string();
        }
        got
    })
}

#[test]
fn a_call_rings_is_answered_and_hung_up_with_both_parties_told() {
    let app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0001");

    let waiting = collect_events(&app, &provider, &cursor(&app, &provider), "call.incoming", 1);
    std::thread::sleep(Duration::from_millis(200));
    let r = ring(&app, &customer, &b);
    assert_eq!(r.status, 201, "{}", r.body);
    let call = r.json();
    let id = call["id"].as_str().unwrap().to_string();
    assert_eq!(call["status"], "ringing");
    assert_eq!(call["bookingId"], b.as_str());
    assert_eq!(call["caller"], json!({"id": customer.user_id, "role": "customer"}));
    assert_eq!(call["callee"], json!({"id": provider.user_id, "role": "provider"}));
    assert_eq!(
        (call["answeredAt"].clone(), call["endedAt"].clone(), call["endReason"].clone()),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(call["durationSeconds"], 0);
    assert_eq!(call["mos"], Value::Null);
    let incoming = waiting.join().unwrap();
    assert_eq!(incoming[0]["call"], call, "the long-poll wakes with the Call as served");
    assert!(call_events(&app, &customer.user_id).is_empty(), "call.incoming goes to the callee only");

    let r = mv(&app, &provider, &id, "accept");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "active");
    assert!(r.json()["answeredAt"].as_str().unwrap().ends_with('Z'));
    app.clock.advance_secs(42);
    assert_eq!(get_call(&app, &customer, &id)["durationSeconds"], 42, "counts while active");

    let r = mv(&app, &customer, &id, "end");
    assert_eq!(r.status, 200, "{}", r.body);
    let ended = r.json();
    assert_eq!((ended["status"].as_str(), ended["endReason"].as_str()), (Some("ended"), Some("hangup")));
    assert_eq!(ended["durationSeconds"], 42);
    app.clock.advance_secs(100);
    assert_eq!(get_call(&app, &provider, &id)["durationSeconds"], 42, "fixed once ended");

    assert_eq!(types(&call_events(&app, &provider.user_id)), vec!["call.incoming", "call.accepted", "call.ended"]);
    let ce = call_events(&app, &customer.user_id);
    assert_eq!(types(&ce), vec!["call.accepted", "call.ended"]);
    assert_eq!(ce[1].1["call"], ended);
    // No notification for an answered call.
    assert!(!kinds(&app, &provider.user_id).contains(&"call.missed".to_string()));

    // The provider may ring the customer too; the lines were freed.
    let back = rung(&app, &provider, &b);
    assert_eq!(get_call(&app, &customer, &back)["caller"]["role"], "provider");
}

#[test]
fn reject_and_cancel_close_a_ringing_call_and_illegal_moves_are_409() {
    let app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0002");

    let id = rung(&app, &customer, &b);
    for (who, action) in
        [(&customer, "accept"), (&customer, "reject"), (&provider, "cancel"), (&customer, "end"), (&provider, "end")]
    {
        let r = mv(&app, who, &id, action);
        assert_eq!((r.status, r.code()), (409, "invalid_transition".into()), "{action} by {}: {}", who.role, r.body);
        assert_eq!(r.json()["error"]["status"], "ringing");
    }
    assert_eq!(get_call(&app, &customer, &id)["status"], "ringing", "the refused moves changed nothing");
    let r = mv(&app, &provider, &id, "reject");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["status"].as_str(), r.json()["endReason"].as_str()), (Some("rejected"), Some("rejected")));
    assert!(r.json()["endedAt"].is_string());
    for action in ["accept", "reject", "end"] {
        assert_eq!(mv(&app, &provider, &id, action).status, 409, "{action} after reject");
    }
    assert_eq!(types(&call_events(&app, &customer.user_id)), vec!["call.rejected"]);

    let id2 = rung(&app, &customer, &b);
    let r = mv(&app, &customer, &id2, "cancel");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["status"].as_str(), r.json()["endReason"].as_str()), (Some("cancelled"), Some("cancelled")));
    assert_eq!(mv(&app, &provider, &id2, "accept").json()["error"]["status"], "cancelled");
    assert_eq!(
        types(&call_events(&app, &provider.user_id)),
        vec!["call.incoming", "call.rejected", "call.incoming", "call.ended"]
    );
    assert_eq!(types(&call_events(&app, &customer.user_id)), vec!["call.rejected", "call.ended"]);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM call_lines"), 0, "closed calls hold no lines");
}

#[test]
fn only_open_bookings_and_live_listings_can_be_called() {
    let app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0003");
    let admin = app.admin("9876600030");

    let r = ring(&app, &admin, &b);
    assert_eq!(r.status, 403, "admins are not parties: {}", r.body);
    let r = app.post("/api/v1/calls", Some(&customer.access), json!({"bookingId": b, "to": "x"}));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = app.post("/api/v1/calls", Some(&customer.access), json!({}));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = ring(&app, &customer, "bkg_missing");
    assert_eq!((r.status, r.code()), (404, "not_found".into()));

    // The listing suspended: the customer may not call its provider, the provider may call.
    let listing: String = app
        .app()
        .db
        .read(|c| Ok::<_, DbError>(c.query_row("SELECT listing_id FROM bookings WHERE id = ?1", [&b], |r| r.get(0))?))
        .unwrap();
    let set = |sql: &str| {
        app.app().db.write(|tx| Ok::<_, DbError>(tx.execute(sql, [&listing])?)).unwrap();
    };
    set("UPDATE listings SET status = 'suspended' WHERE id = ?1");
    let r = ring(&app, &customer, &b);
    assert_eq!((r.status, r.code()), (403, "not_callable".into()), "{}", r.body);
    let id = rung(&app, &provider, &b);
    assert_eq!(mv(&app, &provider, &id, "cancel").status, 200);
    set("UPDATE listings SET status = 'active' WHERE id = ?1");

    // A booking in a final state cannot be called by either party.
    assert_eq!(act(&app, &customer, &b, "cancel", None).status, 200);
    for who in [&customer, &provider] {
        let r = ring(&app, who, &b);
        assert_eq!((r.status, r.code()), (403, "not_callable".into()), "{}", r.body);
        assert_eq!(r.json()["error"]["bookingStatus"], "cancelled");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM calls"), 1, "refused calls left nothing behind");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM call_lines"), 0);
}

#[test]
fn strangers_get_404_on_every_call_route() {
    let app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0004");
    let other_provider = app.register("provider", "9876700041");
    let other_customer = app.register("customer", "9876700042");
    let id = rung(&app, &customer, &b);
    let before = call_events(&app, &provider.user_id).len();

    let offer = json!({"type": "offer", "sdp": "v=0\r\n"});
    let report = json!({"rttMs": 10, "jitterMs": 1, "packetLossPercent": 0});
    for stranger in [&other_provider, &other_customer] {
        let tries: Vec<(&str, String, Option<Value>)> = vec![
            ("POST", "/api/v1/calls".into(), Some(json!({"bookingId": b}))),
            ("GET", format!("/api/v1/calls?bookingId={b}"), None),
            ("GET", format!("/api/v1/calls/{id}"), None),
            ("POST", format!("/api/v1/calls/{id}/accept"), Some(json!({}))),
            ("POST", format!("/api/v1/calls/{id}/reject"), Some(json!({}))),
            ("POST", format!("/api/v1/calls/{id}/cancel"), Some(json!({}))),
            ("POST", format!("/api/v1/calls/{id}/end"), Some(json!({}))),
            ("POST", format!("/api/v1/calls/{id}/signal"), Some(offer.clone())),
            ("POST", format!("/api/v1/calls/{id}/quality"), Some(report.clone())),
        ];
        for (method, path, body) in tries {
            let r = app.call(method, &path, Some(&stranger.access), body);
            assert_eq!((r.status, r.code()), (404, "not_found".into()), "{method} {path} as a stranger: {}", r.body);
        }
        let mine = app.call("GET", "/api/v1/calls", Some(&stranger.access), None);
        assert_eq!(mine.json()["items"], json!([]), "a stranger's history is their own (empty)");
    }
    // The customer with the same role as the callee, and a same-id-other-role trick, are strangers too.
    assert_eq!(get_call(&app, &provider, &id)["status"], "ringing", "nothing changed");
    assert_eq!(call_events(&app, &provider.user_id).len(), before, "nothing was relayed");
    // An admin reads calls but is not a party: acting is 404 as for anyone else.
    let admin = app.admin("9876600040");
    assert_eq!(get_call(&app, &admin, &id)["id"], id.as_str());
    assert_eq!(
        app.call("GET", &format!("/api/v1/calls?bookingId={b}"), Some(&admin.access), None).json()["items"][0]["id"],
        id.as_str()
    );
    assert_eq!(mv(&app, &admin, &id, "accept").status, 404);
    assert_eq!(signal(&app, &admin, &id, offer).status, 404);
}

#[test]
fn a_party_on_a_call_is_busy_even_under_concurrent_rings() {
    let app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0005");
    let customer2 = app.register("customer", "9876700052");
    let listing: String = app
        .app()
        .db
        .read(|c| Ok::<_, DbError>(c.query_row("SELECT listing_id FROM bookings WHERE id = ?1", [&b], |r| r.get(0))?))
        .unwrap();
    let b2 = booked(&app, &customer2, &listing, &local_day(&app, 3), "11:00");

    let id = rung(&app, &customer, &b);
    // The provider is being rung: customer2 gets busy, and so does the provider calling customer2.
    for (who, bk) in [(&customer2, &b2), (&provider, &b2), (&provider, &b), (&customer, &b)] {
        let r = ring(&app, who, bk);
        assert_eq!((r.status, r.code()), (409, "busy".into()), "{}: {}", who.role, r.body);
    }
    assert_eq!(mv(&app, &provider, &id, "accept").status, 200);
    assert_eq!(ring(&app, &customer2, &b2).code(), "busy", "active counts as busy too");
    assert_eq!(mv(&app, &provider, &id, "end").status, 200);

    // Two customers ring the provider at the same moment: exactly one rings.
    for _round in 0..3 {
        let go = std::sync::Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = [(customer.clone(), b.clone()), (customer2.clone(), b2.clone())]
            .into_iter()
            .map(|(who, bk)| {
                let (url, go) = (app.url.clone(), go.clone());
                std::thread::spawn(move || {
                    go.wait();
                    let body = json!({"bookingId": bk}).to_string();
                    let r = request(
                        "POST",
                        &format!("{url}/api/v1/calls"),
                        &[("Authorization", &format!("Bearer {}", who.access))],
                        Some(("application/json", body.as_bytes())),
                    );
                    (r.status, r.json())
                })
            })
            .collect();
        let results: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut statuses: Vec<u16> = results.iter().map(|r| r.0).collect();
        statuses.sort();
        assert_eq!(statuses, vec![201, 409], "{results:?}");
        let winner = results.iter().find(|r| r.0 == 201).unwrap();
        let caller_session = if winner.1["caller"]["id"] == customer.user_id.as_str() { &customer } else { &customer2 };
        assert_eq!(mv(&app, caller_session, winner.1["id"].as_str().unwrap(), "cancel").status, 200);
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM calls WHERE status IN ('ringing', 'active')"), 0);
}

#[test]
fn an_unanswered_call_is_missed_after_the_ring_timeout_and_the_callee_notified() {
    let app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0006");
    let id = rung(&app, &customer, &b);

    app.clock.advance_secs(29);
    run_job(&app, "calls-ring-timeout");
    assert_eq!(get_call(&app, &customer, &id)["status"], "ringing", "29 s: still ringing");
    app.clock.advance_secs(1);
    run_job(&app, "calls-ring-timeout");
    let call = get_call(&app, &customer, &id);
    assert_eq!((call["status"].as_str(), call["endReason"].as_str()), (Some("missed"), Some("no_answer")));
    assert_eq!(call["durationSeconds"], 0);
    let missed: Vec<Value> =
        notifications(&app, &provider.user_id).into_iter().filter(|n| n.0 == "call.missed").map(|n| n.1).collect();
    assert_eq!(missed.len(), 1, "the callee is notified once");
    assert_eq!(missed[0]["otherName"], "Test customer");
    assert_eq!(missed[0]["callId"], id.as_str());
    assert!(!kinds(&app, &customer.user_id).contains(&"call.missed".to_string()), "not the caller");
    let inbox = app.call("GET", "/api/v1/notifications", Some(&provider.access), None).json();
    let n = inbox["items"].as_array().unwrap().iter().find(|n| n["kind"] == "call.missed").cloned().unwrap();
    assert_eq!(n["body"], "Hi Test, you missed a call from Test customer.");
    assert_eq!(types(&call_events(&app, &provider.user_id)), vec!["call.incoming", "call.ended"]);
    assert_eq!(call_events(&app, &customer.user_id)[0].1["call"]["status"], "missed");
    run_job(&app, "calls-ring-timeout");
    assert_eq!(missed.len(), kinds(&app, &provider.user_id).iter().filter(|k| *k == "call.missed").count());
    assert_eq!(mv(&app, &provider, &id, "accept").json()["error"]["status"], "missed");

    // A configured shorter timeout.
    let app = spawn_app_with(&[NO_CALL_LIMIT, ("BUILDXPERT_CALLS__RING_TIMEOUT_SECONDS", "5")]);
    let (customer, _provider, b) = booking(&app, "0007");
    let id = rung(&app, &customer, &b);
    app.clock.advance_secs(5);
    run_job(&app, "calls-ring-timeout");
    assert_eq!(get_call(&app, &customer, &id)["status"], "missed");
}

#[test]
fn an_active_call_whose_party_went_silent_ends_as_lost() {
    let app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0008");
    let id = rung(&app, &customer, &b);
    assert_eq!(mv(&app, &provider, &id, "accept").status, 200);
    let report = json!({"rttMs": 40, "jitterMs": 2, "packetLossPercent": 0});
    // Both keep reporting: the call stays up past the stale window.
    for _ in 0..4 {
        app.clock.advance_secs(20);
        assert_eq!(quality(&app, &customer, &id, report.clone()).status, 202);
        assert_eq!(signal(&app, &provider, &id, json!({"type": "candidate", "candidate": null})).status, 202);
        run_job(&app, "calls-stale");
    }
    assert_eq!(get_call(&app, &customer, &id)["status"], "active");
    // The provider goes quiet; the customer still reports.
    for _ in 0..2 {
        app.clock.advance_secs(20);
        assert_eq!(quality(&app, &customer, &id, report.clone()).status, 202);
        run_job(&app, "calls-stale");
    }
    assert_eq!(get_call(&app, &customer, &id)["status"], "active", "40 s of silence < 45 s");
    app.clock.advance_secs(5);
    run_job(&app, "calls-stale");
    let call = get_call(&app, &customer, &id);
    assert_eq!((call["status"].as_str(), call["endReason"].as_str()), (Some("ended"), Some("lost")));
    assert_eq!(call["durationSeconds"], 125);
    for u in [&customer.user_id, &provider.user_id] {
        assert_eq!(call_events(&app, u).last().unwrap().0, "call.ended");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM call_lines"), 0);
    assert!(!rung(&app, &provider, &b).is_empty(), "both are free again");
}

#[test]
fn signals_reach_only_the_other_party_in_order() {
    let app = spawn_app_with(&[NO_CALL_LIMIT]);
    let (customer, provider, b) = booking(&app, "0009");
    let provider_cursor = cursor(&app, &provider);
    let id = rung(&app, &customer, &b);

    // While ringing only the caller signals.
    let offer_sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n";
    let r = signal(&app, &customer, &id, json!({"type": "offer", "sdp": offer_sdp}));
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["seq"], 1);
    let r = signal(&app, &provider, &id, json!({"type": "answer", "sdp": "v=0\r\n"}));
    assert_eq!((r.status, r.code()), (409, "not_answered".into()), "{}", r.body);
    let r = signal(&app, &customer, &id, json!({"type": "answer", "sdp": "v=0\r\n"}));
    assert_eq!(r.code(), "not_answered", "an answer needs an offer from the callee");

    // The provider's long-poll collects everything the customer sends, in order.
    let n = 120;
    let waiting = collect_events(&app, &provider, &provider_cursor, "call.signal", n + 1);
    assert_eq!(mv(&app, &provider, &id, "accept").status, 200);
    let customer_cursor = cursor(&app, &customer);
    let from_provider = collect_events(&app, &customer, &customer_cursor, "call.signal", 2);
    for i in 0..n {
        let c = json!({"candidate": format!("candidate:{i} 1 udp 2130706431 192.0.2.2 {} typ host", 40000 + i), "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd"});
        let r = signal(&app, &customer, &id, json!({"type": "candidate", "candidate": c}));
        assert_eq!(r.status, 202, "{}", r.body);
        if i == 10 {
            assert_eq!(
                signal(&app, &provider, &id, json!({"type": "answer", "sdp": "v=0\r\na=answer\r\n"})).status,
                202
            );
        }
    }
    assert_eq!(
        signal(&app, &provider, &id, json!({"type": "offer", "sdp": "v=0\r\na=renegotiate\r\n"})).status,
        202,
        "the callee may renegotiate"
    );
    let got = waiting.join().unwrap();
    assert_eq!(got.len(), n + 1);
    assert_eq!(got[0], json!({"callId": id, "from": customer.user_id, "seq": 1, "type": "offer", "sdp": offer_sdp}));
    let mut last_seq = 1;
    for (i, s) in got[1..].iter().enumerate() {
        assert_eq!(s["type"], "candidate");
        assert_eq!(s["from"], customer.user_id.as_str());
        assert!(s["candidate"]["candidate"].as_str().unwrap().starts_with(&format!("candidate:{i} ")), "in order: {s}");
        let seq = s["seq"].as_i64().unwrap();
        assert!(seq > last_seq, "seq increases");
        last_seq = seq;
    }
    let back = from_provider.join().unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!((back[0]["type"].as_str(), back[1]["type"].as_str()), (Some("answer"), Some("offer")));
    assert!(back.iter().all(|s| s["from"] == provider.user_id.as_str()));
    // Nobody hears their own signals.
    for (who, other) in [(&customer, &provider), (&provider, &customer)] {
        assert!(call_events(&app, &who.user_id)
            .iter()
            .filter(|e| e.0 == "call.signal")
            .all(|e| e.1["from"] == other.user_id.as_str()));
    }
    assert_eq!(mv(&app, &customer, &id, "end").status, 200);
    let r = signal(&app, &customer, &id, json!({"type": "candidate", "candidate": null}));
    assert_eq!((r.status, r.code()), (409, "call_closed".into()));
}

#[test]
fn signals_are_bounded_in_size_and_rate() {
    let app = spawn_app_with(&[NO_CALL_LIMIT, ("BUILDXPERT_LIMITS__CALL_SIGNALS_PER_MINUTE", "5")]);
    let (customer, provider, b) = booking(&app, "0010");
    let id = rung(&app, &customer, &b);
    let bad = [
        json!({"type": "offer", "sdp": "x".repeat(16 * 1024 + 1)}),
        json!({"type": "candidate", "candidate": {"candidate": "c".repeat(1025)}}),
        json!({"type": "candidate", "candidate": {"candidate": "a\r\nb"}}),
        json!({"type": "candidate", "candidate": "candidate:1 1 udp"}),
        json!({"type": "offer"}),
        json!({"type": "bye"}),
        json!({"type": "offer", "sdp": "v=0", "to": "someone"}),
        json!([1, 2]),
    ];
    for body in bad {
        let r = signal(&app, &customer, &id, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
    let big = signal(&app, &customer, &id, json!({"type": "offer", "sdp": "x".repeat(16 * 1024)}));
    assert_eq!(big.status, 202, "exactly 16 KiB is fine: {}", big.body);
    for _ in 0..4 {
        assert_eq!(signal(&app, &customer, &id, json!({"type": "candidate", "candidate": null})).status, 202);
    }
    let r = signal(&app, &customer, &id, json!({"type": "candidate", "candidate": null}));
    assert_eq!((r.status, r.code()), (429, "rate_limited".into()));
    assert!(r.header("Retry-After").is_some());
    let relayed = call_events(&app, &provider.user_id).iter().filter(|e| e.0 == "call.signal").count();
    assert_eq!(relayed, 5, "refused signals were not relayed");
    // The limit is per party per call: the callee has its own budget once it answers.
    assert_eq!(mv(&app, &provider, &id, "accept").status, 200);
    assert_eq!(signal(&app, &provider, &id, json!({"type": "answer", "sdp": "v=0\r\n"})).status, 202);
}

#[test]
fn quality_reports_are_validated_and_give_the_call_a_mos() {
    let app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0011");
    let id = rung(&app, &customer, &b);
    let good = json!({"rttMs": 100, "jitterMs": 10, "packetLossPercent": 0, "bitrateKbps": 32});
    let r = quality(&app, &customer, &id, good.clone());
    assert_eq!((r.status, r.code()), (409, "not_answered".into()), "{}", r.body);
    assert_eq!(mv(&app, &provider, &id, "accept").status, 200);

    let r = quality(
        &app,
        &customer,
        &id,
        json!({"rttMs": -1, "jitterMs": 70000, "packetLossPercent": 101, "bitrateKbps": -5}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let fields = r.json()["error"]["fields"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(fields, vec!["bitrateKbps", "jitterMs", "packetLossPercent", "rttMs"]);
    for body in [
        json!({"rttMs": 1, "jitterMs": 1}),
        json!({"rttMs": "fast", "jitterMs": 1, "packetLossPercent": 0}),
        json!({"rttMs": 1, "jitterMs": 1, "packetLossPercent": 0, "mos": 5}),
    ] {
        assert_eq!(quality(&app, &customer, &id, body.clone()).status, 400, "{body}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM call_quality"), 0, "bad reports stored nothing");
    assert_eq!(get_call(&app, &customer, &id)["mos"], Value::Null);

    let r = quality(&app, &customer, &id, good);
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["mos"], 4.37);
    let r = quality(&app, &provider, &id, json!({"rttMs": 50, "jitterMs": 5, "packetLossPercent": 30}));
    assert_eq!(r.json()["mos"], 2.11, "30 % loss is poor");
    let call = get_call(&app, &provider, &id);
    assert_eq!(call["mos"], 3.24, "the mean of 4.37 and 2.11");
    assert_eq!(call["qualityReports"], 2);
    assert_eq!(mv(&app, &customer, &id, "end").status, 200);
    assert_eq!(
        quality(&app, &customer, &id, json!({"rttMs": 0, "jitterMs": 0, "packetLossPercent": 0})).status,
        202,
        "a last report after hang-up"
    );
    assert_eq!(get_call(&app, &provider, &id)["mos"], 3.63);
    // The admin stats building block sees it.
    let now = app.clock.now_ms();
    let days = app
        .app()
        .db
        .read(|c| Ok::<_, DbError>(buildxpert::calls::stats::daily_stats(c, now - 86_400_000, now + 1, &app.app().tz)?))
        .unwrap();
    assert_eq!(days.iter().map(|d| d.calls).sum::<i64>(), 1);
    assert_eq!(days.iter().find(|d| d.calls == 1).unwrap().mean_mos, Some(3.63));
}

/// base64(HMAC-SHA1(secret, username)) by Python's standard library: an implementation that
/// shares nothing with ours.
fn python_turn_password(secret: &str, username: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import base64, hashlib, hmac, sys; print(base64.b64encode(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha1).digest()).decode())",
            secret,
            username,
        ])
        .output()
        .expect("python3 runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn turn_credentials_verify_against_an_independent_hmac() {
    let app = spawn_app_with(&[
        ("BUILDXPERT_CALLS__STUN_URLS", "stun:stun.example.test:3478"),
        (
            "BUILDXPERT_CALLS__TURN_URLS",
            "turn:turn.example.test:3478?transport=udp,turns:turn.example.test:443?transport=tcp",
        ),
        ("BUILDXPERT_CALLS__TURN_SECRET", "s3cret-shared-with-coturn"),
        ("BUILDXPERT_CALLS__TURN_TTL_SECONDS", "600"),
    ]);
    let customer = app.register("customer", "9876600121");
    assert_eq!(app.get("/api/v1/calls/ice-servers").status, 401);
    let r = app.call("GET", "/api/v1/calls/ice-servers", Some(&customer.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let j = r.json();
    assert_eq!(j["ttlSeconds"], 600);
    let servers = j["iceServers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[0], json!({"urls": ["stun:stun.example.test:3478"]}));
    let turn = &servers[1];
    assert_eq!(
        turn["urls"],
        json!(["turn:turn.example.test:3478?transport=udp", "turns:turn.example.test:443?transport=tcp"])
    );
    let username = turn["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, customer.user_id);
    assert_eq!(expiry.parse::<i64>().unwrap(), app.clock_secs() + 600, "expires ttl from now");
    let credential = turn["credential"].as_str().unwrap();
    assert_eq!(credential.len(), 28);
    assert_eq!(credential, python_turn_password("s3cret-shared-with-coturn", username));
    assert_ne!(credential, python_turn_password("another-secret", username));
    // The committed vector (openssl and coturn 4.6.1 agree on it).
    assert_eq!(
        buildxpert::calls::ice::turn_password("s3cret", "1700086400:alice"),
        python_turn_password("s3cret", "1700086400:alice")
    );
    // Later requests get later expiries.
    app.clock.advance_secs(60);
    let again = app.call("GET", "/api/v1/calls/ice-servers", Some(&customer.access), None).json();
    assert_eq!(again["iceServers"][1]["username"], format!("{}:{}", app.clock_secs() + 600, customer.user_id));

    // Without TURN settings: STUN only; with no STUN either: nothing.
    let app = spawn_app_with(&[("BUILDXPERT_CALLS__STUN_URLS", "[]")]);
    let s = app.register("provider", "9876600122");
    let j = app.call("GET", "/api/v1/calls/ice-servers", Some(&s.access), None).json();
    assert_eq!(j["iceServers"], json!([]));
    let app = spawn_app();
    let s = app.register("provider", "9876600123");
    let j = app.call("GET", "/api/v1/calls/ice-servers", Some(&s.access), None).json();
    assert_eq!(j["iceServers"], json!([{"urls": ["stun:stun.l.google.com:19302"]}]));
}

#[test]
fn calls_and_their_timeouts_survive_a_restart() {
    let mut app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0013");
    let id = rung(&app, &customer, &b);
    app.restart(&[NO_CALL_LIMIT]);
    assert_eq!(get_call(&app, &provider, &id)["status"], "ringing");
    assert_eq!(ring(&app, &provider, &b).code(), "busy", "the lines are in the database");
    assert_eq!(signal(&app, &customer, &id, json!({"type": "offer", "sdp": "v=0\r\n"})).json()["seq"], 1);
    assert_eq!(mv(&app, &provider, &id, "accept").status, 200);
    app.restart(&[NO_CALL_LIMIT]);
    assert_eq!(
        signal(&app, &customer, &id, json!({"type": "candidate", "candidate": null})).json()["seq"],
        2,
        "numbering continues"
    );
    assert_eq!(mv(&app, &customer, &id, "end").status, 200);

    // A call rings out while the server is down: the first run after the start misses it.
    let id2 = rung(&app, &customer, &b);
    app.stop();
    app.clock.advance_secs(120);
    app.restart(&[NO_CALL_LIMIT]);
    run_job(&app, "calls-ring-timeout");
    assert_eq!(get_call(&app, &customer, &id2)["status"], "missed");
    assert!(kinds(&app, &provider.user_id).contains(&"call.missed".to_string()));
}

#[test]
fn history_pages_for_parties_and_the_admin_filters() {
    let app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0014");
    let admin = app.admin("9876600140");
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = rung(&app, if i == 1 { &provider } else { &customer }, &b);
        let caller = if i == 1 { &provider } else { &customer };
        assert_eq!(mv(&app, caller, &id, "cancel").status, 200);
        ids.push(id);
        app.clock.advance_secs(1);
    }
    let (c3, p3, b3) = booking(&app, "0015");
    let other = rung(&app, &c3, &b3);

    let list = |who: &Session, q: &str| app.call("GET", &format!("/api/v1/calls{q}"), Some(&who.access), None);
    let page1 = list(&customer, "?limit=2").json();
    let got: Vec<&str> = page1["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(got, vec![ids[2].as_str(), ids[1].as_str()], "newest first, both directions");
    let next = page1["nextCursor"].as_str().unwrap();
    let page2 = list(&customer, &format!("?limit=2&cursor={next}")).json();
    assert_eq!(page2["items"][0]["id"], ids[0].as_str());
    assert_eq!(page2["nextCursor"], Value::Null);
    assert_eq!(list(&provider, &format!("?bookingId={b}")).json()["items"].as_array().unwrap().len(), 3);
    assert_eq!(list(&p3, "").json()["items"].as_array().unwrap().len(), 1);
    assert_eq!(list(&customer, "?cursor=garbage").status, 400);
    assert_eq!(list(&customer, &format!("?bookingId={b3}")).status, 404);
    assert_eq!(list(&admin, "").json()["items"].as_array().unwrap().len(), 4);

    let admin_list =
        |who: &Session, q: &str| app.call("GET", &format!("/api/v1/admin/calls{q}"), Some(&who.access), None);
    assert_eq!(admin_list(&customer, "").status, 403);
    assert_eq!(admin_list(&provider, "").status, 403);
    assert_eq!(app.get("/api/v1/admin/calls").status, 401);
    let all = admin_list(&admin, "").json();
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    assert_eq!(admin_list(&admin, "?status=ringing").json()["items"][0]["id"], other.as_str());
    assert_eq!(admin_list(&admin, &format!("?bookingId={b}")).json()["items"].as_array().unwrap().len(), 3);
    assert_eq!(admin_list(&admin, &format!("?userId={}", c3.user_id)).json()["items"].as_array().unwrap().len(), 1);
    let started = all["items"][3]["startedAt"].as_str().unwrap().to_string();
    assert_eq!(admin_list(&admin, &format!("?to={started}")).json()["items"], json!([]));
    assert_eq!(admin_list(&admin, &format!("?from={started}")).json()["items"].as_array().unwrap().len(), 4);
    for q in ["?status=busy", "?from=yesterday", "?cursor=x", "?limit=0"] {
        let r = admin_list(&admin, q);
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }
    let _ = p3;
}

#[test]
fn the_call_page_is_served_with_a_strict_policy() {
    let app = spawn_app();
    let r = app.get("/call/");
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    let csp = r.header("Content-Security-Policy").unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(!r.body.contains("<script>") && r.body.contains("type=\"module\""), "no inline script");
    assert_eq!(app.get("/call/call.js").header("Content-Type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(app.get("/call/.hidden").status, 404);
    assert_eq!(app.get("/call/missing.js").status, 404);
    assert_eq!(app.get("/call").status, 301);
}

#[test]
fn polling_the_event_stream_keeps_a_call_alive() {
    let app = app_for_calls();
    let (customer, provider, b) = booking(&app, "0016");
    let id = rung(&app, &customer, &b);
    assert_eq!(mv(&app, &provider, &id, "accept").status, 200);
    // Neither signals nor reports; both keep polling their events.
    for _ in 0..6 {
        app.clock.advance_secs(20);
        for s in [&customer, &provider] {
            assert_eq!(app.call("GET", "/api/v1/events", Some(&s.access), None).status, 200);
        }
        run_job(&app, "calls-stale");
    }
    assert_eq!(get_call(&app, &customer, &id)["status"], "active", "120 s of polling kept it up");
    // The polls were copied into the call's row.
    let seen = count(&app, &format!("SELECT MIN(caller_seen_at, callee_seen_at) FROM calls WHERE id = '{id}'"));
    assert!(seen >= app.clock.now_ms() - 20_000, "{seen}");
    // The customer stops polling; the provider goes on.
    for _ in 0..2 {
        app.clock.advance_secs(20);
        assert_eq!(app.call("GET", "/api/v1/events", Some(&provider.access), None).status, 200);
        run_job(&app, "calls-stale");
    }
    assert_eq!(get_call(&app, &provider, &id)["status"], "active", "40 s < 45 s");
    app.clock.advance_secs(10);
    run_job(&app, "calls-stale");
    assert_eq!(get_call(&app, &provider, &id)["endReason"], "lost");
}
