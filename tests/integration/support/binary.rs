//! Drives the compiled `buildxpert` binary (CLI commands, signals, restarts).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_buildxpert");

/// Runs a CLI command to completion in `cwd` with extra env vars.
pub fn run(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    run_with_umask(args, cwd, env, None)
}

/// `run`, with the child's umask set first (as a careless shell or unit file would leave it).
pub fn run_with_umask(args: &[&str], cwd: &Path, env: &[(&str, &str)], umask: Option<u32>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(cwd).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    set_umask(&mut c, umask);
    c.output().expect("binary runs")
}

fn set_umask(c: &mut Command, umask: Option<u32>) {
    use std::os::unix::process::CommandExt;
    if let Some(mask) = umask {
        // SAFETY: umask is async-signal-safe and touches nothing but the child's creation mask.
        unsafe {
            c.pre_exec(move || {
                libc::umask(mask as libc::mode_t);
                Ok(())
            });
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub struct Served {
    pub child: Child,
    pub url: String,
    pub first_line: String,
    pub stderr: mpsc::Receiver<String>,
}

impl Served {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// Stops the server (SIGTERM) and returns everything it wrote to stderr.
    pub fn stop_and_logs(&mut self) -> Vec<String> {
        self.terminate().expect("exits after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
        self.stderr_lines()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `buildxpert serve` on port 0 and waits for its first stdout line.
pub fn serve(data_dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Result<Served, String> {
    serve_in(data_dir, data_dir, extra_args, env, None)
}

/// `serve` with the working directory apart from the data dir (which it may then create) and
/// an optional umask for the child.
pub fn serve_in(
    cwd: &Path,
    data_dir: &Path,
    extra_args: &[&str],
    env: &[(&str, &str)],
    umask: Option<u32>,
) -> Result<Served, String> {
    let dd = data_dir.to_str().expect("utf-8 path");
    let mut c = Command::new(BIN);
    set_umask(&mut c, umask);
    c.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", dd])
        .args(extra_args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (etx, erx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = etx.send(line);
        }
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        for _ in lines {}
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(first) => {
            let url = first.strip_prefix("buildxpert listening on ").unwrap_or("").to_string();
            Ok(Served { child, url, first_line: first, stderr: erx })
        }
        Err(_) => {
            let _ = child.kill();
            let status = child.wait().ok();
            let err: Vec<String> = erx.try_iter().collect();
            Err(format!("server did not start ({status:?}): {}", err.join("\n")))
        }
    }
}
