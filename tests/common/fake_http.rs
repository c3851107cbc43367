//! Small local HTTP servers that stand in for providers (Twilio, Expo, gateways, webhooks) in
//! tests: they record every request and answer with a scripted closure, speaking real HTTP.
//! Shared by the integration and channel test crates (included with `#[path]`).

#![allow(dead_code)]

use std::io::Read;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What the fake answers: status, content type, extra headers, body.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply { status, content_type: "application/json", headers: Vec::new(), body: body.to_string() }
    }
    pub fn with_header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

pub struct FakeServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    /// Starts a fake on 127.0.0.1 with a random port; `reply` sees each request and the count so far.
    pub fn start(reply: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> FakeServer {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let log = requests.clone();
        let server = rouille::Server::new("127.0.0.1:0", move |req| {
            let mut body = Vec::new();
            if let Some(mut d) = req.data() {
                let _ = d.read_to_end(&mut body);
            }
            let rec = Recorded {
                method: req.method().to_string(),
                path: req.url(),
                query: req.raw_query_string().to_string(),
                headers: req.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                body,
            };
            let n = {
                let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                l.push(rec.clone());
                l.len()
            };
            let r = reply(&rec, n);
            let mut resp = rouille::Response::from_data(r.content_type, r.body).with_status_code(r.status);
            for (k, v) in r.headers {
                resp = resp.with_additional_header(k, v);
            }
            resp
        })
        .expect("fake server binds");
        let url = format!("http://{}", server.server_addr());
        let (thread, stop) = server.stoppable();
        FakeServer { url, requests, stop: Some(stop), thread: Some(thread) }
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
