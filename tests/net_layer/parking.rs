//! Parking: long-polls that hold a connection, but no thread, until woken or expired.

use super::*;
use buildxpert::net::{park, Parked, Wake};
use std::collections::HashMap;

/// The test application's waiter registry (what the app's event hub does for real).
struct Hub {
    waiters: Mutex<HashMap<String, Wake>>,
    /// Calls of a `resume`, and those with `timed_out = true`.
    resumed: AtomicU64,
    timed_out: AtomicU64,
    /// `/park?at=N` parks until `base + N ms`, so many parks can share one deadline.
    base: Instant,
}

impl Hub {
    fn waiters(&self) -> MutexGuard<'_, HashMap<String, Wake>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, key: &str) -> Option<Wake> {
        self.waiters().remove(key)
    }

    fn resumed(&self) -> u64 {
        self.resumed.load(Ordering::SeqCst)
    }
}

fn park_handler(hub: &Arc<Hub>, req: &rouille::Request) -> rouille::Response {
    let key = req.get_param("key").unwrap_or_default();
    match req.url().as_str() {
        // Parks until woken or the deadline (`ms` from now, or `at` ms after the hub's base).
        "/park" | "/park-now" | "/park-panic" => {
            let deadline = match (req.get_param("at"), req.get_param("ms")) {
                (Some(at), _) => hub.base + Duration::from_millis(at.parse().expect("at")),
                (None, Some(ms)) => Instant::now() + Duration::from_millis(ms.parse().expect("ms")),
                (None, None) => Instant::now() + Duration::from_secs(5),
            };
            let panics = req.url() == "/park-panic";
            let (h, k) = (hub.clone(), key.clone());
            let (wake, placeholder) = park(Parked {
                deadline,
                resume: Box::new(move |timed_out| {
                    h.resumed.fetch_add(1, Ordering::SeqCst);
                    if timed_out {
                        h.timed_out.fetch_add(1, Ordering::SeqCst);
                    }
                    assert!(!panics, "resume panics on purpose");
                    rouille::Response::text(format!("{} {k}", if timed_out { "timeout" } else { "woken" }))
                }),
            });
            if req.url() == "/park-now" {
                wake.wake(); // e.g. an event committed between the check and the registration
            } else {
                hub.waiters().insert(key, wake);
            }
            placeholder
        }
        "/wake" => match hub.take(&key) {
            Some(w) => {
                w.wake();
                rouille::Response::text("woke")
            }
            None => rouille::Response::text("none"),
        },
        _ => handle(req),
    }
}

fn park_server(cfg: NetConfig) -> (TestServer, Arc<Hub>) {
    let hub = Arc::new(Hub {
        waiters: Mutex::new(HashMap::new()),
        resumed: AtomicU64::new(0),
        timed_out: AtomicU64::new(0),
        base: Instant::now(),
    });
    let h = hub.clone();
    let srv = TestServer::start_with(cfg, Arc::new(move |req: &rouille::Request| park_handler(&h, req)));
    (srv, hub)
}

impl TestServer {
    fn parked(&self) -> usize {
        self.stats.parked.load(Ordering::Relaxed)
    }
}

fn park_request(key: &str, query: &str) -> Vec<u8> {
    format!("GET /park?key={key}&{query} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// Reads one small response with Content-Length from a raw stream, without a per-connection
/// buffer kept around (the 2,000-connection test measures RSS). Returns status and body.
fn read_small_response(s: &mut TcpStream) -> io::Result<(u16, String)> {
    let mut data = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")))
                .map(|(_, v)| v.trim().parse().expect("content-length"))
                .unwrap_or(0);
            if data.len() >= end + len {
                assert_eq!(data.len(), end + len, "unexpected bytes after the response");
                let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
                return Ok((status, String::from_utf8_lossy(&data[end..]).into_owned()));
            }
        }
        match s.read(&mut chunk)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => data.extend_from_slice(&chunk[..n]),
        }
    }
}

fn threads_now() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok()).expect("Threads")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Makes sure `needed` descriptors can be open; false if the hard limit does not allow it.
fn ensure_fd_limit(needed: u64) -> bool {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return false;
    }
    let needed = needed as libc::rlim_t;
    if lim.rlim_cur >= needed {
        return true;
    }
    if lim.rlim_max < needed {
        return false;
    }
    lim.rlim_cur = needed;
    // SAFETY: setrlimit reads the struct we own; raising the soft limit up to the hard one.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 }
}

/// A request parked with a 5 s deadline is answered within 50 ms of a `/wake` request; one
/// never woken answers `timed_out` at its 300 ms deadline.
#[test]
fn parked_request_answers_on_wake_and_at_deadline() {
    let _g = serial();
    let (srv, hub) = park_server(base_cfg());
    let mut waiter = srv.client();
    waiter.send(&park_request("a", "ms=5000"));
    assert!(wait_for(Duration::from_secs(2), || srv.parked() == 1), "not parked");
    assert_eq!(srv.counter(|s| &s.parked_total), 1);
    assert_eq!(srv.counter(|s| &s.requests_total), 2, "healthz + park"); // the park used one worker turn

    let mut waker = srv.client();
    let t0 = Instant::now();
    let r = waker.get("/wake?key=a");
    assert_eq!(r.text(), "woke");
    let r = waiter.response(false).expect("resumed response");
    let took = t0.elapsed();
    eprintln!("parking: response {took:?} after sending /wake");
    assert_eq!((r.status, r.text().as_str()), (200, "woken a"));
    assert!(took < Duration::from_millis(50), "wake took {took:?}");

    let t0 = Instant::now();
    waiter.send(&park_request("b", "ms=300"));
    let r = waiter.response(false).expect("timed-out response");
    let took = t0.elapsed();
    eprintln!("parking: 300 ms park answered after {took:?}");
    assert_eq!((r.status, r.text().as_str()), (200, "timeout b"));
    assert!(took >= Duration::from_millis(295) && took < Duration::from_millis(450), "deadline answer after {took:?}");
    assert_eq!((hub.resumed(), hub.timed_out.load(Ordering::SeqCst)), (2, 1));
    assert!(wait_for(Duration::from_secs(1), || srv.stats.snapshot().busy_workers == 0));
    let s = srv.stats.snapshot();
    assert_eq!((s.parked, s.parked_total, s.parked_dropped_total), (0, 2, 0));
    assert_eq!(s.open_connections, 2);
}

/// 2,000 parked long-polls cost sockets and a few KB each, not threads; ordinary requests stay
/// fast beside them, and wakes are answered promptly.
#[test]
fn two_thousand_parked_long_polls() {
    let _g = serial();
    const N: usize = 2000;
    if !ensure_fd_limit(2 * N as u64 + 512) {
        eprintln!("skipped: cannot raise the open-files limit to {} (hard limit too low)", 2 * N + 512);
        return;
    }
    let mut cfg = base_cfg();
    cfg.max_connections = N + 200;
    let workers = cfg.workers;
    let (srv, hub) = park_server(cfg);
    for _ in 0..20 {
        assert_eq!(srv.client().get("/healthz").status, 200); // warm up
    }
    let threads_before = threads_now();
    let rss_before = vm_rss_kib();
    let t_open = Instant::now();

    let mut conns: Vec<TcpStream> = Vec::with_capacity(N);
    for i in 0..N {
        // Paced: the test listener has std's 128-entry backlog.
        if i % 100 == 0 {
            assert!(wait_for(Duration::from_secs(5), || srv.parked() >= i), "only {} of {i} parked", srv.parked());
        }
        let mut s = TcpStream::connect(srv.addr).expect("connect");
        s.set_nodelay(true).unwrap();
        s.write_all(&park_request(&i.to_string(), "ms=30000")).expect("send");
        conns.push(s);
    }
    assert!(wait_for(Duration::from_secs(5), || srv.parked() == N), "only {} parked", srv.parked());
    let opened = t_open.elapsed();
    thread::sleep(Duration::from_millis(200)); // let allocations settle
    let threads_parked = threads_now();
    let rss_grown = vm_rss_kib().saturating_sub(rss_before);
    let s = srv.stats.snapshot();
    eprintln!(
        "parking: {N} parked in {opened:?}; threads {threads_before} -> {threads_parked} ({workers} workers); \
         RSS +{rss_grown} KiB ({} B per parked connection, clients included); open {}, busy workers {}",
        rss_grown * 1024 / N as u64,
        s.open_connections,
        s.busy_workers,
    );
    assert_eq!((s.parked, s.open_connections, s.busy_workers), (N, N, 0));
    assert!(threads_parked <= threads_before + 2, "threads grew from {threads_before} to {threads_parked}");
    assert!(threads_parked <= workers as u64 + 8, "{threads_parked} threads for {workers} workers");
    assert!(rss_grown < 64 * 1024, "RSS grew by {rss_grown} KiB");

    // Ordinary requests beside them.
    let mut lat: Vec<Duration> = (0..200)
        .map(|_| {
            let t0 = Instant::now();
            let r = srv.client().get("/healthz");
            assert_eq!(r.status, 200);
            t0.elapsed()
        })
        .collect();
    lat.sort();
    let (p50, p99, max) = (percentile(&lat, 0.5), percentile(&lat, 0.99), lat[lat.len() - 1]);
    eprintln!("parking: ordinary GET (new connection each) beside {N} parked: p50 {p50:?}, p99 {p99:?}, max {max:?}");
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");

    // Single wakes, one at a time.
    let mut single = Vec::new();
    for (i, s) in conns.iter_mut().enumerate().take(20) {
        let wake = hub.take(&i.to_string()).expect("waiter registered");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let t0 = Instant::now();
        wake.wake();
        let (status, body) = read_small_response(s).expect("woken response");
        single.push(t0.elapsed());
        assert_eq!((status, body), (200, format!("woken {i}")));
    }
    single.sort();
    let single_max = single[single.len() - 1];
    eprintln!("parking: single wake -> response: median {:?}, max {single_max:?} (20 wakes)", single[10]);
    assert!(single_max < Duration::from_millis(50), "single wake took {single_max:?}");

    // Everyone else at once.
    let rest: Vec<(usize, Wake)> = (20..N).map(|i| (i, hub.take(&i.to_string()).expect("waiter"))).collect();
    let t0 = Instant::now();
    for (_, w) in &rest {
        w.wake();
    }
    let woken_in = t0.elapsed();
    for (i, _) in &rest {
        let s = &mut conns[*i];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (status, body) = read_small_response(s).expect("woken response");
        assert_eq!((status, body), (200, format!("woken {i}")));
    }
    let all = t0.elapsed();
    eprintln!("parking: waking {} took {woken_in:?}; all answered {all:?} after the first wake", rest.len());
    assert!(all < Duration::from_secs(5), "all-wake took {all:?}");
    assert_eq!(hub.resumed(), N as u64);
    assert!(wait_for(Duration::from_secs(2), || srv.parked() == 0));
    let s = srv.stats.snapshot();
    assert_eq!((s.parked_total, s.parked_dropped_total, s.timed_out_total), (N as u64, 0, 0));
    // The connections are kept alive and usable.
    conns[N - 1].write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_small_response(&mut conns[N - 1]).unwrap(), (200, "ok".to_owned()));
}

/// A client that leaves while parked: the park is dropped and counted, its resume never runs.
#[test]
fn client_closing_while_parked_drops_the_park() {
    let _g = serial();
    let (srv, hub) = park_server(base_cfg());
    let mut c = srv.client();
    c.send(&park_request("gone", "ms=5000"));
    assert!(wait_for(Duration::from_secs(2), || srv.parked() == 1), "not parked");
    let wake = hub.take("gone").expect("registered");
    assert!(wake.is_pending());
    drop(c);
    assert!(wait_for(Duration::from_secs(2), || srv.counter(|s| &s.parked_dropped_total) == 1), "park not dropped");
    assert!(wait_for(Duration::from_secs(1), || srv.open() == 0), "open: {}", srv.open());
    assert_eq!(srv.parked(), 0);
    assert!(!wake.is_pending());
    wake.wake(); // does nothing now
    thread::sleep(Duration::from_millis(100));
    assert_eq!(hub.resumed(), 0);
    assert_eq!(srv.client().get("/healthz").status, 200);
}

/// Shutdown answers parked requests at once (`timed_out`, `Connection: close`) and returns
/// promptly.
#[test]
fn shutdown_resumes_parked_requests() {
    let _g = serial();
    let (mut srv, hub) = park_server(base_cfg());
    let mut clients: Vec<Client> = (0..5)
        .map(|i| {
            let mut c = srv.client();
            c.send(&park_request(&format!("s{i}"), "ms=30000"));
            c
        })
        .collect();
    assert!(wait_for(Duration::from_secs(2), || srv.parked() == 5), "not parked");
    let took = srv.stop();
    eprintln!("parking: shutdown with 5 parked requests took {took:?}");
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    for (i, c) in clients.iter_mut().enumerate() {
        let r = c.response(false).expect("response at shutdown");
        assert_eq!((r.status, r.text()), (200, format!("timeout s{i}")));
        assert_eq!(r.header("Connection"), Some("close"));
        assert!(c.closed_within(Duration::from_secs(1)));
    }
    assert_eq!((hub.resumed(), hub.timed_out.load(Ordering::SeqCst)), (5, 5));
}

/// After a parked response the connection serves the next request, including one the client
/// pipelined while it was parked.
#[test]
fn keep_alive_and_pipelining_after_a_parked_response() {
    let _g = serial();
    let (srv, hub) = park_server(base_cfg());
    let mut c = srv.client();
    c.send(&park_request("k", "ms=5000"));
    assert!(wait_for(Duration::from_secs(2), || srv.parked() == 1), "not parked");
    hub.take("k").expect("registered").wake();
    let r = c.response(false).expect("resumed");
    assert_eq!(r.text(), "woken k");
    assert_eq!(r.header("Connection"), None);
    let r = c.get("/healthz");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));

    // Pipelined behind a park: buffered meanwhile, answered after the parked response.
    let mut req = park_request("p", "ms=5000");
    req.extend_from_slice(b"GET /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    c.send(&req);
    assert!(wait_for(Duration::from_secs(2), || srv.parked() == 1), "not parked");
    thread::sleep(Duration::from_millis(50));
    c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"); // arrives while parked
    thread::sleep(Duration::from_millis(50));
    assert_eq!(srv.counter(|s| &s.requests_total), 4, "a pipelined request ran before the park was answered");
    hub.take("p").expect("registered").wake();
    assert_eq!(c.response(false).expect("resumed").text(), "woken p");
    assert_eq!(c.response(false).expect("echo").text(), "hello");
    assert_eq!(c.response(false).expect("healthz").text(), "ok");
    assert_eq!(srv.open(), 1);
}

/// Decided before the hand-over: woken while the handler still runs, or past its deadline;
/// a panicking resume gets the `Internal` answer and the connection goes on.
#[test]
fn early_wake_past_deadline_and_resume_panic() {
    let _g = serial();
    let (srv, hub) = park_server(base_cfg());
    let mut c = srv.client();
    let t0 = Instant::now();
    let r = c.get("/park-now?key=n");
    assert_eq!(r.text(), "woken n");
    assert!(t0.elapsed() < Duration::from_millis(50), "took {:?}", t0.elapsed());
    let r = c.get("/park?key=old&ms=0");
    assert_eq!(r.text(), "timeout old");
    c.send(b"GET /park-panic?key=x&ms=5000 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(wait_for(Duration::from_secs(2), || srv.parked() == 1), "not parked");
    hub.take("x").expect("registered").wake();
    let r = c.response(false).expect("internal");
    assert_eq!((r.status, r.text().as_str()), (500, "rejected Internal"));
    assert_eq!(c.get("/healthz").text(), "ok");
    let s = srv.stats.snapshot();
    assert_eq!((s.parked_total, s.panics_total, s.parked), (3, 1, 0));
    assert_eq!(hub.resumed(), 3);

    // Outside a worker thread, park resumes synchronously.
    let (wake, resp) = park(Parked {
        deadline: Instant::now() + Duration::from_secs(5),
        resume: Box::new(|timed_out| rouille::Response::text(format!("sync {timed_out}"))),
    });
    assert!(!wake.is_pending());
    let mut body = String::new();
    resp.data.into_reader_and_size().0.read_to_string(&mut body).unwrap();
    assert_eq!(body, "sync false");
}

/// Wakes racing the shared deadline of 200 parks: each is answered exactly once (the next
/// response on its connection is the next request's), woken or timed out.
#[test]
fn wake_racing_the_deadline_resumes_exactly_once() {
    let _g = serial();
    const N: usize = 200;
    let (srv, hub) = park_server(base_cfg());
    let at = hub.base.elapsed() + Duration::from_millis(800);
    let query = format!("at={}", at.as_millis());
    let deadline = hub.base + Duration::from_millis(at.as_millis() as u64);
    let mut conns: Vec<TcpStream> = Vec::with_capacity(N);
    for i in 0..N {
        if i % 100 == 0 {
            assert!(wait_for(Duration::from_secs(2), || srv.parked() >= i));
        }
        let mut s = TcpStream::connect(srv.addr).expect("connect");
        s.write_all(&park_request(&format!("r{i}"), &query)).expect("send");
        conns.push(s);
    }
    assert!(wait_for(Duration::from_secs(2), || srv.parked() == N), "only {} parked", srv.parked());
    assert!(Instant::now() < deadline, "parking took too long for this test");
    let wakes: Arc<Vec<Wake>> = Arc::new((0..N).map(|i| hub.waiters()[&format!("r{i}")].clone()).collect());
    // Two threads wake everything, one from each end, spread over the deadline: one wake every
    // 20 µs from 1 ms before it to 3 ms after it (the poller's timer fires within about 1 ms).
    let step = Duration::from_micros(20);
    let wakers: Vec<_> = [(deadline - Duration::from_millis(1), false), (deadline, true)]
        .into_iter()
        .map(|(start, reversed)| {
            let wakes = wakes.clone();
            thread::spawn(move || {
                let order: Vec<usize> = if reversed { (0..N).rev().collect() } else { (0..N).collect() };
                for (n, i) in order.into_iter().enumerate() {
                    let at = start + step * n as u32;
                    while Instant::now() < at {
                        std::hint::spin_loop();
                    }
                    wakes[i].wake();
                }
            })
        })
        .collect();
    for w in wakers {
        w.join().expect("waker");
    }
    let (mut woken, mut timed_out) = (0, 0);
    for (i, s) in conns.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (status, body) = read_small_response(s).expect("response");
        assert_eq!(status, 200);
        if body == format!("woken r{i}") {
            woken += 1;
        } else {
            assert_eq!(body, format!("timeout r{i}"));
            timed_out += 1;
        }
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        assert_eq!(read_small_response(s).expect("next response"), (200, "ok".to_owned()), "conn {i}");
    }
    eprintln!("parking: deadline race: {woken} woken, {timed_out} timed out");
    assert_eq!(hub.resumed(), N as u64);
    assert_eq!(hub.timed_out.load(Ordering::SeqCst), timed_out);
    assert!(wakes.iter().all(|w| !w.is_pending()));
}
