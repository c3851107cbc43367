//! Outgoing operator webhooks, signed per Standard Webhooks v1: headers `webhook-id` (constant
//! across retries, the receiver's idempotency key), `webhook-timestamp` (Unix seconds of this
//! attempt) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` over `"{id}.{timestamp}.{body}"`,
//! keyed with the base64-decoded bytes of the `whsec_…` secret). Body: `{type, timestamp, data}`.

use super::{from_out_error, Channel, Message, SendError, Sender, Sent};
use crate::clock::Clock;
use crate::config::Config;
use crate::outbound::{Body, Outbound};
use base64::alphabet;
use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

const SECRET_PREFIX: &str = "whsec_";

/// Secrets are generated padded, but the reference libraries also accept them without padding.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One configured `[[webhooks]]` endpoint. The message body is the payload, its id the
/// `webhook-id`; the timestamp is this attempt's.
pub struct Endpoint {
    url: String,
    secret: String,
    clock: Arc<dyn Clock>,
}

/// A sender per `[[webhooks]]` table, in config order, then the operator's alerts webhook
/// (`alerts.webhook_url`) when it is set and not one of them.
pub fn from_config(c: &Config, clock: Arc<dyn Clock>) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = c
        .webhooks
        .iter()
        .map(|h| Endpoint { url: h.url.clone(), secret: h.secret.clone(), clock: clock.clone() })
        .collect();
    let a = &c.alerts;
    if !a.webhook_url.is_empty() && !out.iter().any(|e| e.url == a.webhook_url) {
        out.push(Endpoint { url: a.webhook_url.clone(), secret: a.webhook_secret.clone(), clock });
    }
    out
}

impl Endpoint {
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Sender for Endpoint {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    /// The reference is `http <status>`.
    fn send(&self, out: &Outbound, msg: &Message) -> Result<Sent, SendError> {
        let status = deliver(out, &self.url, &self.secret, msg.id, self.clock.now_secs(), msg.body)?;
        Ok(Sent::new(format!("http {status}")))
    }
}

/// The `webhook-signature` value `v1,<base64(HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}"))>`.
/// `secret` is `whsec_<base64>` (the prefix is optional, as in the reference libraries).
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Result<String, SendError> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = LENIENT_B64
        .decode(b64.trim())
        .map_err(|_| SendError::Permanent("webhook secret is not whsec_ followed by base64".into()))?;
    if key.is_empty() {
        return Err(SendError::Permanent("webhook secret is empty".into()));
    }
    // The signed content is dot-separated, so the id must not contain one (the spec forbids it).
    if msg_id.is_empty() || msg_id.contains('.') {
        return Err(SendError::Permanent("webhook message id must be non-empty and contain no '.'".into()));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|_| SendError::Permanent("webhook secret is not a usable HMAC key".into()))?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", general_purpose::STANDARD.encode(mac.finalize().into_bytes())))
}

/// POSTs one signed delivery. 2xx → `Ok(status)`. 410 Gone (the receiver asks to be disabled),
/// 3xx and other 4xx → permanent; 408, 429, 5xx and transport failures → transient (the
/// `Retry-After` header, when given, is quoted in the message).
pub fn deliver(
    out: &Outbound,
    url: &str,
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &str,
) -> Result<u16, SendError> {
    let signature = sign(secret, msg_id, timestamp, body)?;
    let ts = timestamp.to_string();
    let headers =
        [("webhook-id", msg_id), ("webhook-timestamp", ts.as_str()), ("webhook-signature", signature.as_str())];
    let r = out
        .send(
            &service_name(url),
            "POST",
            url,
            &headers,
            Body::Raw { content_type: "application/json", bytes: body.as_bytes() },
        )
        .map_err(|e| from_out_error("webhook", e))?;
    let retry_after = r.header("Retry-After").map(|v| format!(" (Retry-After: {v})")).unwrap_or_default();
    match r.status {
        200..=299 => Ok(r.status),
        410 => Err(SendError::Permanent("webhook endpoint answered 410 Gone; disable it".into())),
        408 | 429 | 500..=599 => {
            Err(SendError::Transient(format!("webhook endpoint answered {}{retry_after}", r.status)))
        }
        s => Err(SendError::Permanent(format!("webhook endpoint answered {s}"))),
    }
}

/// The outbound breaker key for a webhook URL: `webhook:<host>` (one breaker per receiving host).
pub fn service_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    format!("webhook:{}", host.to_ascii_lowercase())
}

/// Whether a target subscribed to `event_type`: an empty list means every event; each pattern is a
/// glob where `*` matches any run of characters (`booking.*` matches `booking.created`, `*` all).
pub fn matches(patterns: &[String], event_type: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob(p.as_bytes(), event_type.as_bytes()))
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Position of the last `*` seen and the text position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The Standard Webhooks payload `{"type": …, "timestamp": …, "data": …}`, keys in that order.
pub fn envelope(event_type: &str, timestamp_rfc3339: &str, data: &serde_json::Value) -> String {
    format!(
        "{{\"type\":{},\"timestamp\":{},\"data\":{}}}",
        serde_json::Value::from(event_type),
        serde_json::Value::from(timestamp_rfc3339),
        data
    )
}
