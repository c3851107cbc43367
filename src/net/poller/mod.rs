//! The poller: one thread that owns the listener and every connection that is idle, still
//! receiving its request, or closing. It accepts (within the per-address and total caps:
//! `admission.rs`), reads and parses non-blockingly (large bodies only within the body budget:
//! `bodies.rs`), enforces deadlines with a periodic scan, hands complete requests to the worker
//! pool, takes kept-alive connections back, holds parked requests until their wake or deadline
//! (then submits their resume: `parked.rs`), and runs the graceful shutdown.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::budget::{Budget, Reservation};
use super::conn::{Conn, Expiry, Phase, Step, LINGER, LINGER_BYTES};
use super::park::{ParkRecord, WakeMsg, WakeTarget};
use super::parse::Head;
use super::respond::{reject_response, serialize_reject};
use super::workers::{Back, Job, JobKind, Pool, WorkerCtx};
use super::{Handler, NetConfig, NetStats, Reject, RejectResponder};

mod admission;
mod bodies;
mod parked;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Connection slot `i` is registered as `Token(i + FIRST_CONN)`.
const FIRST_CONN: usize = 2;
/// Timer scan period (deadline precision).
const TICK: Duration = Duration::from_millis(100);
/// Pause after an accept error such as EMFILE, so a full fd table does not spin the loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Read size; shared by all connections, so idle connections hold no read buffer.
const SCRATCH: usize = 64 * 1024;

enum Slot {
    Free,
    Open(Box<Conn>),
    /// The connection is with a worker; the slot stays reserved (and counted).
    InWorker {
        peer: SocketAddr,
    },
    /// The handler parked the request: held (counted, no thread) until woken or expired.
    Parked(Box<ParkedConn>),
}

/// A parked request's connection: watched for readability only, to buffer pipelined bytes and
/// to notice the client leaving.
struct ParkedConn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Input received after the parked request, capped like a request head.
    buf: Vec<u8>,
    rec: Box<ParkRecord>,
}

impl Slot {
    /// Whether this slot holds the park `id`.
    fn holds_park(&self, id: u64) -> bool {
        matches!(self, Slot::Parked(pc) if pc.rec.state.id == id)
    }
}

pub(crate) struct Poller {
    poll: Poll,
    listener: Option<TcpListener>,
    cfg: NetConfig,
    reject: RejectResponder,
    stats: Arc<NetStats>,
    flag: Arc<AtomicBool>,
    pool: Pool,
    backs: Receiver<Back>,
    /// Wakes of parked requests (`Wake::wake`), announced through the same `mio::Waker`.
    wakes: Receiver<WakeMsg>,
    /// Deadlines of parked requests `(deadline, slot, park id)`; entries of parks resumed or
    /// dropped meanwhile are skipped when they surface (and compacted away when too many).
    park_deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// Connections in `Slot::Parked`.
    parked: usize,
    slots: Vec<Slot>,
    free: Vec<usize>,
    scratch: Vec<u8>,
    /// Open connections counted against `max_connections` (incl. those in workers).
    counted: usize,
    /// Open connections that only linger (refused, rejected, or closing after a response).
    lingering: usize,
    in_worker: usize,
    accept_paused_until: Option<Instant>,
    accept_error_logged: bool,
    shutdown_deadline: Option<Instant>,
    /// The worker pool no longer takes jobs (after the shutdown grace).
    pool_closed: bool,
    /// Counted connections per client (`admission::client_key`), for `max_connections_per_ip`.
    per_ip: HashMap<IpAddr, usize>,
    /// Connections that went idle between requests, oldest first `(since, slot)`: whom to shed
    /// at `max_connections`. Entries of connections that moved on are skipped when met.
    idle_order: VecDeque<(Instant, usize)>,
    budget: Arc<Budget>,
    /// Bodies waiting for the budget, first come first served `(slot, ticket)`; entries of
    /// connections that closed meanwhile are skipped when met.
    body_queue: VecDeque<(usize, u64)>,
    /// Connections in `body_queue` that still wait.
    body_waiting: usize,
    next_ticket: u64,
}

impl Poller {
    pub fn new(
        mut listener: TcpListener,
        cfg: NetConfig,
        handler: Handler,
        reject: RejectResponder,
        stats: Arc<NetStats>,
        flag: Arc<AtomicBool>,
    ) -> io::Result<(Poller, Arc<Waker>)> {
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let budget = Budget::new(cfg.max_body_memory, stats.clone(), waker.clone());
        let (tx, backs) = mpsc::channel();
        let (wake_tx, wakes) = mpsc::channel();
        let pool = Pool::start(
            cfg.workers,
            WorkerCtx {
                handler,
                reject: reject.clone(),
                stats: stats.clone(),
                shutting_down: flag.clone(),
                write_timeout: cfg.write_timeout,
                back: tx,
                waker: waker.clone(),
                wake_target: Arc::new(WakeTarget { tx: wake_tx, waker: waker.clone() }),
            },
        )?;
        let poller = Poller {
            poll,
            listener: Some(listener),
            cfg,
            reject,
            stats,
            flag,
            pool,
            backs,
            wakes,
            park_deadlines: BinaryHeap::new(),
            parked: 0,
            slots: Vec::new(),
            free: Vec::new(),
            scratch: vec![0; SCRATCH],
            counted: 0,
            lingering: 0,
            in_worker: 0,
            accept_paused_until: None,
            accept_error_logged: false,
            shutdown_deadline: None,
            pool_closed: false,
            per_ip: HashMap::new(),
            idle_order: VecDeque::new(),
            budget,
            body_queue: VecDeque::new(),
            body_waiting: 0,
            next_ticket: 0,
        };
        Ok((poller, waker))
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut next_scan = Instant::now() + TICK;
        loop {
            let now = Instant::now();
            let mut timeout = next_scan.saturating_duration_since(now);
            let next_park = self.park_deadlines.peek().map(|Reverse((t, _, _))| *t);
            for t in [self.accept_paused_until, self.shutdown_deadline, next_park].into_iter().flatten() {
                timeout = timeout.min(t.saturating_duration_since(now));
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::warn!("net: poll failed: {e}");
                    thread::sleep(Duration::from_millis(10));
                }
            }
            // New connections first: the listen backlog is short (128 with std), and a
            // connection that overflows it waits a full SYN retransmission (1 s).
            if events.iter().any(|e| e.token() == LISTENER) {
                self.accept_loop();
            }
            for (n, event) in events.iter().enumerate() {
                match event.token() {
                    LISTENER | WAKER => {} // accepted above; worker results are checked below
                    Token(t) => self.drive(t.wrapping_sub(FIRST_CONN)),
                }
                if n % 256 == 255 {
                    self.accept_loop();
                }
            }
            self.drain_backs();
            self.drain_wakes();
            if self.shutdown_deadline.is_none() && self.flag.load(Ordering::SeqCst) {
                self.begin_shutdown();
            }
            let now = Instant::now();
            self.expire_parks(now);
            if let Some(deadline) = self.shutdown_deadline {
                if self.in_worker == 0 || now >= deadline {
                    break;
                }
            }
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                self.accept_loop();
            }
            if now >= next_scan {
                self.scan(now);
                next_scan = now + TICK;
            }
            // Releases (by workers, or by closes on this turn) may have made room.
            if self.body_waiting > 0 {
                self.serve_body_waiters();
            }
        }
        let deadline =
            self.shutdown_deadline.unwrap_or_else(Instant::now).max(Instant::now() + Duration::from_millis(20));
        self.pool.finish(deadline);
        self.pool_closed = true;
        self.drain_backs();
        log::debug!("net: shutdown complete");
    }

    fn sync_open(&self) {
        self.stats.open_connections.store(self.counted, Ordering::Relaxed);
    }

    fn sync_parked(&self) {
        self.stats.parked.store(self.parked, Ordering::Relaxed);
    }

    fn alloc_slot(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::Free);
            self.slots.len() - 1
        })
    }

    fn register(&self, stream: &mut TcpStream, idx: usize) -> io::Result<()> {
        self.poll.registry().register(stream, Token(idx + FIRST_CONN), Interest::READABLE | Interest::WRITABLE)
    }

    fn accept_loop(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    self.accept_error_logged = false;
                    self.stats.accepted_total.fetch_add(1, Ordering::Relaxed);
                    self.on_accept(stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS/ENOMEM or anything unexpected: the pending
                    // connections stay in the backlog; retry after a pause instead of spinning.
                    if self.accept_error_logged {
                        log::debug!("net: accept failed again: {e}");
                    } else {
                        log::warn!("net: accept failed: {e}; pausing accepts briefly");
                        self.accept_error_logged = true;
                    }
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Takes a free slot and registers a new socket in it; None (slot returned) if that fails.
    fn register_new(&mut self, stream: &mut TcpStream) -> Option<usize> {
        let idx = self.alloc_slot();
        if let Err(e) = self.register(stream, idx) {
            log::warn!("net: cannot register connection: {e}");
            self.free.push(idx);
            return None;
        }
        Some(idx)
    }

    /// Closes a connection the poller holds and frees its slot.
    fn close(&mut self, idx: usize) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        if let Slot::Open(_) = slot {
            if let Slot::Open(mut conn) = std::mem::replace(slot, Slot::Free) {
                let _ = self.poll.registry().deregister(&mut conn.stream);
                if conn.budget_wait().is_some() {
                    self.left_body_queue();
                }
                if conn.counted {
                    self.uncount(conn.peer);
                } else {
                    self.lingering -= 1;
                }
            }
            self.free.push(idx);
        }
    }

    /// Reads, parses and dispatches as far as the socket allows.
    fn drive(&mut self, idx: usize) {
        if let Some(Slot::Parked(_)) = self.slots.get(idx) {
            self.drive_parked(idx);
            return;
        }
        let now = Instant::now();
        loop {
            let Some(Slot::Open(conn)) = self.slots.get_mut(idx) else {
                return;
            };
            if let Err(e) = conn.flush_out() {
                log::debug!("net: write to {} failed: {e}", conn.peer);
                self.close(idx);
                return;
            }
            if let Phase::Closing { .. } = conn.phase {
                self.drive_closing(idx);
                return;
            }
            if conn.budget_wait().is_some() {
                return; // not read until the body budget has room (`serve_body_waiters`)
            }
            match conn.advance(&self.cfg, now) {
                Step::NeedMore => {}
                Step::NeedBudget(bytes) => {
                    if self.request_budget(idx, bytes) {
                        continue;
                    }
                    return;
                }
                Step::Ready(head, body, held) => {
                    self.dispatch(idx, head, body, held);
                    return;
                }
                Step::Reject(r) => {
                    self.reject(idx, r);
                    return;
                }
            }
            if let Err(e) = conn.flush_out() {
                // e.g. a fresh `100 Continue`; what does not fit now goes on a writable event
                log::debug!("net: write to {} failed: {e}", conn.peer);
                self.close(idx);
                return;
            }
            let allowance = conn.read_allowance(&self.cfg, self.scratch.len());
            match conn.stream.read(&mut self.scratch[..allowance]) {
                Ok(0) => {
                    log::debug!("net: {} closed the connection", conn.peer);
                    self.close(idx);
                    return;
                }
                Ok(n) => conn.buf.extend_from_slice(&self.scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("net: read from {} failed: {e}", conn.peer);
                    self.close(idx);
                    return;
                }
            }
        }
    }

    /// Lingering close: flush the answer, shut down writing, discard input until EOF.
    fn drive_closing(&mut self, idx: usize) {
        let Some(Slot::Open(conn)) = self.slots.get_mut(idx) else {
            return;
        };
        match conn.flush_out() {
            Ok(true) => {}
            Ok(false) => return, // wait until writable
            Err(e) => {
                log::debug!("net: write to {} failed: {e}", conn.peer);
                self.close(idx);
                return;
            }
        }
        let Conn { stream, phase, .. } = &mut **conn;
        let Phase::Closing { drained, write_shut, .. } = phase else {
            return;
        };
        if !*write_shut {
            let _ = stream.shutdown(Shutdown::Write);
            *write_shut = true;
        }
        loop {
            match stream.read(&mut self.scratch) {
                Ok(0) => break,
                Ok(n) => {
                    *drained += n;
                    if *drained > LINGER_BYTES {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.close(idx);
    }

    /// Answers with the reject responder's response and closes (lingering).
    fn reject(&mut self, idx: usize, r: Reject) {
        if let Some(Slot::Open(conn)) = self.slots.get(idx) {
            log::debug!("net: rejecting request from {}: {r:?}", conn.peer);
        }
        self.stats.rejected_total.fetch_add(1, Ordering::Relaxed);
        let out = serialize_reject(reject_response(&self.reject, r));
        self.linger_close(idx, out);
    }

    /// Moves a connection to a lingering close after `out`; it stops counting against
    /// `max_connections`. Without room to linger it is closed after a best-effort write.
    fn linger_close(&mut self, idx: usize, out: Vec<u8>) {
        let Some(Slot::Open(conn)) = self.slots.get_mut(idx) else {
            return;
        };
        let was_counted = std::mem::replace(&mut conn.counted, false);
        let was_waiting = conn.budget_wait().is_some();
        let peer = conn.peer;
        conn.start_closing(out, Instant::now() + LINGER); // drops the body and its reservation
        if was_waiting {
            self.left_body_queue();
        }
        if was_counted {
            self.uncount(peer);
            self.lingering += 1;
        }
        if self.lingering > self.cfg.max_connections {
            if let Some(Slot::Open(conn)) = self.slots.get_mut(idx) {
                let _ = conn.flush_out();
            }
            self.close(idx);
            return;
        }
        self.drive_closing(idx);
    }

    /// Hands a complete request to the worker pool.
    fn dispatch(&mut self, idx: usize, head: Box<Head>, body: Vec<u8>, held: Option<Reservation>) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        let peer = match slot {
            Slot::Open(conn) => conn.peer,
            _ => return,
        };
        let Slot::Open(mut conn) = std::mem::replace(slot, Slot::InWorker { peer }) else {
            return;
        };
        if let Err(e) = self.poll.registry().deregister(&mut conn.stream) {
            log::warn!("net: cannot deregister connection: {e}");
        }
        let preamble = conn.take_pending_out();
        let Conn { stream, buf, .. } = *conn;
        self.in_worker += 1;
        let kind = JobKind::Request { head, body, held };
        self.pool.submit(Job { slot: idx, stream: stream.into(), peer, leftover: buf, preamble, kind });
    }

    /// Frees the slot of a connection that a worker closed or that cannot come back.
    fn release_in_worker(&mut self, idx: usize) {
        let Some(Slot::InWorker { peer }) = self.slots.get(idx) else {
            return;
        };
        let peer = *peer;
        self.slots[idx] = Slot::Free;
        self.free.push(idx);
        self.uncount(peer);
    }

    /// Takes connections back from workers.
    fn drain_backs(&mut self) {
        while let Ok(back) = self.backs.try_recv() {
            let idx = back.slot;
            let Some(Slot::InWorker { peer }) = self.slots.get(idx) else {
                log::warn!("net: connection returned to a slot not in a worker");
                continue;
            };
            let peer = *peer;
            self.in_worker -= 1;
            let Some(std_stream) = back.stream else {
                self.release_in_worker(idx);
                continue;
            };
            if let Some(rec) = back.park {
                self.take_park(idx, std_stream, peer, back.leftover, rec);
                continue;
            }
            if self.shutdown_deadline.is_some() {
                let _ = std_stream.shutdown(Shutdown::Write);
                self.release_in_worker(idx);
                continue;
            }
            let mut stream = TcpStream::from_std(std_stream);
            if let Err(e) = self.register(&mut stream, idx) {
                log::warn!("net: cannot register connection: {e}");
                self.release_in_worker(idx);
                continue;
            }
            let now = Instant::now();
            let conn = Conn::returned(stream, peer, back.leftover, now);
            self.slots[idx] = Slot::Open(Box::new(conn));
            if back.keep_alive {
                self.note_idle(idx, now);
                self.drive(idx);
            } else {
                self.linger_close(idx, Vec::new());
            }
        }
    }

    /// Enforces the idle, header, request and linger deadlines.
    fn scan(&mut self, now: Instant) {
        let mut expired = 0usize;
        for idx in 0..self.slots.len() {
            let Slot::Open(conn) = &self.slots[idx] else {
                continue;
            };
            let (deadline, expiry) = conn.deadline(&self.cfg);
            if now < deadline {
                continue;
            }
            let peer = conn.peer;
            match expiry {
                Expiry::Idle => {
                    log::debug!("net: closing idle connection from {peer}");
                    self.close(idx);
                }
                Expiry::Silent => {
                    log::debug!("net: {peer} sent nothing before the header timeout");
                    self.stats.timed_out_total.fetch_add(1, Ordering::Relaxed);
                    self.close(idx);
                }
                Expiry::Stalled => {
                    self.stats.timed_out_total.fetch_add(1, Ordering::Relaxed);
                    self.reject(idx, Reject::RequestTimeout);
                }
                Expiry::Linger => self.close(idx),
            }
            expired += 1;
            if expired.is_multiple_of(64) {
                self.accept_loop(); // many expiries at once must not starve the backlog
            }
        }
    }

    /// Stops accepting, closes every connection the poller holds and resumes the parked ones
    /// (`timed_out = true`); requests in workers may finish until the grace deadline.
    fn begin_shutdown(&mut self) {
        log::debug!("net: shutting down; {} requests in flight", self.in_worker);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for idx in 0..self.slots.len() {
            if let Slot::Parked(pc) = &self.slots[idx] {
                // Answered at once (their responses carry `Connection: close`).
                let timed_out = !pc.rec.state.fire();
                self.resume_parked(idx, timed_out);
            } else {
                self.close(idx);
            }
        }
        self.shutdown_deadline = Some(Instant::now() + self.cfg.shutdown_grace);
    }
}
