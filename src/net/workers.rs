//! The bounded worker pool: a fixed number of threads take complete requests from a queue,
//! run the handler (panics caught), write the response under a total deadline, and hand the
//! connection back to the poller. The queue needs no cap of its own: each connection has at
//! most one request in it, so it never holds more than `max_connections` jobs.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::parse::{BodyKind, Head};
use super::respond::{reject_response, write_response, DeadlineWriter, RespondOpts, WriteError};
use super::{Handler, NetStats, Reject, RejectResponder};

/// A complete request and the connection it came on.
pub(crate) struct Job {
    /// The connection's slot in the poller.
    pub slot: usize,
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub head: Box<Head>,
    pub body: Vec<u8>,
    /// Bytes after this request (pipelining), returned with the connection.
    pub leftover: Vec<u8>,
    /// Output to send before the response (a `100 Continue` not fully written yet).
    pub preamble: Vec<u8>,
}

/// A connection coming back from a worker.
pub(crate) struct Back {
    pub slot: usize,
    /// `None`: the connection is gone (write failed, timed out, ...).
    pub stream: Option<TcpStream>,
    pub leftover: Vec<u8>,
    /// Serve the next request; otherwise close (lingering).
    pub keep_alive: bool,
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
            Back { slot, stream: None, leftover: Vec::new(), keep_alive: false }
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

fn serve(ctx: &WorkerCtx, job: Job) -> Back {
    let Job { slot, stream, peer, mut head, body, leftover, preamble } = job;
    let gone = |leftover| Back { slot, stream: None, leftover, keep_alive: false };
    if let Err(e) = stream.set_nonblocking(false) {
        log::warn!("net: set_nonblocking(false) failed: {e}");
        return gone(leftover);
    }
    ctx.stats.requests_total.fetch_add(1, Ordering::Relaxed);
    let head_request = head.is_head_method();
    let headers = handler_headers(&mut head, body.len());
    let request = rouille::Request::fake_http_from(
        peer,
        std::mem::take(&mut head.method),
        std::mem::take(&mut head.target),
        headers,
        body,
    );
    let response = match catch_unwind(AssertUnwindSafe(|| (ctx.handler)(&request))) {
        Ok(r) => r,
        Err(_) => {
            ctx.stats.panics_total.fetch_add(1, Ordering::Relaxed);
            log::warn!("net: handler panicked ({} from {peer})", request.method());
            reject_response(&ctx.reject, Reject::Internal)
        }
    };
    drop(request);
    let opts = RespondOpts {
        version: head.version,
        head_request,
        keep_alive: head.keep_alive && !ctx.shutting_down.load(Ordering::SeqCst),
    };
    let mut writer = DeadlineWriter { stream: &stream, deadline: Instant::now() + ctx.write_timeout };
    match write_response(&mut writer, &preamble, response, opts) {
        Ok(keep_alive) => {
            if let Err(e) = stream.set_nonblocking(true) {
                log::warn!("net: set_nonblocking(true) failed: {e}");
                return gone(leftover);
            }
            Back { slot, stream: Some(stream), leftover, keep_alive }
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
