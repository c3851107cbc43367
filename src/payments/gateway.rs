//! The one trait every payment gateway implements (sandbox, Stripe, Razorpay, Paytm), and the
//! plain data that crosses it. A gateway speaks its provider's real API through
//! `outbound::Outbound` (base URL from config) and verifies its provider's signature scheme; it
//! never touches the database. The payments feature decides what a notice means for a payment.

use crate::outbound::Outbound;
use serde_json::Value;

/// What `POST /payments` asks a gateway to open.
#[derive(Debug, Clone)]
pub struct OrderRequest<'a> {
    /// Our payment id: the gateway's receipt / client reference / ORDER_ID, so every notice
    /// and status answer can be matched back without trusting anything else in it.
    pub payment_id: &'a str,
    /// Minor units (paise, cents).
    pub amount: i64,
    /// ISO 4217, upper case ("INR").
    pub currency: &'a str,
    /// Shown to the payer ("Listing fee: Plumber, 30 days").
    pub description: &'a str,
    pub payer_id: &'a str,
    /// E.164.
    pub payer_phone: &'a str,
    pub payer_email: Option<&'a str>,
    /// Where the payer's browser lands after paying / giving up (`server.public_url` based).
    pub success_url: String,
    pub cancel_url: String,
    /// Where a gateway that posts the browser back (Paytm) sends its callback form.
    pub callback_url: String,
    /// Our own expiry for the order (epoch ms); gateways that can carry one get it.
    pub expires_at_ms: i64,
}

/// A gateway's answer to an order: its reference, and what the client needs to pay.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkout {
    /// Stripe Checkout Session id, Razorpay order id, Paytm order id, sandbox payment id.
    pub gateway_ref: String,
    /// The Payment's `checkout` object: `{"url": ...}` and/or gateway parameters
    /// (e.g. Razorpay `{keyId, orderId, amount, currency}`, Paytm `{mid, orderId, txnToken, url}`).
    pub checkout: Value,
    /// When the gateway itself gives up on the order (epoch ms), if it says.
    pub expires_at_ms: Option<i64>,
}

/// An incoming webhook or callback, as received.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// Server time (epoch ms) for timestamp tolerance checks.
    pub now_ms: i64,
}

impl WebhookRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Where a payment stands according to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Succeeded,
    Failed,
    Expired,
}

/// A verified statement about one payment.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentNotice {
    /// The provider's event id (Stripe `evt_…`, Razorpay `x-razorpay-event-id` or payload id,
    /// Paytm TXNID…): recorded so a duplicate delivery changes nothing.
    pub event_id: String,
    /// Which order it is about (see [`Checkout::gateway_ref`]).
    pub gateway_ref: String,
    /// Our payment id when the provider echoes it (metadata / receipt / ORDER_ID).
    pub payment_id: Option<String>,
    pub outcome: Outcome,
    /// What was actually paid, when the provider says; checked against the stored amount.
    pub amount: Option<i64>,
    pub currency: Option<String>,
    /// The provider's id of the captured charge (Stripe payment_intent, Razorpay pay_…,
    /// Paytm TXNID): needed for refunds.
    pub gateway_payment_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

/// A verified statement about one refund.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundNotice {
    pub event_id: String,
    /// The payment's order reference ([`Checkout::gateway_ref`]) when the provider gives it.
    pub gateway_ref: Option<String>,
    /// The charge the refund belongs to ([`PaymentNotice::gateway_payment_id`]).
    pub gateway_payment_id: Option<String>,
    /// The provider's refund id (Stripe `re_…`, Razorpay `rfnd_…`, Paytm refund id).
    pub refund_ref: String,
    pub status: RefundStatus,
    pub amount: Option<i64>,
}

/// What a verified webhook says. One delivery may carry several (Stripe `charge.refunded`
/// lists every refund of the charge).
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Payment(PaymentNotice),
    Refund(RefundNotice),
    /// Verified, but about nothing we act on (an event type we did not ask for).
    Ignored {
        event_id: String,
        kind: String,
    },
}

/// Why a webhook was refused: always a 400 to the sender, never a 5xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// Missing or wrong signature, or a timestamp more than 300 s from now.
    InvalidSignature(&'static str),
    /// Signed correctly but not a shape we understand.
    Malformed(&'static str),
}

/// Why a call to the gateway failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// Not reachable, 5xx, timed out, or its breaker is open: try later (503 to our client).
    Unavailable { retry_after_secs: u64 },
    /// The gateway answered and said no (4xx, an error body); the text is for logs and admins,
    /// never secrets.
    Rejected(String),
    /// The gateway is not configured (missing keys).
    NotConfigured,
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GatewayError::Unavailable { retry_after_secs } => {
                write!(f, "gateway unavailable; retry in {retry_after_secs} s")
            }
            GatewayError::Rejected(why) => write!(f, "gateway refused: {why}"),
            GatewayError::NotConfigured => write!(f, "gateway not configured"),
        }
    }
}

impl std::error::Error for GatewayError {}

/// The gateway's answer to "where does this order stand?".
#[derive(Debug, Clone, PartialEq)]
pub struct StatusAnswer {
    pub outcome: Outcome,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub gateway_payment_id: Option<String>,
    /// An id for this answer that is stable for the same final state (used as the event id when
    /// a status query, not a webhook, settles the payment).
    pub event_id: String,
}

/// A refund to ask for.
#[derive(Debug, Clone)]
pub struct RefundRequest<'a> {
    /// Our refund id (idempotency key at the provider, Paytm REFID).
    pub refund_id: &'a str,
    pub payment_id: &'a str,
    pub gateway_ref: &'a str,
    pub gateway_payment_id: Option<&'a str>,
    pub amount: i64,
    pub currency: &'a str,
    pub reason: &'a str,
}

/// A refund left pending, to ask its gateway about (reconciliation).
#[derive(Debug, Clone)]
pub struct RefundQuery<'a> {
    /// Our refund id (what [`RefundRequest::refund_id`] was).
    pub refund_id: &'a str,
    pub payment_id: &'a str,
    pub gateway_ref: &'a str,
    /// The provider's refund id ([`RefundAnswer::refund_ref`]).
    pub refund_ref: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefundAnswer {
    pub refund_ref: String,
    pub status: RefundStatus,
}

/// One payment gateway. Implementations hold their config (keys, base URL) and nothing else.
pub trait Gateway: Send + Sync {
    /// `sandbox`, `stripe`, `razorpay`, `paytm`: the `{gateway}` of `/webhooks/{gateway}` and the
    /// Payment's `gateway` field.
    fn name(&self) -> &'static str;

    /// Opens an order at the provider (Stripe Checkout Session, Razorpay Order, Paytm
    /// initiateTransaction) and says how the client pays it.
    fn create_order(&self, out: &Outbound, order: &OrderRequest<'_>) -> Result<Checkout, GatewayError>;

    /// Verifies the delivery with the provider's signature scheme and reads what it says.
    /// Pure: no network, no database.
    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<Notice>, WebhookError>;

    /// Asks the provider where an order stands (reconciliation; Paytm's confirmation).
    fn query_status(&self, out: &Outbound, gateway_ref: &str, payment_id: &str) -> Result<StatusAnswer, GatewayError>;

    /// Asks the provider to refund `amount` of a captured payment.
    fn refund(&self, out: &Outbound, req: &RefundRequest<'_>) -> Result<RefundAnswer, GatewayError>;

    /// Closes an unpaid order at the provider so it can no longer be paid (called before we expire
    /// it, when the provider would otherwise keep it payable longer: Stripe's Checkout Session
    /// lives at least 30 minutes). `Rejected` when the provider refuses because it is no longer
    /// open (it may just have been paid). The default: nothing to close.
    fn cancel_order(&self, _out: &Outbound, _gateway_ref: &str) -> Result<(), GatewayError> {
        Ok(())
    }

    /// Asks the provider where a refund left pending stands (reconciliation). `Ok(None)`: this
    /// provider has no such query, its notices settle refunds (the default).
    fn query_refund(&self, _out: &Outbound, _q: &RefundQuery<'_>) -> Result<Option<RefundStatus>, GatewayError> {
        Ok(None)
    }

    /// True when a callback only says "go and ask": nothing moves until [`Gateway::query_status`]
    /// (made by us, to the provider) confirms it (Paytm).
    fn confirms_by_query(&self) -> bool {
        false
    }

    /// True when the callback is a browser form POST answered with a small HTML page (Paytm).
    fn answers_browser(&self) -> bool {
        false
    }
}
