//! The overview's payment and call figures come from the payments and calls features: a paid
//! listing fee shows as revenue and a succeeded payment, a failed one lowers the success rate, an
//! answered call with a quality report shows with its MOS; the payments CSV lists them.

use crate::bookings::{booked, local_day};
use crate::payments::{listing_fee, plumber, press, spawn, status};
use serde_json::json;

#[test]
fn stats_and_the_payments_csv_show_payments_and_calls() {
    let app = spawn();
    let admin = app.admin("9876509000");
    // One paid listing fee (₹99) and one failed.
    let provider = app.register("provider", "9876509001");
    let listing = plumber(&app, &provider);
    let paid = listing_fee(&app, &provider, &listing);
    assert_eq!(press(&app, &paid, "pay").status, 200);
    let pid = paid["id"].as_str().unwrap().to_string();
    assert_eq!(status(&app, &pid), "succeeded");
    let other = app.register("provider", "9876509002");
    let second = plumber(&app, &other);
    let failed = listing_fee(&app, &other, &second);
    assert_eq!(press(&app, &failed, "fail").status, 200);

    // One answered call with a quality report, one missed.
    let customer = app.register("customer", "9876509003");
    // The paid listing is live now: the customer books it and calls.
    let booking = booked(&app, &customer, &listing, &local_day(&app, 2), "10:00");
    let call = app.post("/api/v1/calls", Some(&customer.access), json!({"bookingId": booking}));
    assert_eq!(call.status, 201, "{}", call.body);
    let call_id = call.json()["id"].as_str().unwrap().to_string();
    let accepted = app.post(&format!("/api/v1/calls/{call_id}/accept"), Some(&provider.access), json!({}));
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    let q = app.post(
        &format!("/api/v1/calls/{call_id}/quality"),
        Some(&customer.access),
        json!({"rttMs": 80, "jitterMs": 5, "packetLossPercent": 0.5}),
    );
    assert_eq!(q.status, 202, "{}", q.body);
    let mos = q.json()["mos"].as_f64().expect("mos");
    assert_eq!(app.post(&format!("/api/v1/calls/{call_id}/end"), Some(&customer.access), json!({})).status, 200);

    let today = local_day(&app, 0);
    let r = app.call("GET", &format!("/api/v1/admin/stats?from={today}&to={today}"), Some(&admin.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let day = &r.json()["daily"][0];
    assert_eq!(day["date"], today);
    assert_eq!(day["revenue"], json!({"amount": 9900, "currency": "INR"}), "{day}");
    assert_eq!((day["paymentsSucceeded"].as_i64(), day["paymentsFailed"].as_i64()), (Some(1), Some(1)), "{day}");
    assert_eq!(day["paymentSuccessRate"].as_f64(), Some(0.5), "{day}");
    assert_eq!(day["calls"].as_i64(), Some(1), "{day}");
    assert_eq!(day["answeredCalls"].as_i64(), Some(1), "{day}");
    let day_mos = day["meanMos"].as_f64().expect("mean MOS");
    assert!((day_mos - mos).abs() < 1e-9, "{day_mos} vs {mos}");

    let csv = app.call("GET", "/api/v1/admin/export/payments.csv", Some(&admin.access), None);
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(csv.header("Content-Type").unwrap_or("").starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 3, "header and two payments: {}", csv.body);
    assert!(lines[0].starts_with("id,purpose,status,amount,currency"));
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{pid},listing_fee,succeeded,9900,INR,sandbox,"))),
        "{}",
        csv.body
    );
    let only_failed = app.call("GET", "/api/v1/admin/export/payments.csv?status=failed", Some(&admin.access), None);
    assert_eq!(only_failed.body.lines().count(), 2, "{}", only_failed.body);
    // Customers and providers never get it.
    for s in [&customer, &provider] {
        assert_eq!(app.call("GET", "/api/v1/admin/export/payments.csv", Some(&s.access), None).status, 403);
    }
}
