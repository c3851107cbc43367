//! Serialising a `rouille::Response`: status line, filtered handler headers, `Date`, framing
//! (Content-Length, chunked, or close-delimited for HTTP/1.0), and the body; plus a writer that
//! enforces a total deadline on a blocking socket.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Instant, SystemTime};

use super::date::http_date;
use super::parse::Version;
use super::{Reject, RejectResponder};

/// Bytes gathered before a write syscall; also the body read size.
const WRITE_CHUNK: usize = 64 * 1024;
/// Bodies of responses written by the poller (rejections) are cut at this size.
const MAX_REJECT_BODY: usize = 64 * 1024;

/// Reason phrase for a status code ("Unknown" for unregistered codes).
pub(crate) fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

/// Response headers the layer owns; the handler's values for them are dropped.
const HOP_BY_HOP: [&str; 7] =
    ["connection", "content-length", "transfer-encoding", "trailer", "upgrade", "keep-alive", "proxy-connection"];

fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// How the body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    NoBody,
    Length(usize),
    Chunked,
    CloseDelimited,
}

/// What the request side contributes to serialising a response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RespondOpts {
    pub version: Version,
    pub head_request: bool,
    /// The client allows keep-alive and the server is not shutting down.
    pub keep_alive: bool,
}

/// Writes the head into `out`; returns the body framing and whether the connection stays
/// open afterwards.
fn build_head(
    status: u16,
    headers: &[(Cow<'static, str>, Cow<'static, str>)],
    body_len: Option<usize>,
    opts: RespondOpts,
    out: &mut Vec<u8>,
) -> (Framing, bool) {
    let status = if (100..=999).contains(&status) { status } else { 500 };
    let handler_close = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("connection") && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
    });
    let bodyless_status = status < 200 || status == 204 || status == 304;
    let framing = if bodyless_status || opts.head_request {
        Framing::NoBody
    } else {
        match (body_len, opts.version) {
            (Some(n), _) => Framing::Length(n),
            (None, Version::Http11) => Framing::Chunked,
            (None, Version::Http10) => Framing::CloseDelimited,
        }
    };
    let keep_alive = opts.keep_alive && !handler_close && status >= 200 && framing != Framing::CloseDelimited;

    let _ = write!(out, "HTTP/1.1 {} {}\r\n", status, reason_phrase(status));
    let mut has_date = false;
    for (name, value) in headers {
        if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            continue;
        }
        if !valid_header(name, value) {
            log::warn!("net: dropping invalid response header {:?}", name.escape_debug());
            continue;
        }
        has_date |= name.eq_ignore_ascii_case("date");
        let _ = write!(out, "{name}: {value}\r\n");
    }
    if !has_date {
        let _ = write!(out, "Date: {}\r\n", http_date(SystemTime::now()));
    }
    if !bodyless_status {
        match (framing, body_len) {
            (Framing::Chunked, _) => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            (_, Some(n)) => {
                let _ = write!(out, "Content-Length: {n}\r\n");
            }
            _ => {}
        }
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if opts.version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    (framing, keep_alive)
}

/// Why writing a response failed.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The socket failed or the write deadline passed (the client's side).
    Socket(io::Error),
    /// The handler's body reader failed (the application's side).
    Body(io::Error),
}

fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize, WriteError> {
    loop {
        match r.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WriteError::Body(e)),
        }
    }
}

/// Appends up to `max` bytes from `r` to `out`; returns how many.
fn read_append(r: &mut dyn Read, out: &mut Vec<u8>, max: usize) -> Result<usize, WriteError> {
    let start = out.len();
    out.resize(start + max, 0);
    let res = read_some(r, &mut out[start..]);
    let n = *res.as_ref().unwrap_or(&0);
    out.truncate(start + n);
    res
}

/// Writes `preamble` (e.g. a pending `100 Continue`), then the response. Returns whether the
/// connection may stay open.
pub(crate) fn write_response<W: Write>(
    w: &mut W,
    preamble: &[u8],
    resp: rouille::Response,
    opts: RespondOpts,
) -> Result<bool, WriteError> {
    let rouille::Response { status_code, headers, data, upgrade } = resp;
    if upgrade.is_some() {
        log::warn!("net: response upgrades are not supported; sending the response as is");
    }
    let (mut reader, len) = data.into_reader_and_size();
    let mut out = Vec::with_capacity(WRITE_CHUNK + 64);
    out.extend_from_slice(preamble);
    let (framing, mut keep_alive) = build_head(status_code, &headers, len, opts, &mut out);
    let sock = |r: io::Result<()>| r.map_err(WriteError::Socket);
    match framing {
        Framing::NoBody => sock(w.write_all(&out))?,
        Framing::Length(total) => {
            let mut remaining = total;
            while remaining > 0 {
                let room = WRITE_CHUNK.saturating_sub(out.len()).max(4096);
                let n = read_append(&mut *reader, &mut out, room.min(remaining))?;
                if n == 0 {
                    // The body is shorter than announced: the client cannot frame this
                    // response, so the connection must close after it.
                    log::warn!("net: response body shorter than its length; closing");
                    keep_alive = false;
                    break;
                }
                remaining -= n;
                if out.len() >= WRITE_CHUNK {
                    sock(w.write_all(&out))?;
                    out.clear();
                }
            }
            sock(w.write_all(&out))?;
        }
        Framing::Chunked => {
            let mut data = vec![0u8; WRITE_CHUNK];
            loop {
                let n = read_some(&mut *reader, &mut data)?;
                if n == 0 {
                    out.extend_from_slice(b"0\r\n\r\n");
                    sock(w.write_all(&out))?;
                    break;
                }
                let _ = write!(out, "{n:X}\r\n");
                out.extend_from_slice(&data[..n]);
                out.extend_from_slice(b"\r\n");
                sock(w.write_all(&out))?;
                out.clear();
            }
        }
        Framing::CloseDelimited => {
            sock(w.write_all(&out))?;
            out.clear();
            loop {
                out.clear();
                if read_append(&mut *reader, &mut out, WRITE_CHUNK)? == 0 {
                    break;
                }
                sock(w.write_all(&out))?;
            }
        }
    }
    sock(w.flush())?;
    Ok(keep_alive)
}

/// Asks the application for the response to a rejection; a panicking responder is replaced
/// by [`Reject::plain_response`].
pub(crate) fn reject_response(responder: &RejectResponder, r: Reject) -> rouille::Response {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| responder(r))).unwrap_or_else(|_| {
        log::warn!("net: reject responder panicked for {r:?}");
        r.plain_response()
    })
}

/// Serialises a response the poller writes itself (a rejection): always `Connection: close`,
/// body read eagerly and cut at 64 KiB.
pub(crate) fn serialize_reject(resp: rouille::Response) -> Vec<u8> {
    let rouille::Response { status_code, headers, data, .. } = resp;
    let (reader, _) = data.into_reader_and_size();
    let mut body = Vec::new();
    if let Err(e) = reader.take(MAX_REJECT_BODY as u64).read_to_end(&mut body) {
        log::warn!("net: reject response body failed: {e}");
        body.clear();
    }
    let opts = RespondOpts { version: Version::Http11, head_request: false, keep_alive: false };
    let mut out = Vec::with_capacity(256 + body.len());
    let (framing, _) = build_head(status_code, &headers, Some(body.len()), opts, &mut out);
    if framing != Framing::NoBody {
        out.extend_from_slice(&body);
    }
    out
}

/// A `Write` over a blocking socket that gives up when `deadline` passes: before each write
/// the socket's send timeout is set to the time left, so the total is bounded, not just each
/// call.
pub(crate) struct DeadlineWriter<'a> {
    pub stream: &'a TcpStream,
    pub deadline: Instant,
}

impl Write for DeadlineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_write_timeout(Some(left))?;
        match (&mut &*self.stream).write(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::ErrorKind::TimedOut.into()),
            r => r,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(version: Version, head_request: bool) -> RespondOpts {
        RespondOpts { version, head_request, keep_alive: true }
    }

    fn render(resp: rouille::Response, o: RespondOpts) -> (String, bool) {
        let mut out = Vec::new();
        let keep = write_response(&mut out, b"", resp, o).unwrap();
        (String::from_utf8(out).unwrap(), keep)
    }

    #[test]
    fn length_and_filtered_headers() {
        let r = rouille::Response::text("hi")
            .with_additional_header("Connection", "upgrade")
            .with_additional_header("X-Bad", "a\r\nInjected: 1");
        let (s, keep) = render(r, opts(Version::Http11, false));
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(s.contains("Content-Length: 2\r\n"));
        assert!(!s.contains("Injected") && !s.contains("upgrade"));
        assert!(s.ends_with("\r\n\r\nhi"));
        assert!(keep);
    }

    #[test]
    fn chunked_and_close_delimited() {
        let mk = || rouille::Response::text("").with_status_code(200).with_body_reader();
        let (s, keep) = render(mk(), opts(Version::Http11, false));
        assert!(s.contains("Transfer-Encoding: chunked\r\n"));
        assert!(s.ends_with("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), "{s:?}");
        assert!(keep);
        let (s, keep) = render(mk(), opts(Version::Http10, false));
        assert!(s.contains("Connection: close\r\n") && s.ends_with("\r\n\r\nhello"));
        assert!(!keep);
        let (s, keep) = render(mk(), opts(Version::Http11, true));
        assert!(s.ends_with("\r\n\r\n") && !s.contains("chunked"));
        assert!(keep);
    }

    trait WithReader {
        fn with_body_reader(self) -> Self;
    }
    impl WithReader for rouille::Response {
        fn with_body_reader(mut self) -> Self {
            self.data = rouille::ResponseBody::from_reader(io::Cursor::new(b"hello".to_vec()));
            self
        }
    }
}
