//! The outbound HTTP client every provider integration uses (gateways, Twilio, Expo, webhooks):
//! one ureq agent with connect and total timeouts, HTTP error statuses returned as data (the
//! caller decides what a 4xx means for its provider), response bodies capped, and a circuit
//! breaker per provider so a provider that is down is not hammered (and callers fail fast).

use crate::clock::Clock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Failures in a row that open a breaker, and how long it stays open before one trial call.
const BREAKER_THRESHOLD: u32 = 5;
const BREAKER_OPEN_MS: i64 = 30_000;
const MAX_RESPONSE_BYTES: u64 = 2 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct OutResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl OutResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutError {
    /// The provider's breaker is open; nothing was sent.
    CircuitOpen {
        retry_after_ms: i64,
    },
    Timeout,
    /// Connection refused, DNS, TLS — the request may not have reached the provider.
    Transport(String),
    BadUrl(String),
}

impl std::fmt::Display for OutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutError::CircuitOpen { retry_after_ms } => write!(f, "circuit open; retry in {retry_after_ms} ms"),
            OutError::Timeout => write!(f, "timed out"),
            OutError::Transport(e) => write!(f, "transport error: {e}"),
            OutError::BadUrl(e) => write!(f, "bad URL: {e}"),
        }
    }
}

impl std::error::Error for OutError {}

#[derive(Debug, Clone, Copy, Default)]
struct Breaker {
    failures: u32,
    open_until_ms: i64,
}

/// A request body.
pub enum Body<'a> {
    Empty,
    Json(&'a serde_json::Value),
    Form(&'a [(&'a str, &'a str)]),
    Raw { content_type: &'a str, bytes: &'a [u8] },
}

pub struct Outbound {
    agent: ureq::Agent,
    clock: Arc<dyn Clock>,
    breakers: Mutex<HashMap<String, Breaker>>,
}

impl Outbound {
    pub fn new(clock: Arc<dyn Clock>, connect_timeout: Duration, total_timeout: Duration) -> Outbound {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(total_timeout))
            .http_status_as_error(false)
            // Never follow redirects: a provider or webhook receiver answering 3xx must not steer
            // a signed POST elsewhere (and turn it into a GET); callers treat 3xx as a failure.
            .max_redirects(0)
            .user_agent(concat!("buildxpert/", env!("CARGO_PKG_VERSION")))
            .build();
        Outbound { agent: ureq::Agent::new_with_config(config), clock, breakers: Mutex::new(HashMap::new()) }
    }

    /// Sends one request on behalf of `service` (the breaker's key, e.g. "twilio").
    /// A 5xx or transport failure counts against the breaker; any answer below 500 resets it.
    pub fn send(
        &self,
        service: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<OutResponse, OutError> {
        let now = self.clock.now_ms();
        {
            let map = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(b) = map.get(service) {
                if b.open_until_ms > now {
                    return Err(OutError::CircuitOpen { retry_after_ms: b.open_until_ms - now });
                }
            }
        }
        let result = self.send_inner(method, url, headers, body);
        let failed = match &result {
            Ok(r) => r.status >= 500,
            Err(OutError::BadUrl(_)) => false,
            Err(_) => true,
        };
        self.record(service, failed);
        result
    }

    fn record(&self, service: &str, failed: bool) {
        let now = self.clock.now_ms();
        let mut map = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.entry(service.to_string()).or_default();
        if failed {
            b.failures += 1;
            if b.failures >= BREAKER_THRESHOLD {
                if b.open_until_ms <= now {
                    log::warn!("outbound: circuit for {service} opened after {} failures", b.failures);
                }
                b.open_until_ms = now + BREAKER_OPEN_MS;
            }
        } else {
            *b = Breaker::default();
        }
    }

    /// True while `service`'s breaker refuses calls.
    pub fn is_open(&self, service: &str) -> bool {
        let now = self.clock.now_ms();
        let map = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        map.get(service).is_some_and(|b| b.open_until_ms > now)
    }

    fn send_inner(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<OutResponse, OutError> {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (content_type, bytes): (Option<&str>, Vec<u8>) = match body {
            Body::Empty => (None, Vec::new()),
            Body::Json(v) => (Some("application/json"), serde_json::to_vec(v).unwrap_or_default()),
            Body::Form(pairs) => (Some("application/x-www-form-urlencoded"), form_encode(pairs).into_bytes()),
            Body::Raw { content_type, bytes } => (Some(content_type), bytes.to_vec()),
        };
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let req = req.body(bytes).map_err(|e| OutError::BadUrl(e.to_string()))?;
        let resp = self.agent.run(req).map_err(map_err)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = resp.into_body().with_config().limit(MAX_RESPONSE_BYTES).read_to_string().map_err(map_err)?;
        Ok(OutResponse { status, headers, body })
    }
}

fn map_err(e: ureq::Error) -> OutError {
    match e {
        ureq::Error::Timeout(_) => OutError::Timeout,
        ureq::Error::BadUri(u) => OutError::BadUrl(u),
        ureq::Error::Http(h) => OutError::BadUrl(h.to_string()),
        other => OutError::Transport(other.to_string()),
    }
}

/// `application/x-www-form-urlencoded` per the WHATWG URL spec.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", form_escape(k), form_escape(v))).collect::<Vec<_>>().join("&")
}

fn form_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Joins a configurable base URL and a path without doubling or losing the slash.
pub fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_joining() {
        assert_eq!(form_encode(&[("To", "+91 98"), ("Body", "a&b=c/é")]), "To=%2B91+98&Body=a%26b%3Dc%2F%C3%A9");
        assert_eq!(join_url("http://h:1/", "/2010-04-01/x"), "http://h:1/2010-04-01/x");
        assert_eq!(join_url("http://h:1", "v1"), "http://h:1/v1");
    }
}
