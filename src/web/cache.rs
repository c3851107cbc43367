//! Validators for the public cacheable GETs: a strong `ETag` (SHA-256 of the identity body, or
//! the one the response already carries), the route's `Cache-Control`, and `If-None-Match` →
//! `304 Not Modified` with no body. Routes opt in by passing their 200 answer through
//! [`cacheable`]; compression (`compress`) runs later, in `Finish`, over the identity body.

use rouille::{Request, Response, ResponseBody};
use sha2::{Digest, Sha256};
use std::io::Read;

/// Revalidate on every use: changes show at once, an unchanged answer costs a 304.
pub const REVALIDATE: &str = "no-cache";

/// A strong entity tag for `body`: 128 bits of its SHA-256, quoted.
pub fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

/// Whether an `If-None-Match` value matches `etag`: `*`, or any listed tag by the weak
/// comparison (RFC 9110 §13.1.2: `W/` ignored on both sides).
pub fn none_match(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(v) = if_none_match else { return false };
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let want = bare(etag);
    v.split(',').map(str::trim).any(|t| t == "*" || (!t.is_empty() && bare(t) == want))
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
}

/// Adds `ETag` (kept if the response has one) and `Cache-Control` to a 200 answer, and turns
/// it into a bodyless 304 (ETag, Cache-Control, Vary) when the request's `If-None-Match`
/// matches. Other statuses pass unchanged.
pub fn cacheable(req: &Request, mut resp: Response, cache_control: &'static str) -> Response {
    if resp.status_code != 200 {
        return resp;
    }
    let etag = match header(&resp, "ETag") {
        Some(t) => t.to_string(),
        None => {
            let (mut reader, _) = std::mem::replace(&mut resp.data, ResponseBody::empty()).into_reader_and_size();
            let mut body = Vec::new();
            if let Err(e) = reader.read_to_end(&mut body) {
                log::warn!("cache: response body failed: {e}");
                resp.data = ResponseBody::from_data(body);
                return resp;
            }
            let t = etag_of(&body);
            resp.data = ResponseBody::from_data(body);
            t
        }
    };
    if none_match(req.header("If-None-Match"), &etag) {
        let compressible = header(&resp, "Content-Type").is_some_and(super::compress::compressible);
        let mut r = Response {
            status_code: 304,
            headers: vec![("ETag".into(), etag.into()), ("Cache-Control".into(), cache_control.into())],
            data: ResponseBody::empty(),
            upgrade: None,
        };
        if compressible {
            super::compress::add_vary(&mut r);
        }
        return r;
    }
    resp.with_unique_header("ETag", etag).with_unique_header("Cache-Control", cache_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        let t = "\"abc\"";
        assert!(none_match(Some("\"abc\""), t));
        assert!(none_match(Some("W/\"abc\""), t));
        assert!(none_match(Some("\"x\", W/\"abc\""), t));
        assert!(none_match(Some("*"), t));
        assert!(none_match(Some("\"abc\""), "W/\"abc\""));
        assert!(!none_match(Some("\"abcd\""), t));
        assert!(!none_match(Some(""), t));
        assert!(!none_match(None, t));
        assert_eq!(etag_of(b"x").len(), 34);
    }
}
