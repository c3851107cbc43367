//! The payments core against gateways that are down, refuse, or answer status queries: orders
//! leave nothing open when the gateway fails, reconciliation settles a stuck payment from the
//! gateway's answer and backs off a gateway that is down (without expiring its payments), the
//! webhook source allowlist, and one refund for ten concurrent requests with one key.
//! The fakes implement the same `Gateway` trait the real adapters do.

use crate::payments::{event, listing_fee, notify, plumber, press, scalar, spawn, status, SECRET};
use crate::support::{http, spawn_app_with, Resp};
use buildxpert::clock::Clock;
use buildxpert::outbound::Outbound;
use buildxpert::payments::gateway::*;
use buildxpert::payments::orders::{self, NewPayment};
use buildxpert::payments::reconcile;
use buildxpert::web::auth::{Principal, Role};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Fake {
    name: &'static str,
    order: Result<(), GatewayError>,
    status: Result<Outcome, GatewayError>,
    /// What its status answers say was paid.
    paid: i64,
    calls: Arc<AtomicUsize>,
}

impl Fake {
    fn new(name: &'static str, order: Result<(), GatewayError>, status: Result<Outcome, GatewayError>) -> Fake {
        Fake { name, order, status, paid: 9900, calls: Arc::new(AtomicUsize::new(0)) }
    }
}

impl Gateway for Fake {
    fn name(&self) -> &'static str {
        self.name
    }
    fn create_order(&self, _: &Outbound, o: &OrderRequest<'_>) -> Result<Checkout, GatewayError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.order.clone()?;
        Ok(Checkout {
            gateway_ref: format!("ord_{}", o.payment_id),
            checkout: json!({"url": "https://gateway.example/pay"}),
            expires_at_ms: Some(o.expires_at_ms - 60_000),
        })
    }
    fn parse_webhook(&self, _: &WebhookRequest<'_>) -> Result<Vec<Notice>, WebhookError> {
        Err(WebhookError::InvalidSignature("fake"))
    }
    fn query_status(&self, _: &Outbound, gateway_ref: &str, _: &str) -> Result<StatusAnswer, GatewayError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let outcome = self.status.clone()?;
        Ok(StatusAnswer {
            outcome,
            amount: Some(self.paid),
            currency: Some("INR".into()),
            gateway_payment_id: Some("charge_1".into()),
            event_id: format!("status-{gateway_ref}"),
        })
    }
    fn refund(&self, _: &Outbound, r: &RefundRequest<'_>) -> Result<RefundAnswer, GatewayError> {
        Ok(RefundAnswer { refund_ref: format!("re_{}", r.refund_id), status: RefundStatus::Pending })
    }
}

fn provider(user_id: &str) -> Principal {
    Principal { user_id: user_id.into(), role: Role::Provider, session_id: "s".into(), jti: "j".into(), expires_at: 0 }
}

fn fee(listing: &str) -> NewPayment {
    serde_json::from_value(json!({"purpose": "listing_fee", "listingId": listing})).unwrap()
}

#[test]
fn a_gateway_that_is_down_or_refuses_leaves_no_payment_open() {
    let app = spawn();
    let p = app.register("provider", "9876561001");
    let listing = plumber(&app, &p);
    let down = Fake::new("stripe", Err(GatewayError::Unavailable { retry_after_secs: 7 }), Ok(Outcome::Pending));
    let e = orders::create_with(app.app(), &provider(&p.user_id), fee(&listing), &down).unwrap_err();
    assert_eq!((e.status, e.code), (503, "unavailable"));
    assert!(e.headers.iter().any(|(k, v)| k == "Retry-After" && v == "7"), "{:?}", e.headers);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payments", &[]), 0);
    let refuses = Fake::new("stripe", Err(GatewayError::Rejected("amount too small".into())), Ok(Outcome::Pending));
    let e = orders::create_with(app.app(), &provider(&p.user_id), fee(&listing), &refuses).unwrap_err();
    assert_eq!((e.status, e.code), (502, "gateway_refused"));
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payments", &[]), 0);
    // Working: the gateway's earlier expiry wins, and the payment remembers its gateway.
    let ok = Fake::new("stripe", Ok(()), Ok(Outcome::Pending));
    let v = orders::create_with(app.app(), &provider(&p.user_id), fee(&listing), &ok).unwrap();
    assert_eq!(v["gateway"], "stripe");
    assert_eq!(v["checkout"]["url"], "https://gateway.example/pay");
    assert!(v["gatewayRef"].as_str().unwrap().starts_with("ord_pay_"));
    // Its webhooks go to its own gateway, which this build has no keys for: 404, nothing moves.
    let r =
        http::request("POST", &format!("{}/api/v1/webhooks/stripe", app.url), &[], Some(("application/json", b"{}")));
    assert_eq!(r.status, 404, "{}", r.body);
    // A gateway that is not configured at all: 503, nothing opened (but a bad body is still a 400).
    let off = spawn_app_with(&[("BUILDXPERT_PAYMENTS__GATEWAY", "stripe")]);
    let q = off.register("provider", "9876561002");
    let l2 = plumber(&off, &q);
    let r = off.post("/api/v1/payments", Some(&q.access), json!({"purpose": "listing_fee", "listingId": l2}));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("Retry-After").is_some());
    assert_eq!(off.post("/api/v1/payments", Some(&q.access), json!({"purpose": "x"})).status, 400);
    assert_eq!(scalar(&off, "SELECT COUNT(*) FROM payments", &[]), 0);
}

#[test]
fn reconciliation_settles_from_the_gateways_answer_and_backs_off_one_that_is_down() {
    let app = spawn();
    let p = app.register("provider", "9876561011");
    let q = app.register("provider", "9876561012");
    let (la, lb) = (plumber(&app, &p), plumber(&app, &q));
    let paid = Fake::new("stripe", Ok(()), Ok(Outcome::Succeeded));
    let down = Fake::new("razorpay", Ok(()), Err(GatewayError::Unavailable { retry_after_secs: 30 }));
    let a = orders::create_with(app.app(), &provider(&p.user_id), fee(&la), &paid).unwrap();
    let b = orders::create_with(app.app(), &provider(&q.user_id), fee(&lb), &down).unwrap();
    let (ida, idb) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let resolve = |name: &str| -> Result<Option<Box<dyn Gateway>>, buildxpert::web::ApiError> {
        Ok(match name {
            "stripe" => Some(Box::new(Fake::new("stripe", Ok(()), Ok(Outcome::Succeeded))) as Box<dyn Gateway>),
            "razorpay" => {
                Some(Box::new(Fake::new("razorpay", Ok(()), Err(GatewayError::Unavailable { retry_after_secs: 30 }))))
            }
            _ => None,
        })
    };
    // Not stuck yet: nothing asked.
    let r = reconcile::reconcile_with(app.app(), &resolve).unwrap();
    assert_eq!(r, reconcile::Report::default());
    app.clock.advance_secs(11 * 60);
    let r = reconcile::reconcile_with(app.app(), &resolve).unwrap();
    assert_eq!(r.settled, 1);
    assert_eq!(r.skipped_gateways, vec!["razorpay".to_string()]);
    assert_eq!(status(&app, ida), "succeeded");
    assert_eq!(status(&app, idb), "pending");
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM listings WHERE id = ?1 AND status = 'active'", &[&la]),
        1,
        "settled through the same code: the listing is active"
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'payment.reconciled' AND target = ?1", &[&ida]),
        1
    );
    // Past its expiry, a payment at a gateway that is down is still not expired: we cannot know.
    app.clock.advance_secs(60 * 60);
    let r = reconcile::reconcile_with(app.app(), &resolve).unwrap();
    assert_eq!(r.expired, 0);
    assert_eq!(status(&app, idb), "pending");
    // Running again changes nothing for the settled one (its status answer is recorded once).
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payment_events WHERE payment_id = ?1", &[&ida]), 1);
    // A refund at a gateway whose keys are gone fails at once (503), holding nothing.
    let admin = app.admin("9876561010");
    let r = app.post(
        &format!("/api/v1/payments/{ida}/refunds"),
        Some(&admin.access),
        json!({"reason": "Duplicate charge"}),
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payment_refunds WHERE status = 'failed'", &[]), 1);
    assert_eq!(status(&app, ida), "succeeded");
    // A refund the gateway answered "pending" is closed by its later notice, once.
    let now = app.clock.now_ms();
    let a_app = app.app();
    a_app
        .db
        .write(|tx| {
            tx.execute(
                "INSERT INTO payment_refunds (id, payment_id, amount, reason, status, refund_ref, created_at, updated_at)
                 VALUES ('rfd_x', ?1, 9900, 'Duplicate charge', 'pending', 're_x', ?2, ?2)",
                rusqlite::params![ida, now],
            )
            .map_err(buildxpert::db::DbError::from)
        })
        .unwrap();
    let notice = |event: &str| {
        a_app
            .db
            .write(|tx| {
                buildxpert::payments::settle::refund_notice(tx, a_app, "stripe", event, "re_x", RefundStatus::Succeeded)
            })
            .unwrap()
    };
    assert_eq!(notice("evt_refund_1"), buildxpert::payments::settle::Settled::Noted("refund_updated"));
    assert_eq!(status(&app, ida), "refunded");
    assert_eq!(notice("evt_refund_1"), buildxpert::payments::settle::Settled::Duplicate);
    assert_eq!(notice("evt_refund_2"), buildxpert::payments::settle::Settled::Noted("refund_already_final"));
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM listings WHERE id = ?1 AND status = 'active'", &[&la]),
        0,
        "the full refund took the bought days back"
    );
}

#[test]
fn the_webhook_allowlist_refuses_other_sources() {
    let app = spawn_app_with(&[
        ("BUILDXPERT_PAYMENTS__SANDBOX__SECRET", SECRET),
        ("BUILDXPERT_PAYMENTS__WEBHOOK_IP_ALLOWLIST", "[\"10.0.0.0/8\"]"),
    ]);
    let p = app.register("provider", "9876561021");
    let listing = plumber(&app, &p);
    let pay = listing_fee(&app, &p, &listing);
    let id = pay["id"].as_str().unwrap();
    let r = notify(&app, &event("evt_allow", "payment.succeeded", id, 9900));
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(status(&app, id), "pending");
    // The sandbox page is our own code path, not a remote sender: it still works.
    assert_eq!(press(&app, &pay, "pay").status, 200);
    assert_eq!(status(&app, id), "succeeded");
    let open = spawn_app_with(&[
        ("BUILDXPERT_PAYMENTS__SANDBOX__SECRET", SECRET),
        ("BUILDXPERT_PAYMENTS__WEBHOOK_IP_ALLOWLIST", "[\"127.0.0.1/32\"]"),
    ]);
    let q = open.register("provider", "9876561022");
    let l = plumber(&open, &q);
    let pq = listing_fee(&open, &q, &l);
    let r = notify(&open, &event("evt_allow2", "payment.succeeded", pq["id"].as_str().unwrap(), 9900));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn ten_concurrent_refunds_with_one_key_refund_once() {
    let app = spawn();
    let p = app.register("provider", "9876561031");
    let admin = app.admin("9876561030");
    let listing = plumber(&app, &p);
    let pay = listing_fee(&app, &p, &listing);
    assert_eq!(press(&app, &pay, "pay").status, 200);
    let url = format!("{}/api/v1/payments/{}/refunds", app.url, pay["id"].as_str().unwrap());
    let auth = format!("Bearer {}", admin.access);
    let body = json!({"amount": {"amount": 1000, "currency": "INR"}, "reason": "Goodwill"}).to_string();
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..10)
            .map(|_| {
                s.spawn(|| {
                    http::request(
                        "POST",
                        &url,
                        &[("Authorization", &auth), ("Idempotency-Key", "refund-once-1")],
                        Some(("application/json", body.as_bytes())),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &answers {
        assert!(r.status == 201 || r.code() == "idempotency_in_progress", "{} {}", r.status, r.body);
    }
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM payment_refunds", &[]), 1);
}

#[test]
fn a_status_answer_with_the_wrong_amount_is_flagged_and_the_order_still_expires() {
    let app = spawn();
    let p = app.register("provider", "9876561041");
    let listing = plumber(&app, &p);
    let gw = Fake::new("stripe", Ok(()), Ok(Outcome::Succeeded));
    let v = orders::create_with(app.app(), &provider(&p.user_id), fee(&listing), &gw).unwrap();
    let id = v["id"].as_str().unwrap();
    let resolve = |_: &str| -> Result<Option<Box<dyn Gateway>>, buildxpert::web::ApiError> {
        let mut f = Fake::new("stripe", Ok(()), Ok(Outcome::Succeeded));
        f.paid = 100;
        Ok(Some(Box::new(f)))
    };
    app.clock.advance_secs(11 * 60);
    let r = reconcile::reconcile_with(app.app(), &resolve).unwrap();
    assert_eq!((r.settled, r.expired), (0, 0));
    assert_eq!(status(&app, id), "pending");
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM payment_flags WHERE payment_id = ?1 AND flag = 'amount_mismatch'", &[&id]),
        1
    );
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM listings WHERE id = ?1 AND status = 'active'", &[&listing]), 0);
    app.clock.advance_secs(30 * 60);
    let r = reconcile::reconcile_with(app.app(), &resolve).unwrap();
    assert_eq!(r.expired, 1);
    assert_eq!(status(&app, id), "expired");
}

#[test]
fn reconciliation_skips_a_gateway_whose_breaker_is_open_until_it_closes() {
    let app = spawn();
    let p = app.register("provider", "9876561051");
    let listing = plumber(&app, &p);
    let gw = Fake::new("stripe", Ok(()), Ok(Outcome::Succeeded));
    let v = orders::create_with(app.app(), &provider(&p.user_id), fee(&listing), &gw).unwrap();
    let id = v["id"].as_str().unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let a2 = asked.clone();
    let resolve = move |_: &str| -> Result<Option<Box<dyn Gateway>>, buildxpert::web::ApiError> {
        let mut f = Fake::new("stripe", Ok(()), Ok(Outcome::Succeeded));
        f.calls = a2.clone();
        Ok(Some(Box::new(f)))
    };
    app.clock.advance_secs(11 * 60);
    // The adapter's calls to its provider failed five times in a row: the breaker opens.
    for _ in 0..5 {
        let r = app.app().outbound.send("stripe", "GET", "http://127.0.0.1:1/", &[], buildxpert::outbound::Body::Empty);
        assert!(r.is_err());
    }
    assert!(app.app().outbound.is_open("stripe"));
    let r = reconcile::reconcile_with(app.app(), &resolve).unwrap();
    assert_eq!(r.skipped_gateways, vec!["stripe".to_string()]);
    assert_eq!(asked.load(Ordering::SeqCst), 0, "not even asked");
    assert_eq!(status(&app, id), "pending");
    // The breaker closes after its open period: the next run asks and settles.
    app.clock.advance_secs(31);
    let r = reconcile::reconcile_with(app.app(), &resolve).unwrap();
    assert_eq!(r.settled, 1);
    assert_eq!(status(&app, id), "succeeded");
}
