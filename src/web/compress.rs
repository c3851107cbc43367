//! gzip for compressible answers, applied once by the server's `Finish` step (so replays of
//! stored idempotent answers and resumed long-polls get it too; stored bodies stay plain).
//!
//! JSON, HTML, JS, CSS and SVG bodies of at least [`MIN_BYTES`] with a known length are
//! compressed when the request's `Accept-Encoding` accepts gzip (q-values honoured, `*` counts).
//! Every compressible answer carries `Vary: Accept-Encoding`, compressed or not. Never touched:
//! 1xx/204/304, HEAD, bodies that already have a `Content-Encoding`, `text/event-stream`,
//! streamed bodies (no length) and small ones. A strong `ETag` becomes weak on a compressed
//! answer (the bytes differ from the identity representation the tag was computed over);
//! `If-None-Match` compares weakly, so either form revalidates.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use rouille::{Response, ResponseBody};
use std::cell::RefCell;
use std::io::Read;

/// Smaller bodies are sent as they are: the gzip header and the CPU cost outweigh the gain.
pub const MIN_BYTES: usize = 1024;
/// Fast: level 1 compresses typical JSON ~5–8× at a fraction of the default level's CPU.
const LEVEL: u32 = 1;

/// Whether an `Accept-Encoding` value accepts gzip: an explicit `gzip` (or `x-gzip`) with q > 0,
/// else `*` with q > 0. `gzip;q=0` refuses it even when `*` is allowed.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(v) = accept_encoding else { return false };
    let mut star = None;
    for item in v.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("q").then(|| v.trim().parse::<f32>().unwrap_or(0.0))
            })
            .next()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return q > 0.0;
        }
        if coding == "*" {
            star = Some(q > 0.0);
        }
    }
    star.unwrap_or(false)
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
}

/// JSON (also `+json`), HTML, JS, CSS and SVG.
pub fn compressible(content_type: &str) -> bool {
    let t = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(
        t.as_str(),
        "application/json" | "text/html" | "text/javascript" | "application/javascript" | "text/css" | "image/svg+xml"
    ) || (t.starts_with("application/") && t.ends_with("+json"))
}

/// Adds `Accept-Encoding` to the response's `Vary` unless it is already named there.
pub fn add_vary(r: &mut Response) {
    let named = r.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("Vary") && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
    });
    if !named {
        r.headers.push(("Vary".into(), "Accept-Encoding".into()));
    }
}

thread_local! {
    /// One deflate state per worker thread, reset for each body: a fresh one allocates and
    /// zeroes a few hundred KB, which cost more than compressing a typical answer.
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(LEVEL), false));
}

/// gzip (RFC 1952) `body` at the fast level: a fixed header, raw deflate from the thread's
/// reused state, then CRC-32 and length.
pub fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=4 (fastest) OS=255 (unknown)
    let mut out = Vec::with_capacity(body.len() / 3 + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
    DEFLATE.with(|d| -> Option<()> {
        let mut d = d.borrow_mut();
        d.reset();
        loop {
            let before = d.total_in() as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            match d.compress_vec(&body[before.min(body.len())..], &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return Some(()),
                Ok(_) => continue,
                Err(e) => {
                    log::warn!("compress: deflate failed: {e}");
                    return None;
                }
            }
        }
    })?;
    let mut crc = Crc::new();
    crc.update(body);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes()); // ISIZE: the length mod 2^32
    Some(out)
}

/// Compresses `resp` if it qualifies (see the module docs); `gzip_ok` is the request's
/// `accepts_gzip`, `head` whether it was a HEAD request.
pub fn apply(mut resp: Response, gzip_ok: bool, head: bool) -> Response {
    let status = resp.status_code;
    if status < 200 || status == 204 || status == 304 {
        return resp;
    }
    if header(&resp, "Content-Encoding").is_some() || !header(&resp, "Content-Type").is_some_and(compressible) {
        return resp;
    }
    add_vary(&mut resp);
    if !gzip_ok || head {
        return resp;
    }
    let (mut reader, len) = std::mem::replace(&mut resp.data, ResponseBody::empty()).into_reader_and_size();
    let Some(len) = len.filter(|n| *n >= MIN_BYTES) else {
        resp.data = match len {
            Some(n) => ResponseBody::from_reader_and_size(reader, n),
            None => ResponseBody::from_reader(reader),
        };
        return resp;
    };
    let mut body = Vec::with_capacity(len);
    if let Err(e) = reader.read_to_end(&mut body) {
        // Send what the handler's body gave as it is; the layer closes on a short body.
        log::warn!("compress: response body failed: {e}");
        resp.data = ResponseBody::from_data(body);
        return resp;
    }
    let Some(packed) = gzip(&body).filter(|p| p.len() < body.len()) else {
        resp.data = ResponseBody::from_data(body);
        return resp;
    };
    resp.data = ResponseBody::from_data(packed);
    resp.headers.push(("Content-Encoding".into(), "gzip".into()));
    for (k, v) in resp.headers.iter_mut() {
        if k.eq_ignore_ascii_case("ETag") && v.starts_with('"') {
            *v = format!("W/{v}").into();
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_q_values() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("br, gzip;q=0.5")));
        assert!(accepts_gzip(Some("GZIP ; q=1.0")));
        assert!(accepts_gzip(Some("*")));
        assert!(accepts_gzip(Some("identity, *;q=0.1")));
        assert!(!accepts_gzip(None));
        assert!(!accepts_gzip(Some("")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("gzip;q=0.000, *")));
        assert!(!accepts_gzip(Some("*;q=0")));
        assert!(!accepts_gzip(Some("br, deflate")));
    }

    fn body(r: Response) -> Vec<u8> {
        let (mut rd, _) = r.data.into_reader_and_size();
        let mut v = Vec::new();
        rd.read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn large_json_is_compressed_small_is_not() {
        let big = format!("[{}]", vec!["{\"a\":\"hello world\"}"; 200].join(","));
        let r = apply(Response::from_data("application/json; charset=utf-8", big.clone()), true, false);
        assert_eq!(header(&r, "Content-Encoding"), Some("gzip"));
        assert_eq!(header(&r, "Vary"), Some("Accept-Encoding"));
        let mut out = String::new();
        flate2::read::GzDecoder::new(&body(r)[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, big);
        for n in [0usize, 1, 5000, 300_000] {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gzip(&data).unwrap()[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "{n} bytes round-trip (state reused)");
        }
        let r = apply(Response::from_data("application/json", "{}"), true, false);
        assert_eq!(header(&r, "Content-Encoding"), None);
        assert_eq!(header(&r, "Vary"), Some("Accept-Encoding"));
        assert_eq!(body(r), b"{}");
        let r = apply(Response::from_data("image/png", big.clone()), true, false);
        assert!(header(&r, "Vary").is_none() && header(&r, "Content-Encoding").is_none());
        let r = apply(Response::from_data("application/json", big.clone()), true, true);
        assert_eq!(header(&r, "Content-Encoding"), None, "HEAD");
        let r = apply(Response::from_data("text/event-stream", big), true, false);
        assert!(header(&r, "Content-Encoding").is_none());
    }
}
