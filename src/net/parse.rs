//! Request head parsing (RFC 9112): request line, header fields, and the framing and
//! connection decisions derived from them. Strict where laxness enables request smuggling
//! (obs-fold, whitespace before the colon, conflicting Content-Length, Transfer-Encoding with
//! Content-Length); lenient where it is harmless (bare LF line ends, leading empty lines).

use super::Reject;

/// At most this many header fields in one request (→ 431).
const MAX_HEADERS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    Http10,
    Http11,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// No body (no Content-Length / Transfer-Encoding, or Content-Length: 0).
    Empty,
    /// Exactly this many bytes follow.
    Length(usize),
    /// Chunked transfer-coding.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub method: String,
    /// Origin-form target (`/path?query`, or `*`); absolute-form is reduced to it.
    pub target: String,
    pub version: Version,
    /// Header fields in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: BodyKind,
    /// Whether the client allows the connection to stay open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expect_continue: bool,
}

impl Head {
    pub fn is_head_method(&self) -> bool {
        self.method == "HEAD"
    }
}

/// Number of leading empty lines (CRLF or LF) that precede a request line; RFC 9112 §2.2 asks
/// servers to ignore them.
pub(crate) fn leading_blank_len(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        if buf[i..].starts_with(b"\r\n") {
            i += 2;
        } else if buf[i..].starts_with(b"\n") {
            i += 1;
        } else {
            return i;
        }
    }
}

/// Looks for the empty line that ends the head, scanning from `from`. Returns `Ok(end)` (index
/// just past the empty line) or `Err(resume)` — where to resume once more bytes arrived.
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Result<usize, usize> {
    let start = from.max(leading_blank_len(buf));
    let mut i = start;
    while i < buf.len() {
        if buf[i] == b'\n' {
            match (buf.get(i + 1), buf.get(i + 2)) {
                (Some(b'\n'), _) => return Ok(i + 2),
                (Some(b'\r'), Some(b'\n')) => return Ok(i + 3),
                (None, _) | (Some(b'\r'), None) => return Err(i),
                _ => {}
            }
        }
        i += 1;
    }
    Err(buf.len())
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// field-value bytes: HTAB, visible ASCII, space, obs-text.
fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Bytes to a String: UTF-8 if valid, else ISO-8859-1 (every byte one char) — never fails.
fn bytes_to_string(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => b.iter().map(|&c| c as char).collect(),
    }
}

/// Splits a head (as delimited by `find_head_end`) into lines without their line ends.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn parse_target(raw: &[u8]) -> Result<String, Reject> {
    if raw.is_empty() || !raw.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(Reject::BadRequest);
    }
    // Only ASCII from here on, so the conversion cannot fail.
    let s = std::str::from_utf8(raw).map_err(|_| Reject::BadRequest)?;
    if s.starts_with('/') || s == "*" {
        return Ok(s.to_owned());
    }
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &s[7..]
    } else if lower.starts_with("https://") {
        &s[8..]
    } else {
        return Err(Reject::BadRequest);
    };
    match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => Ok(rest[i..].to_owned()),
        Some(i) => Ok(format!("/{}", &rest[i..])),
        None => Ok("/".to_owned()),
    }
}

fn parse_version(raw: &[u8]) -> Result<Version, Reject> {
    match raw {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Err(Reject::VersionNotSupported)
        }
        _ => Err(Reject::BadRequest),
    }
}

/// Comma-separated list elements of a header value, trimmed, empty ones skipped.
fn list_items(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// Parses a complete head (`head` ends with its empty line).
pub(crate) fn parse_head(head: &[u8], body_limit: usize) -> Result<Head, Reject> {
    let head = &head[leading_blank_len(head)..];
    let mut it = lines(head);
    let request_line = it.next().ok_or(Reject::BadRequest)?;
    let mut parts = request_line.split(|&b| b == b' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(Reject::BadRequest),
    };
    if !is_token(method) {
        return Err(Reject::BadRequest);
    }
    let version = parse_version(version)?;
    let target = parse_target(target)?;
    let method = bytes_to_string(method);

    let mut headers = Vec::new();
    let mut content_length: Option<u64> = None;
    let mut transfer_codings: Vec<String> = Vec::new();
    let mut saw_te = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    let mut hosts = 0usize;

    for line in it {
        if line.is_empty() {
            break; // the empty line that ends the head
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(Reject::BadRequest); // obs-fold
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(Reject::BadRequest)?;
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        if !is_token(name) || !value.iter().all(|&b| is_field_value_byte(b)) {
            return Err(Reject::BadRequest);
        }
        if headers.len() >= MAX_HEADERS {
            return Err(Reject::HeaderTooLarge);
        }
        let name = bytes_to_string(name);
        let value = bytes_to_string(value);
        if name.eq_ignore_ascii_case("content-length") {
            for item in value.split(',').map(str::trim) {
                if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Reject::BadRequest);
                }
                let digits = item.trim_start_matches('0');
                let n = if digits.len() > 19 { u64::MAX } else { item.parse::<u64>().unwrap_or(u64::MAX) };
                if content_length.is_some_and(|c| c != n) {
                    return Err(Reject::BadRequest);
                }
                content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            saw_te = true;
            transfer_codings.extend(list_items(&value).map(|s| s.to_ascii_lowercase()));
        } else if name.eq_ignore_ascii_case("connection") {
            for item in list_items(&value) {
                if item.eq_ignore_ascii_case("close") {
                    conn_close = true;
                } else if item.eq_ignore_ascii_case("keep-alive") {
                    conn_keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            } else if version == Version::Http11 {
                return Err(Reject::ExpectationFailed);
            }
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if hosts > 1 {
                return Err(Reject::BadRequest);
            }
        }
        headers.push((name, value));
    }

    let body = if saw_te {
        if content_length.is_some() || version == Version::Http10 {
            return Err(Reject::BadRequest);
        }
        match transfer_codings.last().map(String::as_str) {
            Some("chunked") if transfer_codings.len() == 1 => BodyKind::Chunked,
            Some("chunked") => return Err(Reject::NotImplemented),
            _ => return Err(Reject::BadRequest),
        }
    } else {
        match content_length {
            None | Some(0) => BodyKind::Empty,
            Some(n) if n > body_limit as u64 => return Err(Reject::PayloadTooLarge),
            Some(n) => BodyKind::Length(usize::try_from(n).map_err(|_| Reject::PayloadTooLarge)?),
        }
    };

    let keep_alive = match version {
        Version::Http11 => !conn_close,
        Version::Http10 => conn_keep_alive && !conn_close,
    };
    Ok(Head {
        method,
        target,
        version,
        headers,
        body,
        keep_alive,
        expect_continue: expect_continue && version == Version::Http11,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Head, Reject> {
        let b = s.as_bytes();
        let end = find_head_end(b, 0).expect("complete head");
        parse_head(&b[..end], 1000)
    }

    #[test]
    fn finds_end_across_splits() {
        let full = b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nBODY";
        let mut resume = 0;
        for n in 0..full.len() {
            match find_head_end(&full[..n], resume) {
                Ok(end) => {
                    assert_eq!(&full[end..n], &b"BODY"[..n - end]);
                    return;
                }
                Err(r) => resume = r,
            }
        }
        assert_eq!(find_head_end(full, resume), Ok(full.len() - 4));
    }

    /// Mutated and random heads never panic.
    #[test]
    fn random_heads_do_not_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base = b"POST http://h/x?y HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\
                     Transfer-Encoding: chunked\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n";
        let alphabet = b" \t\r\n:;,/?HTP1.0-\x00\x7f\xff0123456789abcdef";
        for _ in 0..50_000 {
            let mut input = base.to_vec();
            for _ in 0..1 + rnd() % 6 {
                let pos = (rnd() as usize) % input.len();
                let b = alphabet[(rnd() as usize) % alphabet.len()];
                match rnd() % 3 {
                    0 => input[pos] = b,
                    1 => input.insert(pos, b),
                    _ => {
                        input.remove(pos);
                    }
                }
            }
            let mut resume = 0;
            for n in 0..=input.len() {
                match find_head_end(&input[..n], resume) {
                    Ok(end) => {
                        let _ = parse_head(&input[..end], 1000);
                        break;
                    }
                    Err(r) => resume = r,
                }
            }
        }
    }

    #[test]
    fn basic_and_absolute_form() {
        let h = parse("GET http://example.com:80?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(h.target, "/?x=1");
        assert!(h.keep_alive);
        let h = parse("POST /a HTTP/1.0\nContent-Length: 5\nConnection: keep-alive\n\n").unwrap();
        assert_eq!(h.body, BodyKind::Length(5));
        assert!(h.keep_alive);
    }

    #[test]
    fn rejects_smuggling_shapes() {
        let bad = [
            "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
            "GET / HTTP/1.1\r\nX : a\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET /\x01 HTTP/1.1\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        ];
        for b in bad {
            assert_eq!(parse(b).unwrap_err(), Reject::BadRequest, "{b:?}");
        }
        assert_eq!(parse("GET / HTTP/2.0\r\n\r\n").unwrap_err(), Reject::VersionNotSupported);
        assert_eq!(
            parse("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n").unwrap_err(),
            Reject::PayloadTooLarge
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").unwrap_err(),
            Reject::NotImplemented
        );
    }
}
