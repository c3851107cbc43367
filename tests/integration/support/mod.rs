//! Test support: the real server on port 0 with a temp data dir (in-process, with a manual clock,
//! or as the compiled binary), small fake provider servers, and a plain HTTP client.

#![allow(dead_code)]

pub mod binary;
pub mod fake;
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
    let o = Overrides { config_file: None, listen: Some("127.0.0.1:0".into()), data_dir: Some(dir.to_path_buf()) };
    Config::load_from(&o, &vars).expect("test config is valid")
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
    let clock = Arc::new(ManualClock::new());
    let cfg = test_config(dir.path(), env);
    let running = buildxpert::server::start(cfg, clock.clone()).expect("server starts");
    TestApp { url: running.url(), addr: running.addr, clock, running: Some(running), dir }
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
