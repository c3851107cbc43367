//! Call signalling latency bench: with N other users each holding an idle `GET /api/v1/events`
//! long-poll, a customer and a provider on an active call; the customer POSTs a signal
//! (`POST /calls/{id}/signal`, an ICE candidate) and we time until the provider's long-poll
//! answers with that `call.signal` — p50/p99 over S signals (the POST included: it is the
//! signal's way in). Users, sessions, the listing and the booking are seeded straight into a
//! fresh data dir through the library; the call itself is rung and accepted through the API.
//!
//! `cargo bench --bench calls_signal -- [--waiters 1000] [--samples 500]` (bench/calls.sh)

#[path = "common/mod.rs"]
mod common;

use buildxpert::accounts::sessions;
use buildxpert::app::App;
use buildxpert::clock::SystemClock;
use buildxpert::config::{Config, Overrides};
use buildxpert::db::Tx;
use common::{arg, http, pct, raise_fd_limit};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_default()
}

fn main() {
    let n = arg("--waiters", 1000);
    let samples = arg("--samples", 500);
    raise_fd_limit((n as u64) * 2 + 1024);
    let dir = std::env::temp_dir().join(format!("bx-calls-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let t = Instant::now();
    let o = Overrides { config_file: None, listen: Some("127.0.0.1:0".into()), data_dir: Some(dir.clone()) };
    let cfg = Config::load_from(&o, &[("BUILDXPERT_LOG__LEVEL".into(), "off".into())]).expect("config");
    let (app, _) = App::build(cfg, Arc::new(SystemClock)).expect("app");
    let now = app.now_ms();
    let session = |tx: &Tx, id: &str| -> Result<String, buildxpert::web::ApiError> {
        let user = buildxpert::accounts::find_by_id(tx, id)?.expect("seeded");
        Ok(sessions::start(tx, &app, &user, "bench", "127.0.0.1")?.access_token)
    };
    let mut idle = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<String> = app
            .db
            .write(|tx| {
                let mut out = Vec::new();
                for i in chunk {
                    let id = format!("usr_idle{i:06}");
                    tx.execute(
                        "INSERT INTO users (id, role, phone, full_name, password_hash, verified, created_at, updated_at)
                         VALUES (?1, 'customer', ?2, ?3, '!', 1, ?4, ?4)",
                        rusqlite::params![id, format!("+917{:09}", i), format!("Idle {i}"), now],
                    )?;
                    out.push(session(tx, &id)?);
                }
                Ok::<_, buildxpert::web::ApiError>(out)
            })
            .expect("seed idle users");
        idle.extend(batch);
    }
    let (customer, provider) = app
        .db
        .write(|tx| {
            for (id, role, phone) in [("usr_caller", "customer", "+916000000001"), ("usr_callee", "provider", "+916000000002")] {
                tx.execute(
                    "INSERT INTO users (id, role, phone, full_name, password_hash, verified, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?1, '!', 1, ?4, ?4)",
                    rusqlite::params![id, role, phone, now],
                )?;
            }
            tx.execute(
                "INSERT INTO listings (id, provider_id, category_id, description, experience_years, city, state, address,
                     city_key, state_key, status, active_until, price_from, created_at, updated_at)
                 VALUES ('lst_bench', 'usr_callee', 'cat_plumber', 'Bench plumber', 5, 'Pune', 'Maharashtra', 'Shop 2',
                     'pune', 'maharashtra', 'active', ?1, 30000, ?2, ?2)",
                rusqlite::params![now + 30 * 86_400_000, now],
            )?;
            tx.execute(
                "INSERT INTO bookings (id, listing_id, customer_id, provider_id, category_id, status, local_date, local_time,
                     starts_at, address, total, currency, created_at, updated_at)
                 VALUES ('bkg_bench', 'lst_bench', 'usr_caller', 'usr_callee', 'cat_plumber', 'accepted', '2099-01-01',
                     '10:00', ?1, '12 Park Street', 30000, 'INR', ?2, ?2)",
                rusqlite::params![now + 86_400_000, now],
            )?;
            Ok::<_, buildxpert::web::ApiError>((session(tx, "usr_caller")?, session(tx, "usr_callee")?))
        })
        .expect("seed the call's parties");
    drop(app);
    println!("# seeded {n} idle users and a booking's two parties in {:.1}s", t.elapsed().as_secs_f64());

    let bin = env!("CARGO_BIN_EXE_buildxpert");
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap_or(".")])
        .env("BUILDXPERT_EVENTS__MAX_WAITERS", (n + 100).to_string())
        .env("BUILDXPERT_SERVER__MAX_CONNECTIONS", (n * 2 + 200).to_string())
        .env("BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP", "0") // every client comes from 127.0.0.1
        .env("BUILDXPERT_LIMITS__API_PER_USER_PER_MINUTE", "0")
        .env("BUILDXPERT_LIMITS__CALL_SIGNALS_PER_MINUTE", "0")
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

    // N idle long-polls, each re-polling when its wait ends, until the run is over.
    let stop = Arc::new(AtomicBool::new(false));
    let held = Arc::new(AtomicUsize::new(0));
    for (i, token) in idle.iter().enumerate() {
        let (stop, held, token) = (stop.clone(), held.clone(), token.clone());
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let Ok(mut s) = TcpStream::connect(addr) else { return };
                let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
                let Ok((_, body)) = http(&mut s, "GET", "/api/v1/events", &token, "") else { return };
                let mut c = json(&body)["cursor"].as_str().unwrap_or("0").to_string();
                let mut counted = false;
                while !stop.load(Ordering::Relaxed) {
                    if !counted {
                        held.fetch_add(1, Ordering::Relaxed);
                        counted = true;
                    }
                    match http(&mut s, "GET", &format!("/api/v1/events?after={c}&wait=30"), &token, "") {
                        Ok((200, body)) => c = json(&body)["cursor"].as_str().unwrap_or(&c).to_string(),
                        _ => return,
                    }
                }
            })
            .expect("client thread");
        if i % 200 == 199 {
            std::thread::sleep(Duration::from_millis(20)); // paced opening
        }
    }
    while held.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500)); // let every long-poll reach the server
    println!("idle_waiters={} server_threads={}", held.load(Ordering::Relaxed), {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().to_string())))
            .unwrap_or_default()
    });

    // Ring and answer through the API.
    let mut c = TcpStream::connect(addr).expect("connect");
    let mut p = TcpStream::connect(addr).expect("connect");
    let (st, body) = http(&mut c, "POST", "/api/v1/calls", &customer, r#"{"bookingId":"bkg_bench"}"#).expect("ring");
    assert_eq!(st, 201, "ring: {body}");
    let call = json(&body)["id"].as_str().expect("call id").to_string();
    let (st, body) = http(&mut p, "POST", &format!("/api/v1/calls/{call}/accept"), &provider, "{}").expect("accept");
    assert_eq!(st, 200, "accept: {body}");
    let (_, body) = http(&mut p, "GET", "/api/v1/events", &provider, "").expect("cursor");
    let mut cursor = json(&body)["cursor"].as_str().unwrap_or("0").to_string();

    // Each sample: the provider's long-poll is parked first, then the customer signals.
    let (poll_tx, poll_rx) = std::sync::mpsc::channel::<(Instant, String, usize)>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<String>();
    let ptoken = provider.clone();
    std::thread::spawn(move || {
        for after in go_rx {
            match http(&mut p, "GET", &format!("/api/v1/events?after={after}&wait=10"), &ptoken, "") {
                Ok((200, body)) => {
                    let at = Instant::now();
                    let v = json(&body);
                    let signals =
                        v["events"].as_array().map_or(0, |e| e.iter().filter(|e| e["type"] == "call.signal").count());
                    let _ = poll_tx.send((at, v["cursor"].as_str().unwrap_or("0").to_string(), signals));
                }
                _ => return,
            }
        }
    });
    let mut lat = Vec::with_capacity(samples);
    let mut lost = 0;
    for i in 0..samples {
        go_tx.send(cursor.clone()).expect("poller alive");
        std::thread::sleep(Duration::from_millis(5)); // the poll parks on the server
        let cand = format!(
            r#"{{"type":"candidate","candidate":{{"candidate":"candidate:{i} 1 udp 2130706431 127.0.0.1 {} typ host","sdpMid":"0","sdpMLineIndex":0}}}}"#,
            10000 + i % 50000
        );
        let t0 = Instant::now();
        let (st, body) =
            http(&mut c, "POST", &format!("/api/v1/calls/{call}/signal"), &customer, &cand).expect("signal");
        assert_eq!(st, 202, "signal: {body}");
        match poll_rx.recv_timeout(Duration::from_secs(15)) {
            Ok((at, next, signals)) => {
                cursor = next;
                if signals == 1 {
                    lat.push(at.duration_since(t0).as_secs_f64() * 1000.0);
                } else {
                    lost += 1;
                }
            }
            Err(_) => lost += 1,
        }
    }
    let (p50, p99) = (pct(&mut lat.clone(), 0.5), pct(&mut lat, 0.99));
    let max = lat.iter().cloned().fold(0.0, f64::max);
    println!(
        "signal_to_other_party samples={} missing={lost} p50={p50:.2}ms p99={p99:.2}ms max={max:.2}ms (with {n} idle long-polls held; POST included)",
        lat.len()
    );
    stop.store(true, Ordering::Relaxed);
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
