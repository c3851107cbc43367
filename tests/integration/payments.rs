//! Payments: orders priced by the server, the sandbox flow end to end over HTTP (order → pay
//! page → Pay / Fail → listing active / pass granted), signed webhooks (good, tampered, stale,
//! rotated), duplicates, amount mismatches, idempotency under concurrency, refunds,
//! reconciliation and expiry, risk flags, and who may see what.

use crate::bookings::{book, listing_with, local_day, LABOUR, PER_HOUR};
use crate::support::{http, spawn_app_with, Resp, Session, TestApp};
use buildxpert::clock::Clock;
use buildxpert::db::DbError;
use buildxpert::payments::gateways::sandbox;
use serde_json::{json, Value};

pub const SECRET: &str = "sandbox-test-secret-0123456789abcdef";
const PAY: &str = "/api/v1/payments";

fn inr(amount: i64) -> Value {
    json!({"amount": amount, "currency": "INR"})
}

pub fn spawn() -> TestApp {
    spawn_app_with(&[
        ("BUILDXPERT_PAYMENTS__SANDBOX__SECRET", SECRET),
        ("BUILDXPERT_PAYMENTS__BOOKING_PAYMENTS", "true"),
        ("BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE", "0"),
    ])
}

pub fn scalar(app: &TestApp, sql: &str, args: &[&dyn rusqlite::ToSql]) -> i64 {
    app.app().db.read(|c| c.query_row(sql, args, |r| r.get(0)).map_err(DbError::from)).unwrap()
}

fn text(app: &TestApp, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Option<String> {
    app.app().db.read(|c| c.query_row(sql, args, |r| r.get(0)).map_err(DbError::from)).unwrap()
}

/// A pending-payment plumber listing of `provider`, created through the API.
pub fn paid_listing(app: &TestApp, provider: &Session, category: &str, sub: &str) -> String {
    let r = app.post(
        "/api/v1/provider/listings",
        Some(&provider.access),
        json!({
            "categoryId": category, "description": "Leak fixing and fittings", "experienceYears": 7,
            "city": "Pune", "state": "Maharashtra", "address": "12 MG Road",
            "subServices": [{"id": sub, "price": inr(50_000)}]
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["status"], "pending_payment");
    r.json()["id"].as_str().unwrap().to_string()
}

pub fn plumber(app: &TestApp, provider: &Session) -> String {
    paid_listing(app, provider, "cat_plumber", "sub_plumber_tap-installation")
}

pub fn order(app: &TestApp, s: &Session, body: Value) -> Resp {
    app.post(PAY, Some(&s.access), body)
}

pub fn listing_fee(app: &TestApp, provider: &Session, listing: &str) -> Value {
    let r = order(app, provider, json!({"purpose": "listing_fee", "listingId": listing, "expectedAmount": inr(9900)}));
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

pub fn status(app: &TestApp, payment: &str) -> String {
    text(app, "SELECT status FROM payments WHERE id = ?1", &[&payment]).unwrap()
}

fn listing_status(app: &TestApp, id: &str) -> (String, Option<i64>) {
    app.app()
        .db
        .read(|c| {
            c.query_row("SELECT status, active_until FROM listings WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(DbError::from)
        })
        .unwrap()
}

/// A signed sandbox notification posted to `/api/v1/webhooks/sandbox`.
pub fn notify_with(app: &TestApp, body: &Value, signature: &str) -> Resp {
    let bytes = body.to_string();
    http::request(
        "POST",
        &format!("{}/api/v1/webhooks/sandbox", app.url),
        &[("X-Sandbox-Signature", signature)],
        Some(("application/json", bytes.as_bytes())),
    )
}

pub fn notify(app: &TestApp, body: &Value) -> Resp {
    let t = app.clock.now_ms() / 1000;
    notify_with(app, body, &sandbox::header(SECRET, t, body.to_string().as_bytes()))
}

pub fn event(id: &str, kind: &str, payment: &str, amount: i64) -> Value {
    json!({"id": id, "type": kind, "paymentId": payment, "amount": amount, "currency": "INR"})
}

fn notifications(app: &TestApp, user: &str, kind: &str) -> i64 {
    scalar(app, "SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND kind = ?2", &[&user, &kind])
}

fn events(app: &TestApp, user: &str) -> i64 {
    scalar(app, "SELECT COUNT(*) FROM events WHERE user_id = ?1 AND type = 'payment.updated'", &[&user])
}

/// The hidden field `name` of the pay page's form.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

/// Opens the checkout page (by the path of `checkout.url`) and presses `action`.
pub fn press(app: &TestApp, payment: &Value, action: &str) -> Resp {
    let url = payment["checkout"]["url"].as_str().expect("checkout url");
    let path = &url[url.find("/pay/sandbox/").expect("sandbox page")..];
    let page = app.get(path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.header("Content-Type").unwrap_or("").starts_with("text/html"));
    assert!(!page.body.contains("<script"), "no JavaScript needed");
    let form = format!("token={}&exp={}&action={action}", hidden(&page.body, "token"), hidden(&page.body, "exp"));
    http::request(
        "POST",
        &format!("{}{path}", app.url),
        &[],
        Some(("application/x-www-form-urlencoded", form.as_bytes())),
    )
}

#[test]
fn the_sandbox_flow_pays_a_listing_fee_over_plain_http() {
    let app = spawn();
    let provider = app.register("provider", "9876560001");
    let listing = plumber(&app, &provider);
    let p = listing_fee(&app, &provider, &listing);
    let id = p["id"].as_str().unwrap();
    assert_eq!(p["status"], "pending");
    assert_eq!(p["purpose"], "listing_fee");
    assert_eq!(p["amount"], inr(9900));
    assert_eq!(p["gateway"], "sandbox");
    assert_eq!(p["gatewayRef"], id);
    assert_eq!(p["target"], json!({"listingId": listing}));
    assert_eq!(p["refunds"], json!([]));
    assert!(p["checkout"]["url"].as_str().unwrap().ends_with(&format!("/pay/sandbox/{id}")));
    let page = app.get(&format!("/pay/sandbox/{id}"));
    assert!(page.body.contains("₹99.00") && page.body.contains("Listing fee"), "{}", page.body);
    assert!(page.header("Content-Security-Policy").is_some());

    let done = press(&app, &p, "pay");
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Payment received"), "{}", done.body);
    assert_eq!(status(&app, id), "succeeded");
    let (st, until) = listing_status(&app, &listing);
    assert_eq!(st, "active");
    assert_eq!(until, Some(app.clock.now_ms() + 30 * 86_400_000));
    assert_eq!(notifications(&app, &provider.user_id, "payment.succeeded"), 1);
    assert_eq!(notifications(&app, &provider.user_id, "listing.activated"), 1);
    assert!(events(&app, &provider.user_id) >= 1);
    let got = app.call("GET", &format!("{PAY}/{id}"), Some(&provider.access), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["status"], "succeeded");
    assert!(got.json()["completedAt"].is_string());
    assert!(got.json().get("checkout").is_none(), "no checkout once paid");
    // The same form again: already settled, nothing moves twice.
    let again = press_stale(&app, id);
    assert!(again.contains("succeeded") || again.contains("already"), "{again}");
    assert_eq!(listing_status(&app, &listing).1, until);
    // The payer's list.
    let mine = app.call("GET", PAY, Some(&provider.access), None).json();
    assert_eq!(mine["items"][0]["id"], id);
    // Renewal stacks on the current period.
    let p2 = listing_fee(&app, &provider, &listing);
    assert_eq!(press(&app, &p2, "pay").status, 200);
    assert_eq!(listing_status(&app, &listing).1, Some(until.unwrap() + 30 * 86_400_000));
}

/// A new session (access tokens expire while a test advances the clock).
pub fn relogin(app: &TestApp, s: &Session) -> Session {
    let r = app.post("/api/v1/auth/login", None, json!({"phone": s.phone, "password": "s3cret-pass", "role": s.role}));
    assert_eq!(r.status, 200, "{}", r.body);
    Session::from(&r)
}

/// The page of a settled payment says so (no form).
fn press_stale(app: &TestApp, id: &str) -> String {
    let page = app.get(&format!("/pay/sandbox/{id}"));
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<form"));
    page.body
}

#[test]
fn fail_fails_and_the_pass_makes_labour_bookable() {
    let app = spawn();
    let provider = app.register("provider", "9876560011");
    let customer = app.register("customer", "9876560012");
    let labour = listing_with(&app, &provider, LABOUR, &[(PER_HOUR, 500)]);
    let date = local_day(&app, 3);
    let before = app.post(
        "/api/v1/bookings",
        Some(&customer.access),
        json!({"listingId": labour, "subServiceIds": [PER_HOUR], "date": date, "time": "10:00", "address": "4 Lake View"}),
    );
    assert_eq!(before.code(), "pass_required", "{}", before.body);

    let pass = |app: &TestApp| {
        let r = order(app, &customer, json!({"purpose": "pass", "categoryId": LABOUR}));
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()
    };
    let p = pass(&app);
    assert_eq!(p["amount"], inr(9900));
    let failed = press(&app, &p, "fail");
    assert!(failed.body.contains("Payment failed"), "{}", failed.body);
    assert_eq!(status(&app, p["id"].as_str().unwrap()), "failed");
    assert_eq!(notifications(&app, &customer.user_id, "payment.failed"), 1);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM passes WHERE user_id = ?1", &[&customer.user_id]), 0);

    let p = pass(&app);
    assert_eq!(press(&app, &p, "pay").status, 200);
    assert_eq!(status(&app, p["id"].as_str().unwrap()), "succeeded");
    let r = book(&app, &customer, &labour, &[PER_HOUR], &date, "10:00");
    assert_eq!(r.status, 201, "{}", r.body);
    // A second pass stacks after the first.
    let p2 = pass(&app);
    assert_eq!(press(&app, &p2, "pay").status, 200);
    let (from, until): (i64, i64) = app
        .app()
        .db
        .read(|c| {
            c.query_row(
                "SELECT MIN(valid_from), MAX(valid_until) FROM passes WHERE user_id = ?1",
                [&customer.user_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(DbError::from)
        })
        .unwrap();
    assert_eq!(until - from, 14 * 86_400_000);
}

#[test]
fn webhook_signatures_good_tampered_stale_and_rotated() {
    let app = spawn();
    let provider = app.register("provider", "9876560021");
    let listing = plumber(&app, &provider);
    let p = listing_fee(&app, &provider, &listing);
    let id = p["id"].as_str().unwrap();
    let body = event("evt_sig_1", "payment.succeeded", id, 9900);
    let now = app.clock.now_ms() / 1000;
    let sig = |secret: &str, t: i64, b: &Value| sandbox::header(secret, t, b.to_string().as_bytes());
    let tampered = event("evt_sig_1", "payment.succeeded", id, 1);
    for (what, header, b) in [
        ("tampered body", sig(SECRET, now, &body), &tampered),
        ("wrong secret", sig("not-the-secret-0123456789abcdefgh", now, &body), &body),
        ("stale, past", sig(SECRET, now - 301, &body), &body),
        ("stale, future", sig(SECRET, now + 301, &body), &body),
        ("no signature", String::new(), &body),
        ("garbage", "t=x,v1=zz".to_string(), &body),
    ] {
        let r = notify_with(&app, b, &header);
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert_eq!(r.code(), "invalid_signature", "{what}");
        assert_eq!(status(&app, id), "pending", "{what} changed nothing");
    }
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payment_events", &[]), 0);
    // Signed but not an event we understand: 400, nothing recorded.
    let junk = json!({"hello": 1});
    let r = notify_with(&app, &junk, &sig(SECRET, now, &junk));
    assert_eq!(r.code(), "invalid_payload", "{}", r.body);
    // An unknown gateway.
    let r = http::request("POST", &format!("{}/api/v1/webhooks/nope", app.url), &[], Some(("application/json", b"{}")));
    assert_eq!(r.status, 404);
    // Rotation: two v1 values, one under an old secret; within the tolerance (300 s).
    let rotated = format!(
        "t={t},v1={},v1={}",
        sandbox::sign("old-secret-0123456789abcdef0123456", now - 299, body.to_string().as_bytes()),
        sandbox::sign(SECRET, now - 299, body.to_string().as_bytes()),
        t = now - 299
    );
    let r = notify_with(&app, &body, &rotated);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status(&app, id), "succeeded");
}

#[test]
fn duplicates_change_nothing_and_mismatched_amounts_are_flagged() {
    let app = spawn();
    let provider = app.register("provider", "9876560031");
    let admin = app.admin("9876560030");
    let listing = plumber(&app, &provider);
    let p = listing_fee(&app, &provider, &listing);
    let id = p["id"].as_str().unwrap();
    // Paid less than asked: 200, flagged, nothing activated.
    let r = notify(&app, &event("evt_low", "payment.succeeded", id, 100));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!(["amount_mismatch"]));
    assert_eq!(status(&app, id), "pending");
    assert_eq!(listing_status(&app, &listing).0, "pending_payment");
    let wrong_currency =
        json!({"id": "evt_usd", "type": "payment.succeeded", "paymentId": id, "amount": 9900, "currency": "USD"});
    assert_eq!(notify(&app, &wrong_currency).json()["results"], json!(["amount_mismatch"]));
    assert_eq!(status(&app, id), "pending");
    let flagged = app.call("GET", "/api/v1/admin/payments?flagged=true", Some(&admin.access), None).json();
    assert_eq!(flagged["items"][0]["id"], id);
    assert_eq!(flagged["items"][0]["flags"], json!(["amount_mismatch"]));
    assert_eq!(flagged["items"][0]["payer"]["id"], provider.user_id.as_str());
    assert_eq!(flagged["items"][0]["payer"]["role"], "provider");
    // The right amount, delivered twice: applied once.
    let ok = event("evt_ok", "payment.succeeded", id, 9900);
    assert_eq!(notify(&app, &ok).json()["results"], json!(["succeeded"]));
    let until = listing_status(&app, &listing).1;
    let again = notify(&app, &ok);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["results"], json!(["duplicate"]));
    assert_eq!(listing_status(&app, &listing).1, until);
    assert_eq!(notifications(&app, &provider.user_id, "payment.succeeded"), 1);
    // A late failure for a succeeded payment changes nothing.
    assert_eq!(
        notify(&app, &event("evt_late_fail", "payment.failed", id, 9900)).json()["results"],
        json!(["already_final"])
    );
    assert_eq!(status(&app, id), "succeeded");
    // The admin detail lists every delivery.
    let d = app.call("GET", &format!("/api/v1/admin/payments/{id}"), Some(&admin.access), None).json();
    let outcomes: Vec<&str> = d["events"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.len(), 4, "{d}");
    assert!(outcomes.contains(&"amount_mismatch") && outcomes.contains(&"succeeded"), "{outcomes:?}");
    // A notice for no payment of ours: acknowledged, recorded, nothing else.
    let r = notify(&app, &event("evt_ghost", "payment.succeeded", "pay_ghost", 9900));
    assert_eq!(r.json()["results"], json!(["unknown_payment"]));
}

#[test]
fn a_payment_for_listing_a_never_activates_listing_b() {
    let app = spawn();
    let provider = app.register("provider", "9876560041");
    let a = plumber(&app, &provider);
    let b = paid_listing(&app, &provider, "cat_painting", "sub_painting_room-painting");
    let pa = listing_fee(&app, &provider, &a);
    let pb = listing_fee(&app, &provider, &b);
    let (ida, idb) = (pa["id"].as_str().unwrap(), pb["id"].as_str().unwrap());
    // A notice naming payment A, with a "listingId" of B smuggled in: the target is our row's.
    let mut body = event("evt_ab", "payment.succeeded", ida, 9900);
    body["listingId"] = json!(b);
    assert_eq!(notify(&app, &body).status, 200);
    assert_eq!(listing_status(&app, &a).0, "active");
    assert_eq!(listing_status(&app, &b).0, "pending_payment");
    assert_eq!(status(&app, idb), "pending");
    // Another provider cannot pay for (or even see) this provider's listing.
    let other = app.register("provider", "9876560042");
    let r = order(&app, &other, json!({"purpose": "listing_fee", "listingId": b}));
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(app.call("GET", &format!("{PAY}/{idb}"), Some(&other.access), None).status, 404);
}

#[test]
fn orders_are_priced_by_the_server_one_open_at_a_time() {
    let app = spawn();
    let provider = app.register("provider", "9876560051");
    let customer = app.register("customer", "9876560052");
    let listing = plumber(&app, &provider);
    let count = |app: &TestApp| scalar(app, "SELECT COUNT(*) FROM payments", &[]);
    for (who, body, want) in [
        (
            &provider,
            json!({"purpose": "listing_fee", "listingId": listing, "expectedAmount": inr(100)}),
            "amount_mismatch",
        ),
        (
            &provider,
            json!({"purpose": "listing_fee", "listingId": listing, "expectedAmount": inr(-1)}),
            "validation_failed",
        ),
        (
            &provider,
            json!({"purpose": "listing_fee", "listingId": listing, "expectedAmount": {"amount": 9900, "currency": "USD"}}),
            "validation_failed",
        ),
        (&provider, json!({"purpose": "listing_fee"}), "validation_failed"),
        (&provider, json!({"purpose": "nope", "listingId": listing}), "validation_failed"),
        (
            &provider,
            json!({"purpose": "listing_fee", "listingId": listing, "categoryId": "cat_labour"}),
            "validation_failed",
        ),
        (&provider, json!({"purpose": "listing_fee", "listingId": listing, "extra": 1}), "validation_failed"),
        (&provider, json!({"purpose": "listing_fee", "listingId": "lst_missing"}), "not_found"),
        (&customer, json!({"purpose": "listing_fee", "listingId": listing}), "forbidden"),
        (&provider, json!({"purpose": "pass", "categoryId": "cat_labour"}), "forbidden"),
        (&customer, json!({"purpose": "pass", "categoryId": "cat_plumber"}), "not_payable"),
        (&customer, json!({"purpose": "pass", "categoryId": "cat_nope"}), "not_found"),
        (&customer, json!({"purpose": "booking", "bookingId": "bkg_nope"}), "not_found"),
    ] {
        let r = order(&app, who, body.clone());
        assert!((400..500).contains(&r.status), "{body}: {} {}", r.status, r.body);
        assert_eq!(r.code(), want, "{body}: {}", r.body);
        assert_eq!(count(&app), 0, "{body} changed nothing");
    }
    let r = order(&app, &provider, json!({"purpose": "listing_fee", "listingId": listing, "expectedAmount": inr(100)}));
    assert_eq!(r.json()["error"]["amount"], inr(9900));
    let first = listing_fee(&app, &provider, &listing);
    let r = order(&app, &provider, json!({"purpose": "listing_fee", "listingId": listing}));
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "payment_in_progress");
    assert_eq!(r.json()["error"]["paymentId"], first["id"]);
    assert_eq!(count(&app), 1);
    // The database holds the rule too.
    let dup = app.app().db.write(|tx| {
        tx.execute(
            "INSERT INTO payments (id, payer_id, purpose, target_id, amount, currency, gateway, status, expires_at, created_at, updated_at)
             SELECT 'pay_dup', payer_id, purpose, target_id, amount, currency, gateway, 'pending', 0, 0, 0 FROM payments",
            [],
        )
        .map_err(DbError::from)
    });
    assert_eq!(buildxpert::web::ApiError::from(dup.unwrap_err()).code, "payment_in_progress");
}

#[test]
fn ten_concurrent_orders_with_one_idempotency_key_open_one_payment() {
    let app = spawn();
    let provider = app.register("provider", "9876560061");
    let listing = plumber(&app, &provider);
    let body = json!({"purpose": "listing_fee", "listingId": listing}).to_string();
    let url = format!("{}{PAY}", app.url);
    let auth = format!("Bearer {}", provider.access);
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|_| {
                s.spawn(|| {
                    http::request(
                        "POST",
                        &url,
                        &[("Authorization", &auth), ("Idempotency-Key", "order-once-123")],
                        Some(("application/json", body.as_bytes())),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ids = std::collections::HashSet::new();
    for r in &answers {
        match r.status {
            201 => {
                ids.insert(r.json()["id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(r.code(), "idempotency_in_progress", "{}", r.body),
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(ids.len(), 1, "one order: {ids:?}");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payments", &[]), 1);
    // A retry afterwards replays it.
    let r = http::request(
        "POST",
        &url,
        &[("Authorization", &auth), ("Idempotency-Key", "order-once-123")],
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.header("Idempotent-Replayed"), Some("true"));
    assert!(ids.contains(r.json()["id"].as_str().unwrap()));
}

#[test]
fn refunds_partial_full_and_never_above_what_was_paid() {
    let app = spawn();
    let provider = app.register("provider", "9876560071");
    let customer = app.register("customer", "9876560072");
    let admin = app.admin("9876560070");
    let listing = plumber(&app, &provider);
    let p = listing_fee(&app, &provider, &listing);
    let id = p["id"].as_str().unwrap().to_string();
    let refunds = format!("{PAY}/{id}/refunds");
    // Not paid yet: nothing to refund.
    let r = app.post(&refunds, Some(&admin.access), json!({"reason": "Too early"}));
    assert_eq!(r.code(), "not_refundable", "{}", r.body);
    assert_eq!(press(&app, &p, "pay").status, 200);
    let until = listing_status(&app, &listing).1.unwrap();
    for (who, want) in [(&provider, 403), (&customer, 403)] {
        assert_eq!(app.post(&refunds, Some(&who.access), json!({"reason": "Mine"})).status, want);
    }
    for (body, code) in [
        (json!({"reason": ""}), "validation_failed"),
        (json!({"amount": inr(0), "reason": "Zero"}), "validation_failed"),
        (json!({"amount": inr(9901), "reason": "Too much"}), "amount_exceeds_refundable"),
        (json!({"amount": {"amount": 100, "currency": "USD"}, "reason": "Wrong currency"}), "validation_failed"),
    ] {
        let r = app.post(&refunds, Some(&admin.access), body.clone());
        assert_eq!(r.code(), code, "{body}: {}", r.body);
    }
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payment_refunds", &[]), 0);
    let part = app.post(&refunds, Some(&admin.access), json!({"amount": inr(4000), "reason": "Goodwill"}));
    assert_eq!(part.status, 201, "{}", part.body);
    assert_eq!(part.json()["status"], "succeeded");
    assert_eq!(part.json()["amount"], inr(4000));
    assert_eq!(status(&app, &id), "partially_refunded");
    assert_eq!(listing_status(&app, &listing).1, Some(until), "a partial refund leaves the period");
    let over = app.post(&refunds, Some(&admin.access), json!({"amount": inr(5901), "reason": "Over"}));
    assert_eq!(over.code(), "amount_exceeds_refundable");
    assert_eq!(over.json()["error"]["refundable"], inr(5900));
    // Default: all that remains.
    let rest = app.post(&refunds, Some(&admin.access), json!({"reason": "Closing the account"}));
    assert_eq!(rest.status, 201, "{}", rest.body);
    assert_eq!(rest.json()["amount"], inr(5900));
    assert_eq!(status(&app, &id), "refunded");
    let (st, after) = listing_status(&app, &listing);
    assert_eq!(after, Some(app.clock.now_ms()), "the bought 30 days are taken back");
    assert_eq!(st, "expired");
    assert_eq!(notifications(&app, &provider.user_id, "payment.refunded"), 2);
    let r = app.post(&refunds, Some(&admin.access), json!({"reason": "Again"}));
    assert_eq!(r.code(), "not_refundable");
    let got = app.call("GET", &format!("{PAY}/{id}"), Some(&provider.access), None).json();
    assert_eq!(got["status"], "refunded");
    assert_eq!(got["refunds"].as_array().unwrap().len(), 2);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'payment.refund'", &[]), 2);
}

#[test]
fn a_refunded_pass_is_revoked() {
    let app = spawn();
    let customer = app.register("customer", "9876560081");
    let admin = app.admin("9876560080");
    let r = order(&app, &customer, json!({"purpose": "pass", "categoryId": LABOUR}));
    let p = r.json();
    assert_eq!(press(&app, &p, "pay").status, 200);
    let now = app.clock.now_ms();
    let valid = |app: &TestApp| {
        scalar(app, "SELECT COUNT(*) FROM passes WHERE user_id = ?1 AND valid_until > ?2", &[&customer.user_id, &now])
    };
    assert_eq!(valid(&app), 1);
    let id = p["id"].as_str().unwrap();
    let r = app.post(&format!("{PAY}/{id}/refunds"), Some(&admin.access), json!({"reason": "Bought by mistake"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(valid(&app), 0);
}

#[test]
fn a_stuck_sandbox_payment_is_reconciled_then_expired_and_audited() {
    let app = spawn();
    let provider = app.register("provider", "9876560091");
    let listing = plumber(&app, &provider);
    let p = listing_fee(&app, &provider, &listing);
    let id = p["id"].as_str().unwrap();
    // Past reconcile_after (10 min): the sandbox honestly knows nothing more; still pending.
    app.clock.advance_secs(11 * 60);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(status(&app, id), "pending");
    // Past the order TTL (30 min): expired, with its event and an audit row.
    app.clock.advance_secs(20 * 60);
    let report = buildxpert::payments::reconcile::reconcile(app.app()).unwrap();
    assert_eq!(report.expired, 1);
    assert_eq!(status(&app, id), "expired");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'payment.reconciled'", &[]), 1);
    assert!(events(&app, &provider.user_id) >= 1);
    // The page no longer offers to pay; a new order may be opened.
    assert!(app.get(&format!("/pay/sandbox/{id}")).body.contains("expired"));
    let provider = relogin(&app, &provider);
    listing_fee(&app, &provider, &listing);
    // A late success still counts (the money was taken) and is flagged for a look.
    assert_eq!(notify(&app, &event("evt_late", "payment.succeeded", id, 9900)).json()["results"], json!(["succeeded"]));
    assert_eq!(listing_status(&app, &listing).0, "active");
    // An order we never opened at the gateway (we died in between) expires too.
    let now = app.clock.now_ms();
    app.app()
        .db
        .write(|tx| {
            tx.execute(
                "INSERT INTO payments (id, payer_id, purpose, target_id, days, amount, currency, gateway, status, expires_at, created_at, updated_at)
                 VALUES ('pay_creating', ?1, 'pass', 'cat_labour', 7, 9900, 'INR', 'sandbox', 'creating', ?2, ?2, ?2)",
                rusqlite::params![provider.user_id, now],
            )
            .map_err(DbError::from)
        })
        .unwrap();
    app.clock.advance_secs(60);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(status(&app, "pay_creating"), "expired");
}

#[test]
fn strangers_see_nothing_and_only_admins_reach_admin_routes() {
    let app = spawn();
    let provider = app.register("provider", "9876560101");
    let customer = app.register("customer", "9876560102");
    let admin = app.admin("9876560100");
    let listing = plumber(&app, &provider);
    let p = listing_fee(&app, &provider, &listing);
    let id = p["id"].as_str().unwrap();
    assert_eq!(app.call("GET", &format!("{PAY}/{id}"), Some(&customer.access), None).status, 404);
    assert_eq!(app.call("GET", PAY, Some(&customer.access), None).json()["items"], json!([]));
    let as_admin = app.call("GET", &format!("{PAY}/{id}"), Some(&admin.access), None);
    assert_eq!(as_admin.status, 200);
    assert_eq!(as_admin.json()["payer"]["id"], provider.user_id.as_str());
    for s in [&provider, &customer] {
        for path in ["/api/v1/admin/payments".to_string(), format!("/api/v1/admin/payments/{id}")] {
            assert_eq!(app.call("GET", &path, Some(&s.access), None).status, 403, "{path}");
        }
    }
    let list = |q: &str| {
        let r = app.call("GET", &format!("/api/v1/admin/payments{q}"), Some(&admin.access), None);
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.json()["items"].as_array().unwrap().len()
    };
    assert_eq!(list(""), 1);
    assert_eq!(list("?status=pending&purpose=listing_fee&gateway=sandbox"), 1);
    assert_eq!(list("?status=succeeded"), 0);
    assert_eq!(list(&format!("?userId={}", provider.user_id)), 1);
    assert_eq!(list(&format!("?userId={}", customer.user_id)), 0);
    assert_eq!(list("?flagged=false"), 1);
    assert_eq!(list("?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z"), 1);
    assert_eq!(list("?to=2000-01-01T00:00:00Z"), 0);
    for q in ["?status=bogus", "?purpose=x", "?gateway=paypal", "?flagged=yes", "?from=yesterday", "?cursor=zz"] {
        let r = app.call("GET", &format!("/api/v1/admin/payments{q}"), Some(&admin.access), None);
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }
    let d = app.call("GET", &format!("/api/v1/admin/payments/{id}"), Some(&admin.access), None).json();
    assert_eq!(d["events"], json!([]));
    assert_eq!(app.call("GET", "/api/v1/admin/payments/pay_nope", Some(&admin.access), None).status, 404);
    // The sandbox page of a payment that does not exist, and a forged form.
    assert_eq!(app.get("/pay/sandbox/pay_nope").status, 404);
    let forged = http::request(
        "POST",
        &format!("{}/pay/sandbox/{id}", app.url),
        &[],
        Some((
            "application/x-www-form-urlencoded",
            format!("token=00&exp={}&action=pay", app.clock.now_ms() + 1000).as_bytes(),
        )),
    );
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert_eq!(status(&app, id), "pending");
}

#[test]
fn booking_payments_mark_the_booking_paid_and_stay_off_by_default() {
    let app = spawn();
    let provider = app.register("provider", "9876560111");
    let customer = app.register("customer", "9876560112");
    let listing = crate::bookings::plumber_listing(&app, &provider);
    let booking = crate::bookings::booked(&app, &customer, &listing, &local_day(&app, 2), "11:00");
    let r = order(
        &app,
        &customer,
        json!({"purpose": "booking", "bookingId": booking, "expectedAmount": inr(crate::bookings::TAP_PRICE)}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(press(&app, &r.json(), "pay").status, 200);
    assert!(text(&app, "SELECT CAST(paid_at AS TEXT) FROM bookings WHERE id = ?1", &[&booking]).is_some());
    let again = order(&app, &customer, json!({"purpose": "booking", "bookingId": booking}));
    assert_eq!(again.code(), "already_paid");
    // Someone else's booking does not exist for them.
    let other = app.register("customer", "9876560113");
    assert_eq!(order(&app, &other, json!({"purpose": "booking", "bookingId": booking})).status, 404);
    // Off by default.
    let off = crate::support::spawn_app();
    let c = off.register("customer", "9876560114");
    assert_eq!(
        order(&off, &c, json!({"purpose": "booking", "bookingId": booking})).code(),
        "booking_payments_disabled"
    );
}

#[test]
fn risk_flags_mark_velocity_and_repeated_failures_without_blocking() {
    let app = spawn();
    let customer = app.register("customer", "9876560121");
    let admin = app.admin("9876560120");
    for _ in 0..6 {
        let r = order(&app, &customer, json!({"purpose": "pass", "categoryId": LABOUR}));
        assert_eq!(r.status, 201, "never blocked: {}", r.body);
        assert_eq!(press(&app, &r.json(), "fail").status, 200);
    }
    let flagged = app.call("GET", "/api/v1/admin/payments?flagged=true", Some(&admin.access), None).json();
    let flags: Vec<String> = flagged["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["flags"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()))
        .collect();
    assert!(flags.contains(&"velocity".to_string()), "{flags:?}");
    assert!(flags.contains(&"repeated_failures".to_string()), "{flags:?}");
}

#[test]
fn the_sandbox_page_works_in_a_real_browser_under_the_csp() {
    let app = spawn();
    let provider = app.register("provider", "9876560131");
    let listing = plumber(&app, &provider);
    let p = listing_fee(&app, &provider, &listing);
    let id = p["id"].as_str().unwrap();
    let path = format!("/pay/sandbox/{id}");
    let out = crate::support::browser::run(
        "sandbox_pay.mjs",
        &app.url,
        &crate::support::browser::artefacts("sandbox_pay"),
        &[("BX_PAY_PATH", &path), ("BX_ACTION", "pay")],
    );
    assert!(out.contains("ok - the result page says Payment received"), "{out}");
    assert_eq!(status(&app, id), "succeeded");
    assert_eq!(listing_status(&app, &listing).0, "active");
}

#[test]
fn the_gateway_saying_expired_expires_the_order() {
    let app = spawn();
    let provider = app.register("provider", "9876560141");
    let listing = plumber(&app, &provider);
    let p = listing_fee(&app, &provider, &listing);
    let id = p["id"].as_str().unwrap();
    let r = notify(&app, &json!({"id": "evt_exp", "type": "payment.expired", "paymentId": id}));
    assert_eq!(r.json()["results"], json!(["expired"]), "{}", r.body);
    assert_eq!(status(&app, id), "expired");
    assert_eq!(notifications(&app, &provider.user_id, "payment.failed"), 0, "an expiry is not a failure");
    // A type we do not act on: acknowledged and recorded as ignored.
    let r = notify(&app, &json!({"id": "evt_other", "type": "payment.disputed", "paymentId": id}));
    assert_eq!(r.json()["results"], json!(["ignored"]));
}
