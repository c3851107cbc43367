//! Full flows through the real server with each REAL gateway adapter (Stripe, Razorpay, Paytm)
//! pointed at its fake (`tests/common/fake_gateways/`, the providers' wire formats): orders open
//! at the fake, the fake's signed deliveries settle them over HTTP, duplicates and forgeries
//! change nothing, refunds go through the fake, reconciliation asks the fake (and backs off while
//! it is down), and a paid amount that differs from ours activates nothing.

use crate::bookings::{book, listing_with, local_day, LABOUR, PER_HOUR};
use crate::payments::{paid_listing, plumber, scalar, status};
use crate::support::fake_gateways::{env_refs, FakePaytm, FakeRazorpay, FakeStripe};
use crate::support::{http, spawn_app_with, Resp, Session, TestApp};
use buildxpert::clock::Clock;
use buildxpert::db::DbError;
use serde_json::{json, Value};
use std::collections::HashMap;

const PAY: &str = "/api/v1/payments";

fn inr(amount: i64) -> Value {
    json!({"amount": amount, "currency": "INR"})
}

/// The app with `gateway_env` (a fake's `env()`), logins unlimited (tests log in again after
/// moving the clock).
fn spawn_with(gateway_env: &[(String, String)]) -> TestApp {
    let mut env = gateway_env.to_vec();
    env.push(("BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE".into(), "0".into()));
    spawn_app_with(&env_refs(&env))
}

fn stripe_app() -> (TestApp, FakeStripe) {
    let fake = FakeStripe::start();
    let app = spawn_with(&fake.env());
    let fake = fake.with_clock(app.clock.clone());
    (app, fake)
}

/// POSTs a fake's delivery to `/api/v1/webhooks/{gateway}`.
fn deliver(app: &TestApp, gateway: &str, (headers, body): &(Vec<(String, String)>, Vec<u8>)) -> Resp {
    let ct = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "application/json".into());
    let h: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http::request("POST", &format!("{}/api/v1/webhooks/{gateway}", app.url), &h, Some((&ct, body)))
}

/// `POST /payments` with an `Idempotency-Key`.
fn order_with_key(app: &TestApp, s: &Session, body: &Value, key: &str) -> Resp {
    let auth = format!("Bearer {}", s.access);
    http::request(
        "POST",
        &format!("{}{PAY}", app.url),
        &[("Authorization", &auth), ("Idempotency-Key", key)],
        Some(("application/json", body.to_string().as_bytes())),
    )
}

fn listing_state(app: &TestApp, id: &str) -> (String, Option<i64>) {
    app.app()
        .db
        .read(|c| {
            c.query_row("SELECT status, active_until FROM listings WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(DbError::from)
        })
        .unwrap()
}

fn count_kind(app: &TestApp, user: &str, kind: &str) -> i64 {
    scalar(app, "SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND kind = ?2", &[&user, &kind])
}

/// The kinds in the caller's `GET /notifications`.
fn inbox(app: &TestApp, s: &Session) -> Vec<String> {
    let r = app.call("GET", "/api/v1/notifications", Some(&s.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["items"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap_or("").to_string()).collect()
}

/// The caller's `payment.updated` events on `/events` after `cursor`, as their payment's status.
fn payment_events(app: &TestApp, s: &Session, cursor: &str) -> Vec<String> {
    let r = app.call("GET", &format!("/api/v1/events?after={cursor}"), Some(&s.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "payment.updated")
        .map(|e| e["data"]["payment"]["status"].as_str().unwrap_or("").to_string())
        .collect()
}

fn cursor_now(app: &TestApp, s: &Session) -> String {
    let r = app.call("GET", "/api/v1/events", Some(&s.access), None);
    r.json()["cursor"].as_str().unwrap().to_string()
}

/// Requests the fake received for `method path` (query ignored).
fn calls(received: &[crate::support::fake::Recorded], method: &str, path: &str) -> usize {
    received.iter().filter(|r| r.method == method && r.path.split('?').next() == Some(path)).count()
}

fn form(r: &crate::support::fake::Recorded) -> HashMap<String, String> {
    crate::support::url_decode_form(&r.body_str())
}

fn events_recorded(app: &TestApp) -> i64 {
    scalar(app, "SELECT COUNT(*) FROM payment_events", &[])
}

fn relogin(app: &TestApp, s: &Session) -> Session {
    crate::payments::relogin(app, s)
}

#[test]
fn stripe_checkout_is_paid_refunded_and_expired_over_http() {
    let (app, stripe) = stripe_app();
    let provider = app.register("provider", "9876570001");
    let admin = app.admin("9876570000");
    let listing = plumber(&app, &provider);
    let cursor = cursor_now(&app, &provider);

    // The order: a Checkout Session at the fake, with our amount, currency, ids and key.
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": listing}), "order-stripe-1");
    assert_eq!(r.status, 201, "{}", r.body);
    let p = r.json();
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["gateway"], "stripe");
    assert_eq!(p["status"], "pending");
    assert_eq!(p["amount"], inr(9900));
    let session = stripe.last_session_id().expect("a session was created");
    assert_eq!(p["gatewayRef"], session.as_str());
    assert_eq!(p["checkout"]["url"], stripe.session(&session).unwrap()["url"]);
    assert!(p["checkout"]["url"].as_str().unwrap().starts_with(&stripe.url));
    let got = stripe.received();
    assert_eq!(calls(&got, "POST", "/v1/checkout/sessions"), 1, "one Checkout Session create");
    let create = got.iter().find(|r| r.path.starts_with("/v1/checkout/sessions")).unwrap();
    let f = form(create);
    assert_eq!(f["mode"], "payment");
    assert_eq!(f["line_items[0][price_data][unit_amount]"], "9900");
    assert_eq!(f["line_items[0][price_data][currency]"], "inr");
    assert_eq!(f["line_items[0][quantity]"], "1");
    assert_eq!(f["metadata[payment_id]"], id);
    assert_eq!(f["client_reference_id"], id);
    assert!(f["success_url"].ends_with(&format!("/pay/return/{id}")), "{}", f["success_url"]);
    assert_eq!(create.header("Idempotency-Key"), Some(id.as_str()));
    assert_eq!(create.header("Authorization"), Some(format!("Bearer {}", stripe.secret_key).as_str()));

    // Tampered and stale deliveries: 400 invalid_signature, nothing moves, nothing recorded.
    let (headers, body) = stripe.completed_event(&session);
    let tampered = String::from_utf8(body.clone()).unwrap().replace("\"amount_total\":9900", "\"amount_total\":1");
    assert_ne!(tampered.as_bytes(), &body[..]);
    let now = app.clock.now_secs();
    let ct = ("Content-Type".to_string(), "application/json".to_string());
    for (what, delivery) in [
        ("tampered body", (headers.clone(), tampered.into_bytes())),
        ("stale, past", (vec![("Stripe-Signature".into(), stripe.sign(&body, now - 301)), ct.clone()], body.clone())),
        ("stale, future", (vec![("Stripe-Signature".into(), stripe.sign(&body, now + 301)), ct.clone()], body.clone())),
        ("no signature", (vec![ct.clone()], body.clone())),
        (
            "another secret",
            (
                vec![
                    ("Stripe-Signature".into(), crate::support::fake_gateways::sign_stripe("whsec_other", &body, now)),
                    ct.clone(),
                ],
                body.clone(),
            ),
        ),
    ] {
        let r = deliver(&app, "stripe", &delivery);
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert_eq!(r.code(), "invalid_signature", "{what}");
        assert_eq!(status(&app, &id), "pending", "{what}");
    }
    assert_eq!(events_recorded(&app), 0);
    assert_eq!(listing_state(&app, &listing).0, "pending_payment");

    // The real delivery: 200, the listing active, the payer told, the event published.
    let r = deliver(&app, "stripe", &(headers.clone(), body.clone()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!(["succeeded"]));
    assert_eq!(status(&app, &id), "succeeded");
    let (st, until) = listing_state(&app, &listing);
    assert_eq!(st, "active");
    assert_eq!(until, Some(app.clock.now_ms() + 30 * 86_400_000));
    assert!(inbox(&app, &provider).contains(&"payment.succeeded".to_string()));
    assert_eq!(count_kind(&app, &provider.user_id, "payment.succeeded"), 1);
    assert!(payment_events(&app, &provider, &cursor).contains(&"succeeded".to_string()));
    let pi = stripe.session(&session).unwrap()["payment_intent"].as_str().unwrap().to_string();
    assert_eq!(
        crate::payments::scalar(
            &app,
            "SELECT COUNT(*) FROM payments WHERE id = ?1 AND gateway_payment_id = ?2",
            &[&id, &pi]
        ),
        1,
        "the PaymentIntent is kept for refunds"
    );

    // The same delivery again (Stripe retries): 200, nothing changes.
    let recorded = events_recorded(&app);
    let r = deliver(&app, "stripe", &(headers, body));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!(["duplicate"]));
    assert_eq!(listing_state(&app, &listing), (st.clone(), until));
    assert_eq!(count_kind(&app, &provider.user_id, "payment.succeeded"), 1);
    assert_eq!(events_recorded(&app), recorded);

    // A partial refund (the fake answers succeeded): partially refunded, the period stays.
    let refunds = format!("{PAY}/{id}/refunds");
    let r = app.post(&refunds, Some(&admin.access), json!({"amount": inr(4000), "reason": "Goodwill"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["status"], "succeeded");
    assert_eq!(status(&app, &id), "partially_refunded");
    assert_eq!(listing_state(&app, &listing), (st.clone(), until));
    // The rest, which the fake answers pending: nothing moves until its notice.
    stripe.set_refund_status("pending");
    let r = app.post(&refunds, Some(&admin.access), json!({"reason": "Closing the account"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["status"], "pending");
    assert_eq!(r.json()["amount"], inr(5900));
    assert_eq!(status(&app, &id), "partially_refunded");
    assert_eq!(listing_state(&app, &listing).0, "active");
    let at_fake = stripe.refunds();
    assert_eq!(at_fake.len(), 2, "{at_fake:?}");
    assert_eq!(at_fake[0]["amount"], 4000);
    assert_eq!(at_fake[1]["amount"], 5900);
    assert!(at_fake.iter().all(|r| r["payment_intent"] == pi.as_str()));
    let got = stripe.received();
    let refund_posts: Vec<_> = got.iter().filter(|r| r.path.starts_with("/v1/refunds")).collect();
    assert_eq!(refund_posts.len(), 2);
    let ours: Vec<String> = app
        .app()
        .db
        .read(|c| {
            let mut st =
                c.prepare("SELECT id FROM payment_refunds WHERE payment_id = ?1 ORDER BY created_at, rowid")?;
            let rows = st.query_map([&id], |r| r.get::<_, String>(0))?;
            Ok::<_, DbError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    for (post, refund_id) in refund_posts.iter().zip(&ours) {
        assert_eq!(post.header("Idempotency-Key"), Some(refund_id.as_str()), "our refund id is the key");
    }
    // The fake settles it and says so.
    let pending_ref = at_fake[1]["id"].as_str().unwrap().to_string();
    let updated = stripe.refund_event(&pending_ref, "succeeded");
    let r = deliver(&app, "stripe", &updated);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!(["refund_updated"]));
    assert_eq!(status(&app, &id), "refunded");
    let (st, after) = listing_state(&app, &listing);
    assert_eq!(after, Some(app.clock.now_ms()), "the bought 30 days are taken back");
    assert_eq!(st, "expired");
    assert_eq!(count_kind(&app, &provider.user_id, "payment.refunded"), 2);
    // Its retry changes nothing.
    let r = deliver(&app, "stripe", &updated);
    assert_eq!(r.json()["results"], json!(["duplicate"]));
    assert_eq!(count_kind(&app, &provider.user_id, "payment.refunded"), 2);
    let got = app.call("GET", &format!("{PAY}/{id}"), Some(&provider.access), None).json();
    assert_eq!(got["status"], "refunded");
    let statuses: Vec<&str> =
        got["refunds"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["succeeded", "succeeded"]);

    // Another order whose session expires unpaid: expired, no failure notice.
    let other = paid_listing(&app, &provider, "cat_painting", "sub_painting_room-painting");
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": other}), "order-stripe-2");
    assert_eq!(r.status, 201, "{}", r.body);
    let id2 = r.json()["id"].as_str().unwrap().to_string();
    let session2 = stripe.last_session_id().unwrap();
    assert_ne!(session2, session);
    let r = deliver(&app, "stripe", &stripe.expired_event(&session2));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!(["expired"]));
    assert_eq!(status(&app, &id2), "expired");
    assert_eq!(listing_state(&app, &other).0, "pending_payment");
    assert_eq!(count_kind(&app, &provider.user_id, "payment.failed"), 0);
}

#[test]
fn ten_concurrent_stripe_orders_with_one_key_make_one_checkout_session() {
    let (app, stripe) = stripe_app();
    let provider = app.register("provider", "9876570011");
    let listing = plumber(&app, &provider);
    let body = json!({"purpose": "listing_fee", "listingId": listing});
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..10).map(|_| s.spawn(|| order_with_key(&app, &provider, &body, "stripe-once-1"))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
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
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(calls(&stripe.received(), "POST", "/v1/checkout/sessions"), 1, "one call at the gateway");
    assert_eq!(stripe.sessions().len(), 1);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payments", &[]), 1);
    // A retry afterwards replays the answer without asking Stripe again.
    let r = order_with_key(&app, &provider, &body, "stripe-once-1");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("Idempotent-Replayed"), Some("true"));
    assert!(ids.contains(r.json()["id"].as_str().unwrap()));
    assert_eq!(r.json()["gatewayRef"], stripe.last_session_id().unwrap().as_str());
    assert_eq!(calls(&stripe.received(), "POST", "/v1/checkout/sessions"), 1);
}

#[test]
fn razorpay_captured_and_order_paid_apply_once_and_the_pass_opens_labour_bookings() {
    let fake = FakeRazorpay::start();
    let app = spawn_with(&fake.env());
    let rzp = fake.with_clock(app.clock.clone());
    let provider = app.register("provider", "9876570021");
    let customer = app.register("customer", "9876570022");
    let labour = listing_with(&app, &provider, LABOUR, &[(PER_HOUR, 500)]);
    let date = local_day(&app, 3);
    let before = book(&app, &customer, &labour, &[PER_HOUR], &date, "10:00");
    assert_eq!(before.status, 403, "{}", before.body);
    assert_eq!(before.code(), "pass_required");

    let r = order_with_key(&app, &customer, &json!({"purpose": "pass", "categoryId": LABOUR}), "rzp-pass-1");
    assert_eq!(r.status, 201, "{}", r.body);
    let p = r.json();
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["gateway"], "razorpay");
    assert_eq!(p["amount"], inr(9900));
    let order_id = rzp.last_order_id().expect("an order at the fake");
    assert_eq!(p["gatewayRef"], order_id.as_str());
    assert_eq!(p["checkout"]["orderId"], order_id.as_str());
    assert_eq!(p["checkout"]["keyId"], rzp.key_id.as_str());
    assert_eq!(p["checkout"]["amount"], 9900);
    let o = &rzp.orders()[0];
    assert_eq!((o["amount"].as_i64(), o["currency"].as_str()), (Some(9900), Some("INR")));
    assert_eq!(o["receipt"], id.as_str());
    assert_eq!(o["notes"]["payment_id"], id.as_str());
    assert_eq!(calls(&rzp.received(), "POST", "/v1/orders"), 1);

    // A forged delivery first: 400, nothing moves.
    let (mut h, b) = rzp.captured_event(&order_id);
    let good = h.clone();
    for (k, v) in h.iter_mut() {
        if k == "X-Razorpay-Signature" {
            *v = "00".repeat(32);
        }
    }
    let r = deliver(&app, "razorpay", &(h, b.clone()));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.code(), "invalid_signature");
    assert_eq!(status(&app, &id), "pending");

    // payment.captured, then order.paid for the same order: both 200, applied once.
    let r = deliver(&app, "razorpay", &(good, b));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!(["succeeded"]));
    let r = deliver(&app, "razorpay", &rzp.order_paid_event(&order_id));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!(["already_final"]));
    assert_eq!(status(&app, &id), "succeeded");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM passes WHERE user_id = ?1", &[&customer.user_id]), 1);
    assert_eq!(count_kind(&app, &customer.user_id, "payment.succeeded"), 1);
    let charge = rzp.payments()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM payments WHERE id = ?1 AND gateway_payment_id = ?2", &[&id, &charge]),
        1
    );
    // The labour booking now works.
    let r = book(&app, &customer, &labour, &[PER_HOUR], &date, "10:00");
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn paytm_callbacks_are_confirmed_by_our_own_status_query() {
    let paytm = FakePaytm::start();
    let app = spawn_with(&paytm.env());
    let provider = app.register("provider", "9876570031");
    let listing = plumber(&app, &provider);
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": listing}), "paytm-1");
    assert_eq!(r.status, 201, "{}", r.body);
    let p = r.json();
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["gateway"], "paytm");
    assert_eq!(p["gatewayRef"], id.as_str(), "our payment id is Paytm's orderId");
    assert_eq!(p["checkout"]["orderId"], id.as_str());
    assert_eq!(p["checkout"]["mid"], paytm.mid.as_str());
    assert_eq!(p["checkout"]["amount"], "99.00");
    assert!(p["checkout"]["txnToken"].as_str().is_some_and(|t| !t.is_empty()));
    let init = paytm.initiated();
    assert_eq!(init.len(), 1);
    assert_eq!(init[0]["orderId"], id.as_str());
    assert_eq!(init[0]["txnAmount"], json!({"value": "99.00", "currency": "INR"}));
    assert_eq!(init[0]["websiteName"], "WEBSTAGING");
    assert!(init[0]["callbackUrl"].as_str().unwrap().ends_with("/api/v1/webhooks/paytm"));
    let status_queries = || calls(&paytm.received(), "POST", "/v3/order/status");
    assert_eq!(status_queries(), 0);

    let fields = |status: &str, txn: &str| -> Vec<(String, String)> {
        [
            ("CURRENCY", "INR"),
            ("MID", paytm.mid.as_str()),
            ("ORDERID", id.as_str()),
            ("RESPCODE", "01"),
            ("RESPMSG", "Txn Success"),
            ("STATUS", status),
            ("TXNAMOUNT", "99.00"),
            ("TXNID", txn),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    // A forged callback (the checksum does not verify): 400, nothing moves, nobody is asked.
    let (h, body) = paytm.form(fields("TXN_SUCCESS", "20261111"));
    let forged = String::from_utf8(body).unwrap().replace("TXNAMOUNT=99.00", "TXNAMOUNT=1.00");
    let r = deliver(&app, "paytm", &(h.clone(), forged.into_bytes()));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(status(&app, &id), "pending");
    let (_, body) = paytm.form(fields("TXN_SUCCESS", "20261111"));
    let no_sum: String = String::from_utf8(body)
        .unwrap()
        .split('&')
        .filter(|kv| !kv.starts_with("CHECKSUMHASH="))
        .collect::<Vec<_>>()
        .join("&");
    let r = deliver(&app, "paytm", &(h.clone(), no_sum.into_bytes()));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(status_queries(), 0, "a forgery is never even asked about");
    assert_eq!(status(&app, &id), "pending");

    // Correctly signed, says TXN_SUCCESS, but Paytm's status API says pending: nothing moves.
    let r = deliver(&app, "paytm", &paytm.form(fields("TXN_SUCCESS", "20262222")));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("Content-Type").unwrap_or("").starts_with("text/html"), "{:?}", r.headers);
    assert!(r.body.contains("Payment pending"), "{}", r.body);
    assert_eq!(status_queries(), 1);
    assert_eq!(status(&app, &id), "pending");
    assert_eq!(listing_state(&app, &listing).0, "pending_payment");
    assert_eq!(count_kind(&app, &provider.user_id, "payment.succeeded"), 0);

    // The payer really pays: the browser's callback form → our status query → succeeded.
    let (h, body) = paytm.callback_form(&id, true);
    assert_eq!(h[0].1, "application/x-www-form-urlencoded");
    let r = deliver(&app, "paytm", &(h.clone(), body.clone()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Payment received"), "{}", r.body);
    assert_eq!(status_queries(), 2, "the server asked Paytm itself");
    let q = paytm.received().into_iter().rfind(|r| r.path.starts_with("/v3/order/status")).unwrap();
    assert_eq!(q.json()["body"], json!({"mid": paytm.mid, "orderId": id}));
    assert_eq!(status(&app, &id), "succeeded");
    assert_eq!(listing_state(&app, &listing).0, "active");
    let txn = paytm.txn_id(&id).unwrap();
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM payments WHERE id = ?1 AND gateway_payment_id = ?2", &[&id, &txn]),
        1
    );
    // The same callback again (a reload): 200, applied once.
    let r = deliver(&app, "paytm", &(h, body));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(count_kind(&app, &provider.user_id, "payment.succeeded"), 1);
    assert_eq!(status(&app, &id), "succeeded");
}

#[test]
fn reconciliation_settles_a_stripe_payment_whose_webhook_never_came_and_backs_off_while_stripe_is_down() {
    let (app, stripe) = stripe_app();
    let provider = app.register("provider", "9876570041");
    let listing = plumber(&app, &provider);
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": listing}), "rec-1");
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let session = stripe.last_session_id().unwrap();
    // The payer paid at Stripe; the webhook never arrives.
    stripe.complete(&session);
    // Not stuck yet: nobody asks.
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(calls(&stripe.received(), "GET", &format!("/v1/checkout/sessions/{session}")), 0);
    assert_eq!(status(&app, &id), "pending");
    let minutes = i64::from(app.app().config.payments.reconcile_after_minutes);
    app.clock.advance_secs((minutes + 1) * 60);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(calls(&stripe.received(), "GET", &format!("/v1/checkout/sessions/{session}")), 1);
    assert_eq!(status(&app, &id), "succeeded");
    assert_eq!(listing_state(&app, &listing).0, "active");
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'payment.reconciled' AND target = ?1", &[&id]),
        1
    );
    assert_eq!(count_kind(&app, &provider.user_id, "payment.succeeded"), 1);
    // The webhook arriving late changes nothing.
    let r = deliver(&app, "stripe", &stripe.completed_event(&session));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!(["already_final"]));
    assert_eq!(count_kind(&app, &provider.user_id, "payment.succeeded"), 1);

    // A second order, paid at Stripe, while Stripe's API is down.
    let provider = relogin(&app, &provider);
    let other = paid_listing(&app, &provider, "cat_painting", "sub_painting_room-painting");
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": other}), "rec-2");
    assert_eq!(r.status, 201, "{}", r.body);
    let id2 = r.json()["id"].as_str().unwrap().to_string();
    let session2 = stripe.last_session_id().unwrap();
    stripe.complete(&session2);
    stripe.fail_with(Some(503));
    let asked = || calls(&stripe.received(), "GET", &format!("/v1/checkout/sessions/{session2}"));
    // Past its expiry even: while Stripe cannot answer, it is neither settled nor expired.
    app.clock.advance_secs(31 * 60);
    for run in 1..=5 {
        buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
        assert_eq!(asked(), run, "asked once per run");
        assert_eq!(status(&app, &id2), "pending");
    }
    assert!(app.app().outbound.is_open("stripe"), "five failures in a row open the breaker");
    // The breaker is open: the job backs off without calling Stripe.
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(asked(), 5, "not asked while the breaker is open");
    assert_eq!(status(&app, &id2), "pending");
    assert_eq!(listing_state(&app, &other).0, "pending_payment");
    // Stripe recovers and the breaker's open period passes: settled.
    stripe.fail_with(None);
    app.clock.advance_secs(31);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(asked(), 6);
    assert_eq!(status(&app, &id2), "succeeded");
    assert_eq!(listing_state(&app, &other).0, "active");
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'payment.reconciled' AND target = ?1", &[&id2]),
        1
    );
}

#[test]
fn a_stripe_completed_event_with_another_amount_is_flagged_and_activates_nothing() {
    let (app, stripe) = stripe_app();
    let provider = app.register("provider", "9876570051");
    let admin = app.admin("9876570050");
    let listing = plumber(&app, &provider);
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": listing}), "mm-1");
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let session = stripe.last_session_id().unwrap();
    let mut s = stripe.complete(&session);
    s["amount_total"] = json!(100);
    let r = deliver(&app, "stripe", &stripe.event("checkout.session.completed", s.clone()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!(["amount_mismatch"]));
    assert_eq!(status(&app, &id), "pending");
    assert_eq!(listing_state(&app, &listing).0, "pending_payment");
    assert_eq!(count_kind(&app, &provider.user_id, "payment.succeeded"), 0);
    // Another currency is a mismatch too.
    s["amount_total"] = json!(9900);
    s["currency"] = json!("usd");
    let r = deliver(&app, "stripe", &stripe.event("checkout.session.completed", s));
    assert_eq!(r.json()["results"], json!(["amount_mismatch"]), "{}", r.body);
    assert_eq!(status(&app, &id), "pending");
    let flagged = app.call("GET", "/api/v1/admin/payments?flagged=true", Some(&admin.access), None).json();
    assert_eq!(flagged["items"][0]["id"], id.as_str(), "{flagged}");
    assert!(flagged["items"][0]["flags"].as_array().unwrap().contains(&json!("amount_mismatch")));
    assert_eq!(listing_state(&app, &listing).0, "pending_payment");
}

#[test]
fn stripe_refunds_settle_from_charge_refunded_and_failures_free_the_amount() {
    let (app, stripe) = stripe_app();
    let provider = app.register("provider", "9876570061");
    let admin = app.admin("9876570060");
    let listing = plumber(&app, &provider);
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": listing}), "cr-1");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let session = stripe.last_session_id().unwrap();
    assert_eq!(deliver(&app, "stripe", &stripe.completed_event(&session)).json()["results"], json!(["succeeded"]));
    let refunds = format!("{PAY}/{id}/refunds");
    stripe.set_refund_status("pending");
    // A pending refund the fake then fails: the refund fails, the amount is refundable again.
    let r = app.post(&refunds, Some(&admin.access), json!({"amount": inr(3000), "reason": "Goodwill"}));
    assert_eq!(r.json()["status"], "pending", "{}", r.body);
    let first = stripe.refunds()[0]["id"].as_str().unwrap().to_string();
    let r = deliver(&app, "stripe", &stripe.refund_event(&first, "failed"));
    assert_eq!(r.json()["results"], json!(["refund_updated"]), "{}", r.body);
    assert_eq!(status(&app, &id), "succeeded");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payment_refunds WHERE status = 'failed'", &[]), 1);
    // The full amount, pending, settled by a `charge.refunded` that lists it.
    let r = app.post(&refunds, Some(&admin.access), json!({"reason": "Closing the account"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["amount"], inr(9900));
    assert_eq!(r.json()["status"], "pending");
    let full = stripe.refunds()[1].clone();
    assert_eq!(full["amount"], 9900);
    let mut settled = full.clone();
    settled["status"] = json!("succeeded");
    let pi = full["payment_intent"].clone();
    let charge = json!({"id": full["charge"], "object": "charge", "amount": 9900, "amount_refunded": 9900,
                        "payment_intent": pi, "refunded": true,
                        "refunds": {"object": "list", "data": [settled]}});
    let delivery = stripe.event("charge.refunded", charge);
    let r = deliver(&app, "stripe", &delivery);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!(["refund_updated"]));
    assert_eq!(status(&app, &id), "refunded");
    assert_eq!(listing_state(&app, &listing).0, "expired");
    assert_eq!(deliver(&app, "stripe", &delivery).json()["results"], json!(["duplicate"]));
    // A `charge.refunded` without the list (API 2022-11-15+) is verified and ignored.
    let bare = stripe.event("charge.refunded", json!({"id": "ch_x", "object": "charge", "payment_intent": pi}));
    assert_eq!(deliver(&app, "stripe", &bare).json()["results"], json!(["ignored"]));
    // The refund.updated for the same refund afterwards: already final.
    let r = deliver(&app, "stripe", &stripe.refund_event(full["id"].as_str().unwrap(), "succeeded"));
    assert_eq!(r.json()["results"], json!(["refund_already_final"]), "{}", r.body);
    assert_eq!(count_kind(&app, &provider.user_id, "payment.refunded"), 1);
}

#[test]
fn stripe_delayed_payments_wait_for_their_async_outcome() {
    let (app, stripe) = stripe_app();
    let provider = app.register("provider", "9876570071");
    let listing = plumber(&app, &provider);
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": listing}), "async-1");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let session = stripe.last_session_id().unwrap();
    let r = deliver(&app, "stripe", &stripe.completed_unpaid_event(&session));
    assert_eq!(r.json()["results"], json!(["still_pending"]), "{}", r.body);
    assert_eq!(status(&app, &id), "pending");
    // Reconciliation sees the PaymentIntent processing: still pending.
    app.clock.advance_secs(11 * 60);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(status(&app, &id), "pending");
    let r = deliver(&app, "stripe", &stripe.async_failed_event(&session));
    assert_eq!(r.json()["results"], json!(["failed"]), "{}", r.body);
    assert_eq!(status(&app, &id), "failed");
    assert_eq!(listing_state(&app, &listing).0, "pending_payment");
    assert_eq!(count_kind(&app, &provider.user_id, "payment.failed"), 1);
}

#[test]
fn razorpay_and_paytm_payments_whose_notice_never_came_are_reconciled_and_refunded() {
    // Razorpay: paid at the fake, no webhook; the job asks, a refund goes to the captured payment.
    let fake = FakeRazorpay::start();
    let app = spawn_with(&fake.env());
    let rzp = fake.with_clock(app.clock.clone());
    let customer = app.register("customer", "9876570081");
    let r = order_with_key(&app, &customer, &json!({"purpose": "pass", "categoryId": LABOUR}), "rzp-rec-1");
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let order_id = rzp.last_order_id().unwrap();
    rzp.pay(&order_id);
    app.clock.advance_secs(11 * 60);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(status(&app, &id), "succeeded");
    let now = app.clock.now_ms();
    let valid = |app: &TestApp| {
        scalar(app, "SELECT COUNT(*) FROM passes WHERE user_id = ?1 AND valid_until > ?2", &[&customer.user_id, &now])
    };
    assert_eq!(valid(&app), 1);
    let admin = app.admin("9876570080");
    let r = app.post(&format!("{PAY}/{id}/refunds"), Some(&admin.access), json!({"reason": "Bought by mistake"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["status"], "succeeded");
    let at_fake = rzp.refunds();
    assert_eq!(at_fake.len(), 1);
    assert_eq!(at_fake[0]["amount"], 9900);
    assert_eq!(at_fake[0]["payment_id"], rzp.payments()[0]["id"]);
    assert_eq!(status(&app, &id), "refunded");
    assert_eq!(valid(&app), 0, "the refunded pass is revoked");
    // Its refund.processed notice afterwards: nothing more.
    let r = deliver(&app, "razorpay", &rzp.refund_event(at_fake[0]["id"].as_str().unwrap(), "processed"));
    assert_eq!(r.json()["results"], json!(["refund_already_final"]), "{}", r.body);

    // Paytm: paid on Paytm's page, the browser never came back; the job asks the status API.
    let paytm = FakePaytm::start();
    let app = spawn_with(&paytm.env());
    let provider = app.register("provider", "9876570082");
    let listing = plumber(&app, &provider);
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": listing}), "ptm-rec-1");
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let _ = paytm.callback_form(&id, true);
    app.clock.advance_secs(11 * 60);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(status(&app, &id), "succeeded");
    assert_eq!(listing_state(&app, &listing).0, "active");
}

#[test]
fn a_real_gateway_that_is_down_or_refuses_leaves_nothing_open() {
    let (app, stripe) = stripe_app();
    let provider = app.register("provider", "9876570091");
    let admin = app.admin("9876570090");
    let listing = plumber(&app, &provider);
    let body = json!({"purpose": "listing_fee", "listingId": listing});
    stripe.fail_with(Some(503));
    let r = order_with_key(&app, &provider, &body, "down-1");
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.code(), "unavailable");
    assert!(r.header("Retry-After").is_some());
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payments", &[]), 0);
    stripe.fail_with(Some(400));
    let r = order_with_key(&app, &provider, &body, "down-2");
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(r.code(), "gateway_refused");
    assert!(!r.body.contains(&stripe.secret_key), "no secret in the answer");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payments", &[]), 0);
    stripe.fail_with(None);
    let r = order_with_key(&app, &provider, &body, "down-3");
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let session = stripe.last_session_id().unwrap();
    assert_eq!(deliver(&app, "stripe", &stripe.completed_event(&session)).status, 200);
    // A refund while Stripe is down fails at once; nothing stays pending, nothing moves.
    stripe.fail_with(Some(503));
    let r = app.post(&format!("{PAY}/{id}/refunds"), Some(&admin.access), json!({"reason": "Duplicate"}));
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payment_refunds WHERE status = 'pending'", &[]), 0);
    assert_eq!(status(&app, &id), "succeeded");
    assert_eq!(listing_state(&app, &listing).0, "active");
    stripe.fail_with(None);
    let r = app.post(&format!("{PAY}/{id}/refunds"), Some(&admin.access), json!({"reason": "Duplicate"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["amount"], inr(9900), "the failed refund held nothing");
    assert_eq!(status(&app, &id), "refunded");

    // Nothing listening at all.
    let gone = crate::support::fake_gateways::unreachable_url();
    let mut env = stripe.env();
    env.retain(|(k, _)| k != "BUILDXPERT_PAYMENTS__STRIPE__API_BASE");
    env.push(("BUILDXPERT_PAYMENTS__STRIPE__API_BASE".into(), gone));
    let app = spawn_with(&env);
    let provider = app.register("provider", "9876570092");
    let listing = plumber(&app, &provider);
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": listing}), "gone-1");
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payments", &[]), 0);
}

#[test]
fn a_paytm_refund_starts_pending_and_is_settled_by_asking_paytm() {
    let paytm = FakePaytm::start();
    let app = spawn_with(&paytm.env());
    let provider = app.register("provider", "9876570101");
    let admin = app.admin("9876570100");
    let listing = plumber(&app, &provider);
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": listing}), "ptm-rf-1");
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(deliver(&app, "paytm", &paytm.callback_form(&id, true)).status, 200);
    assert_eq!(status(&app, &id), "succeeded");
    let r = app.post(
        &format!("{PAY}/{id}/refunds"),
        Some(&admin.access),
        json!({"amount": inr(2500), "reason": "Goodwill"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["status"], "pending");
    let at_paytm = paytm.refunds(&id);
    assert_eq!(at_paytm.len(), 1);
    assert_eq!(at_paytm[0]["refundAmount"], "25.00");
    assert_eq!(at_paytm[0]["txnId"], paytm.txn_id(&id).unwrap().as_str());
    assert_eq!(status(&app, &id), "succeeded");
    // Paytm sends no refund notice we read: reconciliation asks its refund status API.
    let refund_status = || calls(&paytm.received(), "POST", "/v2/refund/status");
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(refund_status(), 0, "not stuck yet");
    app.clock.advance_secs(11 * 60);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(refund_status(), 1);
    let q = paytm.received().into_iter().rfind(|r| r.path.starts_with("/v2/refund/status")).unwrap();
    let rfd = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(q.json()["body"], json!({"mid": paytm.mid, "orderId": id, "refId": rfd}));
    assert_eq!(r.json()["status"], "pending", "still pending at Paytm: nothing moves");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payment_refunds WHERE status = 'pending'", &[]), 1);
    // Paytm settles it: the next run closes it, audited, and the payer is told.
    paytm.settle_refunds(&id, "TXN_SUCCESS");
    let report = buildxpert::payments::reconcile::reconcile(app.app()).unwrap();
    assert_eq!(report.refunds_settled, 1);
    assert_eq!(status(&app, &id), "partially_refunded");
    assert_eq!(listing_state(&app, &listing).0, "active", "a partial refund leaves the period");
    assert_eq!(count_kind(&app, &provider.user_id, "payment.refunded"), 1);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'payment.reconciled' AND target = ?1", &[&id]),
        1
    );
    // Nothing left to ask about.
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(refund_status(), 2);

    // The rest, which Paytm then fails: the refund fails and the amount is refundable again.
    let admin = app.admin("9876570102");
    let r = app.post(&format!("{PAY}/{id}/refunds"), Some(&admin.access), json!({"reason": "Closing the account"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["amount"], inr(7400));
    paytm.settle_refunds(&id, "TXN_FAILURE");
    app.clock.advance_secs(11 * 60);
    let report = buildxpert::payments::reconcile::reconcile(app.app()).unwrap();
    assert_eq!(report.refunds_settled, 1);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payment_refunds WHERE status = 'failed'", &[]), 1);
    assert_eq!(status(&app, &id), "partially_refunded");
}

#[test]
fn an_unpaid_stripe_order_is_closed_at_stripe_before_it_expires_here() {
    let (app, stripe) = stripe_app();
    let provider = app.register("provider", "9876570111");
    let listing = plumber(&app, &provider);
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": listing}), "exp-1");
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let session = stripe.last_session_id().unwrap();
    // Stripe keeps a session open for at least 30 minutes, more than our order TTL here.
    let at_stripe = stripe.session(&session).unwrap()["expires_at"].as_i64().unwrap();
    let ours = scalar(&app, "SELECT expires_at FROM payments WHERE id = ?1", &[&id]);
    assert!(at_stripe * 1000 > ours, "the session outlives our order");
    let expire_calls = || calls(&stripe.received(), "POST", &format!("/v1/checkout/sessions/{session}/expire"));
    // Past our expiry while Stripe is down: not expired, the session is not touched.
    app.clock.advance_secs(31 * 60);
    stripe.fail_with(Some(503));
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(status(&app, &id), "pending");
    // Stripe answers: the session is expired there first, then ours.
    stripe.fail_with(None);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(expire_calls(), 1);
    assert_eq!(stripe.session(&session).unwrap()["status"], "expired", "no longer payable at Stripe");
    assert_eq!(status(&app, &id), "expired");
    assert_eq!(listing_state(&app, &listing).0, "pending_payment");

    // A session paid at the very moment we close it: Stripe refuses to expire it, ours stays
    // open, and the next run settles it from the status answer.
    let provider = relogin(&app, &provider);
    let other = paid_listing(&app, &provider, "cat_painting", "sub_painting_room-painting");
    let r = order_with_key(&app, &provider, &json!({"purpose": "listing_fee", "listingId": other}), "exp-2");
    let id2 = r.json()["id"].as_str().unwrap().to_string();
    let session2 = stripe.last_session_id().unwrap();
    let _ = stripe.completed_unpaid_event(&session2); // complete, its bank debit processing
    app.clock.advance_secs(31 * 60);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(calls(&stripe.received(), "POST", &format!("/v1/checkout/sessions/{session2}/expire")), 1);
    assert_eq!(status(&app, &id2), "pending", "a payment still processing is not expired");
    stripe.complete(&session2);
    buildxpert::jobs::run(app.app(), "payments-reconcile").unwrap();
    assert_eq!(status(&app, &id2), "succeeded");
    assert_eq!(listing_state(&app, &other).0, "active");
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM payment_flags WHERE payment_id = ?1 AND flag = 'late_success'", &[&id2]),
        0
    );
}
