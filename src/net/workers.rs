//! The bounded worker pool: a fixed number of threads take complete requests from a queue,
//! run the handler (panics caught), write the response under a total deadline, and hand the
//! connection back to the poller. The queue needs no cap of its own: each connection has at
//! most one request (or one resume of a parked request) in it, so it never holds more than
//! `max_connections` jobs.
//!
//! A handler that parks its request (`park.rs`) gets no response written: unless the park is
//! already decided (woken, expired, shutdown), the connection goes back to the poller together
//! with the park, and a later `Resume` job runs the park's `resume` and writes its response.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::budget::Reservation;
use super::park::{self, ParkRecord, Parked, WakeInner, WakeTarget};
use super::parse::{BodyKind, Head, Version};
use super::respond::{reject_response, write_response, DeadlineWriter, RespondOpts, WriteError};
use super::{Handler, NetStats, Reject, RejectResponder};

/// A resume that parks again with an expired deadline is resumed on the spot; after this many
/// rounds in a row the request is answered with the `Internal` rejection instead.
const MAX_IMMEDIATE_RESUMES: usize = 16;

/// Work for a worker on one connection.
pub(crate) struct Job {
    /// The connection's slot in the poller.
    pub slot: usize,
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// Bytes after this request (pipelining), returned with the connection.
    pub leftover: Vec<u8>,
    /// Output to send before the response (a `100 Continue` not fully written yet).
    pub preamble: Vec<u8>,
    pub kind: JobKind,
}

pub(crate) enum JobKind {
    /// A complete request for the handler, with the body budget its body holds (if large).
    Request { head: Box<Head>, body: Vec<u8>, held: Option<Reservation> },
    /// A parked request was woken (`timed_out = false`), expired or is cut short by shutdown.
    Resume { rec: Box<ParkRecord>, timed_out: bool },
}

/// A connection coming back from a worker.
pub(crate) struct Back {
    pub slot: usize,
    /// `None`: the connection is gone (write failed, timed out, ...).
    pub stream: Option<TcpStream>,
    pub leftover: Vec<u8>,
    /// Serve the next request; otherwise close (lingering).
    pub keep_alive: bool,
    /// The handler parked the request: no response was written; the poller holds the
    /// connection (non-blocking again) until the park is woken or expires.
    pub park: Option<Box<ParkRecord>>,
}

/// What workers need besides jobs.
pub(crate) struct WorkerCtx {
    pub handler: Handler,
    pub reject: RejectResponder,
    pub stats: Arc<NetStats>,
    pub shutting_down: Arc<AtomicBool>,
    pub write_timeout: Duration,
    pub back: Sender<Back>,
    pub waker: Arc<mio::Waker>,
    /// Where the `Wake` handles of parks registered on the workers send their wakes.
    pub wake_target: Arc<WakeTarget>,
}

struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    ctx: WorkerCtx,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) struct Pool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn start(workers: usize, ctx: WorkerCtx) -> io::Result<Pool> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { jobs: VecDeque::new(), closed: false }),
            ready: Condvar::new(),
            ctx,
        });
        let mut pool = Pool { shared, threads: Vec::with_capacity(workers) };
        for i in 0..workers {
            let shared = pool.shared.clone();
            let spawned = thread::Builder::new().name(format!("net-worker-{i}")).spawn(move || worker_loop(&shared));
            match spawned {
                Ok(t) => pool.threads.push(t),
                Err(e) => {
                    pool.finish(Instant::now());
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    pub fn submit(&self, job: Job) {
        let mut q = self.shared.lock();
        q.jobs.push_back(job);
        self.shared.ctx.stats.queued_requests.fetch_add(1, Ordering::Relaxed);
        drop(q);
        self.shared.ready.notify_one();
    }

    /// Closes the queue (dropping jobs not started: their connections close), lets workers
    /// finish their current job until `deadline`, joins those that did, and detaches the rest.
    pub fn finish(&mut self, deadline: Instant) {
        let dropped = {
            let mut q = self.shared.lock();
            q.closed = true;
            std::mem::take(&mut q.jobs)
        };
        if !dropped.is_empty() {
            log::debug!("net: dropping {} queued requests at shutdown", dropped.len());
            self.shared.ctx.stats.queued_requests.fetch_sub(dropped.len(), Ordering::Relaxed);
        }
        drop(dropped);
        self.shared.ready.notify_all();
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let mut detached = 0;
        for t in std::mem::take(&mut self.threads) {
            if t.is_finished() {
                if t.join().is_err() {
                    log::warn!("net: a worker thread panicked");
                }
            } else {
                detached += 1;
            }
        }
        if detached > 0 {
            log::warn!("net: {detached} workers still busy after the shutdown grace; detached");
        }
    }
}

impl Drop for Pool {
    /// A pool dropped without `finish` (a `Server` never run): let idle workers exit.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

fn worker_loop(shared: &Shared) {
    let ctx = &shared.ctx;
    park::init_worker(ctx.wake_target.clone());
    loop {
        let job = {
            let mut q = shared.lock();
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                if q.closed {
                    return;
                }
                q = shared.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        ctx.stats.queued_requests.fetch_sub(1, Ordering::Relaxed);
        ctx.stats.busy_workers.fetch_add(1, Ordering::Relaxed);
        let slot = job.slot;
        let back = catch_unwind(AssertUnwindSafe(|| serve(ctx, job))).unwrap_or_else(|_| {
            log::warn!("net: worker failed while serving a request; closing the connection");
            Back { slot, stream: None, leftover: Vec::new(), keep_alive: false, park: None }
        });
        ctx.stats.busy_workers.fetch_sub(1, Ordering::Relaxed);
        // The poller may be gone (shutdown finished): then the connection just closes.
        if ctx.back.send(back).is_ok() {
            if let Err(e) = ctx.waker.wake() {
                log::warn!("net: cannot wake poller: {e}");
            }
        }
    }
}

/// Headers as the handler sees them: a decoded chunked body is presented with its length.
fn handler_headers(head: &mut Head, body_len: usize) -> Vec<(String, String)> {
    let mut headers = std::mem::take(&mut head.headers);
    if head.body == BodyKind::Chunked {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("transfer-encoding"));
        headers.push(("Content-Length".to_owned(), body_len.to_string()));
    }
    headers
}

/// What writing a response needs from its request.
#[derive(Clone, Copy)]
struct ReqInfo {
    version: Version,
    head_request: bool,
    keep_alive: bool,
}

/// A response and the park its producer registered, if any (then the response is a placeholder).
type Outcome = (rouille::Response, Option<(Parked, Arc<WakeInner>)>);

/// Runs a parked request's `resume` with parking open (it may park again); a panic becomes the
/// `Internal` rejection.
fn run_resume(ctx: &WorkerCtx, slot: usize, peer: SocketAddr, parked: Parked, timed_out: bool) -> Outcome {
    let resume = parked.resume;
    match catch_unwind(AssertUnwindSafe(|| park::with_site(slot, || resume(timed_out)))) {
        Ok(outcome) => outcome,
        Err(_) => {
            ctx.stats.panics_total.fetch_add(1, Ordering::Relaxed);
            log::warn!("net: resume of a parked request panicked (from {peer})");
            (reject_response(&ctx.reject, Reject::Internal), None)
        }
    }
}

fn serve(ctx: &WorkerCtx, job: Job) -> Back {
    let Job { slot, stream, peer, leftover, preamble, kind } = job;
    let gone = |leftover| Back { slot, stream: None, leftover, keep_alive: false, park: None };
    if let Err(e) = stream.set_nonblocking(false) {
        log::warn!("net: set_nonblocking(false) failed: {e}");
        return gone(leftover);
    }
    let (mut outcome, info) = match kind {
        JobKind::Request { head, body, held } => run_handler(ctx, slot, peer, head, body, held),
        JobKind::Resume { rec, timed_out } => {
            let ParkRecord { parked, version, head_request, keep_alive, .. } = *rec;
            (run_resume(ctx, slot, peer, parked, timed_out), ReqInfo { version, head_request, keep_alive })
        }
    };
    // A registered park is handed to the poller unless it is decided already, e.g. woken while
    // the handler still ran (then it is resumed here, saving the round trip).
    let mut rounds = 0;
    let response = loop {
        let (response, registered) = outcome;
        let Some((parked, state)) = registered else {
            break response;
        };
        ctx.stats.parked_total.fetch_add(1, Ordering::Relaxed);
        let timed_out = if ctx.shutting_down.load(Ordering::SeqCst) || Instant::now() >= parked.deadline {
            Some(!state.fire())
        } else if state.has_fired() {
            Some(false)
        } else {
            None
        };
        let Some(timed_out) = timed_out else {
            if let Err(e) = stream.set_nonblocking(true) {
                log::warn!("net: set_nonblocking(true) failed: {e}");
                state.fire();
                ctx.stats.parked_dropped_total.fetch_add(1, Ordering::Relaxed);
                return gone(leftover);
            }
            let rec = ParkRecord {
                parked,
                state,
                version: info.version,
                head_request: info.head_request,
                keep_alive: info.keep_alive,
                preamble,
            };
            return Back { slot, stream: Some(stream), leftover, keep_alive: true, park: Some(Box::new(rec)) };
        };
        rounds += 1;
        if rounds > MAX_IMMEDIATE_RESUMES {
            log::warn!("net: a parked request keeps parking again with an expired deadline (from {peer})");
            break reject_response(&ctx.reject, Reject::Internal);
        }
        outcome = run_resume(ctx, slot, peer, parked, timed_out);
    };
    let opts = RespondOpts {
        version: info.version,
        head_request: info.head_request,
        keep_alive: info.keep_alive && !ctx.shutting_down.load(Ordering::SeqCst),
    };
    let mut writer = DeadlineWriter { stream: &stream, deadline: Instant::now() + ctx.write_timeout };
    match write_response(&mut writer, &preamble, response, opts) {
        Ok(keep_alive) => {
            if let Err(e) = stream.set_nonblocking(true) {
                log::warn!("net: set_nonblocking(true) failed: {e}");
                return gone(leftover);
            }
            Back { slot, stream: Some(stream), leftover, keep_alive, park: None }
        }
        Err(WriteError::Socket(e)) => {
            if e.kind() == io::ErrorKind::TimedOut {
                ctx.stats.timed_out_total.fetch_add(1, Ordering::Relaxed);
                log::debug!("net: write timeout to {peer}");
            } else {
                log::debug!("net: write to {peer} failed: {e}");
            }
            gone(leftover)
        }
        Err(WriteError::Body(e)) => {
            log::warn!("net: response body reader failed: {e}");
            gone(leftover)
        }
    }
}

/// Runs the handler for a complete request, with parking open.
fn run_handler(
    ctx: &WorkerCtx,
    slot: usize,
    peer: SocketAddr,
    mut head: Box<Head>,
    body: Vec<u8>,
    held: Option<Reservation>,
) -> (Outcome, ReqInfo) {
    ctx.stats.requests_total.fetch_add(1, Ordering::Relaxed);
    let info = ReqInfo { version: head.version, head_request: head.is_head_method(), keep_alive: head.keep_alive };
    let headers = handler_headers(&mut head, body.len());
    let request = rouille::Request::fake_http_from(
        peer,
        std::mem::take(&mut head.method),
        std::mem::take(&mut head.target),
        headers,
        body,
    );
    let outcome = match catch_unwind(AssertUnwindSafe(|| park::with_site(slot, || (ctx.handler)(&request)))) {
        Ok(outcome) => outcome,
        Err(_) => {
            ctx.stats.panics_total.fetch_add(1, Ordering::Relaxed);
            log::warn!("net: handler panicked ({} from {peer})", request.method());
            (reject_response(&ctx.reject, Reject::Internal), None)
        }
    };
    // The body is freed with the request: its budget goes back before the response is written
    // (a slow reader must not hold it).
    drop(request);
    drop(held);
    (outcome, info)
}
