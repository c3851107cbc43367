//! Spawns `buildxpert serve` on 127.0.0.1:0 with a fresh data dir, learns its
//! address from the first stdout line, and stops it with SIGTERM at the end.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::client::parse_local_url;

const READY_PREFIX: &str = "buildxpert listening on ";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const TAIL_LINES: usize = 40;
const TAIL_LINE_CHARS: usize = 400;

/// Last lines the server wrote (stdout and stderr), for error messages.
type Tail = Arc<Mutex<VecDeque<String>>>;

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
    /// When the process was spawned (cold-start reference point).
    pub spawned_at: Instant,
    /// Time from spawn to the "listening" line.
    pub listening_after: Duration,
    data_dir: PathBuf,
    keep_data: bool,
    tail: Tail,
    exited: Option<ExitStatus>,
}

/// How the server went away.
pub struct Stopped {
    pub status: String,
    pub after: Duration,
}

impl Server {
    pub fn spawn(bin: &Path, envs: &[(String, String)], keep_data: bool) -> Result<Server, String> {
        let data_dir = fresh_data_dir()?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir)
            // All load comes from one address; `--env` may still set a cap.
            .env("BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP", "0")
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned_at = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::remove_dir_all(&data_dir);
                return Err(format!("cannot start {}: {e}", bin.display()));
            }
        };
        let tail: Tail = Arc::default();
        let (first_line_tx, first_line_rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            let tail = Arc::clone(&tail);
            thread::spawn(move || drain(out, &tail, Some(first_line_tx)));
        }
        if let Some(err) = child.stderr.take() {
            let tail = Arc::clone(&tail);
            thread::spawn(move || drain(err, &tail, None));
        }
        let pid = child.id();
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pid,
            spawned_at,
            listening_after: Duration::ZERO,
            data_dir,
            keep_data,
            tail,
            exited: None,
        };
        let line = match first_line_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                let why = format!("no \"listening\" line on stdout within {STARTUP_TIMEOUT:?}");
                return Err(server.failure(&why));
            }
            Err(RecvTimeoutError::Disconnected) => {
                // Stdout closed without a line: most likely the process is exiting.
                thread::sleep(Duration::from_millis(200));
                let why = match server.child.try_wait() {
                    Ok(Some(status)) => {
                        format!("server exited ({status}) before printing its address")
                    }
                    _ => "server closed stdout without printing its address".to_string(),
                };
                return Err(server.failure(&why));
            }
        };
        server.listening_after = spawned_at.elapsed();
        let url = line.trim_end().strip_prefix(READY_PREFIX);
        match url.map(parse_local_url) {
            Some(Ok(addr)) => server.addr = addr,
            Some(Err(e)) => return Err(server.failure(&e)),
            None => {
                let why = format!(
                    "unexpected first stdout line {:?}, want \"{READY_PREFIX}http://HOST:PORT\"",
                    line.trim_end()
                );
                return Err(server.failure(&why));
            }
        }
        Ok(server)
    }

    /// Errors out (with the server's last output) if the process has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.exited = Some(status);
                Err(self.failure(&format!("server exited unexpectedly ({status})")))
            }
            Err(e) => Err(format!("cannot query server process: {e}")),
        }
    }

    /// Sends SIGTERM (via the `kill` command, no libc), waits up to
    /// STOP_TIMEOUT, then falls back to SIGKILL. Idempotent.
    pub fn stop(&mut self) -> Stopped {
        let t0 = Instant::now();
        if let Some(status) = self.exited {
            return Stopped { status: status.to_string(), after: Duration::ZERO };
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let mut status = None;
        while t0.elapsed() < STOP_TIMEOUT {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    status = Some(s.to_string());
                    self.exited = Some(s);
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
        let status = status.unwrap_or_else(|| {
            let _ = self.child.kill();
            match self.child.wait() {
                Ok(s) => {
                    self.exited = Some(s);
                    format!("{s} (did not exit on SIGTERM within {STOP_TIMEOUT:?}, killed)")
                }
                Err(e) => format!("unknown ({e})"),
            }
        });
        Stopped { status, after: t0.elapsed() }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `why` plus the tail of the server's output.
    fn failure(&mut self, why: &str) -> String {
        // Give the drain threads a moment to collect the last words.
        thread::sleep(Duration::from_millis(50));
        let tail = match self.tail.lock() {
            Ok(t) => t.iter().cloned().collect::<Vec<_>>().join("\n  | "),
            Err(_) => String::new(),
        };
        if tail.is_empty() {
            format!("{why} (server printed nothing)")
        } else {
            format!("{why}; last server output:\n  | {tail}")
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if !self.keep_data {
            let _ = fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// A new, empty directory under the system temp dir.
fn fresh_data_dir() -> Result<PathBuf, String> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("buildxpert-bench-{}-{nanos}", std::process::id()));
    fs::create_dir(&dir).map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Reads a pipe to the end so the server never blocks on it. The first line
/// goes to `first`; all lines go to the bounded tail.
fn drain(pipe: impl Read, tail: &Tail, mut first: Option<Sender<String>>) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        if let Some(tx) = first.take() {
            let _ = tx.send(line.to_string());
        }
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line.trim_end().chars().take(TAIL_LINE_CHARS).collect());
        }
    }
}
