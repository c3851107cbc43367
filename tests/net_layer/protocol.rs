//! HTTP/1.1 behaviour: keep-alive, pipelining, bodies, Expect, HEAD, 1.0, errors, shutdown.

use super::*;

#[test]
fn keepalive_reuses_one_connection_for_100_requests() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    let accepted_before = srv.counter(|s| &s.accepted_total);
    let mut c = srv.client();
    for i in 0..100 {
        let r = c.get(&format!("/n/{i}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("/n/{i}"));
    }
    assert_eq!(srv.counter(|s| &s.accepted_total) - accepted_before, 1);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    let mut c = srv.client();
    c.send(
        b"GET /p1 HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
          GET /p3 HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /p5 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let bodies: Vec<String> = (0..5).map(|_| c.response(false).expect("response").text()).collect();
    assert_eq!(bodies, ["/p1", "hello", "/p3", "abc", "/p5"]);
}

#[test]
fn content_length_and_chunked_bodies_arrive_intact() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut c = srv.client();
    c.send(format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    for part in body.chunks(70_000) {
        c.send(part);
        thread::sleep(Duration::from_millis(5));
    }
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == body, "Content-Length body differs");

    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (i, part) in body.chunks(40_000).enumerate() {
        c.send(format!("{:x};ext={i}\r\n", part.len()).as_bytes());
        c.send(part);
        c.send(b"\r\n");
        thread::sleep(Duration::from_millis(5));
    }
    c.send(b"0\r\nX-Trailer: 1\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == body, "chunked body differs");

    // The handler sees a decoded chunked body with its length.
    c.send(b"POST /content-length HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n");
    assert_eq!(c.response(false).unwrap().text(), "4");
}

#[test]
fn body_over_limit_gets_413() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    // Content-Length over the limit: refused before any body byte is sent.
    let mut c = srv.client();
    let t0 = Instant::now();
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 413);
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert!(c.closed_within(Duration::from_secs(3)));

    // Chunked total over the limit.
    let mut c = srv.client();
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let part = vec![b'z'; 300_000];
    let mut status = None;
    for _ in 0..5 {
        let mut msg = format!("{:x}\r\n", part.len()).into_bytes();
        msg.extend_from_slice(&part);
        msg.extend_from_slice(b"\r\n");
        if c.w.write_all(&msg).is_err() {
            break;
        }
    }
    if let Ok(r) = c.response(false) {
        status = Some(r.status);
    }
    assert_eq!(status, Some(413));
}

#[test]
fn expect_100_continue() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    let mut c = srv.client();
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let interim = c.response(false).unwrap();
    assert_eq!(interim.status, 100);
    c.send(b"hello");
    let r = c.response(false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));

    // Too large: 413 instead of 100.
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 9000000\r\n\r\n");
    assert_eq!(c.response(false).unwrap().status, 413);

    // Unknown expectation: 417.
    let mut c = srv.client();
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(c.response(false).unwrap().status, 417);
}

#[test]
fn head_has_no_body() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    let mut c = srv.client();
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response(true).unwrap();
    assert_eq!((r.status, r.header("Content-Length")), (200, Some("2")));
    c.send(b"HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response(true).unwrap();
    assert_eq!(r.status, 200);
    // Had a body been sent, this response would not parse.
    let r = c.get("/");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
}

#[test]
fn chunked_response_and_date_header() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    let mut c = srv.client();
    let r = c.get("/stream");
    assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(r.text(), "streamed body");
    let date = r.header("Date").expect("Date header");
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date:?}");
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    let mut c = srv.client();
    c.send(b"GET / HTTP/1.0\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(2)));

    // Unknown length on 1.0: close-delimited.
    let mut c = srv.client();
    c.send(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.text(), "streamed body");
    assert_eq!(r.header("Transfer-Encoding"), None);

    // Explicit keep-alive on 1.0.
    let mut c = srv.client();
    c.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    c.send(b"GET /b HTTP/1.0\r\n\r\n");
    assert_eq!(c.response(false).unwrap().text(), "/b");
    assert!(c.closed_within(Duration::from_secs(2)));
}

#[test]
fn handler_panic_gives_500_and_server_keeps_working() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    let mut c = srv.client();
    let r = c.get("/panic");
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "rejected Internal");
    assert_eq!(c.get("/").status, 200);
    for _ in 0..8 {
        assert_eq!(srv.client().get("/panic").status, 500);
    }
    assert_eq!(srv.client().get("/").status, 200);
    assert_eq!(srv.counter(|s| &s.panics_total), 9);
}

#[test]
fn malformed_requests_get_400_and_close() {
    let _g = serial();
    let srv = TestServer::start(base_cfg());
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut c = srv.client();
        c.send(bad);
        let r = c.response(false).unwrap();
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(bad));
        assert_eq!(r.header("Connection"), Some("close"));
        assert!(c.closed_within(Duration::from_secs(3)));
    }
    let mut c = srv.client();
    c.send(b"GET / HTTP/2.0\r\n\r\n");
    assert_eq!(c.response(false).unwrap().status, 505);
}

#[test]
fn graceful_shutdown_lets_in_flight_request_finish() {
    let _g = serial();
    let mut srv = TestServer::start(base_cfg());
    let mut idle = srv.client();
    assert_eq!(idle.get("/").status, 200);
    let addr = srv.addr;
    let requests_before = srv.counter(|s| &s.requests_total);
    let slow = thread::spawn(move || {
        let mut c = Client::connect(addr);
        let r = c.get("/sleep");
        let closed = c.closed_within(Duration::from_secs(3));
        (r, closed)
    });
    // The slow request is in its handler once it has been counted (before the handler runs)
    // and a worker is busy.
    assert!(wait_for(Duration::from_secs(2), || {
        srv.counter(|s| &s.requests_total) > requests_before && srv.stats.busy_workers.load(Ordering::Relaxed) == 1
    }));
    let took = srv.stop();
    let (r, closed) = slow.join().expect("slow client");
    assert_eq!((r.status, r.text().as_str()), (200, "slept"));
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(closed);
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert!(idle.closed_within(Duration::from_secs(1)));
    assert!(TcpStream::connect(addr).is_err(), "still accepting after shutdown");
}

#[test]
fn shutdown_grace_bounds_a_stuck_handler() {
    let _g = serial();
    let mut cfg = base_cfg();
    cfg.shutdown_grace = Duration::from_millis(100);
    let mut srv = TestServer::start(cfg);
    let addr = srv.addr;
    let requests_before = srv.counter(|s| &s.requests_total);
    let slow = thread::spawn(move || Client::connect(addr).get("/sleep").status);
    // The slow request is in its handler once it has been counted (before the handler runs)
    // and a worker is busy.
    assert!(wait_for(Duration::from_secs(2), || {
        srv.counter(|s| &s.requests_total) > requests_before && srv.stats.busy_workers.load(Ordering::Relaxed) == 1
    }));
    let took = srv.stop();
    assert!(took < Duration::from_millis(290), "shutdown took {took:?}");
    let _ = slow.join();
}
