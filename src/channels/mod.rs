//! Delivery channels to the outside world, each speaking its provider's real wire format: SMS
//! (console or Twilio), push (Expo), e-mail (SMTP) and outgoing operator webhooks (Standard
//! Webhooks). The HTTP ones go through the App's one outbound client (timeouts, one circuit
//! breaker per provider); e-mail uses a blocking SMTP client.
//!
//! Every channel is a [`Sender`]: one `send` that takes a [`Message`] and answers [`Sent`] or a
//! [`SendError`] — permanent ("move on to the next channel") or transient ("try again later").
//! The notifier's delivery worker looks the sender up in the App's [`Senders`] (by channel, or by
//! URL for a webhook) and calls `send`; it knows no provider.
//!
//! **Adding a channel** (or a provider for one): write a type that implements [`Sender`], give it
//! a `from_config` that builds it from its config section (`None` when the operator did not pick
//! it), add one line to [`Senders::from_config`], and a [`Channel`] variant. The fallback order is
//! the notifier's (`notify::FALLBACK`). A payments gateway can copy the same shape.
//!
//! **The one exception to the outbox**: everything a user is told goes through the outbox
//! (`notify::outbox`) and the delivery worker, with retries. One-time codes do not, because a code
//! must never be stored in clear and delivery rows are plain text: they go through
//! [`codes::send`] — in the request (signup, resend), or queued for the App's code thread when
//! the answer must not depend on whether a code was sent (password reset). Either way the same SMS
//! sender and the App's single outbound client (so the same Twilio breaker) are used.

pub mod codes;
pub mod email;
pub mod push;
mod senders;
pub mod sms;
pub mod webhook;

pub use senders::Senders;

use crate::outbound::{OutError, Outbound};
use serde_json::Value;

/// The ways a message leaves the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Push,
    Sms,
    Email,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Push => "push",
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "push" => Some(Channel::Push),
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
}

/// One provider integration for one channel.
pub trait Sender: Send + Sync {
    fn channel(&self) -> Channel;

    /// Sends `msg` to its addresses (one request where the provider batches). Never logs the
    /// addresses or the text.
    fn send(&self, out: &Outbound, msg: &Message) -> Result<Sent, SendError>;
}

/// What to send. Each channel lays the texts out its own way (an SMS is `title: body`, an e-mail
/// has a subject, a push notification a title).
pub struct Message<'a> {
    /// Constant across retries (the delivery id): webhooks send it as `webhook-id`.
    pub id: &'a str,
    /// A phone number or an e-mail address; for push every device token of the user (one batch).
    /// Empty for a webhook: the endpoint is the sender.
    pub to: &'a [String],
    pub title: &'a str,
    /// The text; for a webhook, the JSON payload that is signed.
    pub body: &'a str,
    /// Handed to the app with a push notification; `Value::Null` for none.
    pub data: &'a Value,
    /// Called with each address the provider says is gone for good (the token of an uninstalled
    /// app), whatever the outcome, so the caller stops using it.
    pub forget: &'a dyn Fn(&str),
}

static NO_DATA: Value = Value::Null;

impl<'a> Message<'a> {
    /// A plain text to one or more addresses: no id, title or data.
    pub fn text(to: &'a [String], body: &'a str) -> Message<'a> {
        Message { id: "", to, title: "", body, data: &NO_DATA, forget: &|_| {} }
    }
}

/// What the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's reference, kept on the delivery row: a message id, push receipt ids
    /// (comma-separated), or a webhook's HTTP status.
    pub reference: String,
}

impl Sent {
    pub fn new(reference: impl Into<String>) -> Sent {
        Sent { reference: reference.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Retrying will not help (bad number or address, unregistered device, bad credentials).
    Permanent(String),
    /// The provider is down or slow; try again later.
    Transient(String),
}

impl SendError {
    /// True when retrying on the same channel is pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_))
    }

    /// The human-readable reason, without the permanent/transient prefix.
    pub fn message(&self) -> &str {
        match self {
            SendError::Permanent(m) | SendError::Transient(m) => m,
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Permanent(e) => write!(f, "permanent: {e}"),
            SendError::Transient(e) => write!(f, "transient: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Maps an outbound-client failure: a bad URL is a configuration error (permanent); anything
/// else (open breaker, timeout, connection refused, TLS) may well work later.
pub(crate) fn from_out_error(provider: &str, e: OutError) -> SendError {
    match e {
        OutError::BadUrl(u) => SendError::Permanent(format!("bad {provider} URL: {u}")),
        other => SendError::Transient(format!("{provider}: {other}")),
    }
}

/// The single address of a one-recipient channel (SMS, e-mail).
fn single<'a>(msg: &'a Message, what: &str) -> Result<&'a str, SendError> {
    match msg.to {
        [one] => Ok(one),
        _ => Err(SendError::Permanent(format!("expected one {what}, got {}", msg.to.len()))),
    }
}
