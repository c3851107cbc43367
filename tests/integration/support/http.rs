//! A small blocking HTTP client for tests (ureq, errors as data), plus raw-socket helpers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    /// The error code of an error envelope; also checks the envelope's shape.
    pub fn code(&self) -> String {
        let j = self.json();
        assert_eq!(j["requestId"].as_str(), self.header("X-Request-Id"), "envelope requestId = header: {j}");
        j["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code: {j}")).to_string()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_redirects(0)
        .build()
        .into()
}

/// Sends a request; `body` is sent as-is with the given content type.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<(&str, &[u8])>) -> Resp {
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let bytes = match body {
        Some((ct, data)) => {
            b = b.header("Content-Type", ct);
            data.to_vec()
        }
        None => Vec::new(),
    };
    let req = b.body(bytes).expect("request builds");
    let resp = agent().run(req).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers =
        resp.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let body = resp.into_body().read_to_string().unwrap_or_default();
    Resp { status, headers, body }
}

/// Like [`request`] without a body, but the body is returned as raw bytes (for compressed
/// answers). ureq here has no gzip feature: it neither sends `Accept-Encoding` nor decodes.
pub fn request_bytes(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Vec::new()).expect("request builds");
    let resp = agent().run(req).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers =
        resp.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let body = resp.into_body().with_config().limit(64 << 20).read_to_vec().unwrap_or_default();
    (status, headers, body)
}

pub fn get(base: &str, path: &str) -> Resp {
    request("GET", &format!("{base}{path}"), &[], None)
}

/// Writes raw bytes and reads until the server closes or `timeout` passes.
pub fn raw(addr: std::net::SocketAddr, bytes: &[u8], timeout: Duration) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(timeout)).expect("timeout");
    s.write_all(bytes).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
