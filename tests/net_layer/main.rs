//! Integration tests of the connection layer over real loopback sockets, with std clients.
//! Tests run one at a time (a process-wide lock): they open hundreds of sockets, measure
//! latency and process RSS, and must not disturb each other on a 2-core machine.

pub(crate) use buildxpert::net::{NetConfig, NetStats, Reject, RejectResponder, Server, ShutdownHandle};

pub(crate) use std::io::{self, BufRead, BufReader, Read, Write};
pub(crate) use std::net::{SocketAddr, TcpListener, TcpStream};
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
pub(crate) use std::sync::{Arc, Barrier, Mutex, MutexGuard};
pub(crate) use std::thread::{self, JoinHandle};
pub(crate) use std::time::{Duration, Instant};

pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

pub(crate) fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Server under test
// ---------------------------------------------------------------------------------------------

pub(crate) fn handle(req: &rouille::Request) -> rouille::Response {
    match req.url().as_str() {
        "/" | "/healthz" => rouille::Response::text("ok"),
        "/echo" => {
            let mut body = Vec::new();
            if let Some(mut d) = req.data() {
                d.read_to_end(&mut body).expect("body");
            }
            rouille::Response::from_data("application/octet-stream", body)
        }
        "/content-length" => rouille::Response::text(req.header("Content-Length").unwrap_or("none").to_owned()),
        "/sleep" => {
            thread::sleep(Duration::from_millis(300));
            rouille::Response::text("slept")
        }
        "/panic" => panic!("test handler panics on purpose"),
        "/stream" => {
            let mut r = rouille::Response::text("");
            r.data = rouille::ResponseBody::from_reader(io::Cursor::new(b"streamed body".to_vec()));
            r
        }
        "/big" => {
            let mut r = rouille::Response::text("");
            r.data = rouille::ResponseBody::from_reader_and_size(io::repeat(b'x').take(64 << 20), 64 << 20);
            r
        }
        _ => rouille::Response::text(req.raw_url().to_owned()),
    }
}

pub(crate) fn rejector() -> RejectResponder {
    Arc::new(|r: Reject| rouille::Response::text(format!("rejected {r:?}")).with_status_code(r.status_code()))
}

pub(crate) fn base_cfg() -> NetConfig {
    NetConfig {
        max_connections: 1000,
        workers: 4,
        header_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(5),
        max_header_bytes: 16 * 1024,
        body_limit: 1024 * 1024,
        shutdown_grace: Duration::from_secs(5),
        // Every test client comes from 127.0.0.1; the per-address cap has its own tests.
        max_connections_per_ip: 0,
        trusted_proxies: Vec::new(),
        max_body_memory: 64 << 20,
    }
}

pub(crate) struct TestServer {
    addr: SocketAddr,
    handle: ShutdownHandle,
    stats: Arc<NetStats>,
    join: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start(cfg: NetConfig) -> TestServer {
        TestServer::start_with(cfg, Arc::new(handle))
    }

    /// Starts a server with another handler (it must answer `/healthz` with 200).
    fn start_with(cfg: NetConfig, handler: buildxpert::net::Handler) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let server = Server::new(listener, cfg, handler, rejector()).expect("server");
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let stats = server.stats();
        let join = thread::spawn(move || server.run());
        let srv = TestServer { addr, handle, stats, join: Some(join) };
        // Wait until the poller runs, so tests measure a live server, not thread start-up.
        assert_eq!(srv.client().get("/healthz").status, 200);
        assert!(wait_for(Duration::from_secs(2), || srv.open() == 0));
        srv
    }

    fn open(&self) -> usize {
        self.stats.open_connections.load(Ordering::Relaxed)
    }

    fn counter(&self, which: fn(&NetStats) -> &AtomicU64) -> u64 {
        which(&self.stats).load(Ordering::Relaxed)
    }

    fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Shuts down and waits for `run` to return; returns how long that took.
    fn stop(&mut self) -> Duration {
        let t0 = Instant::now();
        self.handle.shutdown();
        if let Some(j) = self.join.take() {
            j.join().expect("server thread");
        }
        t0.elapsed()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `cond` holds (polling), for at most `limit`.
pub(crate) fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    cond()
}

// ---------------------------------------------------------------------------------------------
// Minimal HTTP client
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
pub(crate) struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

/// Connects to `addr` from the loopback address `src` (127.0.0.2 plays a second client).
pub(crate) fn connect_from(src: [u8; 4], addr: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from((src, 0)).into()).expect("bind the source address");
    s.connect(&addr.into()).expect("connect");
    s.into()
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        Client::over(TcpStream::connect(addr).expect("connect"))
    }

    fn connect_from(src: [u8; 4], addr: SocketAddr) -> Client {
        Client::over(connect_from(src, addr))
    }

    fn over(w: TcpStream) -> Client {
        w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        w.set_nodelay(true).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Client { w, r }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("send");
    }

    fn get(&mut self, path: &str) -> Resp {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.response(false).expect("response")
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn response(&mut self, head_request: bool) -> io::Result<Resp> {
        let status_line = self.line()?;
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let l = self.line()?;
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').expect("header colon");
            headers.push((n.to_owned(), v.trim().to_owned()));
        }
        let mut resp = Resp { status, headers, body: Vec::new() };
        if head_request || status < 200 || status == 204 || status == 304 {
            return Ok(resp);
        }
        if resp.header("Transfer-Encoding") == Some("chunked") {
            loop {
                let size = usize::from_str_radix(&self.line()?, 16).expect("chunk size");
                if size == 0 {
                    assert_eq!(self.line()?, "");
                    break;
                }
                let start = resp.body.len();
                resp.body.resize(start + size, 0);
                self.r.read_exact(&mut resp.body[start..])?;
                assert_eq!(self.line()?, "");
            }
        } else if let Some(n) = resp.header("Content-Length") {
            let n: usize = n.parse().expect("content-length");
            resp.body.resize(n, 0);
            self.r.read_exact(&mut resp.body)?;
        } else {
            self.r.read_to_end(&mut resp.body)?;
        }
        Ok(resp)
    }

    /// Whether the server closes the connection within `limit` (EOF or reset), discarding any
    /// bytes that arrive first.
    fn closed_within(&mut self, limit: Duration) -> bool {
        self.w.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match self.r.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
            }
        }
    }
}

/// Reads until EOF, error or timeout; returns the bytes and whether it ended in EOF/reset.
pub(crate) fn read_all(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return (out, false),
            Err(_) => return (out, true),
        }
    }
}

pub(crate) fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

mod exhaustion;
mod limits;
mod parking;
mod protocol;
