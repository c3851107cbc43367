//! The body memory budget: bodies larger than [`SMALL_BODY`] reserve bytes from one global
//! budget (`max_body_memory`) before they are read, so many unfinished uploads cannot hold more
//! than the budget between them.
//!
//! A body reserves the most it may ever hold when it outgrows the small allowance: its
//! Content-Length, or `body_limit` for a chunked body (whose buffer then grows into that
//! reservation, and which gives back what it did not use once complete). Taking the whole
//! amount up front is what makes waiting deadlock-free: an admitted body never waits again, so
//! it always completes (or times out) and frees its bytes, while a body that waits holds
//! nothing of the budget. Reservations are released when they are dropped — with the request
//! after its handler ran, or with a connection that is closed, rejected or timed out.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::NetStats;

/// Bodies up to this size need no reservation. They are the ordinary JSON requests, which
/// must never wait behind uploads; together they hold at most `max_connections * 64 KiB` (the
/// same order as the default budget), so exempting them keeps the bound.
pub(crate) const SMALL_BODY: usize = 64 * 1024;

pub(crate) struct Budget {
    limit: usize,
    stats: Arc<NetStats>,
    waker: Arc<mio::Waker>,
}

impl Budget {
    pub fn new(limit: usize, stats: Arc<NetStats>, waker: Arc<mio::Waker>) -> Arc<Budget> {
        Arc::new(Budget { limit, stats, waker })
    }

    /// Reserves `bytes` if they fit next to the reservations held. Only the poller thread
    /// reserves, so the check and the add cannot race another reservation; releases on worker
    /// threads only make room.
    pub fn try_reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let held = self.stats.body_reserved_bytes.load(Ordering::SeqCst);
        if held.saturating_add(bytes) > self.limit {
            return None;
        }
        self.stats.body_reserved_bytes.fetch_add(bytes, Ordering::SeqCst);
        Some(Reservation { budget: self.clone(), reserved: bytes, buffered: 0 })
    }

    fn release(&self, reserved: usize, buffered: usize) {
        self.stats.body_buffered_bytes.fetch_sub(buffered, Ordering::SeqCst);
        if reserved == 0 {
            return;
        }
        self.stats.body_reserved_bytes.fetch_sub(reserved, Ordering::SeqCst);
        // A waiting body may fit now; the poller admits waiters on each turn of its loop.
        if self.stats.body_waiting.load(Ordering::SeqCst) > 0 {
            if let Err(e) = self.waker.wake() {
                log::warn!("net: cannot wake poller for the body budget: {e}");
            }
        }
    }
}

/// Bytes of the budget held by one body; released on drop.
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    reserved: usize,
    /// The body buffer's capacity, for the buffered-bytes gauge (never above `reserved`).
    buffered: usize,
}

impl Reservation {
    pub fn reserved(&self) -> usize {
        self.reserved
    }

    /// Records the body buffer's capacity now.
    pub fn set_buffered(&mut self, capacity: usize) {
        let now = capacity.min(self.reserved);
        let stats = &self.budget.stats;
        if now > self.buffered {
            stats.body_buffered_bytes.fetch_add(now - self.buffered, Ordering::SeqCst);
        } else {
            stats.body_buffered_bytes.fetch_sub(self.buffered - now, Ordering::SeqCst);
        }
        self.buffered = now;
    }

    /// The body is complete at `capacity` bytes: gives back the rest of the reservation.
    pub fn settle(&mut self, capacity: usize) {
        self.set_buffered(capacity);
        let unused = self.reserved - self.buffered;
        self.reserved = self.buffered;
        self.budget.release(unused, 0);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.reserved, self.buffered);
    }
}
