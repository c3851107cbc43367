//! Paytm: `initiateTransaction` for orders (the payer's browser posts `{mid, orderId, txnToken}`
//! to `showPaymentPage`), the browser callback form (and Paytm's server-to-server notification,
//! the same fields) verified by the Paytm checksum (see `paytm_checksum`), the v3 transaction
//! status API — which the core calls before anything moves (`confirms_by_query`) — and
//! `refund/apply`. Amounts travel as decimal strings ("99.00") and are converted exactly.
//! The checksum has no timestamp: a replayed callback only makes us ask the status API again.

use super::paytm_checksum as checksum;
use super::wire::{self, s};
use crate::config;
use crate::outbound::{join_url, Body, Outbound};
use crate::payments::gateway::*;
use serde_json::{json, Value};

const SERVICE: &str = "paytm";

pub struct Paytm {
    mid: String,
    merchant_key: String,
    website: String,
    api_base: String,
}

/// Paytm order ids: letters, digits and `_ - @ .`, at most 50.
fn valid_order_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 50 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-@.".contains(&b))
}

fn query_escape(s: &str) -> String {
    crate::outbound::form_encode(&[("", s)]).trim_start_matches('=').to_string()
}

impl Paytm {
    /// `None` when the MID or merchant key is empty.
    pub fn from_config(cfg: &config::Paytm) -> Option<Paytm> {
        if cfg.mid.trim().is_empty() || cfg.merchant_key.trim().is_empty() {
            return None;
        }
        Some(Paytm {
            mid: cfg.mid.trim().to_string(),
            merchant_key: cfg.merchant_key.trim().to_string(),
            website: cfg.website.clone(),
            api_base: cfg.api_base.clone(),
        })
    }

    /// Signs `body` (its exact text) into `{"body": …, "head": {"signature": …}}`, posts it, checks
    /// the answer's signature over its raw `body` text when it carries one, and returns the body.
    fn call(&self, out: &Outbound, path_and_query: &str, body: &Value) -> Result<Value, GatewayError> {
        let body_text = body.to_string();
        let Some(sig) = checksum::generate(&body_text, &self.merchant_key) else {
            log::warn!("payments: payments.paytm.merchant_key must be 16 characters");
            return Err(GatewayError::NotConfigured);
        };
        let request = format!(r#"{{"body":{body_text},"head":{{"signature":"{sig}"}}}}"#);
        let url = join_url(&self.api_base, path_and_query);
        let secrets = [self.merchant_key.as_str()];
        let r = wire::call(
            out,
            SERVICE,
            "POST",
            &url,
            &[],
            Body::Raw { content_type: "application/json", bytes: request.as_bytes() },
            &secrets,
        )?;
        let v: Value =
            serde_json::from_str(&r.body).map_err(|_| GatewayError::Rejected("paytm: answer is not JSON".into()))?;
        let raw_body = wire::raw_member(&r.body, "body")
            .ok_or_else(|| GatewayError::Rejected("paytm: answer without body".into()))?;
        if let Some(sig) = s(&v, "/head/signature").filter(|x| !x.is_empty()) {
            if !checksum::verify(raw_body, &self.merchant_key, &sig) {
                return Err(GatewayError::Rejected("paytm: the answer's signature does not verify".into()));
            }
        }
        Ok(v.get("body").cloned().unwrap_or(Value::Null))
    }
}

fn outcome_of(status: &str) -> Outcome {
    match status {
        "TXN_SUCCESS" => Outcome::Succeeded,
        "TXN_FAILURE" => Outcome::Failed,
        _ => Outcome::Pending,
    }
}

impl Gateway for Paytm {
    fn name(&self) -> &'static str {
        "paytm"
    }

    fn create_order(&self, out: &Outbound, o: &OrderRequest<'_>) -> Result<Checkout, GatewayError> {
        if !valid_order_id(o.payment_id) {
            return Err(GatewayError::Rejected("paytm: the payment id is not a valid Paytm order id".into()));
        }
        let amount = wire::minor_to_decimal(o.amount);
        let mut user = json!({"custId": o.payer_id});
        let mobile: String = o.payer_phone.trim_start_matches("+91").chars().filter(char::is_ascii_digit).collect();
        if o.payer_phone.starts_with("+91") && mobile.len() == 10 {
            user["mobile"] = json!(mobile);
        }
        if let Some(e) = o.payer_email.filter(|e| !e.is_empty()) {
            user["email"] = json!(e);
        }
        let body = json!({
            "requestType": "Payment",
            "mid": self.mid,
            "websiteName": self.website,
            "orderId": o.payment_id,
            "callbackUrl": o.callback_url,
            "txnAmount": {"value": amount, "currency": o.currency.to_ascii_uppercase()},
            "userInfo": user,
        });
        let q = format!(
            "/theia/api/v1/initiateTransaction?mid={}&orderId={}",
            query_escape(&self.mid),
            query_escape(o.payment_id)
        );
        let b = self.call(out, &q, &body)?;
        if s(&b, "/resultInfo/resultStatus").as_deref() != Some("S") {
            let msg = s(&b, "/resultInfo/resultMsg")
                .map(|m| wire::printable(&m))
                .unwrap_or_else(|| "initiateTransaction failed".into());
            return Err(GatewayError::Rejected(format!("paytm: {msg}")));
        }
        let token = s(&b, "/txnToken").ok_or_else(|| GatewayError::Rejected("paytm: no txnToken".into()))?;
        let page = join_url(
            &self.api_base,
            &format!(
                "/theia/api/v1/showPaymentPage?mid={}&orderId={}",
                query_escape(&self.mid),
                query_escape(o.payment_id)
            ),
        );
        Ok(Checkout {
            gateway_ref: o.payment_id.to_string(),
            checkout: json!({"mid": self.mid, "orderId": o.payment_id, "txnToken": token, "amount": amount, "url": page}),
            expires_at_ms: None,
        })
    }

    /// The callback form: `CHECKSUMHASH` over the other fields; the notice it yields only makes
    /// the core ask [`Gateway::query_status`].
    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<Notice>, WebhookError> {
        let form = wire::form_decode(req.body).ok_or(WebhookError::Malformed("not a form"))?;
        let mut names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(WebhookError::Malformed("a field appears twice"));
        }
        if !form.iter().any(|(k, _)| k == "CHECKSUMHASH") {
            return Err(WebhookError::InvalidSignature("missing CHECKSUMHASH"));
        }
        if !checksum::verify_form(&form, &self.merchant_key) {
            return Err(WebhookError::InvalidSignature("CHECKSUMHASH does not verify"));
        }
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
        if get("MID").as_deref() != Some(self.mid.as_str()) {
            return Err(WebhookError::Malformed("callback for another merchant"));
        }
        let order = get("ORDERID").ok_or(WebhookError::Malformed("callback without ORDERID"))?;
        let status = get("STATUS").ok_or(WebhookError::Malformed("callback without STATUS"))?;
        let amount = match get("TXNAMOUNT") {
            Some(a) => Some(wire::decimal_to_minor(&a).ok_or(WebhookError::Malformed("TXNAMOUNT is not an amount"))?),
            None => None,
        };
        let txn = get("TXNID");
        Ok(vec![Notice::Payment(PaymentNotice {
            event_id: format!("paytm:{}:{}", txn.clone().unwrap_or_else(|| order.clone()), wire::printable(&status)),
            gateway_ref: order.clone(),
            payment_id: Some(order),
            outcome: outcome_of(&status),
            amount,
            currency: get("CURRENCY").map(|c| c.to_ascii_uppercase()),
            gateway_payment_id: txn,
        })])
    }

    fn query_status(&self, out: &Outbound, gateway_ref: &str, _payment_id: &str) -> Result<StatusAnswer, GatewayError> {
        if !valid_order_id(gateway_ref) {
            return Err(GatewayError::Rejected("paytm: not an order id".into()));
        }
        let b = self.call(out, "/v3/order/status", &json!({"mid": self.mid, "orderId": gateway_ref}))?;
        if s(&b, "/orderId").is_some_and(|o| o != gateway_ref) || s(&b, "/mid").is_some_and(|m| m != self.mid) {
            return Err(GatewayError::Rejected("paytm: the status answer is about another order".into()));
        }
        let status = s(&b, "/resultInfo/resultStatus").unwrap_or_default();
        // 334 "Invalid Order Id": Paytm has no transaction for it (never reached the payment
        // page); not a final failure — the order expires on our side.
        let unknown = s(&b, "/resultInfo/resultCode").as_deref() == Some("334");
        let outcome = if unknown { Outcome::Pending } else { outcome_of(&status) };
        let amount = match s(&b, "/txnAmount").filter(|a| !a.is_empty()) {
            Some(a) => Some(
                wire::decimal_to_minor(&a)
                    .ok_or_else(|| GatewayError::Rejected("paytm: txnAmount is not an amount".into()))?,
            ),
            None => None,
        };
        let txn = s(&b, "/txnId").filter(|t| !t.is_empty());
        Ok(StatusAnswer {
            outcome,
            amount,
            // The v3 status answer carries no currency: Paytm settles INR only.
            currency: Some(s(&b, "/currency").unwrap_or_else(|| "INR".into())),
            event_id: format!("paytm:status:{gateway_ref}:{}:{outcome:?}", txn.clone().unwrap_or_default())
                .to_ascii_lowercase(),
            gateway_payment_id: txn,
        })
    }

    fn refund(&self, out: &Outbound, r: &RefundRequest<'_>) -> Result<RefundAnswer, GatewayError> {
        let txn = r
            .gateway_payment_id
            .filter(|t| !t.is_empty())
            .ok_or_else(|| GatewayError::Rejected("paytm: no TXNID to refund".into()))?;
        let body = json!({
            "mid": self.mid,
            "txnType": "REFUND",
            "orderId": r.gateway_ref,
            "txnId": txn,
            "refId": r.refund_id,
            "refundAmount": wire::minor_to_decimal(r.amount),
            "comments": r.reason,
        });
        let b = self.call(out, "/refund/apply", &body)?;
        let status = s(&b, "/resultInfo/resultStatus").unwrap_or_default();
        let refund_ref = s(&b, "/refundId").filter(|x| !x.is_empty()).unwrap_or_else(|| r.refund_id.to_string());
        match status.as_str() {
            "TXN_SUCCESS" => Ok(RefundAnswer { refund_ref, status: RefundStatus::Succeeded }),
            "PENDING" => Ok(RefundAnswer { refund_ref, status: RefundStatus::Pending }),
            _ => {
                let msg = s(&b, "/resultInfo/resultMsg")
                    .map(|m| wire::printable(&m))
                    .unwrap_or_else(|| "refund refused".into());
                Err(GatewayError::Rejected(format!("paytm: {msg}")))
            }
        }
    }

    /// `refund/apply` answers "pending" and Paytm sends no notice we read, so a refund is settled by
    /// asking the refund status API (`/v2/refund/status`, by our REFID), signed and verified
    /// like every call. Only an answer about this very refund counts; anything unclear stays pending.
    fn query_refund(&self, out: &Outbound, q: &RefundQuery<'_>) -> Result<Option<RefundStatus>, GatewayError> {
        if !valid_order_id(q.gateway_ref) {
            return Err(GatewayError::Rejected("paytm: not an order id".into()));
        }
        let body = json!({"mid": self.mid, "orderId": q.gateway_ref, "refId": q.refund_id});
        let b = self.call(out, "/v2/refund/status", &body)?;
        let status = s(&b, "/resultInfo/resultStatus").unwrap_or_default();
        let about_it = s(&b, "/refId").as_deref() == Some(q.refund_id)
            && s(&b, "/orderId").as_deref() == Some(q.gateway_ref)
            && s(&b, "/mid").is_none_or(|m| m == self.mid);
        if !about_it {
            // "Record not found" and the like carry no refId: not a verdict on this refund.
            return Ok(Some(RefundStatus::Pending));
        }
        Ok(Some(match status.as_str() {
            "TXN_SUCCESS" => RefundStatus::Succeeded,
            "TXN_FAILURE" => RefundStatus::Failed,
            _ => RefundStatus::Pending,
        }))
    }

    fn confirms_by_query(&self) -> bool {
        true
    }

    fn answers_browser(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw() -> Paytm {
        Paytm::from_config(&config::Paytm {
            mid: "INTEGR7769XXXXXX9383".into(),
            merchant_key: "TESTKEY_16_CHARS".into(),
            website: "WEBSTAGING".into(),
            api_base: "http://127.0.0.1:9".into(),
        })
        .unwrap()
    }

    fn req(body: &[u8]) -> Result<Vec<Notice>, WebhookError> {
        gw().parse_webhook(&WebhookRequest { headers: &[], body, now_ms: 0 })
    }

    /// The callback of wire-formats §3 with the CHECKSUMHASH paytmchecksum 1.7.0 generated for it.
    #[test]
    fn callback_signed_by_paytmchecksum() {
        let form = crate::outbound::form_encode(&[
            ("MID", "INTEGR7769XXXXXX9383"),
            ("ORDERID", "ORDER_1"),
            ("TXNID", "2020050811121280"),
            ("TXNAMOUNT", "940.00"),
            ("CURRENCY", "INR"),
            ("STATUS", "TXN_SUCCESS"),
            ("RESPCODE", "01"),
            ("RESPMSG", "Txn Success"),
            ("BANKTXNID", ""),
            ("TXNDATE", "2020-05-08 11:12:13.0"),
            ("CHECKSUMHASH", "B+xnuWg7T+olrZTJQe/37nwXMNjylGQLe2QMNa2q+e5urB4NXE38J9RKy1+UZ/u5pmAEnfCeQIl0KE1j792TFfnlyQW/xKBEgahlX7KWq+M="),
        ]);
        let n = req(form.as_bytes()).unwrap();
        let Notice::Payment(p) = &n[0] else { panic!("{n:?}") };
        assert_eq!((p.gateway_ref.as_str(), p.outcome, p.amount), ("ORDER_1", Outcome::Succeeded, Some(94000)));
        assert_eq!(p.gateway_payment_id.as_deref(), Some("2020050811121280"));
        assert!(matches!(req(form.replace("940.00", "1.00").as_bytes()), Err(WebhookError::InvalidSignature(_))));
        assert!(gw().confirms_by_query() && gw().answers_browser());
    }

    #[test]
    fn hostile_forms_never_panic() {
        for b in [
            &b""[..],
            b"CHECKSUMHASH=",
            b"CHECKSUMHASH=%",
            b"\xff\xfe",
            b"a=b&&&==&CHECKSUMHASH=AAAA",
            b"CHECKSUMHASH=pVzTTN%2BMIj9m5WfrGh9R1owSv",
        ] {
            assert!(req(b).is_err());
        }
        assert!(!valid_order_id("a/b") && !valid_order_id("") && valid_order_id("pay_01HX-1"));
    }
}
