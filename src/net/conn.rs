//! Per-connection state held by the poller: the socket, the input buffer, pending output, and
//! the phase of the request being received, with the deadline that phase imposes.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::body::BodyReader;
use super::budget::{Reservation, SMALL_BODY};
use super::parse::{find_head_end, leading_blank_len, parse_head, BodyKind, Head};
use super::{NetConfig, Reject};

/// Written when a client sent `Expect: 100-continue` and waits before sending its body.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// Buffers left larger than this after a request are shrunk.
const KEEP_BUFFER_CAPACITY: usize = 16 * 1024;

pub(crate) enum Phase {
    /// Between requests on a kept-alive connection: no byte of the next request yet.
    Idle { since: Instant },
    /// Receiving a request head; `started` is its first byte (or accept, for a new
    /// connection); `got_bytes` tells a stalled request from a silent connection.
    Head { started: Instant, scan_from: usize, got_bytes: bool },
    /// Receiving the body of `head`.
    Body {
        head: Box<Head>,
        started: Instant,
        reader: BodyReader,
        body: Vec<u8>,
        /// The body's share of the body budget; None while it is small or still waiting.
        held: Option<Reservation>,
        /// Queued for the budget as `(ticket, bytes)`: the socket is not read meanwhile.
        waiting: Option<(u64, usize)>,
        /// `Expect: 100-continue` to answer once the body may be read.
        expect_continue: bool,
    },
    /// Answered (a rejection, or a response with `Connection: close`): flush `out`, shut down
    /// the write side, and discard input until EOF, `until`, or a byte budget — so the client
    /// reads the response instead of a reset.
    Closing { until: Instant, drained: usize, write_shut: bool },
}

/// What the buffered input amounts to.
pub(crate) enum Step {
    NeedMore,
    /// The body must reserve this many bytes of the body budget before more of it is read.
    NeedBudget(usize),
    Ready(Box<Head>, Vec<u8>, Option<Reservation>),
    Reject(Reject),
}

/// What a passed deadline means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Idle keep-alive connection: close silently.
    Idle,
    /// A new connection that never sent a byte: close silently.
    Silent,
    /// A started request stalled: answer 408.
    Stalled,
    /// A lingering close ran out of time.
    Linger,
}

pub(crate) struct Conn {
    pub stream: mio::net::TcpStream,
    pub peer: SocketAddr,
    /// Raw input not consumed yet (head bytes, body bytes not yet decoded, pipelined bytes).
    pub buf: Vec<u8>,
    /// Output the poller writes itself (100 Continue, rejection); `out_pos` bytes are sent.
    pub out: Vec<u8>,
    pub out_pos: usize,
    pub phase: Phase,
    /// Counted against `max_connections` (false for refused and lingering connections).
    pub counted: bool,
}

impl Conn {
    /// A connection that has just been accepted: its head deadline runs from now.
    pub fn accepted(stream: mio::net::TcpStream, peer: SocketAddr, now: Instant) -> Conn {
        Conn {
            stream,
            peer,
            buf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            phase: Phase::Head { started: now, scan_from: 0, got_bytes: false },
            counted: true,
        }
    }

    /// A kept-alive connection back from a worker, with already-buffered pipelined bytes.
    pub fn returned(stream: mio::net::TcpStream, peer: SocketAddr, mut leftover: Vec<u8>, now: Instant) -> Conn {
        if leftover.capacity() > KEEP_BUFFER_CAPACITY {
            leftover.shrink_to(KEEP_BUFFER_CAPACITY);
        }
        Conn {
            stream,
            peer,
            buf: leftover,
            out: Vec::new(),
            out_pos: 0,
            phase: Phase::Idle { since: now },
            counted: true,
        }
    }

    /// Switches to a lingering close after `out` (replacing any pending output).
    pub fn start_closing(&mut self, out: Vec<u8>, until: Instant) {
        self.out = out;
        self.out_pos = 0;
        self.buf = Vec::new();
        self.phase = Phase::Closing { until, drained: 0, write_shut: false };
    }

    /// The deadline of the current phase.
    pub fn deadline(&self, cfg: &NetConfig) -> (Instant, Expiry) {
        match &self.phase {
            Phase::Idle { since } => (*since + cfg.idle_timeout, Expiry::Idle),
            Phase::Head { started, got_bytes, .. } => {
                let t = *started + cfg.header_timeout.min(cfg.request_timeout);
                (t, if *got_bytes { Expiry::Stalled } else { Expiry::Silent })
            }
            Phase::Body { started, .. } => (*started + cfg.request_timeout, Expiry::Stalled),
            Phase::Closing { until, .. } => (*until, Expiry::Linger),
        }
    }

    /// How many bytes the next read may add: a head never makes the buffer exceed the cap
    /// by more than one byte (that byte proves the cap is exceeded).
    pub fn read_allowance(&self, cfg: &NetConfig, scratch: usize) -> usize {
        match &self.phase {
            Phase::Idle { .. } | Phase::Head { .. } => {
                (cfg.max_header_bytes + 1).saturating_sub(self.buf.len()).clamp(1, scratch)
            }
            // Payload the body can take, plus framing: what cannot be taken is not read.
            Phase::Body { reader, body, held, .. } => {
                let room = match (reader.remaining(), held) {
                    (Some(rest), None) if body.len() + rest > SMALL_BODY => 0,
                    (Some(rest), _) => rest,
                    (None, None) => SMALL_BODY.saturating_sub(body.len()),
                    (None, Some(r)) => r.reserved().saturating_sub(body.len()),
                };
                room.saturating_add(cfg.max_header_bytes).clamp(1, scratch)
            }
            Phase::Closing { .. } => scratch,
        }
    }

    /// The ticket and size of this connection's place in the body budget queue, if queued.
    pub fn budget_wait(&self) -> Option<(u64, usize)> {
        match &self.phase {
            Phase::Body { waiting, .. } => *waiting,
            _ => None,
        }
    }

    /// Queues the body for the budget: it is not read until [`Conn::admit`].
    pub fn wait_for_budget(&mut self, ticket: u64, bytes: usize) {
        if let Phase::Body { waiting, .. } = &mut self.phase {
            *waiting = Some((ticket, bytes));
        }
    }

    /// Gives the body its reservation: a Content-Length body gets its whole buffer now, and a
    /// deferred `100 Continue` goes out.
    pub fn admit(&mut self, mut r: Reservation) {
        let Phase::Body { reader, body, held, waiting, expect_continue, .. } = &mut self.phase else {
            return;
        };
        if let Some(rest) = reader.remaining() {
            body.reserve_exact(rest);
        }
        r.set_buffered(body.capacity());
        *held = Some(r);
        *waiting = None;
        if std::mem::take(expect_continue) && self.buf.is_empty() {
            self.out.extend_from_slice(CONTINUE);
        }
    }

    /// Writes pending output until done or the socket would block. `Ok(true)`: all written.
    pub fn flush_out(&mut self) -> io::Result<bool> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !self.out.is_empty() {
            self.out = Vec::new();
            self.out_pos = 0;
        }
        Ok(true)
    }

    /// Output not yet written (handed to the worker so it goes out before the response).
    pub fn take_pending_out(&mut self) -> Vec<u8> {
        let rest = self.out.split_off(self.out_pos.min(self.out.len()));
        self.out = Vec::new();
        self.out_pos = 0;
        rest
    }

    /// Makes progress with the buffered input: parses the head, decodes the body.
    pub fn advance(&mut self, cfg: &NetConfig, now: Instant) -> Step {
        loop {
            match &mut self.phase {
                Phase::Closing { .. } => return Step::NeedMore,
                Phase::Idle { .. } => {
                    if self.buf.is_empty() {
                        return Step::NeedMore;
                    }
                    self.phase = Phase::Head { started: now, scan_from: 0, got_bytes: true };
                }
                Phase::Head { started, scan_from, got_bytes } => {
                    if self.buf.is_empty() {
                        return Step::NeedMore;
                    }
                    *got_bytes = true;
                    // Empty lines before a request line are dropped as they come, so they
                    // are never rescanned (an endless stream of them meets the deadline).
                    let blank = leading_blank_len(&self.buf);
                    if blank > 0 {
                        self.buf.drain(..blank);
                        *scan_from = 0;
                        if self.buf.is_empty() {
                            return Step::NeedMore;
                        }
                    }
                    let end = match find_head_end(&self.buf, *scan_from) {
                        Err(resume) => {
                            if self.buf.len() > cfg.max_header_bytes {
                                return Step::Reject(Reject::HeaderTooLarge);
                            }
                            *scan_from = resume;
                            return Step::NeedMore;
                        }
                        Ok(end) if end > cfg.max_header_bytes => return Step::Reject(Reject::HeaderTooLarge),
                        Ok(end) => end,
                    };
                    let started = *started;
                    let head = match parse_head(&self.buf[..end], cfg.body_limit) {
                        Ok(h) => h,
                        Err(r) => return Step::Reject(r),
                    };
                    self.buf.drain(..end);
                    // A large Content-Length body gets its buffer once admitted to the budget.
                    let (reader, capacity) = match head.body {
                        BodyKind::Empty => return Step::Ready(Box::new(head), Vec::new(), None),
                        BodyKind::Length(n) if n > SMALL_BODY => (BodyReader::length(n), 0),
                        BodyKind::Length(n) => (BodyReader::length(n), n),
                        BodyKind::Chunked => (BodyReader::chunked(), SMALL_BODY.min(cfg.body_limit)),
                    };
                    let deferred = matches!(head.body, BodyKind::Length(n) if n > SMALL_BODY);
                    if head.expect_continue && !deferred && self.buf.is_empty() {
                        self.out.extend_from_slice(CONTINUE);
                    }
                    self.phase = Phase::Body {
                        expect_continue: head.expect_continue && deferred,
                        head: Box::new(head),
                        started,
                        reader,
                        body: Vec::with_capacity(capacity),
                        held: None,
                        waiting: None,
                    };
                }
                Phase::Body { reader, body, held, waiting, .. } => {
                    if waiting.is_some() {
                        return Step::NeedMore;
                    }
                    let room = match (reader.remaining(), held.as_mut()) {
                        (Some(rest), None) if body.len() + rest > SMALL_BODY => {
                            return Step::NeedBudget(body.len() + rest);
                        }
                        (Some(rest), _) => rest,
                        (None, None) => SMALL_BODY.saturating_sub(body.len()),
                        (None, Some(r)) => grow_within(body, r),
                    };
                    let (used, done) = match reader.feed(&self.buf, body, room, cfg.body_limit, cfg.max_header_bytes) {
                        Ok(r) => r,
                        Err(r) => return Step::Reject(r),
                    };
                    self.buf.drain(..used);
                    if !done {
                        if self.buf.is_empty() {
                            return Step::NeedMore;
                        }
                        // Out of room: a chunked body outgrew the small allowance (it reserves
                        // the most it may hold) or its buffer (grown on the next turn).
                        if held.is_none() {
                            return Step::NeedBudget(cfg.body_limit);
                        }
                        if room == 0 {
                            // Not reached: the decoder caps the body at body_limit, the size
                            // of the reservation; refusing beats spinning.
                            return Step::Reject(Reject::PayloadTooLarge);
                        }
                        continue;
                    }
                    if let Some(r) = held.as_mut() {
                        r.settle(body.capacity());
                    }
                    let phase = std::mem::replace(&mut self.phase, Phase::Idle { since: now });
                    return match phase {
                        Phase::Body { head, body, held, .. } => Step::Ready(head, body, held),
                        _ => Step::NeedMore, // not reachable: matched Body above
                    };
                }
            }
        }
    }
}

/// Room for more payload in a budgeted chunked body: its buffer doubles (never past the
/// reservation) once full, so the buffer never outgrows what the budget granted.
fn grow_within(body: &mut Vec<u8>, r: &mut Reservation) -> usize {
    let cap = r.reserved();
    if body.len() == body.capacity() && body.capacity() < cap {
        let target = body.capacity().saturating_mul(2).max(SMALL_BODY).min(cap);
        body.reserve_exact(target - body.len());
        r.set_buffered(body.capacity());
    }
    body.capacity().min(cap).saturating_sub(body.len())
}

/// How long a rejected or closing connection may linger, and how much input it may discard.
pub(crate) const LINGER: Duration = Duration::from_secs(2);
pub(crate) const LINGER_BYTES: usize = 1024 * 1024;
