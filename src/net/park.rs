//! Parking: a handler hands its connection back to the poller, with no thread held, until a
//! [`Wake`] fires or a deadline passes; then a worker runs the park's `resume` and writes its
//! response like any other.
//!
//! # Flow
//! * Before a handler (or a `resume`) runs, its worker opens a thread-local *site* for the
//!   connection it serves. [`park`] registers a [`Parked`] in that site and returns the [`Wake`]
//!   handle plus a placeholder response (ignored by the layer).
//! * After the handler returned, the worker takes the registration. If it was already woken, has
//!   expired, or the server is shutting down, the worker resumes it at once; otherwise it sends
//!   the connection and the park to the poller (the `Back` channel + the poller's `mio::Waker`),
//!   and is free for the next job.
//! * The poller keeps the parked connection registered for readability (pipelined bytes are
//!   buffered up to the head cap; EOF or an error drops the park without resuming it), and its
//!   deadline in a min-heap whose head bounds the poll timeout (millisecond precision).
//! * [`Wake::wake`] flips the park's `fired` flag and, if it was the first to do so, sends
//!   `(slot, id)` on the wake channel and wakes the poller through the same `mio::Waker`. The
//!   poller matches the message against the slot (a stale or foreign message is ignored) and
//!   submits a resume job to the worker pool.
//! * Exactly once: only the owner of the `Parked` (the worker before the hand-over, the poller
//!   after it) can run `resume`, which it moves out. The `fired` flag only decides
//!   `timed_out`: a deadline that finds it already set (a wake raced the timer) resumes with
//!   `timed_out = false`. A wake that reaches the poller before the hand-over is caught by the
//!   poller checking `fired` when it takes the park over.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use super::parse::Version;

/// What a handler asks for when it parks its request.
///
/// `resume` runs on a worker thread once the request is woken (`timed_out = false`), its
/// `deadline` passed (`true`), or the server shuts down (`true`); its response is written like
/// a handler's (a panic becomes the `Internal` rejection). It must capture everything it needs
/// (the `rouille::Request` is gone by then). If the client closes the connection while parked,
/// `resume` is dropped — on the poller thread, so its captures must be cheap to drop — and never
/// called. A `resume` may itself call [`park`] again (re-parking, with a new [`Wake`]).
pub struct Parked {
    pub deadline: Instant,
    pub resume: Box<dyn FnOnce(bool) -> rouille::Response + Send>,
}

/// Wakes one parked request. Cheap to clone, `Send + Sync`; [`Wake::wake`] is idempotent and
/// does nothing after the first wake, the deadline, a dropped park or a synchronous resume.
#[derive(Clone)]
pub struct Wake {
    inner: Arc<WakeInner>,
}

pub(crate) struct WakeInner {
    /// Set by the first wake, by the deadline, or when the park is dropped or resumed.
    fired: AtomicBool,
    /// The connection's slot in the poller and a process-unique park id (slots are reused).
    pub slot: usize,
    pub id: u64,
    /// Where wakes go; `None` for a park that was resolved synchronously.
    target: Option<Arc<WakeTarget>>,
}

/// The poller's wake channel and its waker.
pub(crate) struct WakeTarget {
    pub tx: Sender<WakeMsg>,
    pub waker: Arc<mio::Waker>,
}

/// A wake for the park `id` on connection slot `slot`.
pub(crate) type WakeMsg = (usize, u64);

impl Wake {
    /// Resumes the parked request soon (through the poller; the response does not wait for a
    /// timer tick). Callable from any thread; only the first call has an effect.
    pub fn wake(&self) {
        let inner = &*self.inner;
        if inner.fired.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(target) = &inner.target {
            // The poller may be gone (server shut down): then there is nothing to wake.
            if target.tx.send((inner.slot, inner.id)).is_ok() {
                if let Err(e) = target.waker.wake() {
                    log::warn!("net: cannot wake poller for a parked request: {e}");
                }
            }
        }
    }

    /// Whether the park still waits for its wake: false once woken, timed out, resumed at
    /// shutdown, dropped (the client left) or resolved synchronously. Lets a registry of
    /// waiters prune handles that can no longer do anything.
    pub fn is_pending(&self) -> bool {
        !self.inner.fired.load(Ordering::SeqCst)
    }

    fn spent() -> Wake {
        Wake { inner: Arc::new(WakeInner { fired: AtomicBool::new(true), slot: 0, id: 0, target: None }) }
    }
}

impl std::fmt::Debug for Wake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wake").field("id", &self.inner.id).field("pending", &self.is_pending()).finish()
    }
}

impl WakeInner {
    /// Marks the park as decided; returns whether a wake had fired before.
    pub fn fire(&self) -> bool {
        self.fired.swap(true, Ordering::SeqCst)
    }

    pub fn has_fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

/// A registered park, owned by a worker and then by the poller.
pub(crate) struct ParkRecord {
    pub parked: Parked,
    pub state: Arc<WakeInner>,
    /// What writing the eventual response needs from the request.
    pub version: Version,
    pub head_request: bool,
    /// The client allows keep-alive (shutdown is checked again when the response is written).
    pub keep_alive: bool,
    /// Output to send before the response (a `100 Continue` not fully written yet).
    pub preamble: Vec<u8>,
}

static NEXT_PARK_ID: AtomicU64 = AtomicU64::new(1);

struct Site {
    target: Option<Arc<WakeTarget>>,
    /// The slot of the connection whose handler (or resume) runs now on this thread.
    current: Option<usize>,
    registered: Option<(Parked, Arc<WakeInner>)>,
}

thread_local! {
    static SITE: RefCell<Site> = const { RefCell::new(Site { target: None, current: None, registered: None }) };
}

/// Called once by each worker thread: where its parks' wakes go.
pub(crate) fn init_worker(target: Arc<WakeTarget>) {
    SITE.with(|s| s.borrow_mut().target = Some(target));
}

/// Runs `f` (a handler or a resume) with parking open for connection `slot`; returns its
/// result and the park it registered, if any. A panic in `f` leaves no registration behind.
pub(crate) fn with_site<R>(slot: usize, f: impl FnOnce() -> R) -> (R, Option<(Parked, Arc<WakeInner>)>) {
    struct Close;
    impl Drop for Close {
        fn drop(&mut self) {
            // Runs on unwind too: a panicking handler's park is dropped (never resumed).
            let dropped = SITE.with(|s| {
                let mut s = s.borrow_mut();
                s.current = None;
                s.registered.take()
            });
            if let Some((_, state)) = dropped {
                state.fire();
            }
        }
    }
    SITE.with(|s| {
        let mut s = s.borrow_mut();
        s.current = Some(slot);
        s.registered = None;
    });
    let guard = Close;
    let out = f();
    let registered = SITE.with(|s| s.borrow_mut().registered.take());
    drop(guard);
    (out, registered)
}

/// Parks the request the calling handler serves: the layer ignores the handler's response (return
/// the placeholder given here), holds the connection without a thread, and writes the response of
/// `p.resume` once the returned [`Wake`] fires or `p.deadline` passes. See [`Parked`].
///
/// Outside a worker thread of this layer (a test, another thread the handler spawned) it resumes
/// synchronously: it calls `resume(false)` at once and returns its response, with a spent `Wake`.
/// Calling it twice in one handler keeps only the last park (the earlier one is dropped unresumed).
pub fn park(p: Parked) -> (Wake, rouille::Response) {
    let site = SITE.with(|s| {
        let s = s.borrow();
        match (s.current, &s.target) {
            (Some(slot), Some(target)) => Some((slot, target.clone())),
            _ => None,
        }
    });
    let Some((slot, target)) = site else {
        return (Wake::spent(), (p.resume)(false));
    };
    let id = NEXT_PARK_ID.fetch_add(1, Ordering::Relaxed);
    let inner = Arc::new(WakeInner { fired: AtomicBool::new(false), slot, id, target: Some(target) });
    let earlier = SITE.with(|s| s.borrow_mut().registered.replace((p, inner.clone())));
    if let Some((old, old_state)) = earlier {
        log::warn!("net: park called twice by one handler; the earlier park is dropped");
        old_state.fire();
        drop(old);
    }
    (Wake { inner }, placeholder())
}

/// Whether the handler running on this thread has parked its request: its returned response is
/// then a placeholder. For middleware around handlers (access logs, header decoration).
pub fn parking() -> bool {
    SITE.with(|s| s.borrow().registered.is_some())
}

/// Lets middleware decorate the response a pending park will produce: wraps the `resume` of the
/// park registered by the handler running on this thread with `f`, which runs on the resuming
/// worker. Returns false (and drops `f`) if no park is registered.
pub fn map_parked<F>(f: F) -> bool
where
    F: FnOnce(rouille::Response) -> rouille::Response + Send + 'static,
{
    SITE.with(|s| {
        let mut s = s.borrow_mut();
        let Some((parked, _)) = s.registered.as_mut() else {
            return false;
        };
        let inner = std::mem::replace(&mut parked.resume, Box::new(|_| placeholder()));
        parked.resume = Box::new(move |timed_out| f(inner(timed_out)));
        true
    })
}

fn placeholder() -> rouille::Response {
    rouille::Response::empty_204()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn outside_a_worker_park_resumes_synchronously() {
        let (wake, resp) = park(Parked {
            deadline: Instant::now() + Duration::from_secs(5),
            resume: Box::new(|timed_out| rouille::Response::text(format!("timed_out={timed_out}"))),
        });
        assert_eq!(resp.status_code, 200);
        let mut body = String::new();
        std::io::Read::read_to_string(&mut resp.data.into_reader_and_size().0, &mut body).unwrap();
        assert_eq!(body, "timed_out=false");
        assert!(!wake.is_pending());
        wake.wake(); // no-op
        assert!(!parking());
    }

    #[test]
    fn site_records_the_last_park_and_map_parked_wraps_it() {
        let (tx, _rx) = std::sync::mpsc::channel();
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(1)).unwrap());
        init_worker(Arc::new(WakeTarget { tx, waker }));
        let ((first, second), reg) = with_site(7, || {
            let p = |s: &'static str| Parked {
                deadline: Instant::now(),
                resume: Box::new(move |_| rouille::Response::text(s)),
            };
            let (a, _) = park(p("a"));
            let (b, _) = park(p("b"));
            assert!(parking());
            assert!(map_parked(|r| r.with_status_code(201)));
            (a, b)
        });
        let (parked, state) = reg.expect("registered");
        assert!(!first.is_pending() && second.is_pending());
        assert_eq!((state.slot, state.id), (7, second.inner.id));
        let resp = (parked.resume)(true);
        assert_eq!(resp.status_code, 201);
        assert!(!parking());
        // A panicking handler leaves nothing registered.
        let caught = std::panic::catch_unwind(|| {
            with_site(1, || {
                let _ = park(Parked { deadline: Instant::now(), resume: Box::new(|_| placeholder()) });
                panic!("on purpose");
            })
        });
        assert!(caught.is_err());
        assert!(!parking());
        SITE.with(|s| s.borrow_mut().target = None);
    }
}
