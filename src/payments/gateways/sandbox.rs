//! The built-in sandbox gateway: a complete payment flow with no account anywhere. The order's
//! checkout is our own page `/pay/sandbox/{paymentId}` (Pay / Fail); its form makes the server
//! sign a notification exactly as a remote gateway would (`X-Sandbox-Signature: t=<unix>,v1=<hex>`,
//! HMAC-SHA256 of `"{t}.{body}"` under `payments.sandbox.secret`) and hand it to the webhook
//! processing, so the sandbox exercises the same verification and settlement as a real gateway.
//! Anyone holding the secret may also post such notifications to `/api/v1/webhooks/sandbox`.
//!
//! The sandbox has no remote side, and says so honestly: [`Gateway::query_status`] knows nothing
//! the notifications have not told us and answers `Pending`, so the reconciliation job leaves a
//! stuck sandbox payment alone until its order expires. Refunds have no money to move: they
//! succeed at once.
//!
//! Body: `{"id": "<event id>", "type": "payment.succeeded" | "payment.failed" | "payment.expired" |
//! "refund.succeeded" | "refund.failed", "paymentId", "amount", "currency", "refundRef"?}`.

use crate::outbound::{join_url, Outbound};
use crate::payments::gateway::*;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-Sandbox-Signature";
/// How far a signature's timestamp may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;

pub struct Sandbox {
    public_url: String,
    secret: String,
}

fn mac(secret: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC accepts any key"))
}

/// Hex HMAC-SHA256 of `"{t}.{body}"`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// The header value for `body` signed at `t` (unix seconds).
pub fn header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", sign(secret, t, body))
}

/// Checks `t=...,v1=...[,v1=...]` against `body`: any `v1` may match (a sender rotating its
/// secret signs with both), and `t` must be within [`TOLERANCE_SECS`] of `now_secs`.
pub fn verify(secret: &str, header: Option<&str>, body: &[u8], now_secs: i64) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::InvalidSignature("missing X-Sandbox-Signature"))?;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let t = t.ok_or(WebhookError::InvalidSignature("no timestamp"))?;
    if (now_secs - t).abs() > TOLERANCE_SECS {
        return Err(WebhookError::InvalidSignature("timestamp outside the tolerance"));
    }
    for s in sigs {
        let Ok(bytes) = hex::decode(s) else { continue };
        let mut m = mac(secret);
        m.update(t.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        if m.verify_slice(&bytes).is_ok() {
            return Ok(());
        }
    }
    Err(WebhookError::InvalidSignature("no matching v1 signature"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    payment_id: String,
    amount: Option<i64>,
    currency: Option<String>,
    refund_ref: Option<String>,
}

impl Sandbox {
    pub fn new(public_url: &str, secret: &str) -> Sandbox {
        Sandbox { public_url: public_url.to_string(), secret: secret.to_string() }
    }

    /// The checkout page of a payment.
    pub fn page_url(&self, payment_id: &str) -> String {
        join_url(&self.public_url, &format!("/pay/sandbox/{payment_id}"))
    }
}

impl Gateway for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn create_order(&self, _: &Outbound, order: &OrderRequest<'_>) -> Result<Checkout, GatewayError> {
        Ok(Checkout {
            gateway_ref: order.payment_id.to_string(),
            checkout: serde_json::json!({"url": self.page_url(order.payment_id)}),
            expires_at_ms: None,
        })
    }

    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<Notice>, WebhookError> {
        verify(&self.secret, req.header(SIGNATURE_HEADER), req.body, req.now_ms.div_euclid(1000))?;
        let b: Body = serde_json::from_slice(req.body).map_err(|_| WebhookError::Malformed("not a sandbox event"))?;
        if b.id.is_empty() || b.id.len() > 200 {
            return Err(WebhookError::Malformed("bad event id"));
        }
        let payment = |outcome| {
            Notice::Payment(PaymentNotice {
                event_id: b.id.clone(),
                gateway_ref: b.payment_id.clone(),
                payment_id: Some(b.payment_id.clone()),
                outcome,
                amount: b.amount,
                currency: b.currency.clone(),
                gateway_payment_id: Some(format!("sbx_pay_{}", b.payment_id)),
            })
        };
        let refund = |status| {
            Notice::Refund(RefundNotice {
                event_id: b.id.clone(),
                gateway_ref: Some(b.payment_id.clone()),
                gateway_payment_id: None,
                refund_ref: b.refund_ref.clone().unwrap_or_default(),
                status,
                amount: b.amount,
            })
        };
        Ok(vec![match b.kind.as_str() {
            "payment.succeeded" => payment(Outcome::Succeeded),
            "payment.failed" => payment(Outcome::Failed),
            "payment.expired" => payment(Outcome::Expired),
            "refund.succeeded" if b.refund_ref.is_some() => refund(RefundStatus::Succeeded),
            "refund.failed" if b.refund_ref.is_some() => refund(RefundStatus::Failed),
            other => Notice::Ignored { event_id: b.id.clone(), kind: other.chars().take(100).collect() },
        }])
    }

    /// Nothing remote to ask: the sandbox knows only what its notifications said (see the module doc).
    fn query_status(&self, _: &Outbound, _gateway_ref: &str, payment_id: &str) -> Result<StatusAnswer, GatewayError> {
        Ok(StatusAnswer {
            outcome: Outcome::Pending,
            amount: None,
            currency: None,
            gateway_payment_id: None,
            event_id: format!("sandbox-status-{payment_id}"),
        })
    }

    fn refund(&self, _: &Outbound, req: &RefundRequest<'_>) -> Result<RefundAnswer, GatewayError> {
        Ok(RefundAnswer { refund_ref: format!("sbx_rf_{}", req.refund_id), status: RefundStatus::Succeeded })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_good_tampered_stale_and_rotated() {
        let body = br#"{"id":"e1","type":"payment.succeeded","paymentId":"pay_1","amount":9900,"currency":"INR"}"#;
        let now = 1_700_000_000;
        let h = header("s3cret", now, body);
        assert_eq!(verify("s3cret", Some(&h), body, now), Ok(()));
        assert!(verify("s3cret", Some(&h), b"{}", now).is_err(), "tampered body");
        assert!(verify("other", Some(&h), body, now).is_err(), "wrong secret");
        assert!(verify("s3cret", Some(&h), body, now + 301).is_err(), "stale, past");
        assert!(verify("s3cret", Some(&h), body, now - 301).is_err(), "stale, future");
        assert_eq!(verify("s3cret", Some(&h), body, now + 300), Ok(()));
        let rotated = format!("t={now},v1={},v1={}", sign("old", now, body), sign("s3cret", now, body));
        assert_eq!(verify("s3cret", Some(&rotated), body, now), Ok(()));
        assert_eq!(verify("old", Some(&rotated), body, now), Ok(()));
        assert!(verify("s3cret", None, body, now).is_err());
        assert!(verify("s3cret", Some("v1=zz"), body, now).is_err());
        // A known vector: HMAC-SHA256("key", "1.x") computed independently (Python hmac).
        assert_eq!(sign("key", 1, b"x"), hmac_vector());
    }

    fn hmac_vector() -> &'static str {
        "fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
    }
}
