//! Stripe: Checkout Sessions for orders, `Stripe-Signature` webhooks (HMAC-SHA256 hex over
//! `"{t}.{raw body}"` keyed with the whole `whsec_…` string; any `v1` may match, so a secret being
//! rolled keeps working; |now − t| ≤ 300 s), session retrieval for status, and refunds of the
//! session's PaymentIntent.

use super::wire::{self, s};
use crate::config;
use crate::outbound::{join_url, Body, Outbound};
use crate::payments::gateway::*;
use serde_json::{json, Value};

/// Seconds a signed delivery may be away from our clock, either way (Stripe's libraries: 300).
pub const TOLERANCE_SECS: i64 = 300;
/// Stripe accepts a Checkout Session `expires_at` between 30 minutes and 24 hours ahead.
const MIN_EXPIRY_SECS: i64 = 30 * 60 + 60;
const MAX_EXPIRY_SECS: i64 = 24 * 3600 - 60;
const SERVICE: &str = "stripe";

pub struct Stripe {
    secret_key: String,
    webhook_secret: String,
    api_base: String,
}

impl Stripe {
    /// `None` when the secret key or the webhook secret is empty.
    pub fn from_config(cfg: &config::Stripe) -> Option<Stripe> {
        if cfg.secret_key.trim().is_empty() || cfg.webhook_secret.trim().is_empty() {
            return None;
        }
        Some(Stripe {
            secret_key: cfg.secret_key.trim().to_string(),
            webhook_secret: cfg.webhook_secret.clone(),
            api_base: cfg.api_base.clone(),
        })
    }

    fn call(
        &self,
        out: &Outbound,
        method: &str,
        path: &str,
        idem: Option<&str>,
        body: Body<'_>,
    ) -> Result<Value, GatewayError> {
        let auth = format!("Bearer {}", self.secret_key);
        let mut headers: Vec<(&str, &str)> = vec![("Authorization", &auth)];
        if let Some(k) = idem {
            headers.push(("Idempotency-Key", k));
        }
        let secrets = [self.secret_key.as_str(), self.webhook_secret.as_str()];
        let r = wire::call(out, SERVICE, method, &join_url(&self.api_base, path), &headers, body, &secrets)?;
        serde_json::from_str(&r.body).map_err(|_| GatewayError::Rejected("stripe: answer is not JSON".into()))
    }
}

/// `t=…,v1=…` for `body` signed at `t` with `secret` (what Stripe sends; used by tests and fakes).
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", wire::hmac_sha256_hex(secret.as_bytes(), &signed_payload(t, body)))
}

fn signed_payload(t: i64, body: &[u8]) -> Vec<u8> {
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(body);
    msg
}

/// Verifies a `Stripe-Signature` header against the raw body: some `v1` must be the HMAC under
/// one of `secrets`, and `t` within [`TOLERANCE_SECS`] of `now_secs`. `v0` and unknown schemes
/// are ignored.
pub fn verify_signature(header: &str, body: &[u8], secrets: &[&str], now_secs: i64) -> Result<(), WebhookError> {
    let mut t: Option<i64> = None;
    let mut v1: Vec<&str> = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else { continue };
        match k.trim() {
            "t" => t = v.trim().parse().ok(),
            // More than a handful only happens in hostile headers; each costs an HMAC per secret.
            "v1" if v1.len() < 16 => v1.push(v.trim()),
            _ => {}
        }
    }
    let t = t.ok_or(WebhookError::InvalidSignature("Stripe-Signature has no timestamp"))?;
    if v1.is_empty() {
        return Err(WebhookError::InvalidSignature("Stripe-Signature has no v1 signature"));
    }
    let msg = signed_payload(t, body);
    let ok = secrets.iter().any(|sec| v1.iter().any(|sig| wire::hmac_sha256_matches(sec.as_bytes(), &msg, sig)));
    if !ok {
        return Err(WebhookError::InvalidSignature("no Stripe-Signature v1 matches"));
    }
    if now_secs.saturating_sub(t).unsigned_abs() > TOLERANCE_SECS as u64 {
        return Err(WebhookError::InvalidSignature("Stripe-Signature timestamp outside the 300 s tolerance"));
    }
    Ok(())
}

fn session_notice(event_id: &str, obj: &Value, outcome: Outcome) -> Result<Notice, WebhookError> {
    let session = s(obj, "/id").ok_or(WebhookError::Malformed("checkout session without id"))?;
    Ok(Notice::Payment(PaymentNotice {
        event_id: event_id.to_string(),
        gateway_ref: session,
        payment_id: s(obj, "/metadata/payment_id").or_else(|| s(obj, "/client_reference_id")),
        outcome,
        amount: obj.get("amount_total").and_then(Value::as_i64),
        currency: s(obj, "/currency").map(|c| c.to_ascii_uppercase()),
        gateway_payment_id: s(obj, "/payment_intent").or_else(|| s(obj, "/payment_intent/id")),
    }))
}

fn refund_status(status: &str) -> RefundStatus {
    match status {
        "succeeded" => RefundStatus::Succeeded,
        "failed" | "canceled" => RefundStatus::Failed,
        _ => RefundStatus::Pending,
    }
}

fn refund_notice(event_id: String, r: &Value, charge_pi: Option<String>) -> Option<Notice> {
    Some(Notice::Refund(RefundNotice {
        event_id,
        gateway_ref: None,
        gateway_payment_id: s(r, "/payment_intent").or(charge_pi),
        refund_ref: s(r, "/id")?,
        status: refund_status(r.get("status").and_then(Value::as_str).unwrap_or("")),
        amount: r.get("amount").and_then(Value::as_i64),
    }))
}

/// Reads a verified event (see [`verify_signature`]).
pub fn parse_event(body: &[u8]) -> Result<Vec<Notice>, WebhookError> {
    let ev: Value = serde_json::from_slice(body).map_err(|_| WebhookError::Malformed("body is not JSON"))?;
    let id = s(&ev, "/id").ok_or(WebhookError::Malformed("event without id"))?;
    let kind = s(&ev, "/type").ok_or(WebhookError::Malformed("event without type"))?;
    let obj = ev
        .pointer("/data/object")
        .filter(|o| o.is_object())
        .ok_or(WebhookError::Malformed("event without data.object"))?;
    let notices = match kind.as_str() {
        "checkout.session.completed" => {
            let outcome = match obj.get("payment_status").and_then(Value::as_str) {
                Some("paid") | Some("no_payment_required") => Outcome::Succeeded,
                // Delayed methods (bank debits): the async_payment_* event settles it.
                _ => Outcome::Pending,
            };
            vec![session_notice(&id, obj, outcome)?]
        }
        "checkout.session.async_payment_succeeded" => vec![session_notice(&id, obj, Outcome::Succeeded)?],
        "checkout.session.async_payment_failed" => vec![session_notice(&id, obj, Outcome::Failed)?],
        "checkout.session.expired" => vec![session_notice(&id, obj, Outcome::Expired)?],
        "charge.refunded" => {
            let pi = s(obj, "/payment_intent");
            let list = obj.pointer("/refunds/data").and_then(Value::as_array).cloned().unwrap_or_default();
            let out: Vec<Notice> = list
                .iter()
                .filter_map(|r| refund_notice(format!("{id}:{}", s(r, "/id").unwrap_or_default()), r, pi.clone()))
                .collect();
            if out.is_empty() {
                // Since API 2022-11-15 a charge's refunds are not expanded: refund.updated carries them.
                vec![Notice::Ignored { event_id: id, kind }]
            } else {
                out
            }
        }
        "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated" => {
            vec![refund_notice(id, obj, None).ok_or(WebhookError::Malformed("refund without id"))?]
        }
        _ => vec![Notice::Ignored { event_id: id, kind }],
    };
    Ok(notices)
}

/// Where a retrieved session (its `payment_intent` expanded) stands: paid; expired; completed but
/// its delayed payment failed (the PaymentIntent wants a new method or was canceled); else pending.
/// An open session whose card was declined stays pending: the payer may try again.
fn session_outcome(obj: &Value) -> Outcome {
    let pi_status = obj.pointer("/payment_intent/status").and_then(Value::as_str);
    match (obj.get("status").and_then(Value::as_str), obj.get("payment_status").and_then(Value::as_str)) {
        (_, Some("paid")) | (_, Some("no_payment_required")) => Outcome::Succeeded,
        (Some("expired"), _) => Outcome::Expired,
        (Some("complete"), _) if matches!(pi_status, Some("requires_payment_method") | Some("canceled")) => {
            Outcome::Failed
        }
        _ => Outcome::Pending,
    }
}

impl Gateway for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn create_order(&self, out: &Outbound, o: &OrderRequest<'_>) -> Result<Checkout, GatewayError> {
        let now_secs = wall_secs();
        let expires_at = (o.expires_at_ms / 1000).clamp(now_secs + MIN_EXPIRY_SECS, now_secs + MAX_EXPIRY_SECS);
        let amount = o.amount.to_string();
        let currency = o.currency.to_ascii_lowercase();
        let expires = expires_at.to_string();
        let mut form: Vec<(&str, &str)> = vec![
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", &currency),
            ("line_items[0][price_data][unit_amount]", &amount),
            ("line_items[0][price_data][product_data][name]", o.description),
            ("line_items[0][quantity]", "1"),
            ("success_url", &o.success_url),
            ("cancel_url", &o.cancel_url),
            ("client_reference_id", o.payment_id),
            ("metadata[payment_id]", o.payment_id),
            ("payment_intent_data[metadata][payment_id]", o.payment_id),
            ("expires_at", &expires),
        ];
        if let Some(email) = o.payer_email.filter(|e| !e.is_empty()) {
            form.push(("customer_email", email));
        }
        let v = self.call(out, "POST", "/v1/checkout/sessions", Some(o.payment_id), Body::Form(&form))?;
        let id = s(&v, "/id").ok_or_else(|| GatewayError::Rejected("stripe: session without id".into()))?;
        let url = s(&v, "/url").ok_or_else(|| GatewayError::Rejected("stripe: session without url".into()))?;
        Ok(Checkout {
            gateway_ref: id.clone(),
            checkout: json!({"url": url, "sessionId": id}),
            expires_at_ms: v.get("expires_at").and_then(Value::as_i64).map(|t| t * 1000),
        })
    }

    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<Notice>, WebhookError> {
        let header =
            req.header("stripe-signature").ok_or(WebhookError::InvalidSignature("missing Stripe-Signature"))?;
        verify_signature(header, req.body, &wire::secret_list(&self.webhook_secret), req.now_ms.div_euclid(1000))?;
        parse_event(req.body)
    }

    fn query_status(&self, out: &Outbound, gateway_ref: &str, _payment_id: &str) -> Result<StatusAnswer, GatewayError> {
        if gateway_ref.is_empty() || !gateway_ref.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(GatewayError::Rejected("stripe: not a Checkout Session id".into()));
        }
        let path = format!("/v1/checkout/sessions/{gateway_ref}?expand%5B%5D=payment_intent");
        let v = self.call(out, "GET", &path, None, Body::Empty)?;
        let outcome = session_outcome(&v);
        Ok(StatusAnswer {
            outcome,
            amount: v.get("amount_total").and_then(Value::as_i64),
            currency: s(&v, "/currency").map(|c| c.to_ascii_uppercase()),
            gateway_payment_id: s(&v, "/payment_intent").or_else(|| s(&v, "/payment_intent/id")),
            event_id: format!("stripe:status:{gateway_ref}:{outcome:?}").to_ascii_lowercase(),
        })
    }

    /// `POST /v1/checkout/sessions/{id}/expire`: a session is created with at least Stripe's 30 min
    /// (ours may be shorter), so it is expired at Stripe before we expire our order; Stripe refuses
    /// (400) a session that is no longer open, e.g. one just paid.
    fn cancel_order(&self, out: &Outbound, gateway_ref: &str) -> Result<(), GatewayError> {
        if gateway_ref.is_empty() || !gateway_ref.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(GatewayError::Rejected("stripe: not a Checkout Session id".into()));
        }
        let path = format!("/v1/checkout/sessions/{gateway_ref}/expire");
        let v = self.call(out, "POST", &path, None, Body::Form(&[]))?;
        match v.get("status").and_then(Value::as_str) {
            Some("expired") => Ok(()),
            other => Err(GatewayError::Rejected(format!("stripe: the session is {}", other.unwrap_or("unknown")))),
        }
    }

    fn refund(&self, out: &Outbound, r: &RefundRequest<'_>) -> Result<RefundAnswer, GatewayError> {
        let pi = match r.gateway_payment_id.filter(|p| !p.is_empty()) {
            Some(p) => p.to_string(),
            None => self
                .query_status(out, r.gateway_ref, r.payment_id)?
                .gateway_payment_id
                .ok_or_else(|| GatewayError::Rejected("stripe: the session has no PaymentIntent to refund".into()))?,
        };
        let amount = r.amount.to_string();
        let form: Vec<(&str, &str)> = vec![
            ("payment_intent", &pi),
            ("amount", &amount),
            ("metadata[refund_id]", r.refund_id),
            ("metadata[payment_id]", r.payment_id),
            ("metadata[reason]", r.reason),
        ];
        let v = self.call(out, "POST", "/v1/refunds", Some(r.refund_id), Body::Form(&form))?;
        Ok(RefundAnswer {
            refund_ref: s(&v, "/id").ok_or_else(|| GatewayError::Rejected("stripe: refund without id".into()))?,
            status: refund_status(v.get("status").and_then(Value::as_str).unwrap_or("")),
        })
    }
}

/// Stripe measures `expires_at` against real time, not our (injectable) clock.
fn wall_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1", "object": "payment_intent"}}}"#;

    /// wire-formats §1: made with stripe-python 16.1.0 `WebhookSignature.generate_signature_header`,
    /// cross-checked by openssl and stripe-node.
    #[test]
    fn stripe_python_vector() {
        assert_eq!(
            signature_header("whsec_test_secret", 1_700_000_000, BODY.as_bytes()),
            "t=1700000000,v1=35d3b522fd0d2457889d98cebdac7cf08b108ed6147cc7e7dfd6c412b0ad9e28"
        );
        let h = "t=1700000000,v1=35d3b522fd0d2457889d98cebdac7cf08b108ed6147cc7e7dfd6c412b0ad9e28";
        assert_eq!(verify_signature(h, BODY.as_bytes(), &["whsec_test_secret"], 1_700_000_100), Ok(()));
        assert!(verify_signature(h, BODY.as_bytes(), &["whsec_test_secret"], 1_700_000_301).is_err(), "stale");
        assert!(verify_signature(h, BODY.as_bytes(), &["whsec_test_secret"], 1_699_999_699).is_err(), "future");
        assert!(verify_signature(h, b"{}", &["whsec_test_secret"], 1_700_000_000).is_err(), "tampered");
        assert!(verify_signature(h, BODY.as_bytes(), &["whsec_other"], 1_700_000_000).is_err(), "wrong secret");
        // Rotation: an old-secret v1 next to a valid one; v0 never counts.
        let rot = "t=1700000000,v1=00ff,v1=35d3b522fd0d2457889d98cebdac7cf08b108ed6147cc7e7dfd6c412b0ad9e28";
        assert_eq!(verify_signature(rot, BODY.as_bytes(), &["whsec_test_secret"], 1_700_000_000), Ok(()));
        let v0 = "t=1700000000,v0=35d3b522fd0d2457889d98cebdac7cf08b108ed6147cc7e7dfd6c412b0ad9e28";
        assert!(verify_signature(v0, BODY.as_bytes(), &["whsec_test_secret"], 1_700_000_000).is_err());
        assert_eq!(
            parse_event(BODY.as_bytes()).unwrap(),
            vec![Notice::Ignored { event_id: "evt_1".into(), kind: "payment_intent.succeeded".into() }]
        );
    }

    #[test]
    fn hostile_headers_never_panic() {
        for h in [
            "",
            ",",
            "t=",
            "t=abc,v1=",
            "v1=zz",
            "t=99999999999999999999999,v1=00",
            "t=-9223372036854775808,v1=00",
            "=,=,=",
            "t=1,v1=\u{1F600}",
        ] {
            assert!(verify_signature(h, b"x", &["whsec_x"], 1).is_err(), "{h}");
        }
        for b in [
            &b""[..],
            b"null",
            b"[]",
            b"{\"id\":1}",
            b"{\"id\":\"e\",\"type\":\"checkout.session.completed\",\"data\":{}}",
            b"\xff\xfe",
        ] {
            assert!(parse_event(b).is_err());
        }
    }
}
