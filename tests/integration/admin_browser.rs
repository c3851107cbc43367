//! The admin dashboard in headless Chromium (tests/browser/admin.mjs): seeded through the API
//! (and one dead delivery through the outbox), then logged in, read, searched, acted on and
//! backed up in a real browser. Screenshots land in target/browser-artefacts/admin/.

use crate::bookings::{act, booked, local_day, plumber_listing};
use crate::support::{browser, spawn_app_with};
use serde_json::json;

const SECRET_PROBE: &str = "probe-metrics-token-never-shown";

#[test]
fn the_dashboard_works_end_to_end_in_a_browser() {
    let app = spawn_app_with(&[
        ("BUILDXPERT_METRICS__TOKEN", SECRET_PROBE),
        ("BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE", "0"),
    ]);
    let admin = app.admin("9876508000");
    let provider = app.register("provider", "9876508001");
    let alice = app.register("customer", "9876508002");
    let mallory = app.register("customer", "9876508003");
    // A name crafted to run script if the dashboard ever parsed user text as HTML.
    let xss = "<img src=x onerror=window.__xss=1>";
    let r = app.call("PATCH", "/api/v1/me", Some(&mallory.access), Some(json!({"fullName": xss})));
    assert_eq!(r.status, 200, "{}", r.body);
    let listing = plumber_listing(&app, &provider);
    booked(&app, &alice, &listing, &local_day(&app, 2), "10:00");
    let b = booked(&app, &mallory, &listing, &local_day(&app, 3), "11:00");
    assert_eq!(act(&app, &mallory, &b, "cancel", Some("Plans changed")).status, 200);
    // One dead letter to retry (a delivery that failed for good).
    let dead = app
        .app()
        .db
        .write(|tx| {
            let id = buildxpert::notify::outbox::queue(
                tx,
                None,
                Some(&alice.user_id),
                buildxpert::notify::Channel::Sms,
                "+919876508002",
                "{}",
                0,
            )?;
            tx.execute(
                "UPDATE deliveries SET status = 'dead', attempts = 6, last_error = 'provider said no' WHERE id = ?1",
                [&id],
            )?;
            Ok::<_, buildxpert::db::DbError>(id)
        })
        .unwrap();

    // A paid listing fee (sandbox) to refund from the dashboard.
    let payer = app.register("provider", "9876508004");
    let fee_listing = crate::payments::plumber(&app, &payer);
    let fee = crate::payments::listing_fee(&app, &payer, &fee_listing);
    assert_eq!(crate::payments::press(&app, &fee, "pay").status, 200);
    let payment = fee["id"].as_str().unwrap().to_string();
    assert_eq!(crate::payments::status(&app, &payment), "succeeded");

    let dir = browser::artefacts("admin");
    let out = browser::run(
        "admin.mjs",
        &app.url,
        &dir,
        &[
            ("BX_ADMIN_PHONE", "+919876508000"),
            ("BX_ADMIN_PASSWORD", "admin-pass-123"),
            ("BX_XSS_PHONE", "9876508003"),
            ("BX_EXPECT_BOOKINGS", "2"),
            ("BX_EXPECT_CUSTOMERS", "2"),
            ("BX_DEAD_ID", &dead),
            ("BX_SECRET_PROBE", SECRET_PROBE),
            ("BX_PAYMENT_ID", &payment),
        ],
    );
    println!("{out}");
    for line in out.lines().filter(|l| l.starts_with("PERF")) {
        eprintln!("{line}");
    }
    assert!(out.contains("ok - the backup starts with \"SQLite format 3\""), "{out}");
    // What the browser did, as the server saw it.
    let backup = dir.join("backup.db");
    buildxpert::db::integrity_check(&backup).expect("the downloaded backup is a sound database");
    let log = app.call("GET", "/api/v1/admin/audit-log?action=admin.", Some(&admin.access), None).json();
    let actions: Vec<&str> = log["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"admin.backup_downloaded"), "{actions:?}");
    let retried = app.call("GET", &format!("/api/v1/admin/audit-log?target={dead}"), Some(&admin.access), None).json();
    assert_eq!(retried["items"][0]["action"], "admin.delivery_retried", "{retried}");
    // The refund the browser made: ₹50 of ₹99, through the gateway, audited.
    assert_eq!(crate::payments::status(&app, &payment), "partially_refunded");
    let p = app.call("GET", &format!("/api/v1/payments/{payment}"), Some(&admin.access), None).json();
    assert_eq!(p["refunds"][0]["amount"], json!({"amount": 5000, "currency": "INR"}), "{p}");
    assert_eq!(p["refunds"][0]["status"], "succeeded", "{p}");
    for shot in [
        "payment-detail",
        "login",
        "overview",
        "users",
        "user-detail",
        "notifications",
        "system",
        "bookings",
        "booking-detail",
        "overview-phone",
    ] {
        assert!(dir.join(format!("{shot}.png")).is_file(), "screenshot {shot}");
    }
}
