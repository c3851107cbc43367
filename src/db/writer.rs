//! The one writer connection, and group commit.
//!
//! Writes are serialised on one connection. A request that finds another's write running waits
//! for the connection; when it gets it, the transaction the others opened is still open and it
//! joins it: every request runs in its own `SAVEPOINT` inside one `BEGIN IMMEDIATE … COMMIT`, so a
//! failing request is rolled back alone (`ROLLBACK TO`) and the others keep their work. The
//! request that finds nobody waiting after it (or fills the batch, or finds it old) commits for
//! everyone; the others are answered only once that commit has returned, so nothing is
//! acknowledged before it is as durable as `database.synchronous` makes it. Under load, many
//! requests share one commit: shared pages (index tails, the outbox, the event log) go to the WAL
//! once per batch instead of once per request. With nobody waiting, a write commits at once, as
//! before: batching never adds a wait of its own.
//!
//! SQLite may roll a whole transaction back by itself (an interrupted write statement, a full
//! disk, an I/O error). Then the batch is lost: its waiting members are answered
//! [`DbError::Batch`] (503: nothing of theirs was kept, try again), never success.

use super::{deadline, DbError};
use rusqlite::Connection;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A batch older than this commits even with writers waiting, so no member waits long for its
/// answer under a steady stream of writes.
const MAX_BATCH_AGE: Duration = Duration::from_millis(8);

/// The writer's open transaction, as `Db::write` closures see it: inside it every statement is
/// part of the caller's own savepoint. Derefs to the connection.
pub struct Tx<'c>(&'c Connection);

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.0
    }
}

/// Group-commit counters `/metrics` shows.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Write requests those commits held.
    pub committed_writes: AtomicU64,
    /// The most requests one commit held.
    pub max_batch: AtomicU64,
    /// Batches SQLite rolled back whole, or whose commit failed.
    pub failed_batches: AtomicU64,
}

/// What became of a batch: members wait on it after their savepoint is released.
#[derive(Default)]
struct Outcome {
    committed: Mutex<Option<bool>>,
    ready: Condvar,
}

impl Outcome {
    fn finish(&self, committed: bool) {
        *self.committed.lock().unwrap_or_else(PoisonError::into_inner) = Some(committed);
        self.ready.notify_all();
    }

    fn wait(&self) -> bool {
        let mut done = self.committed.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(committed) = *done {
                return committed;
            }
            done = self.ready.wait(done).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The transaction the current batch shares.
struct Open {
    outcome: Arc<Outcome>,
    /// Requests whose savepoint was released into it (failed ones are not counted).
    members: u64,
    started: Instant,
}

pub(super) struct State {
    pub(super) conn: Connection,
    open: Option<Open>,
}

pub(super) struct Writer {
    state: Mutex<State>,
    /// Threads waiting for `state`: a member that sees one leaves the transaction open for it.
    waiting: AtomicUsize,
    /// `database.group_commit_max`: requests per commit at most (1: every request commits alone).
    max_batch: u64,
    /// [`MAX_BATCH_AGE`]; tests that line a batch up raise it.
    max_age: Duration,
    pub(super) stats: WriteStats,
}

/// The connection with no batch open: maintenance (checkpoints, the readiness probe) runs on it.
pub(super) struct Exclusive<'w>(MutexGuard<'w, State>);

impl std::ops::Deref for Exclusive<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0.conn
    }
}

fn exec(c: &Connection, sql: &str) -> rusqlite::Result<()> {
    c.prepare_cached(sql)?.execute([]).map(|_| ())
}

impl Writer {
    pub(super) fn new(conn: Connection, max_batch: u32) -> Writer {
        Writer {
            state: Mutex::new(State { conn, open: None }),
            waiting: AtomicUsize::new(0),
            max_batch: u64::from(max_batch.max(1)),
            max_age: MAX_BATCH_AGE,
            stats: WriteStats::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // A panic in a write is caught and its batch rolled back before the lock is released,
        // so a poisoned lock still guards a sound connection.
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        st
    }

    /// Threads waiting for the writer right now (tests use it to line a batch up).
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// The connection, after committing any batch left open for this caller.
    pub(super) fn exclusive(&self) -> Result<Exclusive<'_>, DbError> {
        let mut st = self.lock();
        if st.open.is_some() {
            self.commit(&mut st)?;
        }
        Ok(Exclusive(st))
    }

    /// Runs `f` in its own savepoint of the shared transaction and answers once the commit that
    /// holds it has returned. `on_commit` runs on the committing thread, still holding the writer,
    /// after a successful commit (the WAL bound).
    pub(super) fn write<T, E>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&Tx) -> Result<T, E>,
        on_commit: impl FnOnce(&Connection),
    ) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let mut st = self.lock();
        if st.open.is_none() {
            exec(&st.conn, "BEGIN IMMEDIATE").map_err(|e| E::from(e.into()))?;
            st.open = Some(Open { outcome: Arc::default(), members: 0, started: Instant::now() });
        }
        if let Err(e) = exec(&st.conn, "SAVEPOINT w") {
            self.abort(&mut st);
            return Err(E::from(e.into()));
        }
        let run = catch_unwind(AssertUnwindSafe(|| {
            // The deadline covers `f` only; the commit or rollback after it is never cut off.
            let _armed = deadline::arm(timeout);
            f(&Tx(&st.conn))
        }));
        let out = match run {
            Ok(out) => out,
            Err(panic) => {
                self.abort(&mut st);
                drop(st);
                resume_unwind(panic);
            }
        };
        // SQLite rolled the whole transaction back (see the module doc): the batch is gone.
        if st.conn.is_autocommit() {
            self.abort(&mut st);
            return Err(out.err().unwrap_or_else(|| E::from(DbError::Batch)));
        }
        let ended = match &out {
            Ok(_) => exec(&st.conn, "RELEASE w"),
            Err(_) => exec(&st.conn, "ROLLBACK TO w").and_then(|()| exec(&st.conn, "RELEASE w")),
        };
        if let Err(e) = ended {
            self.abort(&mut st);
            return Err(out.err().unwrap_or_else(|| E::from(e.into())));
        }
        let Some(open) = st.open.as_mut() else {
            return Err(out.err().unwrap_or_else(|| E::from(DbError::Batch)));
        };
        if out.is_ok() {
            open.members += 1;
        }
        let (members, age, outcome) = (open.members, open.started.elapsed(), open.outcome.clone());
        let last = self.waiting.load(Ordering::SeqCst) == 0 || members >= self.max_batch || age >= self.max_age;
        match out {
            // A failed request's answer does not wait for the others' commit; it commits for
            // them only when nobody else will.
            Err(e) => {
                if last {
                    let _ = self.commit(&mut st).map(|()| on_commit(&st.conn));
                }
                Err(e)
            }
            Ok(value) if last => {
                self.commit(&mut st).map_err(E::from)?;
                on_commit(&st.conn);
                Ok(value)
            }
            Ok(value) => {
                drop(st);
                if outcome.wait() {
                    Ok(value)
                } else {
                    Err(E::from(DbError::Batch))
                }
            }
        }
    }

    /// Commits the open batch (an empty one is just ended) and answers its waiting members.
    fn commit(&self, st: &mut State) -> Result<(), DbError> {
        let Some(open) = st.open.take() else { return Ok(()) };
        if open.members == 0 {
            let _ = exec(&st.conn, "ROLLBACK");
            open.outcome.finish(false);
            return Ok(());
        }
        let done = exec(&st.conn, "COMMIT");
        if done.is_err() && !st.conn.is_autocommit() {
            let _ = st.conn.execute_batch("ROLLBACK");
        }
        open.outcome.finish(done.is_ok());
        let s = &self.stats;
        match &done {
            Ok(()) => {
                s.commits.fetch_add(1, Ordering::Relaxed);
                s.committed_writes.fetch_add(open.members, Ordering::Relaxed);
                s.max_batch.fetch_max(open.members, Ordering::Relaxed);
            }
            Err(_) => {
                s.failed_batches.fetch_add(1, Ordering::Relaxed);
            }
        }
        done.map_err(DbError::from)
    }

    /// Rolls the open batch back whole and tells its members it failed.
    fn abort(&self, st: &mut State) {
        if !st.conn.is_autocommit() {
            let _ = st.conn.execute_batch("ROLLBACK");
        }
        if let Some(open) = st.open.take() {
            if open.members > 0 {
                self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
            }
            open.outcome.finish(false);
        }
    }
}

#[cfg(test)]
mod tests;
