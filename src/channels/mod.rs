//! Delivery channels to the outside world, each speaking its provider's real wire format: SMS
//! (Twilio), push (Expo), e-mail (SMTP) and outgoing operator webhooks (Standard Webhooks). The
//! HTTP ones go through the outbound client (timeouts, per-provider circuit breaker); e-mail uses
//! a blocking SMTP client. Every channel reports failures as a [`SendError`], so the notifier can
//! tell "try again later" from "move on to the next channel".

pub mod email;
pub mod push;
pub mod sms;
pub mod webhook;

use crate::outbound::OutError;

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
