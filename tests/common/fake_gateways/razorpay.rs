//! The fake Razorpay (see `mod.rs` for what every fake does).

use super::*;

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
