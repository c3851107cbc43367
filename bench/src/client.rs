//! Minimal keep-alive HTTP/1.1 client and the per-thread load loop.
//!
//! Only what the bench needs: prebuilt requests, response heads, bodies by
//! Content-Length, chunked transfer-coding or read-to-close. Everything read
//! from the socket is size-limited and never unwrapped.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const MAX_LINE: u64 = 8 * 1024;
const MAX_HEADERS: usize = 128;
/// Largest body read and discarded; larger responses are treated as errors.
const MAX_BODY: u64 = 256 * 1024 * 1024;
/// Largest body kept in memory (setup and probe requests only).
const MAX_KEPT_BODY: usize = 1024 * 1024;
/// Pause after a failed connect, so a dead server does not cause a busy loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Parses `http://127.0.0.1:PORT[/]` (or `localhost`). Anything not on
/// 127.0.0.1 is refused: the bench only ever talks to the local machine.
pub fn parse_local_url(url: &str) -> Result<SocketAddr, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("URL must start with http://: {url:?}"))?;
    let hostport = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = hostport.rsplit_once(':').ok_or_else(|| format!("URL needs an explicit port: {url:?}"))?;
    if host != "127.0.0.1" && host != "localhost" {
        return Err(format!("only 127.0.0.1 is allowed, got host {host:?}"));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, p))),
        _ => Err(format!("bad port in URL {url:?}")),
    }
}

/// A request serialized once and written as-is on every send — unless its path or body contains
/// `{seq}`, which is replaced on every send by a process-wide counter (so each request can
/// create a distinct resource, e.g. a booking for listing `lst_{seq}`, or act on one, e.g.
/// `POST /bookings/bt_{seq}/accept`). The counter starts at `--seq-start` (default 0).
pub struct Request {
    bytes: Vec<u8>,
    /// Head without Content-Length, and the body template, when the path or body has `{seq}`.
    template: Option<(String, String)>,
    /// Sign each rendered body as a sandbox payment notification with this secret.
    sandbox_secret: Option<String>,
}

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Sets where the `{seq}` counter starts (before any request is rendered), so several bench
/// processes against one data set use disjoint ranges.
pub fn set_seq_start(n: u64) {
    SEQ.store(n, std::sync::atomic::Ordering::Relaxed);
}

impl Request {
    pub fn new(method: &str, path: &str, addr: SocketAddr, headers: &[(String, String)], body: &[u8]) -> Request {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
        head.push_str("User-Agent: buildxpert-bench\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let text = String::from_utf8_lossy(body);
        let templated = ["{seq}", "{cursor}"].iter().any(|k| text.contains(k) || path.contains(k));
        let template = templated.then(|| (head.clone(), text.into_owned()));
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Request { bytes, template, sandbox_secret: None }
    }

    /// The same request, its body signed on every send (`X-Sandbox-Signature`, current time).
    pub fn signed(mut self, secret: &str) -> Request {
        if self.template.is_none() {
            let text = String::from_utf8_lossy(&self.bytes);
            if let Some(i) = text.find("\r\n\r\n") {
                let head = text[..i + 2]
                    .lines()
                    .filter(|l| !l.starts_with("Content-Length:"))
                    .collect::<Vec<_>>()
                    .join("\r\n");
                self.template = Some((format!("{head}\r\n"), text[i + 4..].to_string()));
            }
        }
        self.sandbox_secret = Some(secret.to_string());
        self
    }

    /// True when the path has `{cursor}`: the worker follows the `cursor` of each answer, as a
    /// long-polling client does (`GET /events?after={cursor}`), starting from 0.
    pub fn follows_cursor(&self) -> bool {
        self.template.as_ref().is_some_and(|(head, _)| head.contains("{cursor}"))
    }

    /// The bytes to send this time.
    #[cfg(test)]
    pub fn render(&self) -> std::borrow::Cow<'_, [u8]> {
        self.render_at("0")
    }

    /// The bytes to send this time, `{cursor}` replaced by `cursor`.
    pub fn render_at(&self, cursor: &str) -> std::borrow::Cow<'_, [u8]> {
        match &self.template {
            None => std::borrow::Cow::Borrowed(&self.bytes),
            Some((head, body)) => {
                let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let body = body.replace("{seq}", &n.to_string());
                let head = head.replace("{seq}", &n.to_string()).replace("{cursor}", cursor);
                let sig = match &self.sandbox_secret {
                    Some(secret) => {
                        let t = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0);
                        format!("X-Sandbox-Signature: {}\r\n", crate::sign::sandbox_header(secret, t, body.as_bytes()))
                    }
                    None => String::new(),
                };
                let mut bytes = format!("{head}{sig}Content-Length: {}\r\n\r\n", body.len()).into_bytes();
                bytes.extend_from_slice(body.as_bytes());
                std::borrow::Cow::Owned(bytes)
            }
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// False if the server will close the connection after this response.
    pub keep_alive: bool,
    /// Only filled when asked for (`keep_body`).
    pub body: Vec<u8>,
}

/// One keep-alive connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
    line: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Conn { reader: BufReader::with_capacity(16 * 1024, stream), line: Vec::with_capacity(256) })
    }

    /// Sends one request and reads the complete response.
    pub fn send(&mut self, req: &Request, keep_body: bool) -> io::Result<Response> {
        self.send_at(req, keep_body, "0")
    }

    /// [`Conn::send`] with `{cursor}` in the path replaced by `cursor`.
    pub fn send_at(&mut self, req: &Request, keep_body: bool, cursor: &str) -> io::Result<Response> {
        self.reader.get_mut().write_all(&req.render_at(cursor))?;
        let mut head = self.read_head()?;
        // Skip interim 1xx responses (other than 101, which we never ask for).
        while (100..200).contains(&head.status) && head.status != 101 {
            head = self.read_head()?;
        }
        let mut kept = if keep_body { Some(Vec::new()) } else { None };
        let mut keep_alive = head.keep_alive;
        if head.status == 204 || head.status == 304 || head.status < 200 {
            // No body by definition.
        } else if head.chunked {
            self.read_chunked(&mut kept)?;
        } else if let Some(len) = head.content_length {
            if len > MAX_BODY {
                return Err(invalid(format!("Content-Length {len} too large")));
            }
            self.copy_body(len, &mut kept, false)?;
        } else {
            self.copy_body(MAX_BODY, &mut kept, true)?;
            keep_alive = false;
        }
        Ok(Response { status: head.status, keep_alive, body: kept.unwrap_or_default() })
    }

    /// Reads one CRLF-terminated line into `self.line`, without the CRLF.
    fn read_line(&mut self) -> io::Result<()> {
        self.line.clear();
        let n = (&mut self.reader).take(MAX_LINE).read_until(b'\n', &mut self.line)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by server"));
        }
        if self.line.last() != Some(&b'\n') {
            return Err(invalid("line too long or truncated".into()));
        }
        self.line.pop();
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(())
    }

    fn read_head(&mut self) -> io::Result<Head> {
        self.read_line()?;
        let status_line = String::from_utf8_lossy(&self.line).into_owned();
        let mut parts = status_line.split_whitespace();
        let version = parts.next().unwrap_or_default();
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|_| version.starts_with("HTTP/1."))
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let mut head = Head { status, keep_alive: version == "HTTP/1.1", chunked: false, content_length: None };
        for _ in 0..=MAX_HEADERS {
            self.read_line()?;
            if self.line.is_empty() {
                return Ok(head);
            }
            let line = String::from_utf8_lossy(&self.line);
            let Some((name, value)) = line.split_once(':') else {
                return Err(invalid(format!("bad header line {line:?}")));
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                let len = value.parse::<u64>().map_err(|_| invalid(format!("bad Content-Length {value:?}")))?;
                head.content_length = Some(len);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                head.chunked = has_token(value, "chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                if has_token(value, "close") {
                    head.keep_alive = false;
                } else if has_token(value, "keep-alive") {
                    head.keep_alive = true;
                }
            }
        }
        Err(invalid("too many header lines".into()))
    }

    fn read_chunked(&mut self, kept: &mut Option<Vec<u8>>) -> io::Result<()> {
        let mut total: u64 = 0;
        loop {
            self.read_line()?;
            let line = String::from_utf8_lossy(&self.line);
            let hex = line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(hex, 16).map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                break;
            }
            total = total.saturating_add(size);
            if total > MAX_BODY {
                return Err(invalid("chunked body too large".into()));
            }
            self.copy_body(size, kept, false)?;
            self.read_line()?;
            if !self.line.is_empty() {
                return Err(invalid("missing CRLF after chunk".into()));
            }
        }
        // Trailer section, ended by an empty line.
        for _ in 0..=MAX_HEADERS {
            self.read_line()?;
            if self.line.is_empty() {
                return Ok(());
            }
        }
        Err(invalid("too many trailer lines".into()))
    }

    /// Consumes `len` body bytes straight from the read buffer (no copy unless
    /// kept). With `until_eof`, stops cleanly at end of stream instead.
    fn copy_body(&mut self, len: u64, kept: &mut Option<Vec<u8>>, until_eof: bool) -> io::Result<()> {
        let mut left = len;
        while left > 0 {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                if until_eof {
                    return Ok(());
                }
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside body"));
            }
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if let Some(v) = kept.as_mut() {
                if v.len() + n > MAX_KEPT_BODY {
                    return Err(invalid("response body too large to keep".into()));
                }
                v.extend_from_slice(&buf[..n]);
            }
            self.reader.consume(n);
            left -= n as u64;
        }
        if until_eof {
            return Err(invalid("body without length too large".into()));
        }
        Ok(())
    }
}

struct Head {
    status: u16,
    keep_alive: bool,
    chunked: bool,
    content_length: Option<u64>,
}

fn has_token(value: &str, token: &str) -> bool {
    value.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// One-shot request on a fresh connection.
pub fn request_once(addr: SocketAddr, req: &Request, timeout: Duration) -> io::Result<Response> {
    Conn::connect(addr, timeout)?.send(req, true)
}

/// Finds `"field":"value"` in a JSON text by plain string scanning (no JSON
/// parser); whitespace around the colon is allowed, escapes are not decoded.
pub fn find_string_field(json: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\"");
    let mut rest = json;
    while let Some(pos) = rest.find(&key) {
        rest = &rest[pos + key.len()..];
        let Some(after_colon) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let Some(value) = after_colon.trim_start().strip_prefix('"') else {
            continue;
        };
        let mut escaped = false;
        for (i, c) in value.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return Some(value[..i].to_string()),
                _ => escaped = false,
            }
        }
        return None;
    }
    None
}

/// What one load thread observed inside the measured window.
#[derive(Default)]
pub struct WorkerResult {
    /// Latency of every completed response, microseconds.
    pub latencies_us: Vec<u64>,
    /// Completed responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Connect/read/write/parse failures.
    pub io_errors: u64,
    pub first_io_error: Option<String>,
    /// With `{cursor}`: answers that carried events (the rest were long-polls that timed out).
    pub event_answers: u64,
}

/// Sends `req` back-to-back on one keep-alive connection until `until`, or, with `pace`, at most
/// one request per `pace` (the next starts `pace` after the previous one started, or at once when
/// it is late). Only requests started at or after `measure_from` are recorded, so the warmup phase
/// (connection setup included) is discarded.
pub fn worker(
    addr: SocketAddr,
    req: &Request,
    timeout: Duration,
    measure_from: Instant,
    until: Instant,
    pace: Option<Duration>,
) -> WorkerResult {
    let mut out = WorkerResult::default();
    let mut conn: Option<Conn> = None;
    let mut next = Instant::now();
    let follow = req.follows_cursor();
    let mut cursor = "0".to_string();
    loop {
        if let Some(p) = pace {
            let now = Instant::now();
            if next >= until {
                return out;
            }
            if next > now {
                thread::sleep(next - now);
            }
            next = next.max(now) + p;
        }
        let start = Instant::now();
        if start >= until {
            return out;
        }
        let measuring = start >= measure_from;
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::connect(addr, timeout) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    if measuring {
                        out.record_error(&e);
                    }
                    thread::sleep(CONNECT_BACKOFF);
                    continue;
                }
            },
        };
        match c.send_at(req, follow, &cursor) {
            Ok(resp) => {
                if follow && resp.status == 200 {
                    let body = String::from_utf8_lossy(&resp.body);
                    if let Some(next) = find_string_field(&body, "cursor") {
                        cursor = next;
                    }
                    if measuring && !body.contains("\"events\":[]") {
                        out.event_answers += 1;
                    }
                }
                if measuring {
                    let us = start.elapsed().as_micros();
                    out.latencies_us.push(u64::try_from(us).unwrap_or(u64::MAX));
                    *out.statuses.entry(resp.status).or_insert(0) += 1;
                }
                if !resp.keep_alive {
                    conn = None;
                }
            }
            Err(e) => {
                if measuring {
                    out.record_error(&e);
                }
                conn = None;
            }
        }
    }
}

impl WorkerResult {
    fn record_error(&mut self, e: &io::Error) {
        self.io_errors += 1;
        if self.first_io_error.is_none() {
            self.first_io_error = Some(e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn url_parsing_is_local_only() {
        let a = parse_local_url("http://127.0.0.1:8080/").map(|a| a.port());
        assert_eq!(a, Ok(8080));
        assert!(parse_local_url("http://localhost:1").is_ok());
        assert!(parse_local_url("http://10.0.0.1:80").is_err());
        assert!(parse_local_url("http://127.0.0.1").is_err());
        assert!(parse_local_url("https://127.0.0.1:443").is_err());
    }

    #[test]
    fn token_scan() {
        let body = r#"{"user":{"id":1},"accessToken" : "a.b\"c","refreshToken":"x"}"#;
        assert_eq!(find_string_field(body, "accessToken").as_deref(), Some(r#"a.b\"c"#));
        assert_eq!(find_string_field(r#"{"accessToken":null}"#, "accessToken"), None);
        assert_eq!(find_string_field("{}", "accessToken"), None);
    }

    /// Writes canned bytes to the first connection, then half-closes it.
    fn canned(responses: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let _ = s.write_all(responses);
                let _ = s.shutdown(std::net::Shutdown::Write);
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        });
        addr
    }

    #[test]
    fn reads_length_chunked_and_close_delimited_bodies() {
        let addr = canned(
            b"HTTP/1.1 100 Continue\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
              HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n\
              3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: 1\r\n\r\n\
              HTTP/1.0 200 OK\r\n\r\ntail",
        );
        let req = Request::new("GET", "/healthz", addr, &[], b"");
        let mut c = Conn::connect(addr, Duration::from_secs(5)).expect("connect");
        let r = c.send(&req, true).expect("first");
        assert_eq!((r.status, r.keep_alive, &r.body[..]), (200, true, &b"hello"[..]));
        let r = c.send(&req, true).expect("second");
        assert_eq!((r.status, r.keep_alive, &r.body[..]), (404, true, &b"abcde"[..]));
        let r = c.send(&req, true).expect("third");
        assert_eq!((r.status, r.keep_alive, &r.body[..]), (200, false, &b"tail"[..]));
        assert!(c.send(&req, true).is_err(), "nothing left after close");
    }

    #[test]
    fn request_bytes() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));
        let h = vec![("Authorization".to_string(), "Bearer t".to_string())];
        let r = Request::new("POST", "/x", addr, &h, b"{}");
        let text = String::from_utf8_lossy(&r.bytes);
        assert!(text.starts_with("POST /x HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"));
        assert!(text.ends_with("Authorization: Bearer t\r\nContent-Length: 2\r\n\r\n{}"));
    }

    #[test]
    fn signed_requests_carry_a_fresh_sandbox_signature() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 8080));
        let r = Request::new("POST", "/api/v1/webhooks/sandbox", addr, &[], br#"{"id":"e_{seq}"}"#).signed("key");
        let a = String::from_utf8(r.render().into_owned()).unwrap();
        assert!(a.contains("X-Sandbox-Signature: t="), "{a}");
        assert_eq!(a.matches("Content-Length:").count(), 1, "{a}");
        let plain = Request::new("POST", "/w", addr, &[], b"{}").signed("key");
        let b = String::from_utf8(plain.render().into_owned()).unwrap();
        assert!(b.starts_with("POST /w HTTP/1.1\r\n") && b.ends_with("\r\n\r\n{}"), "{b}");
        assert!(b.contains("X-Sandbox-Signature: t=") && b.contains("Content-Length: 2\r\n"), "{b}");
    }

    #[test]
    fn seq_placeholder_in_the_path_is_replaced_per_send() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let r = Request::new("POST", "/b/bt_{seq}/accept", addr, &[], b"{}");
        let a = String::from_utf8(r.render().into_owned()).unwrap();
        let b = String::from_utf8(r.render().into_owned()).unwrap();
        assert!(a.starts_with("POST /b/bt_") && !a.contains("{seq}"), "{a}");
        assert_ne!(a.lines().next(), b.lines().next());
    }

    #[test]
    fn cursor_placeholder_is_replaced_by_the_followed_cursor() {
        let addr = parse_local_url("http://127.0.0.1:9").unwrap();
        let r = Request::new("GET", "/api/v1/events?after={cursor}&wait=30", addr, &[], b"");
        assert!(r.follows_cursor());
        let a = String::from_utf8(r.render_at("42").into_owned()).unwrap();
        assert!(a.starts_with("GET /api/v1/events?after=42&wait=30 "), "{a}");
        assert!(!Request::new("GET", "/healthz", addr, &[], b"").follows_cursor());
    }

    #[test]
    fn seq_placeholder_is_replaced_per_send() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let r = Request::new("POST", "/b", addr, &[], br#"{"listingId":"lst_{seq}"}"#);
        let a = String::from_utf8(r.render().into_owned()).unwrap();
        let b = String::from_utf8(r.render().into_owned()).unwrap();
        assert_ne!(a, b);
        assert!(!a.contains("{seq}") && a.contains("\"lst_"));
        let n: usize = a.split("Content-Length: ").nth(1).unwrap().split("\r\n").next().unwrap().parse().unwrap();
        assert_eq!(n, a.split("\r\n\r\n").nth(1).unwrap().len(), "length matches the rendered body");
        let plain = Request::new("GET", "/", addr, &[], b"");
        assert!(matches!(plain.render(), std::borrow::Cow::Borrowed(_)));
    }
}
