//! The connection layer under the real app: bursts, slow clients, oversized headers and bodies,
//! the connection caps (total and per address), the body memory budget, and graceful shutdown.
//! (tests/net_layer/ drives the layer alone with handlers made for the test.)

use crate::support::http::raw;
use crate::support::{eventually, spawn_app_with};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Connects from the loopback address `src` (127.0.0.2 plays a second client).
fn connect_from(src: [u8; 4], addr: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from((src, 0)).into()).expect("bind the source address");
    s.connect(&addr.into()).expect("connect");
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s
}

/// One request on a fresh connection from `src`; the response as text.
fn request_from(src: [u8; 4], addr: SocketAddr, path: &str) -> String {
    let mut s = connect_from(src, addr);
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn read_response(s: &mut TcpStream) -> String {
    // Reads one small response: head, then Content-Length bytes.
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return String::from_utf8_lossy(&buf).into_owned(),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = s.read_exact(&mut body);
    head + &String::from_utf8_lossy(&body)
}

#[test]
fn a_burst_of_64_new_keep_alive_connections_is_answered_within_a_second() {
    let app = spawn_app_with(&[]);
    let addr = app.addr;
    let barrier = Arc::new(Barrier::new(64));
    let started = Instant::now();
    let handles: Vec<_> = (0..64)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                b.wait();
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                let r = read_response(&mut s);
                (r.starts_with("HTTP/1.1 200"), s) // keep the connection open until all are done
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let elapsed = started.elapsed();
    assert_eq!(results.iter().filter(|(ok, _)| *ok).count(), 64);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn stalled_clients_do_not_block_others_and_are_cut_after_the_header_timeout() {
    // Every stalled client here comes from 127.0.0.1: the per-address cap is off for this one.
    let app = spawn_app_with(&[
        ("BUILDXPERT_SERVER__HEADER_TIMEOUT_MS", "1500"),
        ("BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP", "0"),
    ]);
    let mut stalled: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(app.addr).expect("connect");
            s.write_all(b"GET /heal").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let mut s = TcpStream::connect(app.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_response(&mut s);
    let took = t.elapsed();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(took < Duration::from_millis(100), "healthz took {took:?} behind 300 stalled clients");
    // After the header timeout every stalled socket is closed by the server.
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut closed = 0;
    for st in stalled.iter_mut() {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10));
        st.set_read_timeout(Some(left)).unwrap();
        let mut buf = Vec::new();
        if st.read_to_end(&mut buf).is_ok() {
            closed += 1;
        }
    }
    assert_eq!(closed, 300, "all stalled connections closed");
    let open = app.app().net.get().unwrap().open_connections.load(std::sync::atomic::Ordering::SeqCst);
    assert!(open <= 2, "open connections after the purge: {open}");
}

#[test]
fn oversized_headers_get_431_in_the_envelope_and_the_connection_closes() {
    let app = spawn_app_with(&[("BUILDXPERT_SERVER__MAX_HEADER_BYTES", "4096")]);
    let big = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(8192));
    let r = raw(app.addr, big.as_bytes(), Duration::from_secs(3));
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    assert!(r.contains("\"header_too_large\"") && r.contains("\"requestId\""), "{r}");
}

#[test]
fn oversized_bodies_get_413_before_being_read() {
    let app = spawn_app_with(&[("BUILDXPERT_SERVER__BODY_LIMIT_BYTES", "1000")]);
    let req =
        "POST /api/v1/meta HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{";
    let r = raw(app.addr, req.as_bytes(), Duration::from_secs(3));
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    assert!(r.contains("\"payload_too_large\""), "{r}");
}

#[test]
fn connections_over_the_cap_are_refused_fast_and_the_server_recovers() {
    let app = spawn_app_with(&[("BUILDXPERT_SERVER__MAX_CONNECTIONS", "20")]);
    let held: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(app.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let mut refused = 0;
    for _ in 0..10 {
        let mut s = TcpStream::connect(app.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        if text.starts_with("HTTP/1.1 503") {
            assert!(text.contains("Retry-After"), "{text}");
            refused += 1;
        }
    }
    assert_eq!(refused, 10);
    assert!(t.elapsed() < Duration::from_secs(2), "refusals took {:?}", t.elapsed());
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(app.get("/healthz").status, 200, "serves again once others close");
}

#[test]
fn shutdown_closes_idle_connections_and_stops_listening() {
    let mut app = spawn_app_with(&[]);
    let addr = app.addr;
    // A request whose body is still arriving is in flight at the server.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /api/v1/meta HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let first = read_response(&mut s);
    assert!(first.starts_with("HTTP/1.1 200"));
    let t = Instant::now();
    app.stop();
    assert!(t.elapsed() < Duration::from_secs(5), "shutdown bounded: {:?}", t.elapsed());
    // The idle keep-alive connection was closed, and nobody listens any more.
    let mut buf = Vec::new();
    assert!(matches!(s.read_to_end(&mut buf), Ok(0)) || buf.is_empty());
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err());
}

#[test]
fn connections_over_the_per_address_cap_get_429_while_other_addresses_are_served() {
    let app = spawn_app_with(&[("BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP", "10")]);
    let net = app.app().net.get().expect("net stats").clone();
    let held: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(app.addr).unwrap()).collect();
    eventually("10 connections open", || net.open_connections.load(Ordering::SeqCst) == 10);
    let t = Instant::now();
    let r = raw(app.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(2));
    assert!(t.elapsed() < Duration::from_secs(1), "refusal took {:?}", t.elapsed());
    assert!(r.starts_with("HTTP/1.1 429"), "{r}");
    assert!(r.contains("Retry-After") && r.contains("\"too_many_connections\"") && r.contains("\"requestId\""), "{r}");
    // Another address is served at once, and the metrics count the refusal.
    let t = Instant::now();
    let r = request_from([127, 0, 0, 2], app.addr, "/healthz");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(t.elapsed() < Duration::from_millis(500), "took {:?}", t.elapsed());
    let m = request_from([127, 0, 0, 2], app.addr, "/metrics");
    assert!(m.contains("buildxpert_connections_refused_per_ip_total 1\n"), "{m}");
    drop(held);
    eventually("the address is served again", || app.get("/healthz").status == 200);
}

#[test]
fn a_trusted_proxy_is_not_held_to_the_per_address_cap() {
    let app = spawn_app_with(&[
        ("BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP", "3"),
        ("BUILDXPERT_SERVER__TRUSTED_PROXIES", "127.0.0.1"),
    ]);
    let mut conns: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(app.addr).unwrap()).collect();
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let r = read_response(s);
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    // 127.0.0.2 is not a proxy: held to 3.
    let direct: Vec<TcpStream> = (0..3).map(|_| connect_from([127, 0, 0, 2], app.addr)).collect();
    let net = app.app().net.get().expect("net stats").clone();
    eventually("11 connections open", || net.open_connections.load(Ordering::SeqCst) == 11);
    let r = request_from([127, 0, 0, 2], app.addr, "/healthz");
    assert!(r.starts_with("HTTP/1.1 429"), "{r}");
    drop(direct);
}

#[test]
fn large_bodies_wait_for_the_body_budget_and_show_in_the_metrics() {
    let app = spawn_app_with(&[("BUILDXPERT_SERVER__MAX_BODY_MEMORY_BYTES", "1048576")]);
    let metric = |name: &str| -> String {
        let m = request_from([127, 0, 0, 2], app.addr, "/metrics");
        let line = m.lines().find(|l| l.starts_with(&format!("{name} "))).map(str::to_owned);
        line.unwrap_or_else(|| panic!("no {name} in {m}"))
    };
    // An unfinished 1 MiB upload reserves the whole budget; a 500 kB one waits behind it.
    let post = |len: usize| format!("POST /api/v1/meta HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n{{");
    let mut big = TcpStream::connect(app.addr).unwrap();
    big.write_all(post(1_048_576).as_bytes()).unwrap();
    eventually("1 MiB reserved", || metric("buildxpert_body_memory_reserved_bytes").ends_with(" 1048576"));
    let mut next = TcpStream::connect(app.addr).unwrap();
    next.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    next.write_all(post(500_000).as_bytes()).unwrap();
    eventually("one body waits", || metric("buildxpert_body_memory_waiting").ends_with(" 1"));
    // Small bodies do not wait.
    let t = Instant::now();
    let r = app.post("/api/v1/auth/login", None, serde_json::json!({"phone": "9000000000", "password": "x"}));
    assert!(r.status != 408 && t.elapsed() < Duration::from_secs(2), "{} after {:?}", r.status, t.elapsed());
    // The big upload's client leaves: the waiting body is admitted and read.
    drop(big);
    eventually("the waiting body admitted", || {
        metric("buildxpert_body_memory_waiting").ends_with(" 0")
            && metric("buildxpert_body_memory_reserved_bytes").ends_with(" 500000")
    });
    next.write_all(&vec![b' '; 499_998]).unwrap();
    next.write_all(b"}").unwrap();
    let r = read_response(&mut next);
    assert!(r.starts_with("HTTP/1.1 "), "{r}");
    assert!(!r.starts_with("HTTP/1.1 408") && !r.starts_with("HTTP/1.1 413"), "{r}");
    eventually("budget free", || metric("buildxpert_body_memory_reserved_bytes").ends_with(" 0"));
}
