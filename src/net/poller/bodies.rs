//! The poller's side of the body budget (`budget.rs`): a body that must reserve bytes before
//! it is read is admitted at once if nobody waits before it and the budget has room; otherwise
//! it queues, first come first served, and its socket is not read (its request deadline still
//! runs) until a release makes room.

use super::*;

impl Poller {
    /// Asks the budget for `bytes` for the body at `idx`: true if admitted (read on), false if
    /// it now waits in the queue.
    pub(super) fn request_budget(&mut self, idx: usize, bytes: usize) -> bool {
        let Some(Slot::Open(conn)) = self.slots.get_mut(idx) else {
            return false;
        };
        if self.body_waiting == 0 {
            if let Some(r) = self.budget.try_reserve(bytes) {
                conn.admit(r);
                return true;
            }
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        conn.wait_for_budget(ticket, bytes);
        log::debug!("net: a body of {bytes} bytes from {} waits for the body budget", conn.peer);
        self.body_queue.push_back((idx, ticket));
        self.body_waiting += 1;
        self.sync_body_waiting();
        if self.body_queue.len() > 2 * self.cfg.max_connections + 64 {
            let slots = &self.slots;
            self.body_queue.retain(|&(idx, ticket)| queued_bytes(slots.get(idx), ticket).is_some());
        }
        false
    }

    /// A queued body left without being admitted (closed, rejected or timed out).
    pub(super) fn left_body_queue(&mut self) {
        self.body_waiting -= 1;
        self.sync_body_waiting();
    }

    /// Admits queued bodies, oldest first, while the budget has room.
    pub(super) fn serve_body_waiters(&mut self) {
        while let Some(&(idx, ticket)) = self.body_queue.front() {
            let Some(bytes) = queued_bytes(self.slots.get(idx), ticket) else {
                self.body_queue.pop_front();
                continue;
            };
            let Some(r) = self.budget.try_reserve(bytes) else {
                return;
            };
            self.body_queue.pop_front();
            if let Some(Slot::Open(conn)) = self.slots.get_mut(idx) {
                conn.admit(r);
            }
            self.body_waiting -= 1;
            self.sync_body_waiting();
            self.drive(idx);
        }
    }

    fn sync_body_waiting(&self) {
        self.stats.body_waiting.store(self.body_waiting, Ordering::SeqCst);
    }
}

/// The bytes the body in `slot` waits for, if it still waits under `ticket`.
fn queued_bytes(slot: Option<&Slot>, ticket: u64) -> Option<usize> {
    match slot {
        Some(Slot::Open(conn)) => conn.budget_wait().filter(|&(t, _)| t == ticket).map(|(_, bytes)| bytes),
        _ => None,
    }
}
