//! Bookings: creation priced by the server, views and lists, the state machine with its history,
//! notifications and events for the other party, and concurrent accepts of one slot.
//! The listing helpers here write active listings straight into the database, so these tests do
//! not depend on the catalogue routes.

use crate::support::{spawn_app, Resp, Session, TestApp};
use buildxpert::clock::Clock;
use buildxpert::db::DbError;
use serde_json::{json, Value};

pub const PLUMBER: &str = "cat_plumber";
pub const TAP: &str = "sub_plumber_tap-installation";
pub const SHOWER: &str = "sub_plumber_shower-installation";
pub const LABOUR: &str = "cat_labour";
pub const PER_HOUR: &str = "sub_labour_per-hour-charges";
pub const TAP_PRICE: i64 = 30_000;
pub const SHOWER_PRICE: i64 = 45_000;

/// The categories and sub-services these tests use (the seed migration has them once it lands).
pub fn seed_catalog(app: &TestApp) {
    let now = app.clock.now_ms();
    app.app()
        .db
        .write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO categories (id, slug, name, listing_fee, listing_days, requires_pass, pass_fee, pass_days, created_at, updated_at)
                 VALUES ('cat_plumber', 'plumber', 'Plumber', 9900, 30, 0, NULL, NULL, ?1, ?1),
                        ('cat_labour', 'labour', 'Labour', 0, 365, 1, 9900, 7, ?1, ?1)",
                [now],
            )?;
            tx.execute_batch(
                "INSERT OR IGNORE INTO sub_services (id, category_id, slug, name, position) VALUES
                   ('sub_plumber_tap-installation', 'cat_plumber', 'tap-installation', 'Tap installation', 4),
                   ('sub_plumber_shower-installation', 'cat_plumber', 'shower-installation', 'Shower installation', 5),
                   ('sub_plumber_sanitary-pit-construction', 'cat_plumber', 'sanitary-pit-construction', 'Sanitary pit construction', 1),
                   ('sub_labour_per-hour-charges', 'cat_labour', 'per-hour-charges', 'Per hour charges', 1);",
            )?;
            Ok::<_, DbError>(())
        })
        .unwrap();
}

/// An active listing of `category` by `provider`, priced for the given sub-services.
pub fn listing_with(app: &TestApp, provider: &Session, category: &str, prices: &[(&str, i64)]) -> String {
    seed_catalog(app);
    let now = app.clock.now_ms();
    let id = format!("lst_{}_{}", category, &provider.user_id[4..12]);
    let from = prices.iter().map(|p| p.1).min().unwrap_or(0);
    app.app()
        .db
        .write(|tx| {
            tx.execute(
                "INSERT INTO listings (id, provider_id, category_id, description, experience_years, city, state, address,
                     city_key, state_key, status, active_until, price_from, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'Fast and tidy work', 7, 'Bengaluru', 'Karnataka', '12 MG Road',
                     'bengaluru', 'karnataka', 'active', ?4, ?5, ?6, ?6)",
                rusqlite::params![id, provider.user_id, category, now + 365 * 86_400_000i64, from, now],
            )?;
            for (sub, price) in prices {
                tx.execute(
                    "INSERT INTO listing_prices (listing_id, sub_service_id, price) VALUES (?1, ?2, ?3)",
                    rusqlite::params![id, sub, price],
                )?;
            }
            Ok::<_, DbError>(())
        })
        .unwrap();
    id
}

/// An active plumber listing offering tap (₹300) and shower (₹450) installation.
pub fn plumber_listing(app: &TestApp, provider: &Session) -> String {
    listing_with(app, provider, PLUMBER, &[(TAP, TAP_PRICE), (SHOWER, SHOWER_PRICE)])
}

/// The local (business time zone) date `days` from the app's now.
pub fn local_day(app: &TestApp, days: i64) -> String {
    let today = app.app().tz.local_date(app.clock.now_ms());
    (today + chrono::Duration::days(days)).format("%Y-%m-%d").to_string()
}

pub fn book(app: &TestApp, customer: &Session, listing: &str, subs: &[&str], date: &str, time: &str) -> Resp {
    app.post(
        "/api/v1/bookings",
        Some(&customer.access),
        json!({"listingId": listing, "subServiceIds": subs, "date": date, "time": time, "address": "4 Lake View, Indiranagar", "notes": "Bring a ladder"}),
    )
}

/// Books and returns the booking id (asserting 201).
pub fn booked(app: &TestApp, customer: &Session, listing: &str, date: &str, time: &str) -> String {
    let r = book(app, customer, listing, &[TAP], date, time);
    assert_eq!(r.status, 201, "book: {}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

pub fn act(app: &TestApp, who: &Session, id: &str, action: &str, reason: Option<&str>) -> Resp {
    let body = match reason {
        Some(r) => json!({"reason": r}),
        None => json!({}),
    };
    app.post(&format!("/api/v1/bookings/{id}/{action}"), Some(&who.access), body)
}

/// (kind, data) of the user's notifications, oldest first.
pub fn notifications(app: &TestApp, user_id: &str) -> Vec<(String, Value)> {
    app.app()
        .db
        .read(|c| {
            let mut st = c.prepare("SELECT kind, data FROM notifications WHERE user_id = ?1 ORDER BY rowid")?;
            let rows = st.query_map([user_id], |r| {
                Ok((r.get::<_, String>(0)?, serde_json::from_str(&r.get::<_, String>(1)?).unwrap_or(Value::Null)))
            })?;
            Ok::<_, DbError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
}

pub fn kinds(app: &TestApp, user_id: &str) -> Vec<String> {
    notifications(app, user_id).into_iter().map(|n| n.0).collect()
}

/// (type, data) of the user's booking events, oldest first.
pub fn booking_events(app: &TestApp, user_id: &str) -> Vec<(String, Value)> {
    app.app()
        .db
        .read(|c| {
            let mut st =
                c.prepare("SELECT type, data FROM events WHERE user_id = ?1 AND type LIKE 'booking.%' ORDER BY id")?;
            let rows = st.query_map([user_id], |r| {
                Ok((r.get::<_, String>(0)?, serde_json::from_str(&r.get::<_, String>(1)?).unwrap_or(Value::Null)))
            })?;
            Ok::<_, DbError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
}

fn history_statuses(b: &Value) -> Vec<String> {
    b["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_customer_books_an_active_listing_and_the_server_prices_it() {
    let app = spawn_app();
    let provider = app.register("provider", "9876540001");
    let customer = app.register("customer", "9876540002");
    let stranger = app.register("customer", "9876540003");
    let admin = app.admin("9876540004");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 3);

    let r = app.post(
        "/api/v1/bookings",
        Some(&customer.access),
        json!({"listingId": listing, "subServiceIds": [SHOWER, TAP], "date": date, "time": "10:30", "address": "  4 Lake View  "}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["status"], "pending");
    assert_eq!(b["listingId"], listing.as_str());
    assert_eq!(b["total"], json!({"amount": TAP_PRICE + SHOWER_PRICE, "currency": "INR"}));
    assert_eq!(b["category"], json!({"id": PLUMBER, "slug": "plumber", "name": "Plumber"}));
    assert_eq!(b["customer"], json!({"id": customer.user_id, "fullName": "Test customer"}));
    assert_eq!(b["provider"], json!({"id": provider.user_id, "fullName": "Test provider"}));
    assert_eq!(
        b["subServices"],
        json!([
            {"id": TAP, "name": "Tap installation", "price": {"amount": TAP_PRICE, "currency": "INR"}},
            {"id": SHOWER, "name": "Shower installation", "price": {"amount": SHOWER_PRICE, "currency": "INR"}},
        ])
    );
    assert_eq!((b["date"].as_str().unwrap(), b["time"].as_str().unwrap()), (date.as_str(), "10:30"));
    // 10:30 in Asia/Kolkata is 05:00 UTC.
    assert_eq!(b["startsAt"], format!("{date}T05:00:00Z"));
    assert_eq!(b["address"], "4 Lake View");
    assert_eq!(b["notes"], "");
    assert!(b["createdAt"].is_string() && b["updatedAt"].is_string());
    let id = b["id"].as_str().unwrap();

    // A client-sent total is not a field at all: the server prices bookings.
    let r = app.post(
        "/api/v1/bookings",
        Some(&customer.access),
        json!({"listingId": listing, "subServiceIds": [TAP], "date": date, "time": "12:00", "address": "x", "total": 1}),
    );
    assert_eq!((r.status, r.code()), (400, "validation_failed".into()));
    assert!(r.json()["error"]["fields"]["total"].is_string());

    // The provider is told, both parties get the event.
    let n = notifications(&app, &provider.user_id);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].0, "booking.created");
    assert_eq!(n[0].1["otherName"], "Test customer");
    assert_eq!(n[0].1["date"], date.as_str());
    assert_eq!(n[0].1["time"], "10:30");
    assert_eq!(n[0].1["category"], "Plumber");
    let r = app.call("GET", "/api/v1/notifications", Some(&provider.access), None);
    assert_eq!(r.json()["items"][0]["kind"], "booking.created");
    assert!(r.json()["items"][0]["body"].as_str().unwrap().contains("Test customer requested Plumber"));
    assert!(kinds(&app, &customer.user_id).is_empty(), "the customer acted; nobody notifies them");
    for u in [&customer, &provider] {
        let ev = booking_events(&app, &u.user_id);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].0, "booking.created");
        assert_eq!(ev[0].1["booking"]["id"], id);
        assert_eq!(ev[0].1["booking"]["total"]["amount"], TAP_PRICE + SHOWER_PRICE);
    }

    // Both parties and admins see it, with its history; anyone else gets 404.
    for s in [&customer, &provider, &admin] {
        let r = app.call("GET", &format!("/api/v1/bookings/{id}"), Some(&s.access), None);
        assert_eq!(r.status, 200, "{}: {}", s.role, r.body);
        let h = &r.json()["history"];
        assert_eq!(h.as_array().unwrap().len(), 1);
        assert_eq!(h[0]["status"], "pending");
        assert_eq!(h[0]["by"], json!({"id": customer.user_id, "role": "customer"}));
        assert!(h[0].get("reason").is_none());
    }
    let r = app.call("GET", &format!("/api/v1/bookings/{id}"), Some(&stranger.access), None);
    assert_eq!((r.status, r.code()), (404, "not_found".into()));
    let r = app.call("GET", "/api/v1/bookings/bkg_nope", Some(&customer.access), None);
    assert_eq!(r.status, 404);
    assert_eq!(app.call("GET", &format!("/api/v1/bookings/{id}"), None, None).status, 401);

    // Lists: each party's own, by default as their role.
    let r = app.call("GET", "/api/v1/bookings", Some(&customer.access), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["items"][0]["id"], id);
    assert_eq!(r.json()["nextCursor"], Value::Null);
    let r = app.call("GET", "/api/v1/bookings", Some(&provider.access), None);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    let r = app.call("GET", "/api/v1/bookings?as=provider", Some(&customer.access), None);
    assert_eq!(r.json()["items"], json!([]));
    let r = app.call("GET", "/api/v1/bookings", Some(&stranger.access), None);
    assert_eq!(r.json()["items"], json!([]));
    let r = app.call("GET", "/api/v1/bookings?as=admin", Some(&customer.access), None);
    assert_eq!((r.status, r.code()), (400, "validation_failed".into()));
    assert_eq!(app.call("GET", "/api/v1/bookings", Some(&admin.access), None).status, 403);
}

#[test]
fn lists_filter_by_status_and_page_with_cursors() {
    let app = spawn_app();
    let provider = app.register("provider", "9876540011");
    let customer = app.register("customer", "9876540012");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 2);
    let mut ids = Vec::new();
    for t in ["09:00", "10:00", "11:00"] {
        ids.push(booked(&app, &customer, &listing, &date, t));
        app.clock.advance_ms(5);
    }
    assert_eq!(act(&app, &provider, &ids[1], "accept", None).status, 200);

    let mut seen = Vec::new();
    let mut path = "/api/v1/bookings?limit=2".to_string();
    loop {
        let r = app.call("GET", &path, Some(&customer.access), None);
        assert_eq!(r.status, 200, "{}", r.body);
        let j = r.json();
        seen.extend(j["items"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_string()));
        match j["nextCursor"].as_str() {
            Some(c) => path = format!("/api/v1/bookings?limit=2&cursor={c}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let r = app.call("GET", "/api/v1/bookings?as=provider&status=accepted", Some(&provider.access), None);
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], ids[1].as_str());
    let r = app.call("GET", "/api/v1/bookings?status=pending,accepted", Some(&provider.access), None);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 3);
    let r = app.call("GET", "/api/v1/bookings?status=done", Some(&provider.access), None);
    assert_eq!((r.status, r.code()), (400, "validation_failed".into()));
    let r = app.call("GET", "/api/v1/bookings?cursor=garbage!", Some(&provider.access), None);
    assert_eq!(r.status, 400);
}

#[test]
fn the_lifecycle_records_history_and_tells_the_other_party() {
    let app = spawn_app();
    let provider = app.register("provider", "9876540021");
    let customer = app.register("customer", "9876540022");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 4);
    let id = booked(&app, &customer, &listing, &date, "15:00");

    let r = act(&app, &provider, &id, "accept", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "accepted");
    // An action with no body at all is fine too.
    let r = app.call("POST", &format!("/api/v1/bookings/{id}/start"), Some(&provider.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "in_progress");
    let r = act(&app, &provider, &id, "complete", Some("All done"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "completed");

    let r = app.call("GET", &format!("/api/v1/bookings/{id}"), Some(&customer.access), None);
    let b = r.json();
    assert_eq!(history_statuses(&b), ["pending", "accepted", "in_progress", "completed"]);
    let h = &b["history"];
    assert_eq!(h[1]["by"], json!({"id": provider.user_id, "role": "provider"}));
    assert_eq!(h[3]["reason"], "All done");
    let completed_at: Option<i64> = app
        .app()
        .db
        .read(|c| {
            c.query_row("SELECT completed_at FROM bookings WHERE id = ?1", [&id], |r| r.get(0)).map_err(DbError::from)
        })
        .unwrap();
    assert!(completed_at.is_some());

    assert_eq!(kinds(&app, &customer.user_id), ["booking.accepted", "booking.started", "booking.completed"]);
    let n = notifications(&app, &customer.user_id);
    assert_eq!(n[0].1["otherName"], "Test provider");
    assert_eq!(n[0].1["bookingId"], id.as_str());
    assert_eq!(kinds(&app, &provider.user_id), ["booking.created"]);
    for u in [&customer, &provider] {
        let ev = booking_events(&app, &u.user_id);
        let types: Vec<&str> = ev.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(types, ["booking.created", "booking.updated", "booking.updated", "booking.updated"]);
        assert_eq!(ev[3].1["booking"]["status"], "completed");
    }
    // The customer sees the events through the API too.
    let r = app.call("GET", "/api/v1/events?after=0", Some(&customer.access), None);
    let types: Vec<String> =
        r.json()["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert!(types.iter().filter(|t| *t == "booking.updated").count() == 3, "{types:?}");

    // Reject needs a reason, and the customer hears it.
    let id2 = booked(&app, &customer, &listing, &date, "16:00");
    let r = act(&app, &provider, &id2, "reject", None);
    assert_eq!((r.status, r.code()), (400, "validation_failed".into()));
    assert!(r.json()["error"]["fields"]["reason"].is_string());
    let r = act(&app, &provider, &id2, "reject", Some("Fully booked that day"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "rejected");
    let n = notifications(&app, &customer.user_id);
    assert_eq!(n.last().unwrap().0, "booking.rejected");
    assert_eq!(n.last().unwrap().1["reason"], "Fully booked that day");

    // The customer cancels a pending one; the provider is told.
    let id3 = booked(&app, &customer, &listing, &date, "17:00");
    let r = act(&app, &customer, &id3, "cancel", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "cancelled");
    assert_eq!(kinds(&app, &provider.user_id).last().unwrap(), "booking.cancelled");

    // The provider cancels an accepted one, with a reason only.
    let id4 = booked(&app, &customer, &listing, &date, "18:00");
    assert_eq!(act(&app, &provider, &id4, "accept", None).status, 200);
    let r = act(&app, &provider, &id4, "cancel", Some("   "));
    assert_eq!((r.status, r.code()), (400, "validation_failed".into()));
    let r = act(&app, &provider, &id4, "cancel", Some("Van broke down"));
    assert_eq!(r.status, 200);
    let r = app.call("GET", &format!("/api/v1/bookings/{id4}"), Some(&provider.access), None);
    let h = &r.json()["history"];
    assert_eq!(h[2]["status"], "cancelled");
    assert_eq!(h[2]["reason"], "Van broke down");
    assert_eq!(h[2]["by"]["role"], "provider");
    let n = notifications(&app, &customer.user_id);
    assert_eq!(n.last().unwrap().0, "booking.cancelled");

    // The customer cancels an accepted one.
    let id5 = booked(&app, &customer, &listing, &date, "19:00");
    assert_eq!(act(&app, &provider, &id5, "accept", None).status, 200);
    assert_eq!(act(&app, &customer, &id5, "cancel", Some("Plans changed")).status, 200);

    // An accepted booking may be completed without starting it.
    let id6 = booked(&app, &customer, &listing, &date, "20:00");
    assert_eq!(act(&app, &provider, &id6, "accept", None).status, 200);
    assert_eq!(act(&app, &provider, &id6, "complete", None).status, 200);
}

#[test]
fn illegal_moves_are_409_the_wrong_party_403_and_strangers_404() {
    let app = spawn_app();
    let provider = app.register("provider", "9876540031");
    let customer = app.register("customer", "9876540032");
    let other_provider = app.register("provider", "9876540033");
    let other_customer = app.register("customer", "9876540034");
    let admin = app.admin("9876540035");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 5);
    let actions = ["accept", "reject", "start", "complete", "cancel"];

    // Strangers of either role: 404 on the booking and every action on it.
    let id = booked(&app, &customer, &listing, &date, "08:00");
    for who in [&other_provider, &other_customer] {
        assert_eq!(app.call("GET", &format!("/api/v1/bookings/{id}"), Some(&who.access), None).status, 404);
        for a in actions.iter().chain(["rating", "report"].iter()) {
            let body = match *a {
                "rating" => json!({"stars": 5}),
                "report" => json!({"reason": "rude", "description": "x"}),
                _ => json!({"reason": "x"}),
            };
            let r = app.post(&format!("/api/v1/bookings/{id}/{a}"), Some(&who.access), body);
            assert_eq!((r.status, r.code()), (404, "not_found".into()), "{} {a}", who.role);
        }
    }
    // The customer may not do the provider's moves; an admin is not a party.
    for a in ["accept", "reject", "start", "complete"] {
        let r = act(&app, &customer, &id, a, Some("x"));
        assert_eq!((r.status, r.code()), (403, "forbidden".into()), "customer {a}");
    }
    for a in actions {
        let r = act(&app, &admin, &id, a, Some("x"));
        assert_eq!((r.status, r.code()), (403, "forbidden".into()), "admin {a}");
    }

    // Every illegal move from every state is 409 invalid_transition, and changes nothing.
    let legal: &[(&str, &str, &str)] = &[
        // (state, party, action)
        ("pending", "provider", "accept"),
        ("pending", "provider", "reject"),
        ("pending", "customer", "cancel"),
        ("accepted", "provider", "start"),
        ("accepted", "provider", "complete"),
        ("accepted", "provider", "cancel"),
        ("accepted", "customer", "cancel"),
        ("in_progress", "provider", "complete"),
    ];
    let mut slot = 9;
    let mut fresh = |state: &str| -> String {
        slot += 1;
        let id = booked(&app, &customer, &listing, &date, &format!("{slot:02}:00"));
        let steps: &[(&Session, &str)] = match state {
            "pending" => &[],
            "accepted" => &[(&provider, "accept")],
            "in_progress" => &[(&provider, "accept"), (&provider, "start")],
            "completed" => &[(&provider, "accept"), (&provider, "complete")],
            "rejected" => &[(&provider, "reject")],
            "cancelled" => &[(&customer, "cancel")],
            _ => unreachable!(),
        };
        for (who, a) in steps {
            assert_eq!(act(&app, who, &id, a, Some("because")).status, 200, "{state}: {a}");
        }
        id
    };
    for state in ["pending", "accepted", "in_progress", "completed", "rejected", "cancelled"] {
        let id = fresh(state);
        for (party, who) in [("provider", &provider), ("customer", &customer)] {
            for a in actions {
                if legal.contains(&(state, party, a)) || (party == "customer" && a != "cancel") {
                    continue;
                }
                let r = act(&app, who, &id, a, Some("because"));
                assert_eq!((r.status, r.code()), (409, "invalid_transition".into()), "{party} {a} on {state}");
                let b = app.call("GET", &format!("/api/v1/bookings/{id}"), Some(&customer.access), None).json();
                assert_eq!(b["status"], state, "{party} {a} on {state} changed nothing");
            }
        }
    }
}

#[test]
fn of_twenty_concurrent_accepts_for_one_slot_exactly_one_wins() {
    let app = spawn_app();
    let provider = app.register("provider", "9876541000");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 6);
    let ids: Vec<String> = (0..20)
        .map(|i| {
            let c = app.register("customer", &format!("98765410{:02}", i + 1));
            booked(&app, &c, &listing, &date, "11:30")
        })
        .collect();
    let barrier = std::sync::Barrier::new(ids.len());
    let results: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let (app, provider, barrier) = (&app, &provider, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let r = act(app, provider, id, "accept", None);
                    let code = if r.status == 200 { String::new() } else { r.code() };
                    (r.status, code)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wins = results.iter().filter(|r| r.0 == 200).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(results.iter().filter(|r| r.0 != 200).all(|r| r.0 == 409 && r.1 == "slot_unavailable"), "{results:?}");
    let accepted: i64 = app
        .app()
        .db
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM bookings WHERE status = 'accepted'", [], |r| r.get(0))
                .map_err(DbError::from)
        })
        .unwrap();
    assert_eq!(accepted, 1);
    // The losers are still pending (the provider can reject them); a new request for the taken
    // slot is refused at once.
    let late = app.register("customer", "9876541099");
    let r = book(&app, &late, &listing, &[TAP], &date, "11:30");
    assert_eq!((r.status, r.code()), (409, "slot_unavailable".into()));
}

#[test]
fn a_retried_request_with_the_same_idempotency_key_books_once() {
    let app = spawn_app();
    let provider = app.register("provider", "9876540041");
    let customer = app.register("customer", "9876540042");
    let listing = plumber_listing(&app, &provider);
    let body = json!({"listingId": listing, "subServiceIds": [TAP], "date": local_day(&app, 2), "time": "09:30", "address": "4 Lake View"})
        .to_string();
    let send = |key: &str, body: &str| {
        let auth = format!("Bearer {}", customer.access);
        crate::support::request(
            "POST",
            &format!("{}/api/v1/bookings", app.url),
            &[("Authorization", &auth), ("Idempotency-Key", key)],
            Some(("application/json", body.as_bytes())),
        )
    };
    let first = send("book-1", &body);
    assert_eq!(first.status, 201, "{}", first.body);
    let again = send("book-1", &body);
    assert_eq!(again.status, 201);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.json()["id"], first.json()["id"]);
    let other = body.replace("09:30", "10:30");
    assert_eq!(send("book-1", &other).status, 422);
    let count: i64 = app
        .app()
        .db
        .read(|c| c.query_row("SELECT COUNT(*) FROM bookings", [], |r| r.get(0)).map_err(DbError::from))
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(kinds(&app, &provider.user_id), ["booking.created"], "the provider is told once");
    // Without a key, a retry is a duplicate.
    let r = send_without_key(&app, &customer, &body);
    assert_eq!((r.status, r.code()), (409, "duplicate_booking".into()));
}

fn send_without_key(app: &TestApp, s: &Session, body: &str) -> Resp {
    let auth = format!("Bearer {}", s.access);
    crate::support::request(
        "POST",
        &format!("{}/api/v1/bookings", app.url),
        &[("Authorization", &auth)],
        Some(("application/json", body.as_bytes())),
    )
}
