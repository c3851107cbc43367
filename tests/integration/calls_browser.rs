//! Real WebRTC through this server: two headless Chromium pages (fake microphone and camera),
//! a customer and a provider signed in on the call page (`/call/`), ring, answer and connect —
//! every offer, answer and candidate relayed by `POST /calls/{id}/signal` and the `/events`
//! long-poll, nothing else. Both reach ICE `connected`, exchange a data-channel message each way,
//! and receive audio packets (inbound-rtp in `getStats()`); screenshots go to the artefacts dir.

use crate::bookings::{booked, local_day, plumber_listing};
use crate::support::{browser, spawn_app_with};

#[test]
fn two_browsers_talk_over_webrtc_signalled_only_through_the_server() {
    // Host candidates only: no STUN reachable from the test machine.
    let app = spawn_app_with(&[("BUILDXPERT_CALLS__STUN_URLS", "[]")]);
    let provider = app.register("provider", "9876601001");
    let customer = app.register("customer", "9876601002");
    let listing = plumber_listing(&app, &provider);
    let booking = booked(&app, &customer, &listing, &local_day(&app, 2), "10:00");
    let out = browser::run(
        "calls.mjs",
        &app.url,
        &browser::artefacts("calls"),
        &[
            ("BX_CUSTOMER_PHONE", "9876601002"),
            ("BX_PROVIDER_PHONE", "9876601001"),
            ("BX_PASSWORD", "s3cret-pass"),
            ("BX_BOOKING", &booking),
        ],
    );
    for line in [
        "ok - the provider sees the incoming call",
        "ok - both peers reach ICE connected",
        "ok - the provider got the customer's data-channel message",
        "ok - the customer got the provider's data-channel message",
        "ok - audio packets arrive at both ends",
        "ok - the call ended for both",
        "ok - the provider sees the customer declined",
    ] {
        assert!(out.contains(line), "missing `{line}` in\n{out}");
    }
    // The server recorded it: answered, ended by hang-up, with quality reports from the page.
    let calls = app.call("GET", &format!("/api/v1/calls?bookingId={booking}"), Some(&customer.access), None).json();
    // Both calls start on the same (manual, standing) clock instant: find each by its caller.
    let items = calls["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{calls}");
    let by =
        |role: &str| items.iter().find(|c| c["caller"]["role"] == role).unwrap_or_else(|| panic!("{role}: {calls}"));
    assert_eq!(by("provider")["status"], "rejected", "the second call was declined: {calls}");
    let call = by("customer");
    assert_eq!(call["status"], "ended", "{calls}");
    assert_eq!(call["endReason"], "hangup");
    assert!(call["answeredAt"].is_string());
    assert!(call["qualityReports"].as_i64().unwrap() >= 1, "{call}");
    assert!(call["mos"].as_f64().unwrap() > 3.0, "{call}");
}
