//! The fake Stripe (see `mod.rs` for what every fake does).

use super::*;

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
