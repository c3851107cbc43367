//! Booking rules: input validation, bookable listings, own listings, duplicates and taken slots,
//! the labour pass, the hourly limit, ratings, reports with admin resolution, and earnings in the
//! business time zone.

use crate::bookings::{
    act, book, booked, kinds, listing_with, local_day, plumber_listing, LABOUR, PER_HOUR, SHOWER, SHOWER_PRICE, TAP,
    TAP_PRICE,
};
use crate::support::{spawn_app, spawn_app_with, Resp, TestApp};
use buildxpert::clock::Clock;
use buildxpert::db::DbError;
use serde_json::{json, Value};

fn field_error(r: &Resp, field: &str) {
    assert_eq!((r.status, r.code()), (400, "validation_failed".into()), "{}", r.body);
    assert!(r.json()["error"]["fields"][field].is_string(), "expected field {field}: {}", r.body);
}

fn sql(app: &TestApp, statement: &str, params: &[&dyn rusqlite::ToSql]) {
    app.app().db.write(|tx| tx.execute(statement, params).map(|_| ()).map_err(DbError::from)).unwrap();
}

fn scalar(app: &TestApp, q: &str, params: &[&dyn rusqlite::ToSql]) -> i64 {
    app.app().db.read(|c| c.query_row(q, params, |r| r.get(0)).map_err(DbError::from)).unwrap()
}

#[test]
fn bad_input_names_the_field() {
    let app = spawn_app();
    let provider = app.register("provider", "9876542001");
    let customer = app.register("customer", "9876542002");
    let listing = plumber_listing(&app, &provider);
    let tomorrow = local_day(&app, 1);
    let yesterday = local_day(&app, -1);

    field_error(&book(&app, &customer, &listing, &[TAP], &yesterday, "10:00"), "time");
    let today = local_day(&app, 0);
    let (_, now_time) = app.app().tz.utc_to_local(app.clock.now_ms() - 60_000);
    if now_time.as_str() < "23:59" {
        // A minute ago, today: still the past.
        field_error(&book(&app, &customer, &listing, &[TAP], &today, &now_time), "time");
    }
    field_error(&book(&app, &customer, &listing, &[TAP], &local_day(&app, 91), "10:00"), "date");
    assert_eq!(book(&app, &customer, &listing, &[TAP], &local_day(&app, 89), "10:00").status, 201);
    field_error(&book(&app, &customer, &listing, &[TAP], "01/12/2026", "10:00"), "date");
    field_error(&book(&app, &customer, &listing, &[TAP], "2026-02-30", "10:00"), "date");
    field_error(&book(&app, &customer, &listing, &[TAP], &tomorrow, "10am"), "time");
    field_error(&book(&app, &customer, &listing, &[TAP], &tomorrow, "24:00"), "time");
    field_error(&book(&app, &customer, &listing, &[TAP], &tomorrow, "10:00:00"), "time");
    field_error(&book(&app, &customer, &listing, &[], &tomorrow, "10:00"), "subServiceIds");
    field_error(&book(&app, &customer, &listing, &[TAP, TAP], &tomorrow, "10:00"), "subServiceIds");
    // A sub-service this listing does not price (of this or another category).
    field_error(
        &book(&app, &customer, &listing, &[TAP, "sub_plumber_sanitary-pit-construction"], &tomorrow, "10:00"),
        "subServiceIds",
    );
    field_error(&book(&app, &customer, &listing, &[PER_HOUR], &tomorrow, "10:00"), "subServiceIds");
    let r = app.post(
        "/api/v1/bookings",
        Some(&customer.access),
        json!({"listingId": listing, "subServiceIds": [TAP], "date": tomorrow, "time": "10:00", "address": " "}),
    );
    field_error(&r, "address");
    let r = app.post("/api/v1/bookings", Some(&customer.access), json!({"listingId": listing}));
    field_error(&r, "subServiceIds");
    let r = app.post(
        "/api/v1/bookings",
        Some(&customer.access),
        json!({"listingId": listing, "subServiceIds": [TAP], "date": tomorrow, "time": "10:00", "address": "x", "notes": "n".repeat(1001)}),
    );
    field_error(&r, "notes");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM bookings", &[]), 1, "only the valid request made a booking");
}

#[test]
fn only_active_listings_of_others_are_bookable_by_customers() {
    let app = spawn_app();
    let provider = app.register("provider", "9876542011");
    let customer = app.register("customer", "9876542012");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 2);

    let not_found = |app: &TestApp, listing: &str| {
        let r = book(app, &customer, listing, &[TAP], &date, "10:00");
        assert_eq!((r.status, r.code()), (404, "not_found".into()), "{}", r.body);
    };
    not_found(&app, "lst_missing");
    for (set, undo) in [
        ("UPDATE listings SET status = 'expired' WHERE id = ?1", "UPDATE listings SET status = 'active' WHERE id = ?1"),
        (
            "UPDATE listings SET status = 'suspended' WHERE id = ?1",
            "UPDATE listings SET status = 'active' WHERE id = ?1",
        ),
        (
            "UPDATE listings SET status = 'pending_payment' WHERE id = ?1",
            "UPDATE listings SET status = 'active' WHERE id = ?1",
        ),
        (
            "UPDATE listings SET active_until = 1000 WHERE id = ?1",
            "UPDATE listings SET active_until = 99999999999999 WHERE id = ?1",
        ),
        ("UPDATE listings SET deleted_at = 1000 WHERE id = ?1", "UPDATE listings SET deleted_at = NULL WHERE id = ?1"),
    ] {
        sql(&app, set, &[&listing]);
        not_found(&app, &listing);
        sql(&app, undo, &[&listing]);
    }
    assert_eq!(book(&app, &customer, &listing, &[TAP], &date, "10:00").status, 201);

    // Providers do not book; nor does the same person through their customer account.
    let r = book(&app, &provider, &listing, &[TAP], &date, "11:00");
    assert_eq!((r.status, r.code()), (403, "forbidden".into()));
    let same_person = app.register("customer", "9876542011");
    let r = book(&app, &same_person, &listing, &[TAP], &date, "11:00");
    assert_eq!((r.status, r.code()), (403, "forbidden".into()), "{}", r.body);
    assert_eq!(app.post("/api/v1/bookings", None, json!({})).status, 401);
}

#[test]
fn duplicates_and_taken_slots_are_conflicts() {
    let app = spawn_app();
    let provider = app.register("provider", "9876542021");
    let customer = app.register("customer", "9876542022");
    let rival = app.register("customer", "9876542023");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 2);

    let first = booked(&app, &customer, &listing, &date, "10:00");
    let r = book(&app, &customer, &listing, &[SHOWER], &date, "10:00");
    assert_eq!((r.status, r.code()), (409, "duplicate_booking".into()), "{}", r.body);
    // Another customer may ask for the same slot while nothing is accepted.
    let second = booked(&app, &rival, &listing, &date, "10:00");
    assert_eq!(act(&app, &provider, &first, "accept", None).status, 200);
    let r = act(&app, &provider, &second, "accept", None);
    assert_eq!((r.status, r.code()), (409, "slot_unavailable".into()));
    // Still a duplicate for the customer holding it; a taken slot for anyone else.
    let r = book(&app, &customer, &listing, &[TAP], &date, "10:00");
    assert_eq!(r.status, 409);
    let third = app.register("customer", "9876542024");
    let r = book(&app, &third, &listing, &[TAP], &date, "10:00");
    assert_eq!((r.status, r.code()), (409, "slot_unavailable".into()));
    // Once the accepted booking is cancelled, the slot frees up and the same customer may rebook.
    assert_eq!(act(&app, &customer, &first, "cancel", None).status, 200);
    assert_eq!(act(&app, &provider, &second, "accept", None).status, 200);
    let r = book(&app, &customer, &listing, &[TAP], &date, "10:00");
    assert_eq!((r.status, r.code()), (409, "slot_unavailable".into()));
    assert_eq!(act(&app, &rival, &second, "cancel", None).status, 200);
    assert_eq!(book(&app, &customer, &listing, &[TAP], &date, "10:00").status, 201);
}

#[test]
fn labour_needs_a_current_pass() {
    let app = spawn_app();
    let provider = app.register("provider", "9876542031");
    let customer = app.register("customer", "9876542032");
    let listing = listing_with(&app, &provider, LABOUR, &[(PER_HOUR, 20_000)]);
    let date = local_day(&app, 2);

    let r = book(&app, &customer, &listing, &[PER_HOUR], &date, "09:00");
    assert_eq!((r.status, r.code()), (403, "pass_required".into()), "{}", r.body);
    let now = app.clock.now_ms();
    let day = 86_400_000i64;
    // An expired pass and one not yet valid do not count.
    sql(
        &app,
        "INSERT INTO passes (id, user_id, category_id, valid_from, valid_until, created_at) VALUES ('pas_old', ?1, ?2, ?3, ?4, ?3)",
        &[&customer.user_id, &LABOUR, &(now - 8 * day), &(now - day)],
    );
    sql(
        &app,
        "INSERT INTO passes (id, user_id, category_id, valid_from, valid_until, created_at) VALUES ('pas_future', ?1, ?2, ?3, ?4, ?3)",
        &[&customer.user_id, &LABOUR, &(now + day), &(now + 8 * day)],
    );
    assert_eq!(book(&app, &customer, &listing, &[PER_HOUR], &date, "09:00").code(), "pass_required");
    sql(
        &app,
        "INSERT INTO passes (id, user_id, category_id, valid_from, valid_until, created_at) VALUES ('pas_now', ?1, ?2, ?3, ?4, ?3)",
        &[&customer.user_id, &LABOUR, &now, &(now + 7 * day)],
    );
    let r = book(&app, &customer, &listing, &[PER_HOUR], &date, "09:00");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["total"]["amount"], 20_000);
    // A plumber listing needs no pass.
    let plumber = app.register("provider", "9876542033");
    let l2 = plumber_listing(&app, &plumber);
    assert_eq!(book(&app, &customer, &l2, &[TAP], &date, "09:00").status, 201);
}

#[test]
fn booking_requests_are_limited_per_customer_per_hour() {
    let app = spawn_app_with(&[("BUILDXPERT_LIMITS__BOOKINGS_PER_USER_PER_HOUR", "2")]);
    let provider = app.register("provider", "9876542041");
    let customer = app.register("customer", "9876542042");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 2);
    assert_eq!(book(&app, &customer, &listing, &[TAP], &date, "09:00").status, 201);
    assert_eq!(book(&app, &customer, &listing, &[TAP], &date, "10:00").status, 201);
    let r = book(&app, &customer, &listing, &[TAP], &date, "11:00");
    assert_eq!((r.status, r.code()), (429, "rate_limited".into()));
    assert!(r.header("Retry-After").is_some());
}

#[test]
fn each_party_rates_once_after_completion_and_customer_ratings_feed_the_listing() {
    let app = spawn_app();
    let provider = app.register("provider", "9876542051");
    let customer = app.register("customer", "9876542052");
    let stranger = app.register("customer", "9876542053");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 2);
    let id = booked(&app, &customer, &listing, &date, "10:00");
    let rate = |who: &crate::support::Session, body: Value| {
        app.post(&format!("/api/v1/bookings/{id}/rating"), Some(&who.access), body)
    };

    let r = rate(&customer, json!({"stars": 5}));
    assert_eq!((r.status, r.code()), (409, "not_completed".into()));
    assert_eq!(act(&app, &provider, &id, "accept", None).status, 200);
    assert_eq!(rate(&provider, json!({"stars": 4})).code(), "not_completed");
    assert_eq!(act(&app, &provider, &id, "complete", None).status, 200);

    field_error(&rate(&customer, json!({"stars": 6})), "stars");
    field_error(&rate(&customer, json!({"stars": 0})), "stars");
    field_error(&rate(&customer, json!({"stars": 4, "review": "x".repeat(501)})), "review");
    assert_eq!(rate(&stranger, json!({"stars": 1})).status, 404);

    let r = rate(&customer, json!({"stars": 4, "review": "Neat job"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let j = r.json();
    assert_eq!((j["stars"].as_i64(), j["review"].as_str()), (Some(4), Some("Neat job")));
    assert_eq!(j["rater"], json!({"id": customer.user_id, "role": "customer"}));
    assert_eq!(j["rateeId"], provider.user_id.as_str());
    let r = rate(&customer, json!({"stars": 1}));
    assert_eq!((r.status, r.code()), (409, "already_exists".into()));
    let r = rate(&provider, json!({"stars": 5, "review": "Polite customer"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(rate(&provider, json!({"stars": 5})).code(), "already_exists");

    let agg = |app: &TestApp| {
        (
            scalar(app, "SELECT rating_sum FROM listings WHERE id = ?1", &[&listing]),
            scalar(app, "SELECT rating_count FROM listings WHERE id = ?1", &[&listing]),
        )
    };
    assert_eq!(agg(&app), (4, 1), "only the customer's rating counts for the listing");
    // A second completed booking by another customer.
    let id2 = booked(&app, &stranger, &listing, &date, "12:00");
    assert_eq!(act(&app, &provider, &id2, "accept", None).status, 200);
    assert_eq!(act(&app, &provider, &id2, "complete", None).status, 200);
    let r = app.post(&format!("/api/v1/bookings/{id2}/rating"), Some(&stranger.access), json!({"stars": 1}));
    assert_eq!(r.status, 201);
    assert_eq!(agg(&app), (5, 2));
}

#[test]
fn reports_once_per_party_and_admins_resolve_them() {
    let app = spawn_app();
    let provider = app.register("provider", "9876542061");
    let customer = app.register("customer", "9876542062");
    let stranger = app.register("customer", "9876542063");
    let admin = app.admin("9876542064");
    let listing = plumber_listing(&app, &provider);
    let id = booked(&app, &customer, &listing, &local_day(&app, 2), "10:00");
    let report = |who: &crate::support::Session, body: Value| {
        app.post(&format!("/api/v1/bookings/{id}/report"), Some(&who.access), body)
    };

    field_error(&report(&customer, json!({"reason": "", "description": "x"})), "reason");
    field_error(&report(&customer, json!({"reason": "no_show"})), "description");
    assert_eq!(report(&stranger, json!({"reason": "spam", "description": "x"})).status, 404);
    let r = report(&customer, json!({"reason": "no_show", "description": "Did not turn up"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let rep = r.json();
    assert_eq!(rep["status"], "open");
    assert_eq!(rep["reporterId"], customer.user_id.as_str());
    assert_eq!(rep["reportedId"], provider.user_id.as_str());
    assert_eq!(rep["bookingId"], id.as_str());
    let r = report(&customer, json!({"reason": "again", "description": "again"}));
    assert_eq!((r.status, r.code()), (409, "already_exists".into()));
    app.clock.advance_ms(10);
    let r = report(&provider, json!({"reason": "abusive", "description": "Shouted at me"}));
    assert_eq!(r.status, 201);
    let provider_report = r.json()["id"].as_str().unwrap().to_string();

    // Admin only.
    assert_eq!(app.call("GET", "/api/v1/admin/reports", Some(&customer.access), None).status, 403);
    let r = app.call("GET", "/api/v1/admin/reports?status=open", Some(&admin.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], provider_report.as_str(), "newest first");
    let r = app.call("GET", "/api/v1/admin/reports?limit=1", Some(&admin.access), None);
    let cursor = r.json()["nextCursor"].as_str().unwrap().to_string();
    let r = app.call("GET", &format!("/api/v1/admin/reports?limit=1&cursor={cursor}"), Some(&admin.access), None);
    assert_eq!(r.json()["items"][0]["id"], rep["id"]);
    assert_eq!(r.json()["nextCursor"], Value::Null);
    assert_eq!(app.call("GET", "/api/v1/admin/reports?status=closed", Some(&admin.access), None).status, 400);

    let path = format!("/api/v1/admin/reports/{}", rep["id"].as_str().unwrap());
    let r = app.call("PATCH", &path, Some(&customer.access), Some(json!({"status": "resolved", "resolution": "x"})));
    assert_eq!(r.status, 403);
    let r = app.call("PATCH", &path, Some(&admin.access), Some(json!({"status": "open", "resolution": "x"})));
    assert_eq!(r.status, 400);
    let r = app.call(
        "PATCH",
        &path,
        Some(&admin.access),
        Some(json!({"status": "resolved", "resolution": "Warned the provider"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!((j["status"].as_str(), j["resolution"].as_str()), (Some("resolved"), Some("Warned the provider")));
    assert_eq!(j["resolvedBy"], admin.user_id.as_str());
    assert!(j["resolvedAt"].is_string());
    let r = app.call("PATCH", &path, Some(&admin.access), Some(json!({"status": "dismissed", "resolution": "x"})));
    assert_eq!((r.status, r.code()), (409, "invalid_transition".into()));
    let r = app.call(
        "PATCH",
        "/api/v1/admin/reports/rpt_nope",
        Some(&admin.access),
        Some(json!({"status": "dismissed", "resolution": "x"})),
    );
    assert_eq!(r.status, 404);
    let r = app.call("GET", "/api/v1/admin/reports?status=open", Some(&admin.access), None);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    let audited = scalar(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.report_resolved'", &[]);
    assert_eq!(audited, 1);
}

#[test]
fn earnings_follow_the_business_days_across_local_midnight() {
    let app = spawn_app();
    // 2026-11-30 23:55 in Asia/Kolkata (18:25 UTC): the last minutes of a day and of a month.
    app.clock.set_ms(buildxpert::clock::parse_rfc3339("2026-11-30T18:25:00Z").unwrap());
    let provider = app.register("provider", "9876542071");
    let customer = app.register("customer", "9876542072");
    let listing = plumber_listing(&app, &provider);
    let a = booked(&app, &customer, &listing, "2026-12-03", "10:00");
    let b = booked(&app, &customer, &listing, "2026-12-03", "11:00");
    let c = booked(&app, &customer, &listing, "2026-12-03", "12:00");
    let r = book(&app, &customer, &listing, &[TAP, SHOWER], "2026-12-03", "13:00");
    assert_eq!(r.status, 201);
    let earnings = |app: &TestApp| {
        let r = app.call("GET", "/api/v1/provider/earnings", Some(&provider.access), None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let money = |amount: i64| json!({"amount": amount, "currency": "INR"});

    for id in [&a, &b, &c] {
        assert_eq!(act(&app, &provider, id, "accept", None).status, 200);
    }
    assert_eq!(act(&app, &provider, &a, "complete", None).status, 200);
    let e = earnings(&app);
    assert_eq!(e["today"], money(TAP_PRICE));
    assert_eq!(e["thisMonth"], money(TAP_PRICE));
    assert_eq!(e["pending"], money(2 * TAP_PRICE + TAP_PRICE + SHOWER_PRICE), "b, c accepted + one pending");
    let daily = e["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30);
    assert_eq!(daily[29], json!({"date": "2026-11-30", "amount": money(TAP_PRICE)}));
    assert_eq!(daily[0]["date"], "2026-11-01");

    // Ten minutes later it is 00:05 on 1 December in Kolkata (still 30 November in UTC).
    app.clock.advance_secs(600);
    let e = earnings(&app);
    assert_eq!(e["today"], money(0));
    assert_eq!(e["thisMonth"], money(0), "a new month began");
    assert_eq!(e["daily"][29], json!({"date": "2026-12-01", "amount": money(0)}));
    assert_eq!(e["daily"][28], json!({"date": "2026-11-30", "amount": money(TAP_PRICE)}));
    assert_eq!(act(&app, &provider, &b, "start", None).status, 200);
    assert_eq!(act(&app, &provider, &b, "complete", None).status, 200);
    let e = earnings(&app);
    assert_eq!(e["today"], money(TAP_PRICE));
    assert_eq!(e["thisMonth"], money(TAP_PRICE));
    assert_eq!(e["pending"], money(TAP_PRICE + TAP_PRICE + SHOWER_PRICE));
    assert_eq!(e["daily"][29]["amount"], money(TAP_PRICE));

    // Only providers have earnings, and only their own.
    assert_eq!(app.call("GET", "/api/v1/provider/earnings", Some(&customer.access), None).status, 403);
    let other = app.register("provider", "9876542073");
    let r = app.call("GET", "/api/v1/provider/earnings", Some(&other.access), None);
    assert_eq!(r.json()["pending"], money(0));
    assert_eq!(kinds(&app, &customer.user_id).iter().filter(|k| *k == "booking.completed").count(), 2);
}
