//! Bounded HTTP/1.1 connection layer that serves `rouille` handlers.
//!
//! # Why
//! tiny_http (under rouille) runs one OS thread per open connection, without a bound and without
//! read, write or idle timeouts or a header size limit. Half-sent requests therefore hold threads
//! (and whatever they buffered) forever, a burst of keep-alive connections can starve, and enough
//! connections abort the process. The cost of a connection must not be a thread.
//!
//! # Design
//! * One **poller** thread (`poller/`, mio/epoll) owns the listener and every connection that
//!   is idle or still receiving its request. It reads non-blockingly into a per-connection
//!   buffer, parses the head (`parse.rs`) and the body (`body.rs`, Content-Length or chunked) with
//!   hard caps, and enforces header/request/idle deadlines with a periodic timer scan. An idle
//!   or slow connection therefore costs a socket and a small buffer, never a thread.
//! * Only **complete** requests reach the fixed pool of `workers` threads (`workers.rs`). A
//!   worker builds a `rouille::Request`, runs the handler (panics caught), and writes the
//!   response in blocking mode under a total write deadline (`respond.rs`). A keep-alive
//!   connection then goes back to the poller (channel + `mio::Waker`) with any pipelined bytes
//!   that were already buffered.
//! * Bounds: at most `max_connections` connections are open (idle, receiving or in a worker).
//!   When a new one arrives at the cap, the oldest idle keep-alive connection is closed for it
//!   (`poller/admission.rs`); with none idle, the newcomer is accepted and answered at once with
//!   the `Overloaded` response (503) and closed, so a flood is refused quickly and the process
//!   survives. One client address holds at most `max_connections_per_ip` of them (the excess
//!   gets `TooManyConnections`, 429; `trusted_proxies` are exempt), so one client cannot take
//!   them all. Heads are capped at `max_header_bytes` (431, never buffering more), bodies at
//!   `body_limit` (413, a too large Content-Length is refused before its body is read), and
//!   bodies over 64 KiB together at `max_body_memory` (`budget.rs`: a body that does not fit
//!   waits, unread, until one finishes or its request times out). Error responses produced by
//!   the layer itself come from the application's [`RejectResponder`] and are written by the
//!   poller, followed by a short lingering close so the client can read them.
//! * **Parking** (`park.rs`): a handler may call [`park`] to have its request held without a
//!   thread — for long-polls — until the returned [`Wake`] fires (from any thread) or a deadline
//!   passes. The worker then writes nothing and hands the connection and the park to the poller
//!   (same channel + waker as kept-alive connections). The poller watches it for readability
//!   (pipelined bytes are buffered as usual; EOF drops the park without resuming it) and keeps
//!   its deadline in a heap that bounds the poll timeout. A wake reaches the poller at once
//!   through a channel + the `mio::Waker`; the poller then submits a resume job, and a worker
//!   runs [`Parked::resume`] and writes its response exactly like a handler's. Parked
//!   connections count against `max_connections`, not against `workers`; each costs a socket,
//!   a small record and the resume closure.
//! * Shutdown stops accepting, closes idle and half-received connections, resumes parked
//!   requests at once with `timed_out = true`, lets in-flight requests finish within
//!   `shutdown_grace` (their responses carry `Connection: close`), then joins the workers.
//!
//! Memory bound, roughly: `max_connections * (max_header_bytes + 64 KiB) + max_body_memory` in
//! the worst case (every connection sending a head or a small body, and large bodies filling the
//! budget; what waiting bodies' clients sent stays in kernel socket buffers); the file
//! descriptor budget should allow `2 * max_connections` sockets (refused and rejected
//! connections linger briefly).
//! The listen backlog is the caller's: std binds with 128, so a burst of more simultaneous
//! SYNs than that, arriving while the poller is descheduled, waits for a SYN retransmission;
//! raise it (listen(2) again on the bound socket) if bursts that large are expected.

mod body;
mod budget;
mod conn;
mod date;
mod park;
mod parse;
mod poller;
#[cfg(test)]
mod props;
mod respond;
mod workers;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Cidr;

pub use park::{map_parked, park, parking, Parked, Wake};

/// Limits and timeouts of the connection layer.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Open connections at most (idle, receiving, or being answered); the excess is refused
    /// fast with the `Overloaded` response.
    pub max_connections: usize,
    /// Fixed number of worker threads that run handlers.
    pub workers: usize,
    /// A request head must arrive complete within this from its first byte (for a new
    /// connection: from accept).
    pub header_timeout: Duration,
    /// The whole request (head + body) must arrive within this from its first byte.
    pub request_timeout: Duration,
    /// How long a keep-alive connection may stay idle between requests.
    pub idle_timeout: Duration,
    /// Total time allowed for writing one response.
    pub write_timeout: Duration,
    /// Cap on request line + header fields; over it → 431.
    pub max_header_bytes: usize,
    /// Cap on a request body in bytes (Content-Length or decoded chunked total); over it → 413.
    pub body_limit: usize,
    /// How long in-flight requests may still finish after shutdown was requested.
    pub shutdown_grace: Duration,
    /// Open connections from one client (an IPv4 address, or an IPv6 /64) at most; the excess
    /// is refused fast with `TooManyConnections`. 0 disables the cap.
    pub max_connections_per_ip: usize,
    /// Peers exempt from `max_connections_per_ip`: reverse proxies, whose every connection
    /// comes from their own address.
    pub trusted_proxies: Vec<Cidr>,
    /// Bytes that bodies larger than 64 KiB may reserve, all together, while they are received
    /// and handled; a body that does not fit waits, unread. Must be at least `body_limit`.
    pub max_body_memory: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            max_connections: 1024,
            workers: 8,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            body_limit: 10 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            max_connections_per_ip: 64,
            trusted_proxies: Vec::new(),
            max_body_memory: 64 * 1024 * 1024,
        }
    }
}

/// Why the connection layer answers a request itself instead of calling the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Malformed request line, header field, framing or chunked body (400).
    BadRequest,
    /// The request did not arrive in time (408).
    RequestTimeout,
    /// A body is required but its length is unknown (411). Not produced currently: a request
    /// without Content-Length or Transfer-Encoding simply has an empty body.
    LengthRequired,
    /// Content-Length or chunked total over `body_limit` (413).
    PayloadTooLarge,
    /// `Expect` other than `100-continue` (417).
    ExpectationFailed,
    /// Request head over `max_header_bytes` or too many header fields (431).
    HeaderTooLarge,
    /// The handler panicked (500).
    Internal,
    /// A transfer-coding other than `chunked` (501).
    NotImplemented,
    /// `max_connections` reached and no idle connection to close for room (503).
    Overloaded,
    /// The client's address already has `max_connections_per_ip` connections open (429).
    TooManyConnections,
    /// An HTTP version other than 1.0 or 1.1 (505).
    VersionNotSupported,
}

impl Reject {
    /// The status code that fits this rejection.
    pub fn status_code(self) -> u16 {
        match self {
            Reject::BadRequest => 400,
            Reject::RequestTimeout => 408,
            Reject::LengthRequired => 411,
            Reject::PayloadTooLarge => 413,
            Reject::ExpectationFailed => 417,
            Reject::HeaderTooLarge => 431,
            Reject::Internal => 500,
            Reject::NotImplemented => 501,
            Reject::Overloaded => 503,
            Reject::TooManyConnections => 429,
            Reject::VersionNotSupported => 505,
        }
    }

    /// A plain-text response with [`Reject::status_code`]; a fallback for applications that do
    /// not build their own error envelope.
    pub fn plain_response(self) -> rouille::Response {
        let code = self.status_code();
        rouille::Response::text(format!("{} {}\n", code, respond::reason_phrase(code))).with_status_code(code)
    }
}

/// Runs one complete request (on a worker thread).
pub type Handler = Arc<dyn Fn(&rouille::Request) -> rouille::Response + Send + Sync>;

/// Builds the response for a request the layer rejects itself; the status code is taken from
/// the returned response. Called on the poller thread (and on workers for `Internal`): it must
/// be cheap and must not block. Its body is capped at 64 KiB.
pub type RejectResponder = Arc<dyn Fn(Reject) -> rouille::Response + Send + Sync>;

/// A responder that answers every rejection with [`Reject::plain_response`].
pub fn plain_reject_responder() -> RejectResponder {
    Arc::new(|r: Reject| r.plain_response())
}

/// Live counters of the connection layer (relaxed atomics, for metrics and health checks).
#[derive(Debug, Default)]
pub struct NetStats {
    /// Connections currently open and counted against `max_connections`.
    pub open_connections: AtomicUsize,
    /// Workers currently running a handler or writing a response.
    pub busy_workers: AtomicUsize,
    /// Complete requests waiting for a free worker.
    pub queued_requests: AtomicUsize,
    /// Connections accepted (including refused ones).
    pub accepted_total: AtomicU64,
    /// Connections refused because `max_connections` was reached.
    pub refused_total: AtomicU64,
    /// Connections refused because their address had `max_connections_per_ip` open.
    pub refused_per_ip_total: AtomicU64,
    /// Idle keep-alive connections closed to make room for a new one at `max_connections`.
    pub shed_idle_total: AtomicU64,
    /// Requests or responses that hit a header, request or write timeout.
    pub timed_out_total: AtomicU64,
    /// Requests answered by the reject responder (4xx/5xx from the layer, excluding refusals).
    pub rejected_total: AtomicU64,
    /// Requests handed to the handler.
    pub requests_total: AtomicU64,
    /// Handler (and park resume) panics caught.
    pub panics_total: AtomicU64,
    /// Parked requests the poller holds now (no thread; counted in `open_connections`).
    pub parked: AtomicUsize,
    /// Parks registered by handlers (including re-parks by a resume, and parks decided before
    /// the poller took them over: woken while the handler ran, expired, or at shutdown).
    pub parked_total: AtomicU64,
    /// Parks dropped without resuming them, because the client closed the connection.
    pub parked_dropped_total: AtomicU64,
    /// Bytes of `max_body_memory` that large bodies have reserved (what the budget caps).
    pub body_reserved_bytes: AtomicUsize,
    /// Bytes large bodies hold in their buffers now (at most `body_reserved_bytes`).
    pub body_buffered_bytes: AtomicUsize,
    /// Connections whose large body waits, unread, for room in `max_body_memory`.
    pub body_waiting: AtomicUsize,
}

/// A plain copy of [`NetStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStatsSnapshot {
    pub open_connections: usize,
    pub busy_workers: usize,
    pub queued_requests: usize,
    pub accepted_total: u64,
    pub refused_total: u64,
    pub refused_per_ip_total: u64,
    pub shed_idle_total: u64,
    pub timed_out_total: u64,
    pub rejected_total: u64,
    pub requests_total: u64,
    pub panics_total: u64,
    pub parked: usize,
    pub parked_total: u64,
    pub parked_dropped_total: u64,
    pub body_reserved_bytes: usize,
    pub body_buffered_bytes: usize,
    pub body_waiting: usize,
}

impl NetStats {
    /// Reads every counter once.
    pub fn snapshot(&self) -> NetStatsSnapshot {
        let r = Ordering::Relaxed;
        NetStatsSnapshot {
            open_connections: self.open_connections.load(r),
            busy_workers: self.busy_workers.load(r),
            queued_requests: self.queued_requests.load(r),
            accepted_total: self.accepted_total.load(r),
            refused_total: self.refused_total.load(r),
            refused_per_ip_total: self.refused_per_ip_total.load(r),
            shed_idle_total: self.shed_idle_total.load(r),
            timed_out_total: self.timed_out_total.load(r),
            rejected_total: self.rejected_total.load(r),
            requests_total: self.requests_total.load(r),
            panics_total: self.panics_total.load(r),
            parked: self.parked.load(r),
            parked_total: self.parked_total.load(r),
            parked_dropped_total: self.parked_dropped_total.load(r),
            body_reserved_bytes: self.body_reserved_bytes.load(r),
            body_buffered_bytes: self.body_buffered_bytes.load(r),
            body_waiting: self.body_waiting.load(r),
        }
    }
}

/// Asks a running [`Server`] to shut down gracefully. Cheap to clone; usable from any thread
/// (e.g. a signal-handling thread).
#[derive(Clone)]
pub struct ShutdownHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
}

impl ShutdownHandle {
    /// Requests shutdown and wakes the poller; idempotent, returns at once.
    pub fn shutdown(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            log::warn!("net: cannot wake poller for shutdown: {e}");
        }
    }

    /// Whether shutdown was requested.
    pub fn is_shutdown(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// The HTTP server: create with [`Server::new`], then call [`Server::run`] on a thread of its
/// own (it blocks until shutdown completed).
pub struct Server {
    poller: poller::Poller,
    local_addr: SocketAddr,
    stats: Arc<NetStats>,
    flag: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
}

impl Server {
    /// Takes over a bound listener. Fails on an invalid configuration (zero workers or
    /// connections, a header cap under 64 bytes, a body budget under `body_limit`) or if the
    /// poller cannot be set up.
    pub fn new(listener: TcpListener, cfg: NetConfig, handler: Handler, reject: RejectResponder) -> io::Result<Server> {
        if cfg.workers == 0 || cfg.max_connections == 0 || cfg.max_header_bytes < 64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "net: workers and max_connections must be > 0 and max_header_bytes >= 64",
            ));
        }
        if cfg.max_body_memory < cfg.body_limit {
            // Otherwise a body within the limit could never be admitted.
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "net: max_body_memory must be >= body_limit"));
        }
        let local_addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stats = Arc::new(NetStats::default());
        let flag = Arc::new(AtomicBool::new(false));
        let (poller, waker) = poller::Poller::new(
            mio::net::TcpListener::from_std(listener),
            cfg,
            handler,
            reject,
            stats.clone(),
            flag.clone(),
        )?;
        Ok(Server { poller, local_addr, stats, flag, waker })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Live counters; stays valid after `run` returned.
    pub fn stats(&self) -> Arc<NetStats> {
        self.stats.clone()
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { flag: self.flag.clone(), waker: self.waker.clone() }
    }

    /// Serves until [`ShutdownHandle::shutdown`] is called, then shuts down gracefully and
    /// returns. The calling thread becomes the poller thread; the workers are spawned here.
    pub fn run(self) {
        self.poller.run();
    }
}
