//! Time-driven booking work on the manual clock: expiry of unanswered requests, the day-before and
//! 2-hour reminders (each exactly once, however often the job runs), and the provider's
//! iCalendar feed with its revocable token.

use crate::bookings::{act, booked, kinds, local_day, notifications, plumber_listing};
use crate::support::{spawn_app, TestApp};
use buildxpert::clock::Clock;
use serde_json::json;

const HOUR: i64 = 3600;

fn run(app: &TestApp, job: &str) {
    buildxpert::jobs::run(app.app(), job).unwrap_or_else(|e| panic!("{job}: {e}"));
}

/// Seconds from the app's now until the booking starts.
fn secs_until(app: &TestApp, b: &serde_json::Value) -> i64 {
    let starts = buildxpert::clock::parse_rfc3339(b["startsAt"].as_str().unwrap()).unwrap();
    // Rounded up: the manual clock starts mid-second.
    (starts - app.clock.now_ms() + 999) / 1000
}

fn get_booking(app: &TestApp, s: &crate::support::Session, id: &str) -> serde_json::Value {
    let r = app.call("GET", &format!("/api/v1/bookings/{id}"), Some(&s.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn unanswered_requests_expire_when_their_time_comes() {
    let app = spawn_app();
    let provider = app.register("provider", "9876543001");
    let customer = app.register("customer", "9876543002");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 2);
    let pending = booked(&app, &customer, &listing, &date, "10:00");
    let accepted = booked(&app, &customer, &listing, &date, "10:30");
    let later = booked(&app, &customer, &listing, &date, "18:00");
    assert_eq!(act(&app, &provider, &accepted, "accept", None).status, 200);
    let until = secs_until(&app, &get_booking(&app, &customer, &pending));

    app.clock.advance_secs(until - 60);
    run(&app, "bookings-expire");
    assert_eq!(status_of(&app, &pending), "pending", "not yet");

    app.clock.advance_secs(60);
    // Before the job runs, the request can no longer be accepted.
    let fresh = relogin(&app, &provider);
    let r = act(&app, &fresh, &pending, "accept", None);
    assert_eq!((r.status, r.code()), (409, "invalid_transition".into()));
    run(&app, "bookings-expire");
    run(&app, "bookings-expire");
    // Access tokens do not survive a two-day clock jump: sign in again.
    let customer = relogin(&app, &customer);
    let provider = relogin(&app, &provider);
    let b = get_booking(&app, &customer, &pending);
    assert_eq!(b["status"], "expired");
    let h = b["history"].as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1]["status"], "expired");
    assert_eq!(h[1]["by"], json!({"id": null, "role": "system"}));
    assert_eq!(get_booking(&app, &customer, &accepted)["status"], "accepted", "accepted bookings do not expire");
    assert_eq!(get_booking(&app, &customer, &later)["status"], "pending");
    let expired: Vec<_> =
        notifications(&app, &customer.user_id).into_iter().filter(|n| n.0 == "booking.expired").collect();
    assert_eq!(expired.len(), 1, "notified once although the job ran twice");
    assert_eq!(expired[0].1["bookingId"], pending.as_str());
    let events = crate::bookings::booking_events(&app, &provider.user_id);
    let last = &events.last().unwrap().1["booking"];
    assert_eq!((last["id"].as_str(), last["status"].as_str()), (Some(pending.as_str()), Some("expired")));
    // An expired booking is final.
    let r = act(&app, &provider, &pending, "accept", None);
    assert_eq!((r.status, r.code()), (409, "invalid_transition".into()));
}

fn status_of(app: &TestApp, id: &str) -> String {
    app.app()
        .db
        .read(|c| {
            c.query_row("SELECT status FROM bookings WHERE id = ?1", [id], |r| r.get(0))
                .map_err(buildxpert::db::DbError::from)
        })
        .unwrap()
}

fn relogin(app: &TestApp, s: &crate::support::Session) -> crate::support::Session {
    let r = app.post("/api/v1/auth/login", None, json!({"phone": s.phone, "password": "s3cret-pass", "role": s.role}));
    assert_eq!(r.status, 200, "login: {}", r.body);
    crate::support::Session::from(&r)
}

fn reminders(app: &TestApp, user: &str) -> Vec<String> {
    kinds(app, user).into_iter().filter(|k| k.starts_with("reminder.")).collect()
}

#[test]
fn accepted_bookings_get_each_reminder_exactly_once() {
    let app = spawn_app();
    let provider = app.register("provider", "9876543011");
    let customer = app.register("customer", "9876543012");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 3);
    let id = booked(&app, &customer, &listing, &date, "10:00");
    let pending_one = booked(&app, &customer, &listing, &date, "10:00".replace("10", "11").as_str());
    assert_eq!(act(&app, &provider, &id, "accept", None).status, 200);
    let until = secs_until(&app, &get_booking(&app, &customer, &id));

    run(&app, "booking-reminders");
    assert!(reminders(&app, &customer.user_id).is_empty());
    app.clock.advance_secs(until - 24 * HOUR - 60);
    run(&app, "booking-reminders");
    assert!(reminders(&app, &customer.user_id).is_empty(), "a minute too early");
    app.clock.advance_secs(60);
    run(&app, "booking-reminders");
    run(&app, "booking-reminders");
    assert_eq!(reminders(&app, &customer.user_id), ["reminder.day_before"]);
    let n = notifications(&app, &customer.user_id);
    let day_before = n.iter().find(|n| n.0 == "reminder.day_before").unwrap();
    assert_eq!(day_before.1["otherName"], "Test provider");
    assert_eq!(day_before.1["time"], "10:00");

    app.clock.advance_secs(22 * HOUR - 60);
    run(&app, "booking-reminders");
    assert_eq!(reminders(&app, &customer.user_id).len(), 1);
    app.clock.advance_secs(60);
    run(&app, "booking-reminders");
    run(&app, "booking-reminders");
    assert_eq!(reminders(&app, &customer.user_id), ["reminder.day_before", "reminder.two_hours"]);
    // After the start, nothing more; pending bookings never got reminders.
    app.clock.advance_secs(3 * HOUR);
    run(&app, "booking-reminders");
    assert_eq!(reminders(&app, &customer.user_id).len(), 2);
    let (d, t): (Option<i64>, Option<i64>) = app
        .app()
        .db
        .read(|c| {
            c.query_row(
                "SELECT reminded_day_before_at, reminded_two_hours_at FROM bookings WHERE id = ?1",
                [&pending_one],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(buildxpert::db::DbError::from)
        })
        .unwrap();
    assert_eq!((d, t), (None, None));
}

#[test]
fn a_booking_accepted_inside_two_hours_gets_only_the_two_hour_reminder_once_across_restarts() {
    let mut app = spawn_app();
    let provider = app.register("provider", "9876543021");
    let customer = app.register("customer", "9876543022");
    let listing = plumber_listing(&app, &provider);
    // An appointment a little over an hour away (whole minutes, local time).
    let (date, time) = app.app().tz.utc_to_local(app.clock.now_ms() + 90 * 60_000);
    let id = booked(&app, &customer, &listing, &date, &time);
    assert_eq!(act(&app, &provider, &id, "accept", None).status, 200);
    run(&app, "booking-reminders");
    assert_eq!(reminders(&app, &customer.user_id), ["reminder.two_hours"]);
    app.restart(&[]);
    run(&app, "booking-reminders");
    assert_eq!(reminders(&app, &customer.user_id), ["reminder.two_hours"], "a restart repeats nothing");
}

fn feed(app: &TestApp, url: &str) -> crate::support::Resp {
    let path = url.split_once("/api/v1/").map(|(_, p)| format!("/api/v1/{p}")).unwrap();
    app.get(&path)
}

#[test]
fn the_calendar_feed_lists_upcoming_accepted_bookings_behind_a_revocable_token() {
    let app = spawn_app();
    let provider = app.register("provider", "9876543031");
    let customer = app.register("customer", "9876543032");
    let listing = plumber_listing(&app, &provider);
    let date = local_day(&app, 2);
    let accepted = booked(&app, &customer, &listing, &date, "10:00");
    let _pending = booked(&app, &customer, &listing, &date, "12:00");
    assert_eq!(act(&app, &provider, &accepted, "accept", None).status, 200);
    // A long address, to exercise line folding.
    let long = booked(&app, &customer, &listing, &date, "15:30");
    app.app()
        .db
        .write(|tx| {
            tx.execute(
                "UPDATE bookings SET address = ?2 WHERE id = ?1",
                rusqlite::params![long, format!("Flat 12, {}; Bengaluru", "Ünïcödé Layout ".repeat(8))],
            )
            .map_err(buildxpert::db::DbError::from)
        })
        .unwrap();
    assert_eq!(act(&app, &provider, &long, "accept", None).status, 200);

    assert_eq!(app.post("/api/v1/provider/calendar-token", Some(&customer.access), json!({})).status, 403);
    let r = app.call("POST", "/api/v1/provider/calendar-token", Some(&provider.access), None);
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.json()["url"].as_str().unwrap().to_string();
    assert!(url.contains("/api/v1/provider/calendar.ics?token="), "{url}");
    let token = url.rsplit_once("token=").unwrap().1.to_string();
    let stored: i64 = app
        .app()
        .db
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM calendar_tokens WHERE token_hash = ?1", [&token], |r| r.get(0))
                .map_err(buildxpert::db::DbError::from)
        })
        .unwrap();
    assert_eq!(stored, 0, "the token is stored hashed");

    let r = feed(&app, &url);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("Content-Type").unwrap().starts_with("text/calendar"));
    let ics = &r.body;
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"), "{ics}");
    assert!(ics.ends_with("END:VCALENDAR\r\n"));
    assert!(!ics.replace("\r\n", "").contains('\n'), "every line ends with CRLF");
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "line of {} octets: {line:?}", line.len());
    }
    let unfolded = ics.replace("\r\n ", "");
    assert_eq!(unfolded.matches("BEGIN:VEVENT").count(), 2, "accepted only: {unfolded}");
    assert!(unfolded.contains(&format!("UID:{accepted}@")));
    assert!(unfolded.contains(&format!("UID:{long}@")));
    // 10:00 in Kolkata is 04:30 UTC.
    let compact = date.replace('-', "");
    assert!(unfolded.contains(&format!("DTSTART:{compact}T043000Z")), "{unfolded}");
    assert!(unfolded.contains(&format!("DTEND:{compact}T053000Z")));
    assert!(unfolded.contains("DTSTAMP:"));
    assert!(unfolded.contains("SUMMARY:Plumber – Test customer"));
    assert!(unfolded.contains("LOCATION:Flat 12\\, Ünïcödé"), "escaped commas: {unfolded}");
    assert!(unfolded.contains("\\; Bengaluru"));
    assert!(ics.contains("\r\n "), "the long line was folded");

    // A new token revokes the old one; deleting revokes the feed.
    let r = app.post("/api/v1/provider/calendar-token", Some(&provider.access), json!({}));
    assert_eq!(r.status, 201);
    let url2 = r.json()["url"].as_str().unwrap().to_string();
    assert_ne!(url, url2);
    assert_eq!(feed(&app, &url).status, 404);
    assert_eq!(feed(&app, &url2).status, 200);
    assert_eq!(app.call("DELETE", "/api/v1/provider/calendar-token", Some(&provider.access), None).status, 204);
    assert_eq!(feed(&app, &url2).status, 404);
    assert_eq!(app.get("/api/v1/provider/calendar.ics").status, 404);
    assert_eq!(app.get("/api/v1/provider/calendar.ics?token=nope").status, 404);
    assert_eq!(app.call("DELETE", "/api/v1/provider/calendar-token", Some(&provider.access), None).status, 204);
}
