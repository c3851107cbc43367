//! Per-request context: the request id (echoed or generated), the client IP, the start time.
//! The id is also kept in a thread-local while the request runs, so every log line it causes
//! carries it without each call site passing it along.

use crate::config::Cidr;
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

thread_local! {
    static CURRENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The request id of the request this thread is serving, if any (used by the log formatter).
pub fn current_request_id() -> Option<String> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Sets the thread's request id until the guard drops.
pub struct RequestIdGuard;

impl RequestIdGuard {
    pub fn set(id: &str) -> RequestIdGuard {
        CURRENT.with(|c| *c.borrow_mut() = Some(id.to_string()));
        RequestIdGuard
    }
}

impl Drop for RequestIdGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    pub client_ip: IpAddr,
    pub started: Instant,
    /// `server.body_limit_bytes`: what [`crate::web::json::body`] reads at most.
    pub body_limit: u64,
}

/// An incoming id is echoed when it is 1-128 chars of `[A-Za-z0-9._-]`; otherwise we make one.
pub fn request_id(incoming: Option<&str>) -> String {
    match incoming {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') =>
        {
            id.to_string()
        }
        _ => new_id("req"),
    }
}

/// A random opaque id with a readable prefix, e.g. `req_3f9a...` (96 bits of randomness).
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    if getrandom::fill(&mut b).is_err() {
        // The OS RNG does not fail on Linux; fall back to time so ids stay unique-ish anyway.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        b.copy_from_slice(&t.to_le_bytes()[..12]);
    }
    format!("{prefix}_{}", hex::encode(b))
}

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most X-Forwarded-For entry that is not itself a trusted proxy.
pub fn client_ip(peer: &SocketAddr, forwarded_for: Option<&str>, trusted: &[Cidr]) -> IpAddr {
    let peer_ip = peer.ip();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer_ip) {
        return peer_ip;
    }
    let Some(xff) = forwarded_for else { return peer_ip };
    for part in xff.rsplit(',') {
        match part.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer_ip, // a garbled chain is not believed
        }
    }
    peer_ip
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert_eq!(request_id(Some("abc-1.2_3")), "abc-1.2_3");
        assert!(request_id(Some("bad id")).starts_with("req_"));
        assert!(request_id(Some(&"x".repeat(129))).starts_with("req_"));
        assert!(request_id(Some("")).starts_with("req_"));
        assert!(request_id(None).starts_with("req_"));
        assert_ne!(new_id("a"), new_id("a"));
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = vec![Cidr::parse("10.0.0.0/8").unwrap()];
        let proxy: SocketAddr = "10.0.0.5:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        assert_eq!(client_ip(&stranger, Some("1.2.3.4"), &trusted).to_string(), "203.0.113.9");
        assert_eq!(client_ip(&proxy, Some("1.2.3.4"), &trusted).to_string(), "1.2.3.4");
        assert_eq!(client_ip(&proxy, Some("6.6.6.6, 1.2.3.4, 10.0.0.7"), &trusted).to_string(), "1.2.3.4");
        assert_eq!(client_ip(&proxy, None, &trusted).to_string(), "10.0.0.5");
        assert_eq!(client_ip(&proxy, Some("garbage"), &trusted).to_string(), "10.0.0.5");
    }
}
