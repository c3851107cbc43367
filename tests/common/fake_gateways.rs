//! Fake Stripe, Razorpay and Paytm servers that speak the providers' real wire formats, for
//! tests. Built on `fake_http.rs` (include both with `#[path]`; this file expects that module as
//! `super::fake`). Each fake:
//! - checks our requests the way the provider does (Stripe `Bearer sk_…` and form fields,
//!   Razorpay Basic auth, Paytm `head.signature` checksum over the raw `body` text) and answers
//!   with the provider's ids, statuses, amounts and error bodies;
//! - keeps state (sessions/orders, payments, refunds) so status queries and refunds agree with
//!   what was "paid";
//! - can be told to fail: `fail_with(Some(503))` answers every request with that status,
//!   `fail_with(None)` recovers; `unreachable_url()` is a base URL where nothing listens;
//! - produces correctly signed deliveries as `(headers, body)` to POST to
//!   `/api/v1/webhooks/<gateway>` (or feed to `Gateway::parse_webhook`).
//!
//! ```ignore
//! let stripe = FakeStripe::start();                   // keys: stripe.secret_key / stripe.webhook_secret
//! let app = spawn_app_with(&env_refs(&stripe.env())); // BUILDXPERT_PAYMENTS__GATEWAY=stripe + keys + api_base
//! // … POST /payments → the app created a Checkout Session at the fake:
//! let session = stripe.last_session_id().unwrap();
//! let (headers, body) = stripe.completed_event(&session); // marks it paid, signed with the webhook secret
//! // … POST body with headers to /api/v1/webhooks/stripe → the payment succeeds
//! let (headers, body) = razorpay.captured_event(&order_id);  // also order_paid_event, failed_event
//! let (headers, body) = paytm.callback_form(&order_id, true); // browser callback; status API then says TXN_SUCCESS
//! ```
//! Deliveries are signed at the fake's clock: the wall clock, or the app's `ManualClock` after
//! `with_clock(app.clock.clone())`.

#![allow(dead_code)]

use super::fake::{FakeServer, Recorded, Reply};
use buildxpert::clock::{Clock, SystemClock};
use buildxpert::payments::gateways::{paytm_checksum, wire};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub type Delivery = (Vec<(String, String)>, Vec<u8>);

/// A base URL where nothing listens (connection refused).
pub fn unreachable_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// `spawn_app_with` takes `&[(&str, &str)]`.
pub fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn rand_id(prefix: &str) -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("os rng");
    format!("{prefix}{}", hex::encode(b))
}

fn hmac_hex(key: &str, msg: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("hmac key");
    m.update(msg);
    hex::encode(m.finalize().into_bytes())
}

fn form_map(body: &[u8]) -> HashMap<String, String> {
    wire::form_decode(body).unwrap_or_default().into_iter().collect()
}

struct Shared<S> {
    state: Mutex<S>,
    fail: Mutex<Option<u16>>,
    clock: Mutex<Arc<dyn Clock>>,
}

impl<S> Shared<S> {
    fn new(s: S) -> Arc<Shared<S>> {
        Arc::new(Shared { state: Mutex::new(s), fail: Mutex::new(None), clock: Mutex::new(Arc::new(SystemClock)) })
    }
    fn st(&self) -> std::sync::MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn failing(&self) -> Option<u16> {
        *self.fail.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn now_secs(&self) -> i64 {
        self.clock.lock().unwrap_or_else(|p| p.into_inner()).now_ms() / 1000
    }
}

// ---------------------------------------------------------------------------------------------
// Stripe

#[derive(Default)]
struct StripeState {
    sessions: Vec<Value>,
    refunds: Vec<Value>,
    /// Idempotency-Key → (request body, status, answer).
    idem: HashMap<String, (Vec<u8>, u16, Value)>,
    refund_status: Option<String>,
    /// PaymentIntent id → its status (as `?expand[]=payment_intent` shows it).
    intents: HashMap<String, String>,
}

pub struct FakeStripe {
    pub server: FakeServer,
    pub url: String,
    pub secret_key: String,
    pub webhook_secret: String,
    shared: Arc<Shared<StripeState>>,
}

fn stripe_error(status: u16, code: &str, message: &str, param: Option<&str>) -> (u16, Value) {
    let mut e = json!({"type": "invalid_request_error", "code": code, "message": message});
    if let Some(p) = param {
        e["param"] = json!(p);
    }
    (status, json!({"error": e}))
}

impl FakeStripe {
    pub fn start() -> FakeStripe {
        FakeStripe::with_keys("sk_test_fake_51Hx", "whsec_fake_stripe_secret")
    }

    pub fn with_keys(secret_key: &str, webhook_secret: &str) -> FakeStripe {
        let shared = Shared::new(StripeState::default());
        let (sh, key) = (shared.clone(), secret_key.to_string());
        let base: Arc<Mutex<String>> = Arc::default();
        let base2 = base.clone();
        let server = FakeServer::start(move |r, _| {
            if let Some(code) = sh.failing() {
                return Reply::json(code, json!({"error": {"type": "api_error", "message": "fake outage"}}));
            }
            let (status, v) = stripe_handle(&sh, &key, &base2.lock().unwrap_or_else(|p| p.into_inner()), r);
            Reply::json(status, v).with_header("Request-Id", &rand_id("req_"))
        });
        *base.lock().unwrap_or_else(|p| p.into_inner()) = server.url.clone();
        FakeStripe {
            url: server.url.clone(),
            server,
            secret_key: secret_key.into(),
            webhook_secret: webhook_secret.into(),
            shared,
        }
    }

    pub fn with_clock(self, clock: Arc<dyn Clock>) -> FakeStripe {
        *self.shared.clock.lock().unwrap_or_else(|p| p.into_inner()) = clock;
        self
    }

    pub fn config(&self) -> buildxpert::config::Stripe {
        buildxpert::config::Stripe {
            secret_key: self.secret_key.clone(),
            webhook_secret: self.webhook_secret.clone(),
            api_base: self.url.clone(),
        }
    }

    /// Environment for `spawn_app_with` making Stripe the gateway, pointed at this fake.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("BUILDXPERT_PAYMENTS__GATEWAY".into(), "stripe".into()),
            ("BUILDXPERT_PAYMENTS__STRIPE__SECRET_KEY".into(), self.secret_key.clone()),
            ("BUILDXPERT_PAYMENTS__STRIPE__WEBHOOK_SECRET".into(), self.webhook_secret.clone()),
            ("BUILDXPERT_PAYMENTS__STRIPE__API_BASE".into(), self.url.clone()),
        ]
    }

    pub fn fail_with(&self, status: Option<u16>) {
        *self.shared.fail.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }

    /// Status of refunds created from now on: "succeeded" (default) or "pending".
    pub fn set_refund_status(&self, status: &str) {
        self.shared.st().refund_status = Some(status.into());
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.server.received()
    }
    pub fn sessions(&self) -> Vec<Value> {
        self.shared.st().sessions.clone()
    }
    pub fn session(&self, id: &str) -> Option<Value> {
        self.shared.st().sessions.iter().find(|s| s["id"] == id).cloned()
    }
    pub fn last_session_id(&self) -> Option<String> {
        self.shared.st().sessions.last().and_then(|s| s["id"].as_str().map(str::to_string))
    }
    pub fn refunds(&self) -> Vec<Value> {
        self.shared.st().refunds.clone()
    }

    /// Marks the session paid (as if the payer finished Checkout) and returns it.
    pub fn complete(&self, session_id: &str) -> Value {
        let mut st = self.shared.st();
        let s = st.sessions.iter_mut().find(|s| s["id"] == session_id).expect("known session");
        if s["payment_status"] != "paid" {
            s["status"] = json!("complete");
            s["payment_status"] = json!("paid");
            if s["payment_intent"].is_null() {
                s["payment_intent"] = json!(rand_id("pi_"));
            }
            let pi = s["payment_intent"].as_str().unwrap_or_default().to_string();
            let s = s.clone();
            st.intents.insert(pi, "succeeded".into());
            return s;
        }
        s.clone()
    }

    /// `Stripe-Signature` for `body` at `t`, with this fake's webhook secret.
    pub fn sign(&self, body: &[u8], t: i64) -> String {
        sign_stripe(&self.webhook_secret, body, t)
    }

    /// An event of `kind` about `object`, signed now.
    pub fn event(&self, kind: &str, object: Value) -> Delivery {
        let body = json!({
            "id": rand_id("evt_"), "object": "event", "api_version": "2024-06-20", "created": self.shared.now_secs(),
            "livemode": false, "type": kind, "data": {"object": object},
        })
        .to_string()
        .into_bytes();
        let sig = self.sign(&body, self.shared.now_secs());
        (vec![("Stripe-Signature".into(), sig), ("Content-Type".into(), "application/json".into())], body)
    }

    /// Pays the session and returns its `checkout.session.completed` delivery.
    pub fn completed_event(&self, session_id: &str) -> Delivery {
        let s = self.complete(session_id);
        self.event("checkout.session.completed", s)
    }

    pub fn expired_event(&self, session_id: &str) -> Delivery {
        let s = {
            let mut st = self.shared.st();
            let s = st.sessions.iter_mut().find(|s| s["id"] == session_id).expect("known session");
            s["status"] = json!("expired");
            s.clone()
        };
        self.event("checkout.session.expired", s)
    }

    /// The payer chose a delayed method (bank debit): the session completes unpaid, its
    /// PaymentIntent is `processing`; returns `checkout.session.completed` (payment_status unpaid).
    pub fn completed_unpaid_event(&self, session_id: &str) -> Delivery {
        let s = {
            let mut st = self.shared.st();
            let s = st.sessions.iter_mut().find(|s| s["id"] == session_id).expect("known session");
            s["status"] = json!("complete");
            s["payment_status"] = json!("unpaid");
            if s["payment_intent"].is_null() {
                s["payment_intent"] = json!(rand_id("pi_"));
            }
            let s = s.clone();
            st.intents.insert(s["payment_intent"].as_str().unwrap_or_default().to_string(), "processing".into());
            s
        };
        self.event("checkout.session.completed", s)
    }

    /// The delayed payment failed: `checkout.session.async_payment_failed` (the PaymentIntent now
    /// `requires_payment_method`).
    pub fn async_failed_event(&self, session_id: &str) -> Delivery {
        let _ = self.completed_unpaid_event(session_id);
        let s = self.session(session_id).expect("known session");
        self.shared
            .st()
            .intents
            .insert(s["payment_intent"].as_str().unwrap_or_default().to_string(), "requires_payment_method".into());
        self.event("checkout.session.async_payment_failed", s)
    }

    /// Moves a refund to `status` ("succeeded" / "failed") and returns its `refund.updated`.
    pub fn refund_event(&self, refund_id: &str, status: &str) -> Delivery {
        let r = {
            let mut st = self.shared.st();
            let r = st.refunds.iter_mut().find(|r| r["id"] == refund_id).expect("known refund");
            r["status"] = json!(status);
            r.clone()
        };
        self.event(if status == "failed" { "refund.failed" } else { "refund.updated" }, r)
    }
}

pub fn sign_stripe(secret: &str, body: &[u8], t: i64) -> String {
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(body);
    format!("t={t},v1={}", hmac_hex(secret, &msg))
}

fn stripe_handle(sh: &Shared<StripeState>, key: &str, base: &str, r: &Recorded) -> (u16, Value) {
    if r.header("authorization") != Some(format!("Bearer {key}").as_str()) {
        return stripe_error(401, "api_key_invalid", "Invalid API Key provided: sk_test_****", None);
    }
    let idem = r.header("idempotency-key").map(str::to_string);
    if r.method == "POST" {
        if let Some(k) = &idem {
            if let Some((body, status, v)) = sh.st().idem.get(k) {
                if *body != r.body {
                    return stripe_error(400, "idempotency_error", &format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{k}' if you meant to execute a different request."), None);
                }
                return (*status, v.clone());
            }
        }
    }
    let f = form_map(&r.body);
    let path = r.path.split('?').next().unwrap_or("").to_string();
    let answer = match (r.method.as_str(), path.as_str()) {
        ("POST", "/v1/checkout/sessions") => {
            for p in [
                "mode",
                "line_items[0][price_data][currency]",
                "line_items[0][price_data][unit_amount]",
                "line_items[0][price_data][product_data][name]",
                "line_items[0][quantity]",
                "success_url",
            ] {
                if f.get(p).is_none_or(|v| v.is_empty()) {
                    return stripe_error(400, "parameter_missing", &format!("Missing required param: {p}."), Some(p));
                }
            }
            let Ok(amount) = f["line_items[0][price_data][unit_amount]"].parse::<i64>() else {
                return stripe_error(
                    400,
                    "parameter_invalid_integer",
                    "Invalid integer",
                    Some("line_items[0][price_data][unit_amount]"),
                );
            };
            if f["mode"] != "payment" || f["line_items[0][quantity]"] != "1" || amount <= 0 {
                return stripe_error(400, "parameter_invalid", "Invalid line item", None);
            }
            let expires_at = match f.get("expires_at").map(|e| e.parse::<i64>()) {
                Some(Ok(e)) => e,
                Some(Err(_)) => {
                    return stripe_error(400, "parameter_invalid_integer", "Invalid integer", Some("expires_at"))
                }
                None => sh.now_secs() + 24 * 3600,
            };
            let id = rand_id("cs_test_");
            let s = json!({
                "id": id, "object": "checkout.session", "mode": "payment", "livemode": false,
                "amount_total": amount, "amount_subtotal": amount,
                "currency": f["line_items[0][price_data][currency]"],
                "client_reference_id": f.get("client_reference_id"),
                "metadata": {"payment_id": f.get("metadata[payment_id]")},
                "customer_email": f.get("customer_email"),
                "payment_intent": null, "payment_status": "unpaid", "status": "open",
                "success_url": f["success_url"], "cancel_url": f.get("cancel_url"),
                "expires_at": expires_at, "url": format!("{base}/c/pay/{id}"),
            });
            sh.st().sessions.push(s.clone());
            (200, s)
        }
        ("POST", p) if p.starts_with("/v1/checkout/sessions/") && p.ends_with("/expire") => {
            let id = &p["/v1/checkout/sessions/".len()..p.len() - "/expire".len()];
            let mut st = sh.st();
            match st.sessions.iter_mut().find(|s| s["id"] == id) {
                Some(s) if s["status"] == "open" => {
                    s["status"] = json!("expired");
                    (200, s.clone())
                }
                Some(s) => stripe_error(
                    400,
                    "checkout_session_not_open",
                    &format!("Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{}\".", s["status"].as_str().unwrap_or("")),
                    None,
                ),
                None => {
                    stripe_error(404, "resource_missing", &format!("No such checkout.session: '{id}'"), Some("session"))
                }
            }
        }
        ("GET", p) if p.starts_with("/v1/checkout/sessions/") => {
            let id = &p["/v1/checkout/sessions/".len()..];
            let expand = form_map(r.query.as_bytes()).get("expand[]").map(String::as_str) == Some("payment_intent");
            let st = sh.st();
            match st.sessions.iter().find(|s| s["id"] == id) {
                Some(s) => {
                    let mut s = s.clone();
                    if let (true, Some(pi)) = (expand, s["payment_intent"].as_str().map(str::to_string)) {
                        let status = st.intents.get(&pi).cloned().unwrap_or_else(|| "processing".into());
                        s["payment_intent"] = json!({"id": pi, "object": "payment_intent", "status": status, "amount": s["amount_total"]});
                    }
                    (200, s)
                }
                None => {
                    stripe_error(404, "resource_missing", &format!("No such checkout.session: '{id}'"), Some("session"))
                }
            }
        }
        ("POST", "/v1/refunds") => {
            let Some(pi) = f.get("payment_intent").cloned() else {
                return stripe_error(
                    400,
                    "parameter_missing",
                    "One of the following params should be provided for this request: payment_intent or charge.",
                    None,
                );
            };
            let mut st = sh.st();
            let Some(s) = st.sessions.iter().find(|s| s["payment_intent"] == pi.as_str()).cloned() else {
                return stripe_error(
                    404,
                    "resource_missing",
                    &format!("No such payment_intent: '{pi}'"),
                    Some("payment_intent"),
                );
            };
            let total = s["amount_total"].as_i64().unwrap_or(0);
            let refunded: i64 = st
                .refunds
                .iter()
                .filter(|r| r["payment_intent"] == pi.as_str() && r["status"] != "failed")
                .filter_map(|r| r["amount"].as_i64())
                .sum();
            let amount = match f.get("amount").map(|a| a.parse::<i64>()) {
                Some(Ok(a)) if a > 0 => a,
                None => total - refunded,
                _ => return stripe_error(400, "parameter_invalid_integer", "Invalid integer", Some("amount")),
            };
            if refunded >= total {
                return stripe_error(400, "charge_already_refunded", "Charge has already been refunded.", None);
            }
            if amount > total - refunded {
                return stripe_error(
                    400,
                    "amount_too_large",
                    &format!(
                        "Refund amount ({amount}) is greater than unrefunded amount on charge ({})",
                        total - refunded
                    ),
                    Some("amount"),
                );
            }
            let r = json!({
                "id": rand_id("re_"), "object": "refund", "amount": amount, "currency": s["currency"],
                "payment_intent": pi, "charge": rand_id("ch_"),
                "status": st.refund_status.clone().unwrap_or_else(|| "succeeded".into()),
                "metadata": {"refund_id": f.get("metadata[refund_id]"), "payment_id": f.get("metadata[payment_id]"), "reason": f.get("metadata[reason]")},
            });
            st.refunds.push(r.clone());
            (200, r)
        }
        _ => stripe_error(404, "resource_missing", &format!("Unrecognized request URL ({} {}).", r.method, path), None),
    };
    if let (Some(k), "POST") = (idem, r.method.as_str()) {
        sh.st().idem.insert(k, (r.body.clone(), answer.0, answer.1.clone()));
    }
    answer
}

// ---------------------------------------------------------------------------------------------
// Razorpay

#[derive(Default)]
struct RazorpayState {
    orders: Vec<Value>,
    payments: Vec<Value>,
    refunds: Vec<Value>,
}

pub struct FakeRazorpay {
    pub server: FakeServer,
    pub url: String,
    pub key_id: String,
    pub key_secret: String,
    pub webhook_secret: String,
    shared: Arc<Shared<RazorpayState>>,
}

fn rzp_error(status: u16, description: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": "BAD_REQUEST_ERROR", "description": description, "source": "NA", "step": "NA", "reason": "NA", "metadata": {}}}),
    )
}

impl FakeRazorpay {
    pub fn start() -> FakeRazorpay {
        let (key_id, key_secret) = ("rzp_test_FakeKeyId01".to_string(), "fake_key_secret_razorpay".to_string());
        let shared = Shared::new(RazorpayState::default());
        let sh = shared.clone();
        let auth = format!("Basic {}", base64_std(&format!("{key_id}:{key_secret}")));
        let server = FakeServer::start(move |r, _| {
            if let Some(code) = sh.failing() {
                return Reply::json(code, json!({"error": {"code": "SERVER_ERROR", "description": "fake outage"}}));
            }
            let (status, v) = if r.header("authorization") != Some(auth.as_str()) {
                rzp_error(401, "Authentication failed")
            } else {
                rzp_handle(&sh, r)
            };
            Reply::json(status, v)
        });
        FakeRazorpay {
            url: server.url.clone(),
            server,
            key_id,
            key_secret,
            webhook_secret: "fake_razorpay_webhook_secret".into(),
            shared,
        }
    }

    pub fn with_clock(self, clock: Arc<dyn Clock>) -> FakeRazorpay {
        *self.shared.clock.lock().unwrap_or_else(|p| p.into_inner()) = clock;
        self
    }

    pub fn config(&self) -> buildxpert::config::Razorpay {
        buildxpert::config::Razorpay {
            key_id: self.key_id.clone(),
            key_secret: self.key_secret.clone(),
            webhook_secret: self.webhook_secret.clone(),
            api_base: self.url.clone(),
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("BUILDXPERT_PAYMENTS__GATEWAY".into(), "razorpay".into()),
            ("BUILDXPERT_PAYMENTS__RAZORPAY__KEY_ID".into(), self.key_id.clone()),
            ("BUILDXPERT_PAYMENTS__RAZORPAY__KEY_SECRET".into(), self.key_secret.clone()),
            ("BUILDXPERT_PAYMENTS__RAZORPAY__WEBHOOK_SECRET".into(), self.webhook_secret.clone()),
            ("BUILDXPERT_PAYMENTS__RAZORPAY__API_BASE".into(), self.url.clone()),
        ]
    }

    pub fn fail_with(&self, status: Option<u16>) {
        *self.shared.fail.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }
    pub fn received(&self) -> Vec<Recorded> {
        self.server.received()
    }
    pub fn orders(&self) -> Vec<Value> {
        self.shared.st().orders.clone()
    }
    pub fn last_order_id(&self) -> Option<String> {
        self.shared.st().orders.last().and_then(|o| o["id"].as_str().map(str::to_string))
    }
    pub fn payments(&self) -> Vec<Value> {
        self.shared.st().payments.clone()
    }
    pub fn refunds(&self) -> Vec<Value> {
        self.shared.st().refunds.clone()
    }

    /// Captures a payment of the order's full amount (once) and returns (payment, order).
    pub fn pay(&self, order_id: &str) -> (Value, Value) {
        let now = self.shared.now_secs();
        let mut st = self.shared.st();
        let i = st.orders.iter().position(|o| o["id"] == order_id).expect("known order");
        if st.orders[i]["status"] != "paid" {
            let o = &mut st.orders[i];
            o["status"] = json!("paid");
            o["amount_paid"] = o["amount"].clone();
            o["amount_due"] = json!(0);
            o["attempts"] = json!(o["attempts"].as_i64().unwrap_or(0) + 1);
            let o = o.clone();
            st.payments.push(json!({
                "id": rand_id("pay_"), "entity": "payment", "amount": o["amount"], "currency": o["currency"],
                "status": "captured", "order_id": order_id, "captured": true, "method": "upi",
                "amount_refunded": 0, "refund_status": null, "notes": o["notes"], "created_at": now,
            }));
        }
        let o = st.orders[i].clone();
        let p = st
            .payments
            .iter()
            .rev()
            .find(|p| p["order_id"] == order_id && p["status"] == "captured")
            .cloned()
            .expect("captured");
        (p, o)
    }

    pub fn sign(&self, body: &[u8]) -> String {
        hmac_hex(&self.webhook_secret, body)
    }

    /// A delivery of `event` with these payload entities, signed with the webhook secret.
    pub fn event(&self, event: &str, payload: Value) -> Delivery {
        let contains: Vec<String> = payload.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        let body = json!({"entity": "event", "account_id": "acc_FakeAccount01", "event": event, "contains": contains,
                          "payload": payload, "created_at": self.shared.now_secs()})
        .to_string()
        .into_bytes();
        let headers = vec![
            ("X-Razorpay-Signature".into(), self.sign(&body)),
            ("X-Razorpay-Event-Id".into(), rand_id("evt_")),
            ("Content-Type".into(), "application/json".into()),
        ];
        (headers, body)
    }

    /// Pays the order and returns its `payment.captured` delivery.
    pub fn captured_event(&self, order_id: &str) -> Delivery {
        let (p, _) = self.pay(order_id);
        self.event("payment.captured", json!({"payment": {"entity": p}}))
    }

    /// Pays the order and returns its `order.paid` delivery (payment and order entities).
    pub fn order_paid_event(&self, order_id: &str) -> Delivery {
        let (p, o) = self.pay(order_id);
        self.event("order.paid", json!({"payment": {"entity": p}, "order": {"entity": o}}))
    }

    /// A failed attempt at the order (the order stays payable).
    pub fn failed_event(&self, order_id: &str) -> Delivery {
        let p = {
            let mut st = self.shared.st();
            let o = st.orders.iter_mut().find(|o| o["id"] == order_id).expect("known order");
            o["status"] = json!("attempted");
            let o = o.clone();
            let p = json!({"id": rand_id("pay_"), "entity": "payment", "amount": o["amount"], "currency": o["currency"],
                           "status": "failed", "order_id": order_id, "captured": false, "error_code": "BAD_REQUEST_ERROR",
                           "error_description": "Payment failed", "notes": o["notes"]});
            st.payments.push(p.clone());
            p
        };
        self.event("payment.failed", json!({"payment": {"entity": p}}))
    }

    /// Moves a refund to `status` ("processed" / "failed") and returns `refund.<status>`.
    pub fn refund_event(&self, refund_id: &str, status: &str) -> Delivery {
        let (r, p) = {
            let mut st = self.shared.st();
            let r = st.refunds.iter_mut().find(|r| r["id"] == refund_id).expect("known refund");
            r["status"] = json!(status);
            let r = r.clone();
            let p = st.payments.iter().find(|p| p["id"] == r["payment_id"]).cloned().unwrap_or(Value::Null);
            (r, p)
        };
        self.event(&format!("refund.{status}"), json!({"refund": {"entity": r}, "payment": {"entity": p}}))
    }
}

fn base64_std(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn rzp_handle(sh: &Shared<RazorpayState>, r: &Recorded) -> (u16, Value) {
    let path = r.path.split('?').next().unwrap_or("").to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let now = sh.now_secs();
    match (r.method.as_str(), parts.as_slice()) {
        ("POST", ["v1", "orders"]) => {
            let Ok(b) = serde_json::from_slice::<Value>(&r.body) else {
                return rzp_error(400, "The request body is not valid JSON");
            };
            let Some(amount) = b["amount"].as_i64() else { return rzp_error(400, "The amount field is required.") };
            if amount < 100 {
                return rzp_error(400, "The amount must be atleast INR 1.00");
            }
            let Some(currency) = b["currency"].as_str() else {
                return rzp_error(400, "The currency field is required.");
            };
            if b["receipt"].as_str().is_some_and(|x| x.len() > 40) {
                return rzp_error(400, "receipt: the length must be no more than 40.");
            }
            let o = json!({"id": rand_id("order_"), "entity": "order", "amount": amount, "amount_paid": 0, "amount_due": amount,
                           "currency": currency, "receipt": b["receipt"], "offer_id": null, "status": "created", "attempts": 0,
                           "notes": b.get("notes").cloned().unwrap_or(json!([])), "created_at": now});
            sh.st().orders.push(o.clone());
            (200, o)
        }
        ("GET", ["v1", "orders", id]) => match sh.st().orders.iter().find(|o| o["id"] == *id) {
            Some(o) => (200, o.clone()),
            None => rzp_error(400, "The id provided does not exist"),
        },
        ("GET", ["v1", "orders", id, "payments"]) => {
            let st = sh.st();
            if !st.orders.iter().any(|o| o["id"] == *id) {
                return rzp_error(400, "The id provided does not exist");
            }
            let items: Vec<Value> = st.payments.iter().filter(|p| p["order_id"] == *id).cloned().collect();
            (200, json!({"entity": "collection", "count": items.len(), "items": items}))
        }
        ("POST", ["v1", "payments", id, "refund"]) => {
            let Ok(b) = serde_json::from_slice::<Value>(&r.body) else {
                return rzp_error(400, "The request body is not valid JSON");
            };
            let mut st = sh.st();
            let Some(p) = st.payments.iter().find(|p| p["id"] == *id).cloned() else {
                return rzp_error(400, "The id provided does not exist");
            };
            if p["status"] != "captured" {
                return rzp_error(400, "The payment has not been captured");
            }
            let paid = p["amount"].as_i64().unwrap_or(0);
            let refunded: i64 = st
                .refunds
                .iter()
                .filter(|x| x["payment_id"] == *id && x["status"] != "failed")
                .filter_map(|x| x["amount"].as_i64())
                .sum();
            let amount = b["amount"].as_i64().unwrap_or(paid - refunded);
            if refunded >= paid {
                return rzp_error(400, "The payment has been fully refunded already");
            }
            if amount <= 0 || amount > paid - refunded {
                return rzp_error(400, "The refund amount provided is greater than amount captured");
            }
            let rf = json!({"id": rand_id("rfnd_"), "entity": "refund", "amount": amount, "currency": p["currency"], "payment_id": id,
                            "notes": b.get("notes").cloned().unwrap_or(json!([])), "receipt": b["receipt"], "status": "processed",
                            "speed_processed": "normal", "speed_requested": "normal", "created_at": now});
            st.refunds.push(rf.clone());
            (200, rf)
        }
        _ => rzp_error(400, "The requested URL was not found on the server."),
    }
}

// ---------------------------------------------------------------------------------------------
// Paytm

#[derive(Default)]
struct PaytmOrder {
    order_id: String,
    amount: String,
    /// TXN_SUCCESS | TXN_FAILURE | PENDING (initiated, not paid).
    status: String,
    txn_id: String,
    refunds: Vec<Value>,
}

#[derive(Default)]
struct PaytmState {
    orders: Vec<PaytmOrder>,
    initiate_bodies: Vec<Value>,
}

pub struct FakePaytm {
    pub server: FakeServer,
    pub url: String,
    pub mid: String,
    pub merchant_key: String,
    shared: Arc<Shared<PaytmState>>,
}

/// A signed Paytm answer: `{"head": {..., "signature"}, "body": <body>}` with the checksum over the
/// exact body text.
fn paytm_answer(key: &str, body: &Value) -> Reply {
    let text = body.to_string();
    let sig = paytm_checksum::generate(&text, key).expect("16-char key");
    let raw = format!(
        r#"{{"head":{{"responseTimestamp":"1700000000000","version":"v1","signature":"{sig}"}},"body":{text}}}"#
    );
    Reply { status: 200, content_type: "application/json", headers: Vec::new(), body: raw }
}

fn paytm_result(status: &str, code: &str, msg: &str) -> Value {
    json!({"resultStatus": status, "resultCode": code, "resultMsg": msg})
}

impl FakePaytm {
    pub fn start() -> FakePaytm {
        let (mid, key) = ("FAKEMID7769XXXX93833".to_string(), "FAKEKEY_16_CHARS".to_string());
        let shared = Shared::new(PaytmState::default());
        let (sh, m, k) = (shared.clone(), mid.clone(), key.clone());
        let server = FakeServer::start(move |r, _| {
            if let Some(code) = sh.failing() {
                return Reply {
                    status: code,
                    content_type: "text/html",
                    headers: Vec::new(),
                    body: "<html>Service Unavailable</html>".into(),
                };
            }
            paytm_handle(&sh, &m, &k, r)
        });
        FakePaytm { url: server.url.clone(), server, mid, merchant_key: key, shared }
    }

    pub fn config(&self) -> buildxpert::config::Paytm {
        buildxpert::config::Paytm {
            mid: self.mid.clone(),
            merchant_key: self.merchant_key.clone(),
            website: "WEBSTAGING".into(),
            api_base: self.url.clone(),
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("BUILDXPERT_PAYMENTS__GATEWAY".into(), "paytm".into()),
            ("BUILDXPERT_PAYMENTS__PAYTM__MID".into(), self.mid.clone()),
            ("BUILDXPERT_PAYMENTS__PAYTM__MERCHANT_KEY".into(), self.merchant_key.clone()),
            ("BUILDXPERT_PAYMENTS__PAYTM__WEBSITE".into(), "WEBSTAGING".into()),
            ("BUILDXPERT_PAYMENTS__PAYTM__API_BASE".into(), self.url.clone()),
        ]
    }

    pub fn fail_with(&self, status: Option<u16>) {
        *self.shared.fail.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }
    pub fn received(&self) -> Vec<Recorded> {
        self.server.received()
    }
    /// The `body` objects of every initiateTransaction received.
    pub fn initiated(&self) -> Vec<Value> {
        self.shared.st().initiate_bodies.clone()
    }
    pub fn txn_id(&self, order_id: &str) -> Option<String> {
        self.shared
            .st()
            .orders
            .iter()
            .find(|o| o.order_id == order_id)
            .map(|o| o.txn_id.clone())
            .filter(|t| !t.is_empty())
    }
    pub fn refunds(&self, order_id: &str) -> Vec<Value> {
        self.shared.st().orders.iter().find(|o| o.order_id == order_id).map(|o| o.refunds.clone()).unwrap_or_default()
    }

    /// Paytm settles the order's refunds: its refund status API answers `status` ("TXN_SUCCESS" /
    /// "TXN_FAILURE") for them from now on (until then "PENDING", as `refund/apply` did).
    pub fn settle_refunds(&self, order_id: &str, status: &str) {
        let mut st = self.shared.st();
        let o = st.orders.iter_mut().find(|o| o.order_id == order_id).expect("initiated order");
        for r in &mut o.refunds {
            r["resultInfo"] = if status == "TXN_SUCCESS" {
                paytm_result("TXN_SUCCESS", "10", "Refund Successfull")
            } else {
                paytm_result("TXN_FAILURE", "600", "Refund failed")
            };
        }
    }

    /// The payer finishes (or fails) on Paytm's page: the order's status changes, and the
    /// browser's callback form (with CHECKSUMHASH) is returned.
    pub fn callback_form(&self, order_id: &str, success: bool) -> Delivery {
        let (amount, txn) = {
            let mut st = self.shared.st();
            let o = st.orders.iter_mut().find(|o| o.order_id == order_id).expect("initiated order");
            if o.status != "TXN_SUCCESS" {
                o.status = if success { "TXN_SUCCESS" } else { "TXN_FAILURE" }.into();
                o.txn_id = format!("2026{}", &rand_id("")[..12]);
            }
            (o.amount.clone(), o.txn_id.clone())
        };
        let (status, code, msg) = if success {
            ("TXN_SUCCESS", "01", "Txn Success")
        } else {
            ("TXN_FAILURE", "227", "Your payment has been declined by your bank.")
        };
        let fields: Vec<(String, String)> = [
            ("BANKNAME", "State Bank of India"),
            ("BANKTXNID", if success { "777001234567" } else { "" }),
            ("CURRENCY", "INR"),
            ("GATEWAYNAME", "SBI"),
            ("MID", &self.mid),
            ("ORDERID", order_id),
            ("PAYMENTMODE", "UPI"),
            ("RESPCODE", code),
            ("RESPMSG", msg),
            ("STATUS", status),
            ("TXNAMOUNT", &amount),
            ("TXNDATE", "2026-12-04 21:00:00.0"),
            ("TXNID", &txn),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        self.form(fields)
    }

    /// Any callback form, with a correct CHECKSUMHASH added.
    pub fn form(&self, mut fields: Vec<(String, String)>) -> Delivery {
        let sum = paytm_checksum::generate_form(&fields, &self.merchant_key).expect("16-char key");
        fields.push(("CHECKSUMHASH".into(), sum));
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = buildxpert::outbound::form_encode(&pairs).into_bytes();
        (vec![("Content-Type".into(), "application/x-www-form-urlencoded".into())], body)
    }
}

fn paytm_handle(sh: &Shared<PaytmState>, mid: &str, key: &str, r: &Recorded) -> Reply {
    let raw = String::from_utf8_lossy(&r.body).into_owned();
    let (Ok(v), Some(body_text)) = (serde_json::from_str::<Value>(&raw), wire::raw_member(&raw, "body")) else {
        return paytm_answer(key, &json!({"resultInfo": paytm_result("F", "501", "System Error")}));
    };
    let sig = v.pointer("/head/signature").and_then(Value::as_str).unwrap_or("");
    if !paytm_checksum::verify(body_text, key, sig) {
        return paytm_answer(key, &json!({"resultInfo": paytm_result("F", "2005", "Checksum provided is invalid")}));
    }
    let b = &v["body"];
    if b["mid"] != mid {
        return paytm_answer(key, &json!({"resultInfo": paytm_result("F", "1006", "Invalid MID")}));
    }
    let path = r.path.split('?').next().unwrap_or("");
    let q = form_map(r.query.as_bytes());
    let order_id = b["orderId"].as_str().unwrap_or("").to_string();
    let mut st = sh.st();
    match path {
        "/theia/api/v1/initiateTransaction" => {
            if q.get("mid").map(String::as_str) != Some(mid) || q.get("orderId") != Some(&order_id) {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("F", "1007", "Missing mandatory element")}),
                );
            }
            let amount = b.pointer("/txnAmount/value").and_then(Value::as_str).unwrap_or("");
            if wire::decimal_to_minor(amount).is_none()
                || b["requestType"] != "Payment"
                || b["callbackUrl"].as_str().is_none()
            {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("F", "1007", "Missing mandatory element")}),
                );
            }
            if st.orders.iter().any(|o| o.order_id == order_id) {
                return paytm_answer(key, &json!({"resultInfo": paytm_result("F", "325", "Duplicate Order Id")}));
            }
            st.initiate_bodies.push(b.clone());
            st.orders.push(PaytmOrder {
                order_id,
                amount: amount.into(),
                status: "PENDING".into(),
                ..Default::default()
            });
            paytm_answer(
                key,
                &json!({"resultInfo": paytm_result("S", "0000", "Success"), "txnToken": rand_id("f0a1"), "isPromoCodeValid": false, "authenticated": false}),
            )
        }
        "/v3/order/status" => match st.orders.iter().find(|o| o.order_id == order_id) {
            None => paytm_answer(key, &json!({"resultInfo": paytm_result("TXN_FAILURE", "334", "Invalid Order Id.")})),
            Some(o) => {
                let result = match o.status.as_str() {
                    "TXN_SUCCESS" => paytm_result("TXN_SUCCESS", "01", "Txn Success"),
                    "TXN_FAILURE" => paytm_result("TXN_FAILURE", "227", "Your payment has been declined by your bank."),
                    _ => paytm_result("PENDING", "402", "Looks like the payment is not complete. Please wait while we confirm the status with your bank."),
                };
                let refunded: i64 =
                    o.refunds.iter().filter_map(|x| x["refundAmount"].as_str().and_then(wire::decimal_to_minor)).sum();
                paytm_answer(
                    key,
                    &json!({"resultInfo": result, "txnId": o.txn_id, "bankTxnId": "777001234567", "orderId": o.order_id,
                            "txnAmount": o.amount, "txnType": "SALE", "gatewayName": "SBI", "bankName": "State Bank of India",
                            "mid": mid, "paymentMode": "UPI", "refundAmt": wire::minor_to_decimal(refunded), "txnDate": "2026-12-04 21:00:00.0"}),
                )
            }
        },
        "/refund/apply" => {
            let Some(o) = st.orders.iter_mut().find(|o| o.order_id == order_id) else {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("TXN_FAILURE", "631", "Record not found")}),
                );
            };
            if b["txnType"] != "REFUND" || b["txnId"] != o.txn_id.as_str() || o.status != "TXN_SUCCESS" {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("TXN_FAILURE", "629", "Refund is not allowed for this transaction")}),
                );
            }
            let amount = b["refundAmount"].as_str().and_then(wire::decimal_to_minor).unwrap_or(0);
            let paid = wire::decimal_to_minor(&o.amount).unwrap_or(0);
            let refunded: i64 =
                o.refunds.iter().filter_map(|x| x["refundAmount"].as_str().and_then(wire::decimal_to_minor)).sum();
            if amount <= 0 || amount > paid - refunded {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("TXN_FAILURE", "619", "Invalid refund amount")}),
                );
            }
            let ref_id = b["refId"].as_str().unwrap_or("").to_string();
            if o.refunds.iter().any(|x| x["refId"] == ref_id.as_str()) {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("TXN_FAILURE", "617", "Refund Already Raised (If merchant repeated their request within the 10 minutes after initiate the first refund request)")}),
                );
            }
            let rf = json!({"txnTimestamp": "2026-12-04 21:10:00.0", "orderId": o.order_id, "mid": mid, "refId": ref_id,
                            "resultInfo": paytm_result("PENDING", "601", "Refund request was raised for this transaction. But it is pending state"),
                            "refundId": rand_id("2026"), "txnId": o.txn_id, "refundAmount": wire::minor_to_decimal(amount)});
            o.refunds.push(rf.clone());
            paytm_answer(key, &rf)
        }
        "/v2/refund/status" => {
            let found = st
                .orders
                .iter()
                .find(|o| o.order_id == order_id)
                .and_then(|o| o.refunds.iter().find(|x| x["refId"] == b["refId"]).cloned());
            match found {
                None => {
                    paytm_answer(key, &json!({"resultInfo": paytm_result("TXN_FAILURE", "631", "Record not found")}))
                }
                Some(rf) => paytm_answer(
                    key,
                    &json!({"orderId": rf["orderId"], "mid": mid, "refId": rf["refId"], "refundId": rf["refundId"],
                            "txnId": rf["txnId"], "refundAmount": rf["refundAmount"], "resultInfo": rf["resultInfo"]}),
                ),
            }
        }
        _ => {
            Reply { status: 404, content_type: "text/html", headers: Vec::new(), body: "<html>Not Found</html>".into() }
        }
    }
}
