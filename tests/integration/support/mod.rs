//! Test support: the real server on port 0 with a temp data dir (in-process, with a manual clock,
//! or as the compiled binary), small fake provider servers, and a plain HTTP client.

#![allow(dead_code)]

pub mod binary;
pub mod browser;
#[path = "../../common/fake_http.rs"]
pub mod fake;
#[path = "../../common/fake_gateways/mod.rs"]
pub mod fake_gateways;
pub mod http;

use buildxpert::clock::ManualClock;
use buildxpert::config::{Config, Overrides};
use buildxpert::server::Running;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use http::{get, request, Resp};

/// A temp directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("os rng");
        let p = std::env::temp_dir().join(format!("bx-{tag}-{}-{}", std::process::id(), hex::encode(b)));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running appliance for a test.
pub struct TestApp {
    /// Stands in for Twilio: every SMS the app sends lands here.
    pub twilio: fake::FakeServer,
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub clock: Arc<ManualClock>,
    pub running: Option<Running>,
    pub dir: TempDir,
}

impl TestApp {
    pub fn app(&self) -> &buildxpert::app::App {
        &self.running.as_ref().expect("running").app
    }
    pub fn get(&self, path: &str) -> Resp {
        get(&self.url, path)
    }
    /// The newest 6-digit code texted to `phone` (E.164), if any.
    pub fn last_code(&self, phone: &str) -> Option<String> {
        // Reset codes go out on a background thread: give it a moment.
        for _ in 0..100 {
            let found = self.twilio.received().iter().rev().find_map(|r| {
                let f = url_decode_form(&r.body_str());
                (f.get("To").map(String::as_str) == Some(phone))
                    .then(|| f.get("Body").and_then(|b| b.split_whitespace().next().map(str::to_string)))
                    .flatten()
            });
            if found.is_some() {
                return found;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        None
    }

    /// Number of SMS sent to `phone` so far.
    pub fn sms_count(&self, phone: &str) -> usize {
        self.twilio
            .received()
            .iter()
            .filter(|r| url_decode_form(&r.body_str()).get("To").map(String::as_str) == Some(phone))
            .count()
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: serde_json::Value) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut h: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            h.push(("Authorization", a));
        }
        request("POST", &format!("{}{path}", self.url), &h, Some(("application/json", body.to_string().as_bytes())))
    }

    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<serde_json::Value>) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut h: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            h.push(("Authorization", a));
        }
        let b = body.map(|b| b.to_string());
        request(method, &format!("{}{path}", self.url), &h, b.as_ref().map(|b| ("application/json", b.as_bytes())))
    }

    /// Signs up through the API (code read from the fake Twilio) and returns the session.
    pub fn register(&self, role: &str, phone_digits: &str) -> Session {
        let phone = format!("+91{phone_digits}");
        let r = self.post(
            "/api/v1/auth/signup",
            None,
            serde_json::json!({"fullName": format!("Test {role}"), "phone": phone_digits, "password": "s3cret-pass", "role": role}),
        );
        assert_eq!(r.status, 202, "signup: {}", r.body);
        let code = self.last_code(&phone).expect("code texted");
        let r = self.post("/api/v1/auth/verify", None, serde_json::json!({"phone": phone, "role": role, "code": code}));
        assert_eq!(r.status, 201, "verify: {}", r.body);
        Session::from(&r)
    }

    /// Creates an admin the way operators do (the CLI's code path) and logs in.
    pub fn admin(&self, phone_digits: &str) -> Session {
        let phone = format!("+91{phone_digits}");
        buildxpert::accounts::bootstrap::create(self.app(), &phone, "admin-pass-123", "Test Admin")
            .expect("admin created");
        let r = self.post(
            "/api/v1/auth/login",
            None,
            serde_json::json!({"phone": phone, "password": "admin-pass-123", "role": "admin"}),
        );
        assert_eq!(r.status, 200, "admin login: {}", r.body);
        Session::from(&r)
    }

    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Test configuration: defaults, port 0, the temp dir, quiet logs, plus `env` overrides
/// (the same `BUILDXPERT_SECTION__KEY` names operators use).
pub fn test_config(dir: &Path, env: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vars.push(("BUILDXPERT_LOG__LEVEL".into(), "warn".into()));
    // A config file in the data dir, when a test wrote one (settings env vars cannot express).
    let file = dir.join("test-config.toml");
    let config_file = file.is_file().then_some(file);
    let o = Overrides { config_file, listen: Some("127.0.0.1:0".into()), data_dir: Some(dir.to_path_buf()) };
    Config::load_from(&o, &vars).expect("test config is valid")
}

/// Starts the app with a config file (e.g. `[[webhooks]]` tables) plus env overrides.
pub fn spawn_app_with_file(toml: &str, env: &[(&str, &str)]) -> TestApp {
    let dir = TempDir::new("app");
    std::fs::write(dir.path().join("test-config.toml"), toml).expect("write config");
    spawn_app_in(dir, env)
}

/// Polls `cond` every 10 ms for up to 5 s.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("timed out waiting for: {what}");
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(&[])
}

pub fn spawn_app_with(env: &[(&str, &str)]) -> TestApp {
    let dir = TempDir::new("app");
    spawn_app_in(dir, env)
}

/// Starts the app on an existing data dir (restart tests).
pub fn spawn_app_in(dir: TempDir, env: &[(&str, &str)]) -> TestApp {
    spawn_app_in_with_routes(dir, env, |_| {})
}

/// Starts the app with test-only routes added to the production route table
/// (`server::start_with`); the binary's router never has them.
pub fn spawn_app_with_routes(
    env: &[(&str, &str)],
    routes: impl FnOnce(&mut buildxpert::web::router::Router<buildxpert::app::Handler>),
) -> TestApp {
    spawn_app_in_with_routes(TempDir::new("app"), env, routes)
}

fn spawn_app_in_with_routes(
    dir: TempDir,
    env: &[(&str, &str)],
    routes: impl FnOnce(&mut buildxpert::web::router::Router<buildxpert::app::Handler>),
) -> TestApp {
    let clock = Arc::new(ManualClock::new());
    let twilio = fake_twilio();
    let cfg = test_config(dir.path(), &with_twilio(&twilio, env));
    let running = buildxpert::server::start_with(cfg, clock.clone(), routes).expect("server starts");
    TestApp { twilio, url: running.url(), addr: running.addr, clock, running: Some(running), dir }
}

pub const TWILIO_SID: &str = "AC00000000000000000000000000000000";

/// A fake Twilio Messages API: 201 with a message resource, 400 code 21211 for +1555 numbers.
pub fn fake_twilio() -> fake::FakeServer {
    fake::FakeServer::start(|rec, n| {
        let form: std::collections::HashMap<String, String> = url_decode_form(&rec.body_str());
        let to = form.get("To").cloned().unwrap_or_default();
        if to.starts_with("+1555") {
            return fake::Reply::json(
                400,
                serde_json::json!({"code": 21211, "message": format!("Invalid 'To' Phone Number: {to}"), "status": 400}),
            );
        }
        fake::Reply::json(
            201,
            serde_json::json!({"sid": format!("SM{n:032}"), "status": "queued", "to": to, "from": form.get("From"), "body": form.get("Body")}),
        )
    })
}

/// Test env plus the settings that point the app's SMS channel at `twilio`.
pub fn with_twilio<'a>(twilio: &'a fake::FakeServer, env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![
        ("BUILDXPERT_SMS__PROVIDER", "twilio"),
        ("BUILDXPERT_SMS__TWILIO__BASE_URL", twilio.url.as_str()),
        ("BUILDXPERT_SMS__TWILIO__ACCOUNT_SID", TWILIO_SID),
        ("BUILDXPERT_SMS__TWILIO__AUTH_TOKEN", "twilio-test-token"),
        ("BUILDXPERT_SMS__TWILIO__FROM", "+14155550100"),
    ];
    all.extend_from_slice(env);
    all
}

pub fn url_decode_form(body: &str) -> std::collections::HashMap<String, String> {
    fn dec(s: &str) -> String {
        let b = s.replace('+', " ");
        let bytes = b.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                if let Ok(v) = u8::from_str_radix(&b[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (dec(k), dec(v))).collect()
}

impl TestApp {
    pub fn clock_secs(&self) -> i64 {
        use buildxpert::clock::Clock;
        self.clock.now_secs()
    }
}

impl TestApp {
    /// Stops and starts again on the same data dir and clock (restart tests).
    pub fn restart(&mut self, env: &[(&str, &str)]) {
        self.stop();
        let cfg = test_config(self.dir.path(), env);
        let running = buildxpert::server::start(cfg, self.clock.clone()).expect("server restarts");
        self.url = running.url();
        self.addr = running.addr;
        self.running = Some(running);
    }
}

/// Tokens and identity from a login or verify response.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub phone: String,
    pub role: String,
}

impl Session {
    /// The session id (`sid` claim) inside the access token.
    pub fn session_id(&self) -> String {
        let payload = self.access.split('.').nth(1).expect("a JWT");
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).expect("base64");
        let claims: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON claims");
        claims["sid"].as_str().expect("sid").to_string()
    }
}

impl From<&Resp> for Session {
    fn from(r: &Resp) -> Session {
        let j = r.json();
        Session {
            access: j["accessToken"].as_str().expect("accessToken").to_string(),
            refresh: j["refreshToken"].as_str().expect("refreshToken").to_string(),
            user_id: j["user"]["id"].as_str().expect("user.id").to_string(),
            phone: j["user"]["phone"].as_str().unwrap_or("").to_string(),
            role: j["user"]["role"].as_str().unwrap_or("").to_string(),
        }
    }
}

#[path = "../../common/smtp_sink.rs"]
pub mod smtp_sink;
