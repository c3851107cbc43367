//! Small pieces the real gateway adapters share: one call through `Outbound` with the provider's
//! failures mapped onto [`GatewayError`], constant-time comparison, exact decimal amounts, form
//! decoding and error text that never carries a secret.

use crate::outbound::{Body, OutError, OutResponse, Outbound};
use crate::payments::gateway::GatewayError;
use serde_json::Value;

/// Seconds a caller should wait after a transport failure or a 5xx without `Retry-After`.
const DEFAULT_RETRY_SECS: u64 = 30;
/// Provider error text kept for logs and admins.
const MAX_ERROR_TEXT: usize = 200;

/// Sends one request and sorts the answer: 2xx is returned, 429/5xx/transport/open breaker are
/// `Unavailable`, anything else (4xx, 3xx) is `Rejected` with the provider's message
/// (`error_text` picks it out of the body), scrubbed of `secrets`.
pub fn call(
    out: &Outbound,
    service: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Body<'_>,
    secrets: &[&str],
) -> Result<OutResponse, GatewayError> {
    match out.send(service, method, url, headers, body) {
        Ok(r) if r.is_success() => Ok(r),
        Ok(r) if r.status >= 500 || r.status == 429 => {
            let retry =
                r.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(DEFAULT_RETRY_SECS);
            log::warn!("payments: {service} answered {} to {method} {}", r.status, path_of(url));
            Err(GatewayError::Unavailable { retry_after_secs: retry.clamp(1, 3600) })
        }
        Ok(r) => {
            let text = error_text(&r.body).unwrap_or_else(|| "no error message".into());
            let text = scrub(&format!("HTTP {}: {text}", r.status), secrets);
            log::warn!("payments: {service} refused {method} {}: {text}", path_of(url));
            Err(GatewayError::Rejected(text))
        }
        Err(OutError::CircuitOpen { retry_after_ms }) => {
            Err(GatewayError::Unavailable { retry_after_secs: (retry_after_ms.max(0) as u64).div_ceil(1000).max(1) })
        }
        Err(OutError::BadUrl(_)) => {
            log::warn!("payments: {service} base URL is not usable");
            Err(GatewayError::Rejected(format!("{service}: the configured API URL is not usable")))
        }
        Err(e) => {
            log::warn!(
                "payments: {service} unreachable ({})",
                match e {
                    OutError::Timeout => "timed out",
                    _ => "transport error",
                }
            );
            Err(GatewayError::Unavailable { retry_after_secs: DEFAULT_RETRY_SECS })
        }
    }
}

/// The path of a URL without its query (which may carry ids but never secrets; still, keep logs short).
fn path_of(url: &str) -> &str {
    let no_query = url.split('?').next().unwrap_or(url);
    match no_query.find("://") {
        Some(i) => no_query[i + 3..].find('/').map(|j| &no_query[i + 3 + j..]).unwrap_or("/"),
        None => no_query,
    }
}

/// The human part of a provider's error body: Stripe `error.message`, Razorpay
/// `error.description`, Paytm `body.resultInfo.resultMsg`; else a short printable prefix.
pub fn error_text(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let found = v
        .pointer("/error/message")
        .or_else(|| v.pointer("/error/description"))
        .or_else(|| v.pointer("/body/resultInfo/resultMsg"))
        .and_then(Value::as_str)
        .map(str::to_string);
    found.map(|t| printable(&t))
}

/// Printable ASCII only, at most [`MAX_ERROR_TEXT`] characters.
pub fn printable(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(MAX_ERROR_TEXT).collect()
}

/// Removes every non-empty secret from `text`.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut t = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        t = t.replace(s, "********");
    }
    t
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `HMAC-SHA256(key, msg)` as lower-case hex.
pub fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this arm is unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

/// True when `hex_sig` (any case) is the HMAC-SHA256 of `msg` under `key`, compared in constant time.
pub fn hmac_sha256_matches(key: &[u8], msg: &[u8], hex_sig: &str) -> bool {
    let expected = hmac_sha256_hex(key, msg);
    !expected.is_empty() && ct_eq(expected.as_bytes(), hex_sig.trim().to_ascii_lowercase().as_bytes())
}

/// Secrets configured as one string: several may be given, separated by commas or white space,
/// so that deliveries signed with the previous secret keep verifying while it is rotated out.
pub fn secret_list(configured: &str) -> Vec<&str> {
    configured.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).collect()
}

/// Minor units → a two-decimal string ("9900" → "99.00"). Negative amounts never reach a gateway.
pub fn minor_to_decimal(minor: i64) -> String {
    let m = minor.max(0);
    format!("{}.{:02}", m / 100, m % 100)
}

/// A decimal amount string ("99", "99.5", "99.00") → minor units, exactly; `None` for anything
/// else (signs, exponents, more than two decimals, overflow).
pub fn decimal_to_minor(s: &str) -> Option<i64> {
    let s = s.trim();
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if whole.is_empty() || whole.len() > 15 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) || (s.contains('.') && frac.is_empty()) {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let f: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    w.checked_mul(100)?.checked_add(f)
}

/// Decodes `application/x-www-form-urlencoded` into pairs, in order; `None` when it is not valid
/// UTF-8 after decoding or has a broken `%` escape.
pub fn form_decode(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = Vec::new();
    for part in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((unescape(k)?, unescape(v)?));
    }
    Some(out)
}

fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = (*b.get(i + 1)? as char).to_digit(16)?;
                let lo = (*b.get(i + 2)? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The exact text of the value of a top-level key of a JSON object, as it appears in `raw`
/// (Paytm signs the raw `body` substring; re-serialising would change `940.00` to `940.0`).
pub fn raw_member<'a>(raw: &'a str, key: &str) -> Option<&'a str> {
    let b = raw.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        if b.get(i) == Some(&b'}') {
            return None;
        }
        let key_start = i;
        i = end_of_string(b, i)?;
        let k: String = serde_json::from_str(&raw[key_start..i]).ok()?;
        i = skip_ws(b, i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let v_start = i;
        i = end_of_value(b, i)?;
        if k == key {
            return Some(&raw[v_start..i]);
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `b[i]` is `"`: the index just past the closing quote.
fn end_of_string(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    loop {
        match b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The index just past the JSON value starting at `i` (objects and arrays by bracket depth).
fn end_of_value(b: &[u8], mut i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => end_of_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match b.get(i)? {
                    b'"' => {
                        i = end_of_string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            while let Some(c) = b.get(i) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            Some(i)
        }
    }
}

/// A string field of a JSON value by pointer, owned.
pub fn s(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact() {
        assert_eq!(minor_to_decimal(9900), "99.00");
        assert_eq!(minor_to_decimal(5), "0.05");
        assert_eq!(decimal_to_minor("99.00"), Some(9900));
        assert_eq!(decimal_to_minor("99.5"), Some(9950));
        assert_eq!(decimal_to_minor("940"), Some(94000));
        assert_eq!(decimal_to_minor("0.01"), Some(1));
        for bad in ["", "-1.00", "1.001", "1e3", "1.", ".5", "१", "99,00", "+1", "99999999999999999.00"] {
            assert_eq!(decimal_to_minor(bad), None, "{bad}");
        }
    }

    #[test]
    fn raw_members_keep_their_text() {
        let raw = r#" {"head": {"signature": "a\"b}"}, "body": {"txnAmount": "940.00", "n": 940.00, "x": [1, {"y": "}"}]} } "#;
        assert_eq!(raw_member(raw, "body"), Some(r#"{"txnAmount": "940.00", "n": 940.00, "x": [1, {"y": "}"}]}"#));
        assert_eq!(raw_member(raw, "head"), Some(r#"{"signature": "a\"b}"}"#));
        assert_eq!(raw_member(raw, "nope"), None);
        for bad in ["", "[", "{", "{\"a\"", "{\"a\":", "{\"a\":{", "{\"body\":\"", "\u{0}"] {
            let _ = raw_member(bad, "body");
        }
    }

    #[test]
    fn forms_decode_and_secrets_scrub() {
        let f = form_decode(b"A=1&B=x+y%2Bz&C=&D").unwrap();
        assert_eq!(f[1], ("B".into(), "x y+z".into()));
        assert_eq!(f[3], ("D".into(), "".into()));
        assert!(form_decode(b"A=%G1").is_none());
        assert!(form_decode(b"A=%").is_none());
        assert_eq!(scrub("bad key sk_test_123 given", &["sk_test_123", ""]), "bad key ******** given");
        assert_eq!(secret_list(" a, b  c,"), vec!["a", "b", "c"]);
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"ab", b"abc"));
    }
}
