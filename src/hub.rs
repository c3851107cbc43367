//! In-process wake-ups, no business: long-poll waiters register per user and are woken when an
//! event for that user commits; the delivery worker sleeps until deliveries commit. Wakes are
//! deferred to the commit (a thread-local list flushed by the database's after-commit hook), so a
//! waiter never reads before the data is visible and a rolled-back event wakes nobody.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

pub type WakeFn = Box<dyn FnOnce() + Send>;

thread_local! {
    static PENDING: RefCell<(Vec<String>, bool)> = const { RefCell::new((Vec::new(), false)) };
}

#[derive(Default)]
pub struct Hub {
    waiters: Mutex<HashMap<String, Vec<(u64, WakeFn)>>>,
    next_id: AtomicU64,
    count: AtomicUsize,
    worker_flag: Mutex<bool>,
    worker_cv: Condvar,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Registers `f` to run once when `user` gets an event; returns an id for [`Hub::unregister`].
    pub fn register(&self, user: &str, f: WakeFn) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        w.entry(user.to_string()).or_default().push((id, f));
        self.count.fetch_add(1, Ordering::Relaxed);
        id
    }

    /// Removes a waiter that was not woken; false when it was already woken.
    pub fn unregister(&self, user: &str, id: u64) -> bool {
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        let Some(list) = w.get_mut(user) else { return false };
        let before = list.len();
        list.retain(|(i, _)| *i != id);
        let removed = list.len() < before;
        if list.is_empty() {
            w.remove(user);
        }
        if removed {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Waiters registered now (all users).
    pub fn waiting(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn waiting_for(&self, user: &str) -> usize {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner()).get(user).map_or(0, Vec::len)
    }

    /// Wakes every waiter of `user` now (their callbacks run outside the lock).
    pub fn wake(&self, user: &str) {
        let list = self.waiters.lock().unwrap_or_else(|p| p.into_inner()).remove(user);
        if let Some(list) = list {
            self.count.fetch_sub(list.len(), Ordering::Relaxed);
            for (_, f) in list {
                f();
            }
        }
    }

    /// Wakes `user` once the current write transaction commits (nothing if it rolls back).
    pub fn defer_user(user: &str) {
        PENDING.with(|p| {
            let mut p = p.borrow_mut();
            if !p.0.iter().any(|u| u == user) {
                p.0.push(user.to_string());
            }
        });
    }

    /// Wakes the delivery worker once the current write transaction commits.
    pub fn defer_worker() {
        PENDING.with(|p| p.borrow_mut().1 = true);
    }

    /// Called by the database after every write transaction.
    pub fn after_commit(&self, committed: bool) {
        let (users, worker) = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
        if !committed {
            return;
        }
        for u in users {
            self.wake(&u);
        }
        if worker {
            self.kick_worker();
        }
    }

    pub fn kick_worker(&self) {
        *self.worker_flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.worker_cv.notify_all();
    }

    /// The delivery worker sleeps here until kicked or `timeout` passes.
    pub fn worker_wait(&self, timeout: Duration) {
        let flag = self.worker_flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut flag, _) =
            self.worker_cv.wait_timeout_while(flag, timeout, |kicked| !*kicked).unwrap_or_else(|p| p.into_inner());
        *flag = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn wakes_only_the_user_concerned_and_only_after_commit() {
        let hub = Hub::new();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        hub.register(
            "a",
            Box::new(move || {
                h.fetch_add(1, Ordering::SeqCst);
            }),
        );
        let h = hits.clone();
        let b = hub.register(
            "b",
            Box::new(move || {
                h.fetch_add(100, Ordering::SeqCst);
            }),
        );
        assert_eq!(hub.waiting(), 2);
        Hub::defer_user("a");
        hub.after_commit(false);
        assert_eq!(hits.load(Ordering::SeqCst), 0, "rolled back: nobody woken");
        Hub::defer_user("a");
        hub.after_commit(true);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(hub.waiting(), 1);
        assert!(hub.unregister("b", b));
        assert!(!hub.unregister("b", b));
        assert_eq!(hub.waiting(), 0);
    }
}
