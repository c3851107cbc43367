//! Long-poll capacity bench: N users each hold one `GET /api/v1/events?wait=` against the release
//! binary, then we measure what the issue asks: server threads and RSS with N waiters held, p99 of
//! ordinary requests meanwhile, per-user event → waiter response latency (p50/p99), and the time
//! for an event fanned out to every waiter. Users and sessions are seeded straight into a fresh
//! data dir through the library (no Argon2 per user); events are triggered through the API
//! (`POST /notifications/read-all` publishes `notification.read` for that user).
//!
//! `cargo bench --bench longpoll -- [--waiters 2000] [--samples 200] [--wait 30]`

#[path = "common/mod.rs"]
mod common;

use buildxpert::accounts::sessions;
use buildxpert::app::App;
use buildxpert::clock::SystemClock;
use buildxpert::config::{Config, Overrides};
use common::{arg, http, pct, proc_status, raise_fd_limit};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cursor_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["cursor"].as_str().unwrap_or("0").to_string()
}

fn main() {
    let n = arg("--waiters", 2000);
    let samples = arg("--samples", 200).min(n);
    let wait = arg("--wait", 30);
    raise_fd_limit((n as u64) * 2 + 1024);
    let dir = std::env::temp_dir().join(format!("bx-longpoll-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    // Seed users with live sessions (tokens minted with the data dir's generated secret).
    let t = Instant::now();
    let o = Overrides { config_file: None, listen: Some("127.0.0.1:0".into()), data_dir: Some(dir.clone()) };
    let cfg = Config::load_from(&o, &[("BUILDXPERT_LOG__LEVEL".into(), "off".into())]).expect("config");
    let (app, _) = App::build(cfg, Arc::new(SystemClock)).expect("app");
    let mut tokens = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<String> = app
            .db
            .write(|tx| {
                let mut out = Vec::new();
                for i in chunk {
                    let id = format!("usr_bench{i:06}");
                    let now = app.now_ms();
                    tx.execute(
                        "INSERT INTO users (id, role, phone, full_name, password_hash, verified, created_at, updated_at)
                         VALUES (?1, 'customer', ?2, ?3, '!', 1, ?4, ?4)",
                        rusqlite::params![id, format!("+917{:09}", i), format!("Bench {i}"), now],
                    )?;
                    let user = buildxpert::accounts::find_by_id(tx, &id)?.expect("seeded");
                    out.push(sessions::start(tx, &app, &user, "bench", "127.0.0.1")?.access_token);
                }
                Ok::<_, buildxpert::web::ApiError>(out)
            })
            .expect("seed");
        tokens.extend(batch);
    }
    drop(app);
    println!("# seeded {n} users with sessions in {:.1}s", t.elapsed().as_secs_f64());

    let bin = env!("CARGO_BIN_EXE_buildxpert");
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap_or(".")])
        .env("BUILDXPERT_EVENTS__MAX_WAITERS", (n + 100).to_string())
        .env("BUILDXPERT_SERVER__MAX_CONNECTIONS", (n * 2 + 200).to_string())
        .env("BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP", "0") // every waiter comes from 127.0.0.1
        .env("BUILDXPERT_LIMITS__API_PER_USER_PER_MINUTE", "0")
        .env("BUILDXPERT_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let pid = child.id();
    let mut first = String::new();
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout);
    lines.read_line(&mut first).expect("listening line");
    let addr: SocketAddr = first.trim().trim_start_matches("buildxpert listening on http://").parse().expect("address");
    std::thread::spawn(move || for _ in lines.lines() {});
    let base_threads = proc_status(pid, "Threads:");
    let base_rss = proc_status(pid, "VmRSS:");
    println!(
        "# server pid {pid} at {addr}: {base_threads} threads, RSS {:.1} MiB before waiters",
        base_rss as f64 / 1024.0
    );

    // One waiter per user: get a cursor, then hold a long-poll; report when it answers.
    let (tx, rx) = mpsc::channel::<(usize, Instant, usize)>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    for (i, token) in tokens.iter().enumerate() {
        let (tx, ready_tx, token) = (tx.clone(), ready_tx.clone(), token.clone());
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let Ok(mut s) = TcpStream::connect(addr) else { return };
                let _ = s.set_read_timeout(Some(Duration::from_secs(wait as u64 + 30)));
                let Ok((_, body)) = http(&mut s, "GET", "/api/v1/events", &token, "") else { return };
                let c = cursor_of(&body);
                let _ = ready_tx.send(());
                if let Ok((200, body)) =
                    http(&mut s, "GET", &format!("/api/v1/events?after={c}&wait={wait}"), &token, "")
                {
                    let events = body.matches("\"notification.read\"").count();
                    let _ = tx.send((i, Instant::now(), events));
                }
            })
            .expect("client thread");
        if i % 200 == 199 {
            std::thread::sleep(Duration::from_millis(20)); // paced opening
        }
    }
    drop(ready_tx);
    let ready = ready_rx.iter().take(n).count();
    std::thread::sleep(Duration::from_millis(1500)); // let every long-poll reach the server
    let threads = proc_status(pid, "Threads:");
    let rss = proc_status(pid, "VmRSS:");
    println!(
        "waiters={ready} server_threads={threads} (+{}) server_rss={:.1}MiB (+{:.1}MiB, {:.1} KiB/waiter)",
        threads.saturating_sub(base_threads),
        rss as f64 / 1024.0,
        rss.saturating_sub(base_rss) as f64 / 1024.0,
        rss.saturating_sub(base_rss) as f64 / ready.max(1) as f64
    );

    // Ordinary requests while every waiter is held.
    let mut lat = Vec::new();
    let mut s = TcpStream::connect(addr).expect("connect");
    for i in 0..1000 {
        let path = if i % 2 == 0 { "/healthz" } else { "/api/v1/meta" };
        let t = Instant::now();
        let _ = http(&mut s, "GET", path, "x", "");
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, p99) = (pct(&mut lat.clone(), 0.5), pct(&mut lat, 0.99));
    println!("ordinary_requests=1000 p50={p50:.2}ms p99={p99:.2}ms (healthz + meta, one keep-alive client)");

    // Per-user event → that user's waiter answering.
    let mut trig = TcpStream::connect(addr).expect("connect");
    let mut per_user = Vec::new();
    let mut answered = std::collections::HashMap::new();
    for (i, token) in tokens.iter().enumerate().take(samples) {
        let t0 = Instant::now();
        let _ = http(&mut trig, "POST", "/api/v1/notifications/read-all", token, "");
        while let Ok((who, at, ev)) = rx.recv_timeout(Duration::from_secs(5)) {
            answered.insert(who, ev);
            if who == i {
                per_user.push(at.duration_since(t0).as_secs_f64() * 1000.0);
                break;
            }
        }
    }
    let (u50, u99) = (pct(&mut per_user.clone(), 0.5), pct(&mut per_user, 0.99));
    println!("event_to_waiter samples={} p50={u50:.2}ms p99={u99:.2}ms (trigger request included)", per_user.len());

    // Fan-out: an event for every remaining waiter, from 8 trigger clients at once.
    let rest: Vec<String> = tokens.iter().skip(samples).cloned().collect();
    let t0 = Instant::now();
    let chunks: Vec<Vec<String>> = rest.chunks(rest.len().div_ceil(8).max(1)).map(|c| c.to_vec()).collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            std::thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(addr) else { return };
                for tok in chunk {
                    let _ = http(&mut s, "POST", "/api/v1/notifications/read-all", &tok, "");
                }
            })
        })
        .collect();
    let mut got = answered.len();
    while got < n {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((who, _, ev)) => {
                answered.insert(who, ev);
                got = answered.len();
            }
            Err(_) => break,
        }
    }
    for h in handles {
        let _ = h.join();
    }
    let with_event = answered.values().filter(|e| **e > 0).count();
    println!(
        "fan_out waiters_answered={got}/{n} with_their_event={with_event} all_answered_in={:.0}ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
    println!("server_peak_rss={:.1}MiB", proc_status(pid, "VmHWM:") as f64 / 1024.0);
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
