//! Bounds: bursts, slow clients, header and connection caps, timeouts, descriptor exhaustion.

use super::*;

/// (a) 64 new keep-alive connections at once, one GET each: all answered within 1 s.
#[test]
fn burst_of_new_keepalive_connections() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    let n = 64;
    let barrier = Arc::new(Barrier::new(n + 1));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            let addr = srv.addr;
            thread::spawn(move || {
                barrier.wait();
                let mut c = Client::connect(addr);
                let r = c.get("/healthz");
                (r.status, r.text(), c)
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    let mut clients = Vec::new();
    for t in threads {
        let (status, text, c) = t.join().expect("client thread");
        assert_eq!((status, text.as_str()), (200, "ok"));
        clients.push(c);
    }
    let elapsed = t0.elapsed();
    eprintln!("burst: 64 connections answered in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(1), "burst took {elapsed:?}");
    assert_eq!(srv.open(), n);
    // Every connection is still usable.
    for c in &mut clients {
        assert_eq!(c.get("/").status, 200);
    }
}

/// (b) 300 stalled half-requests do not delay a new client, and are closed after the header
/// timeout.
#[test]
fn slowloris_connections_cost_no_threads_and_time_out() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.header_timeout = Duration::from_secs(1);
    let srv = TestServer::start(cfg);
    let stalled_at = Instant::now();
    let accepted_before = srv.counter(|s| &s.accepted_total);
    let mut stalled: Vec<TcpStream> = Vec::new();
    for i in 0..300u64 {
        // Pace the opening so the 128-entry listen backlog cannot overflow if the poller is
        // descheduled for a moment (an overflowed SYN waits 1 s = the header timeout).
        if i % 50 == 0 {
            assert!(wait_for(Duration::from_secs(1), || { srv.counter(|s| &s.accepted_total) - accepted_before >= i }));
        }
        let mut s = TcpStream::connect(srv.addr).expect("connect");
        s.write_all(b"GET /heal").expect("write");
        stalled.push(s);
    }
    assert!(wait_for(Duration::from_secs(2), || srv.open() == 300), "open: {}", srv.open());

    let t0 = Instant::now();
    let mut c = srv.client();
    let r = c.get("/healthz");
    let took = t0.elapsed();
    eprintln!("slowloris: healthz beside 300 stalled connections took {took:?}");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert!(took < Duration::from_millis(100), "healthz took {took:?}");
    drop(c);

    for s in &mut stalled {
        let (bytes, closed) = read_all(s, Duration::from_secs(5));
        assert!(closed, "stalled connection not closed");
        assert!(bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 408 "), "{:?}", String::from_utf8_lossy(&bytes));
    }
    let all_closed = stalled_at.elapsed();
    eprintln!("slowloris: all 300 stalled connections closed {all_closed:?} after opening");
    assert!(all_closed < Duration::from_secs(4), "stalled connections closed only after {all_closed:?}");
    let timed_out = srv.counter(|s| &s.timed_out_total);
    assert!(timed_out >= 300, "timed_out_total = {timed_out}");
}

/// (c) A 64 MiB header line gets 431 and costs no memory.
#[test]
fn huge_header_gets_431_with_flat_memory() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    assert_eq!(srv.client().get("/").status, 200); // warm up
    let rss_before = vm_rss_kib();

    let mut w = TcpStream::connect(srv.addr).expect("connect");
    let mut r = w.try_clone().unwrap();
    let reader = thread::spawn(move || read_all(&mut r, Duration::from_secs(20)));
    w.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: ").unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let t0 = Instant::now();
    let mut sent = 0usize;
    while sent < 64 << 20 && t0.elapsed() < Duration::from_secs(20) {
        match w.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    drop(w);
    let (bytes, closed) = reader.join().expect("reader");
    assert!(closed, "connection not closed");
    assert!(
        bytes.starts_with(b"HTTP/1.1 431 "),
        "got {:?} after sending {sent} bytes",
        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
    );
    let grown_kib = vm_rss_kib().saturating_sub(rss_before);
    eprintln!("431: sent {sent} bytes before the close; RSS grew by {grown_kib} KiB");
    assert!(grown_kib < 20 * 1024, "RSS grew by {grown_kib} KiB");
    // The server still works.
    assert_eq!(srv.client().get("/").status, 200);
}

/// (d) Over max_connections: the excess gets 503 fast; the server recovers.
#[test]
fn max_connections_refuses_excess_fast() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.max_connections = 50;
    cfg.header_timeout = Duration::from_secs(10);
    let srv = TestServer::start(cfg);
    let t0 = Instant::now();
    let conns: Vec<_> = (0..80)
        .map(|_| {
            let s = TcpStream::connect(srv.addr).expect("connect");
            thread::spawn(move || {
                let mut s = s;
                let started = Instant::now();
                let (bytes, closed) = read_all(&mut s, Duration::from_millis(1500));
                (bytes, closed, started.elapsed(), s)
            })
        })
        .collect();
    let mut open = Vec::new();
    let mut refused = 0;
    let mut slowest = Duration::ZERO;
    for t in conns {
        let (bytes, closed, took, s) = t.join().expect("reader");
        if closed {
            assert!(bytes.starts_with(b"HTTP/1.1 503 "), "{:?}", String::from_utf8_lossy(&bytes));
            assert!(took < Duration::from_secs(1), "refusal took {took:?}");
            slowest = slowest.max(took);
            refused += 1;
        } else {
            assert!(bytes.is_empty());
            open.push(s);
        }
    }
    assert_eq!((refused, open.len()), (30, 50), "after {:?}", t0.elapsed());
    eprintln!("max_connections: 30 refused, slowest refusal {slowest:?}");
    assert_eq!(srv.counter(|s| &s.refused_total), 30);
    // The admitted connections work.
    for s in open.iter_mut().take(5) {
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
    }
    drop(open);
    // Once they are gone, new clients are served again.
    let served = wait_for(Duration::from_secs(3), || {
        let mut c = srv.client();
        c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        matches!(c.response(false), Ok(r) if r.status == 200)
    });
    assert!(served, "server did not recover");
}

#[test]
fn idle_keepalive_and_silent_connections_are_closed() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.idle_timeout = Duration::from_millis(500);
    cfg.header_timeout = Duration::from_millis(700);
    let srv = TestServer::start(cfg);
    let mut c = srv.client();
    assert_eq!(c.get("/").status, 200);
    let mut silent = srv.client();
    let t0 = Instant::now();
    assert!(c.closed_within(Duration::from_secs(3)));
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(400) && took < Duration::from_millis(1500), "idle close after {took:?}");
    let (bytes, closed) = read_all(&mut silent.w, Duration::from_secs(3));
    assert!(closed && bytes.is_empty());
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(wait_for(Duration::from_secs(1), || { srv.open() == 0 }));
}

#[test]
fn slow_reader_does_not_hold_a_worker_past_write_timeout() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.workers = 1;
    cfg.write_timeout = Duration::from_millis(500);
    let srv = TestServer::start(cfg);
    let mut hog = srv.client();
    hog.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n"); // and never read
    let t0 = Instant::now();
    let r = srv.client().get("/");
    assert_eq!(r.status, 200);
    assert!(t0.elapsed() < Duration::from_secs(3), "took {:?}", t0.elapsed());
    assert!(srv.counter(|s| &s.timed_out_total) >= 1);
    drop(hog);
}

#[test]
fn stalled_body_gets_408() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.request_timeout = Duration::from_millis(600);
    let srv = TestServer::start(cfg);
    let mut c = srv.client();
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    let t0 = Instant::now();
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 408);
    assert!(t0.elapsed() < Duration::from_secs(2));
}

/// Soft limit on open files, from /proc/self/limits.
fn fd_soft_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// CPU time (user + system) of this process in clock ticks.
/// `stat` is /proc/self/stat, opened beforehand (reading it must not need a new descriptor).
fn cpu_ticks(stat: &mut std::fs::File) -> u64 {
    use std::io::Seek;
    let mut text = String::new();
    stat.rewind().unwrap();
    stat.read_to_string(&mut text).expect("/proc/self/stat");
    let stat = text;
    let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat; field 3 (state) is index 0 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Out of file descriptors, accept fails with EMFILE: the poller backs off instead of
/// spinning, and serves the waiting connection once descriptors are free again.
#[test]
fn accept_backs_off_on_emfile_and_recovers() {
    let _g = serial();
    let Some(limit) = fd_soft_limit().filter(|&l| l <= 100_000) else {
        eprintln!("skipped: open-files limit unknown or too large to exhaust");
        return;
    };
    let srv = TestServer::start(base_cfg());
    let mut stat = std::fs::File::open("/proc/self/stat").expect("/proc/self/stat");
    let mut files = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        files.push(f);
        assert!(files.len() as u64 <= limit, "could not exhaust descriptors");
    }
    files.pop(); // one descriptor for the client socket
    let mut client = TcpStream::connect(srv.addr).expect("connect");
    client.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let ticks_before = cpu_ticks(&mut stat);
    thread::sleep(Duration::from_millis(500));
    let burnt = cpu_ticks(&mut stat) - ticks_before;
    drop(files);
    // 100 ticks/s: a spinning poller would burn ~50 ticks in 500 ms.
    assert!(burnt < 20, "poller burnt {burnt} ticks while out of descriptors");
    let (bytes, closed) = read_all(&mut client, Duration::from_secs(3));
    assert!(closed && bytes.starts_with(b"HTTP/1.1 200 "), "{bytes:?}");
}
