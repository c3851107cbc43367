//! One client cannot exhaust the server: the per-address connection cap, the body memory
//! budget, and shedding the oldest idle keep-alive connection when the table is full.

use super::*;
use buildxpert::config::Cidr;
use buildxpert::net::{park, Parked};

/// `/slow?ms=N` holds a worker for N ms; `/park?ms=N` parks until its deadline.
fn hold_handler(req: &rouille::Request) -> rouille::Response {
    let ms = req.get_param("ms").and_then(|v| v.parse().ok()).unwrap_or(1000);
    match req.url().as_str() {
        "/slow" => {
            thread::sleep(Duration::from_millis(ms));
            rouille::Response::text("slow")
        }
        "/park" => {
            let resume = Box::new(|timed_out| rouille::Response::text(if timed_out { "timeout" } else { "woken" }));
            park(Parked { deadline: Instant::now() + Duration::from_millis(ms), resume }).1
        }
        _ => handle(req),
    }
}

/// Reads every stream until EOF or `limit`, all at once; per stream: bytes, closed, time taken.
fn read_all_parallel(streams: Vec<TcpStream>, limit: Duration) -> Vec<(Vec<u8>, bool, Duration, TcpStream)> {
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut s| {
            thread::spawn(move || {
                let t0 = Instant::now();
                let (bytes, closed) = read_all(&mut s, limit);
                (bytes, closed, t0.elapsed(), s)
            })
        })
        .collect();
    readers.into_iter().map(|t| t.join().expect("reader")).collect()
}

/// Opens `n` silent connections, paced so the 128-entry listen backlog cannot overflow.
fn open_silent(srv: &TestServer, n: u64) -> Vec<TcpStream> {
    let before = srv.counter(|s| &s.accepted_total);
    let mut out = Vec::new();
    for i in 0..n {
        if i % 50 == 0 {
            assert!(wait_for(Duration::from_secs(1), || srv.counter(|s| &s.accepted_total) - before >= i));
        }
        out.push(TcpStream::connect(srv.addr).expect("connect"));
    }
    assert!(wait_for(Duration::from_secs(2), || srv.counter(|s| &s.accepted_total) - before == n));
    out
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}

/// The attack: idle sockets from one address used to take every slot, so everyone else got
/// 503. Now that address holds its 20 and gets a fast 429 for the rest, while a client from
/// another address is served at once.
#[test]
fn one_address_cannot_take_every_connection() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.max_connections = 100;
    cfg.max_connections_per_ip = 20;
    let srv = TestServer::start(cfg);
    let hog = open_silent(&srv, 120);

    let t0 = Instant::now();
    let r = Client::connect_from([127, 0, 0, 2], srv.addr).get("/healthz");
    let took = t0.elapsed();
    eprintln!("per-ip: another address answered {} in {took:?} beside 120 sockets from one", r.status);
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert!(took < Duration::from_millis(250), "took {took:?}");

    let mut open = Vec::new();
    let mut refused = 0;
    for (bytes, closed, took, s) in read_all_parallel(hog, Duration::from_millis(1500)) {
        if closed {
            assert!(bytes.starts_with(b"HTTP/1.1 429 "), "{}", lossy(&bytes));
            assert!(took < Duration::from_secs(1), "refusal took {took:?}");
            refused += 1;
        } else {
            assert!(bytes.is_empty(), "{}", lossy(&bytes));
            open.push(s);
        }
    }
    assert_eq!((refused, open.len()), (100, 20));
    assert_eq!(srv.counter(|s| &s.refused_per_ip_total), 100);
    assert_eq!(srv.counter(|s| &s.refused_total), 0);
    for s in open.iter_mut().take(3) {
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
    }
    // Once its connections are gone, the address is served again.
    drop(open);
    assert!(wait_for(Duration::from_secs(2), || srv.open() == 0), "open: {}", srv.open());
    assert_eq!(srv.client().get("/").status, 200);
}

/// Behind a reverse proxy every connection comes from the proxy: its address is exempt.
#[test]
fn a_trusted_proxy_is_exempt_from_the_per_address_cap() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.max_connections_per_ip = 5;
    cfg.trusted_proxies = vec![Cidr::parse("127.0.0.1/32").expect("cidr")];
    let srv = TestServer::start(cfg);
    let mut via_proxy: Vec<Client> = (0..12).map(|_| srv.client()).collect();
    for c in &mut via_proxy {
        assert_eq!(c.get("/").status, 200);
    }
    let mut direct: Vec<Client> = (0..5).map(|_| Client::connect_from([127, 0, 0, 2], srv.addr)).collect();
    for c in &mut direct {
        assert_eq!(c.get("/").status, 200);
    }
    let mut sixth = Client::connect_from([127, 0, 0, 2], srv.addr);
    sixth.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(sixth.response(false).expect("refusal").status, 429);
    assert!(sixth.closed_within(Duration::from_secs(2)));
}

/// The attack: unfinished uploads (each declares 1 MiB, sends all but the last KiB, stalls)
/// used to be buffered whole, so 150 of them grew RSS by ~150 MiB. Now only what the 8 MiB
/// budget admits is read; the others wait unread, and normal requests are still answered.
#[test]
fn unfinished_large_uploads_stay_within_the_body_budget() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.max_body_memory = 8 << 20;
    let srv = TestServer::start(cfg);
    let body = vec![b'u'; 1 << 20];
    let want = body.len() - 1024;
    assert_eq!(srv.client().get("/").status, 200); // warm up
    let rss_before = vm_rss_kib();

    let n = 150;
    let mut uploads: Vec<(TcpStream, usize)> = open_silent(&srv, n as u64)
        .into_iter()
        .map(|mut s| {
            s.write_all(format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes())
                .expect("head");
            s.set_nonblocking(true).expect("nonblocking");
            (s, 0)
        })
        .collect();
    // Push each body as far as the server (or the socket buffers) take it.
    let t0 = Instant::now();
    let mut last_progress = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) && last_progress.elapsed() < Duration::from_millis(300) {
        let mut progressed = false;
        for (s, sent) in uploads.iter_mut().filter(|(_, sent)| *sent < want) {
            if let Ok(k @ 1..) = s.write(&body[*sent..want.min(*sent + 64 * 1024)]) {
                *sent += k;
                progressed = true;
            }
        }
        if progressed {
            last_progress = Instant::now();
        } else {
            thread::sleep(Duration::from_millis(10));
        }
    }
    let sent: usize = uploads.iter().map(|(_, k)| k).sum();
    let admitted = (8 << 20) / body.len();
    let waiting = wait_for(Duration::from_secs(2), || srv.stats.body_waiting.load(Ordering::SeqCst) == n - admitted);
    let grown_kib = vm_rss_kib().saturating_sub(rss_before);
    let st = srv.stats.snapshot();
    eprintln!(
        "budget: {n} uploads sent {} MiB; RSS grew by {grown_kib} KiB; reserved {} B, buffered {} B, {} waiting",
        sent >> 20,
        st.body_reserved_bytes,
        st.body_buffered_bytes,
        st.body_waiting
    );
    assert!(grown_kib < (8 + 24) * 1024, "RSS grew by {grown_kib} KiB");
    assert!(waiting, "waiting: {}", st.body_waiting);
    assert_eq!(st.body_reserved_bytes, admitted * body.len());
    assert!(st.body_buffered_bytes <= st.body_reserved_bytes);

    // Normal requests, small bodies included, do not wait behind the uploads.
    let t = Instant::now();
    let mut c = srv.client();
    assert_eq!(c.get("/healthz").status, 200);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(c.response(false).expect("echo").text(), "hello");
    assert!(t.elapsed() < Duration::from_millis(500), "took {:?}", t.elapsed());

    // Closing the uploads gives the whole budget back.
    drop(uploads);
    let freed = wait_for(Duration::from_secs(5), || {
        let s = srv.stats.snapshot();
        s.body_reserved_bytes == 0 && s.body_buffered_bytes == 0 && s.body_waiting == 0
    });
    assert!(freed, "{:?}", srv.stats.snapshot());
}

/// A large body that finds the budget taken waits unread — no `100 Continue` — until its
/// request timeout (408), or until a holder leaves; then it is read and completes. Bodies are
/// admitted first come, first served; a chunked one reads its first 64 KiB before it waits.
#[test]
fn a_waiting_upload_times_out_or_proceeds_when_the_budget_frees() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.max_body_memory = 1 << 20;
    cfg.request_timeout = Duration::from_millis(1500);
    let srv = TestServer::start_with(cfg, Arc::new(hold_handler));
    let reserved = || srv.stats.body_reserved_bytes.load(Ordering::SeqCst);
    let waiting = || srv.stats.body_waiting.load(Ordering::SeqCst);
    let big = vec![b'b'; 1 << 20];
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let expect_head =
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", payload.len());

    // A complete 1 MiB upload holds the whole budget while its handler runs for 2.5 s.
    let mut holder = srv.client();
    holder.send(format!("POST /slow?ms=2500 HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", big.len()).as_bytes());
    holder.send(&big);
    assert!(wait_for(Duration::from_secs(2), || reserved() == big.len()), "reserved {}", reserved());
    let t0 = Instant::now();
    let mut waiter = srv.client();
    waiter.send(expect_head.as_bytes());
    assert!(wait_for(Duration::from_secs(1), || waiting() == 1));
    let r = waiter.response(false).expect("response");
    let took = t0.elapsed();
    assert_eq!(r.status, 408, "a waiting body still meets its request timeout");
    assert!(took < Duration::from_millis(2000), "408 after {took:?}"); // 1.5 s + the scan tick
    assert_eq!(holder.response(false).expect("slow").text(), "slow");
    assert!(wait_for(Duration::from_secs(1), || reserved() == 0 && waiting() == 0));

    // A stalled upload holds the budget; a Content-Length and a chunked upload queue behind it.
    let mut stalled = srv.client();
    stalled.send(format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\nx", big.len()).as_bytes());
    assert!(wait_for(Duration::from_secs(1), || reserved() == big.len()));
    let mut first = srv.client();
    first.send(expect_head.as_bytes());
    assert!(wait_for(Duration::from_secs(1), || waiting() == 1));
    let mut second = srv.client();
    let mut w = second.w.try_clone().expect("clone");
    let chunks = payload.clone();
    let sender = thread::spawn(move || {
        w.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")?;
        for part in chunks.chunks(20_000) {
            w.write_all(format!("{:x}\r\n", part.len()).as_bytes())?;
            w.write_all(part)?;
            w.write_all(b"\r\n")?;
        }
        w.write_all(b"0\r\n\r\n")
    });
    assert!(wait_for(Duration::from_secs(1), || waiting() == 2), "waiting {}", waiting());
    first.w.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    assert!(first.r.fill_buf().is_err(), "100 Continue while waiting for the budget");
    first.w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    drop(stalled); // its budget goes to `first`, then (once `first` is done) to `second`
    assert_eq!(first.response(false).expect("interim").status, 100);
    first.send(&payload);
    let r = first.response(false).expect("first");
    assert!(r.status == 200 && r.body == payload, "first: {}", r.status);
    sender.join().expect("sender").expect("chunked body sent");
    let r = second.response(false).expect("second");
    assert!(r.status == 200 && r.body == payload, "second: {}", r.status);
    assert!(wait_for(Duration::from_secs(1), || reserved() == 0 && waiting() == 0));
}

/// At `max_connections` a newcomer used to get 503 even when every connection was an idle
/// keep-alive one. Now the oldest idle connection is closed for it.
#[test]
fn a_full_table_of_idle_connections_sheds_the_oldest_for_a_newcomer() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.max_connections = 20;
    let srv = TestServer::start(cfg);
    let mut idle: Vec<Client> = Vec::new();
    for i in 0..20 {
        let mut c = srv.client();
        assert_eq!(c.get(&format!("/c/{i}")).status, 200);
        idle.push(c);
        thread::sleep(Duration::from_millis(5)); // a clear idle order
    }
    assert!(wait_for(Duration::from_secs(1), || srv.open() == 20));

    let t0 = Instant::now();
    let r = srv.client().get("/healthz");
    let took = t0.elapsed();
    assert_eq!(r.status, 200, "newcomer refused at a table full of idle connections");
    assert!(took < Duration::from_millis(250), "took {took:?}");
    assert!(idle[0].closed_within(Duration::from_secs(1)), "the oldest idle connection was not closed");
    for c in idle.iter_mut().skip(1) {
        assert_eq!(c.get("/").status, 200);
    }
    assert_eq!(srv.counter(|s| &s.shed_idle_total), 1);
    assert_eq!(srv.counter(|s| &s.refused_total), 0);
}

/// Only idle connections are shed — never one receiving a request, one in a worker, or a
/// parked long-poll. With none idle, the newcomer gets the fast 503.
#[test]
fn shedding_spares_connections_mid_request_in_a_worker_or_parked() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.max_connections = 4;
    let srv = TestServer::start_with(cfg, Arc::new(hold_handler));
    let mut idle = srv.client();
    assert_eq!(idle.get("/").status, 200);
    let mut receiving = srv.client();
    receiving.send(b"GET /heal");
    let mut working = srv.client();
    working.send(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut parked = srv.client();
    parked.send(b"GET /park?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(wait_for(Duration::from_secs(1), || {
        let s = srv.stats.snapshot();
        s.open_connections == 4 && s.busy_workers == 1 && s.parked == 1
    }));

    let mut newcomer = srv.client();
    assert_eq!(newcomer.get("/healthz").status, 200);
    assert!(idle.closed_within(Duration::from_secs(1)), "the idle connection was not shed");
    newcomer.send(b"GET /heal"); // now it is mid-request too: nothing is idle

    let mut refused = srv.client();
    let (bytes, closed) = read_all(&mut refused.w, Duration::from_secs(1));
    assert!(closed && bytes.starts_with(b"HTTP/1.1 503 "), "{}", lossy(&bytes));
    assert_eq!(srv.counter(|s| &s.shed_idle_total), 1);
    assert_eq!(srv.counter(|s| &s.refused_total), 1);

    // The spared connections finish normally.
    receiving.send(b"thz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(receiving.response(false).expect("receiving").text(), "ok");
    assert_eq!(working.response(false).expect("working").text(), "slow");
    assert_eq!(parked.response(false).expect("parked").text(), "timeout");
    newcomer.send(b"thz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(newcomer.response(false).expect("newcomer").text(), "ok");
}
