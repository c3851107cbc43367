//! Razorpay: the Orders API for orders (Checkout.js pays them), `X-Razorpay-Signature` webhooks
//! (lower-case hex HMAC-SHA256 of the raw body under the webhook secret — the scheme has no
//! timestamp, so there is no replay window: duplicates are caught by the event id), order
//! retrieval for status, and refunds of the captured payment.
//!
//! `payment.failed` maps to `Notice::Ignored`: a failed attempt does not fail a Razorpay order,
//! which the payer can still pay with another method; the order settles on `payment.captured` /
//! `order.paid`, or expires on our side.

use super::wire::{self, s};
use crate::config;
use crate::outbound::{join_url, Body, Outbound};
use crate::payments::gateway::*;
use base64::Engine;
use serde_json::{json, Value};

const SERVICE: &str = "razorpay";
/// Razorpay's `receipt` is at most 40 characters.
const MAX_RECEIPT: usize = 40;

pub struct Razorpay {
    key_id: String,
    key_secret: String,
    webhook_secret: String,
    api_base: String,
}

impl Razorpay {
    /// `None` when the key id, key secret or webhook secret is empty.
    pub fn from_config(cfg: &config::Razorpay) -> Option<Razorpay> {
        if cfg.key_id.trim().is_empty() || cfg.key_secret.trim().is_empty() || cfg.webhook_secret.trim().is_empty() {
            return None;
        }
        Some(Razorpay {
            key_id: cfg.key_id.trim().to_string(),
            key_secret: cfg.key_secret.trim().to_string(),
            webhook_secret: cfg.webhook_secret.clone(),
            api_base: cfg.api_base.clone(),
        })
    }

    fn call(&self, out: &Outbound, method: &str, path: &str, body: Body<'_>) -> Result<Value, GatewayError> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.key_id, self.key_secret));
        let auth = format!("Basic {basic}");
        let secrets = [self.key_secret.as_str(), self.webhook_secret.as_str(), basic.as_str()];
        let r = wire::call(
            out,
            SERVICE,
            method,
            &join_url(&self.api_base, path),
            &[("Authorization", &auth)],
            body,
            &secrets,
        )?;
        serde_json::from_str(&r.body).map_err(|_| GatewayError::Rejected("razorpay: answer is not JSON".into()))
    }

    /// The captured payment of an order, if any.
    fn captured_payment(&self, out: &Outbound, order_id: &str) -> Result<Option<Value>, GatewayError> {
        let v = self.call(out, "GET", &format!("/v1/orders/{order_id}/payments"), Body::Empty)?;
        let items = v.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok(items.into_iter().find(|p| p.get("status").and_then(Value::as_str) == Some("captured")))
    }
}

/// `X-Razorpay-Signature` for `body` under `secret` (what Razorpay sends; tests and fakes use it).
pub fn signature(secret: &str, body: &[u8]) -> String {
    wire::hmac_sha256_hex(secret.as_bytes(), body)
}

/// True when `sig` is the signature of `body` under any of `secrets`.
pub fn verify_signature(sig: &str, body: &[u8], secrets: &[&str]) -> bool {
    secrets.iter().any(|sec| wire::hmac_sha256_matches(sec.as_bytes(), body, sig))
}

impl Razorpay {
    /// The `razorpay_signature` Checkout.js hands the client after payment: hex HMAC-SHA256 of
    /// `"{order_id}|{payment_id}"` under the API key secret. Only a hint that the payer finished
    /// (the webhook or our status query settles the payment), but a wrong one is a forgery.
    pub fn verify_payment_signature(&self, order_id: &str, payment_id: &str, sig: &str) -> bool {
        wire::hmac_sha256_matches(self.key_secret.as_bytes(), format!("{order_id}|{payment_id}").as_bytes(), sig)
    }
}

fn refund_status(status: &str) -> RefundStatus {
    match status {
        "processed" => RefundStatus::Succeeded,
        "failed" => RefundStatus::Failed,
        _ => RefundStatus::Pending,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Reads a verified delivery; `event_id` is `X-Razorpay-Event-Id` or a hash of the body.
pub fn parse_event(event_id: &str, body: &[u8]) -> Result<Vec<Notice>, WebhookError> {
    let ev: Value = serde_json::from_slice(body).map_err(|_| WebhookError::Malformed("body is not JSON"))?;
    let kind = s(&ev, "/event").ok_or(WebhookError::Malformed("delivery without event"))?;
    let payment = ev.pointer("/payload/payment/entity");
    let order = ev.pointer("/payload/order/entity");
    let notice = match kind.as_str() {
        "payment.captured" | "order.paid" => {
            let p = payment.ok_or(WebhookError::Malformed("no payment entity"))?;
            let order_id = s(p, "/order_id")
                .or_else(|| order.and_then(|o| s(o, "/id")))
                .ok_or(WebhookError::Malformed("payment without order_id"))?;
            let payment_id = order
                .and_then(|o| s(o, "/receipt"))
                .or_else(|| s(p, "/notes/payment_id"))
                .or_else(|| order.and_then(|o| s(o, "/notes/payment_id")));
            Notice::Payment(PaymentNotice {
                event_id: event_id.to_string(),
                gateway_ref: order_id,
                payment_id,
                outcome: Outcome::Succeeded,
                amount: p.get("amount").and_then(Value::as_i64),
                currency: s(p, "/currency").map(|c| c.to_ascii_uppercase()),
                gateway_payment_id: s(p, "/id"),
            })
        }
        "refund.created" | "refund.processed" | "refund.failed" => {
            let r = ev.pointer("/payload/refund/entity").ok_or(WebhookError::Malformed("no refund entity"))?;
            let status = match kind.as_str() {
                "refund.processed" => RefundStatus::Succeeded,
                "refund.failed" => RefundStatus::Failed,
                _ => refund_status(r.get("status").and_then(Value::as_str).unwrap_or("")),
            };
            Notice::Refund(RefundNotice {
                event_id: event_id.to_string(),
                gateway_ref: payment.and_then(|p| s(p, "/order_id")),
                gateway_payment_id: s(r, "/payment_id"),
                refund_ref: s(r, "/id").ok_or(WebhookError::Malformed("refund without id"))?,
                status,
                amount: r.get("amount").and_then(Value::as_i64),
            })
        }
        _ => Notice::Ignored { event_id: event_id.to_string(), kind },
    };
    Ok(vec![notice])
}

impl Gateway for Razorpay {
    fn name(&self) -> &'static str {
        "razorpay"
    }

    fn create_order(&self, out: &Outbound, o: &OrderRequest<'_>) -> Result<Checkout, GatewayError> {
        let receipt: String = o.payment_id.chars().take(MAX_RECEIPT).collect();
        let body = json!({
            "amount": o.amount,
            "currency": o.currency.to_ascii_uppercase(),
            "receipt": receipt,
            "notes": {"payment_id": o.payment_id},
        });
        let v = self.call(out, "POST", "/v1/orders", Body::Json(&body))?;
        let id = s(&v, "/id").ok_or_else(|| GatewayError::Rejected("razorpay: order without id".into()))?;
        let mut prefill = json!({"contact": o.payer_phone});
        if let Some(e) = o.payer_email.filter(|e| !e.is_empty()) {
            prefill["email"] = json!(e);
        }
        Ok(Checkout {
            gateway_ref: id.clone(),
            checkout: json!({
                "keyId": self.key_id,
                "orderId": id,
                "amount": v.get("amount").and_then(Value::as_i64).unwrap_or(o.amount),
                "currency": s(&v, "/currency").unwrap_or_else(|| o.currency.to_ascii_uppercase()),
                "name": o.description,
                "description": o.description,
                "prefill": prefill,
                "callbackUrl": o.success_url,
            }),
            expires_at_ms: None,
        })
    }

    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<Notice>, WebhookError> {
        let sig =
            req.header("x-razorpay-signature").ok_or(WebhookError::InvalidSignature("missing X-Razorpay-Signature"))?;
        if !verify_signature(sig, req.body, &wire::secret_list(&self.webhook_secret)) {
            return Err(WebhookError::InvalidSignature("X-Razorpay-Signature does not match"));
        }
        let event_id =
            match req.header("x-razorpay-event-id").map(str::trim).filter(|e| !e.is_empty() && e.len() <= 128) {
                Some(e) => wire::printable(e),
                None => {
                    use sha2::Digest;
                    format!("rzp_body_{}", hex::encode(sha2::Sha256::digest(req.body)))
                }
            };
        parse_event(&event_id, req.body)
    }

    fn query_status(&self, out: &Outbound, gateway_ref: &str, _payment_id: &str) -> Result<StatusAnswer, GatewayError> {
        if !valid_id(gateway_ref) {
            return Err(GatewayError::Rejected("razorpay: not an order id".into()));
        }
        let v = self.call(out, "GET", &format!("/v1/orders/{gateway_ref}"), Body::Empty)?;
        let status = v.get("status").and_then(Value::as_str).unwrap_or("");
        let (outcome, captured) = if status == "paid" {
            (Outcome::Succeeded, self.captured_payment(out, gateway_ref)?)
        } else {
            (Outcome::Pending, None)
        };
        Ok(StatusAnswer {
            outcome,
            amount: captured
                .as_ref()
                .and_then(|p| p.get("amount").and_then(Value::as_i64))
                .or_else(|| v.get("amount_paid").and_then(Value::as_i64).filter(|a| *a > 0)),
            currency: s(&v, "/currency").map(|c| c.to_ascii_uppercase()),
            gateway_payment_id: captured.as_ref().and_then(|p| s(p, "/id")),
            event_id: format!(
                "razorpay:status:{gateway_ref}:{}",
                if outcome == Outcome::Succeeded { "paid" } else { "pending" }
            ),
        })
    }

    fn refund(&self, out: &Outbound, r: &RefundRequest<'_>) -> Result<RefundAnswer, GatewayError> {
        let pay_id = match r.gateway_payment_id.filter(|p| !p.is_empty()) {
            Some(p) => p.to_string(),
            None => {
                if !valid_id(r.gateway_ref) {
                    return Err(GatewayError::Rejected("razorpay: not an order id".into()));
                }
                self.captured_payment(out, r.gateway_ref)?
                    .and_then(|p| s(&p, "/id"))
                    .ok_or_else(|| GatewayError::Rejected("razorpay: the order has no captured payment".into()))?
            }
        };
        if !valid_id(&pay_id) {
            return Err(GatewayError::Rejected("razorpay: not a payment id".into()));
        }
        let receipt: String = r.refund_id.chars().take(MAX_RECEIPT).collect();
        let body = json!({
            "amount": r.amount,
            "receipt": receipt,
            "notes": {"refund_id": r.refund_id, "payment_id": r.payment_id, "reason": r.reason},
        });
        let v = self.call(out, "POST", &format!("/v1/payments/{pay_id}/refund"), Body::Json(&body))?;
        Ok(RefundAnswer {
            refund_ref: s(&v, "/id").ok_or_else(|| GatewayError::Rejected("razorpay: refund without id".into()))?,
            status: refund_status(v.get("status").and_then(Value::as_str).unwrap_or("")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// wire-formats §4: verified by razorpay-python 2.0.1 `Utility.verify_webhook_signature` and npm razorpay.
    #[test]
    fn razorpay_library_vector() {
        let body = r#"{"entity": "event", "event": "payment.captured", "payload": {"payment": {"entity": {"id": "pay_1", "order_id": "order_1"}}}}"#;
        let sig = "12e2cf482befc6a4f1192968b3142f378d483b4afe5a926a1d7fc758f4e5de70";
        assert_eq!(signature("webhook_secret_abc", body.as_bytes()), sig);
        assert!(verify_signature(sig, body.as_bytes(), &["old", "webhook_secret_abc"]));
        assert!(!verify_signature(sig, format!("{body} ").as_bytes(), &["webhook_secret_abc"]));
        let n = parse_event("evt", body.as_bytes()).unwrap();
        match &n[0] {
            Notice::Payment(p) => {
                assert_eq!((p.gateway_ref.as_str(), p.outcome), ("order_1", Outcome::Succeeded));
                assert_eq!(p.gateway_payment_id.as_deref(), Some("pay_1"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// wire-formats §4: `verify_payment_signature` of razorpay-python 2.0.1 accepts this one.
    #[test]
    fn checkout_payment_signature_vector() {
        let g = Razorpay::from_config(&config::Razorpay {
            key_id: "rzp_test_KEYID".into(),
            key_secret: "key_secret_123".into(),
            webhook_secret: "w".into(),
            api_base: "http://127.0.0.1:9".into(),
        })
        .unwrap();
        let sig = "e25c70939b63da181cd4dd1f4e3e42d99da3349f9838e18a4fc21f7ff2db1300";
        assert!(g.verify_payment_signature("order_1", "pay_1", sig));
        assert!(!g.verify_payment_signature("order_1", "pay_2", sig));
    }

    #[test]
    fn hostile_bodies_never_panic() {
        for b in [
            &b""[..],
            b"null",
            b"{}",
            b"{\"event\":\"payment.captured\"}",
            b"{\"event\":\"refund.processed\",\"payload\":{}}",
            b"\xff",
        ] {
            assert!(parse_event("e", b).is_err());
        }
        assert!(!verify_signature("", b"x", &["s"]));
        assert!(!verify_signature("\u{1F600}", b"x", &["s"]));
    }
}
