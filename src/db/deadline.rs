//! `database.statement_timeout_ms`: every connection gets a progress handler that interrupts the
//! running statement (SQLITE_INTERRUPT) once the calling thread's deadline has passed. The
//! deadline is per `Db::read` / `Db::write` call, armed on the thread that runs it (SQLite calls
//! the handler synchronously from `sqlite3_step` on that thread); with none armed — migrations,
//! backups, maintenance — nothing is cut off.

use rusqlite::Connection;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// VM instructions between handler calls: a clock read every 4000 instructions is noise next to
/// the statement, and still well under a millisecond of work between checks.
pub const PROGRESS_OPS: i32 = 4_000;

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Set when the handler interrupts a statement on this thread; the request loop takes it.
    static INTERRUPTED: Cell<bool> = const { Cell::new(false) };
}

/// Arms this thread's deadline `timeout` from now until dropped (nested calls keep the outer,
/// earlier deadline). A zero timeout arms nothing.
pub struct Armed {
    previous: Option<Instant>,
}

pub fn arm(timeout: Duration) -> Armed {
    let previous = DEADLINE.with(Cell::get);
    if previous.is_none() && !timeout.is_zero() {
        DEADLINE.with(|d| d.set(Some(Instant::now() + timeout)));
    }
    Armed { previous }
}

impl Drop for Armed {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.previous));
    }
}

/// Runs `f` with no deadline on this thread (maintenance inside a bounded caller).
pub fn unbounded<T>(f: impl FnOnce() -> T) -> T {
    let previous = DEADLINE.with(|d| d.replace(None));
    let _restore = Armed { previous };
    f()
}

/// True once (then false) when a statement on this thread was interrupted since the last call.
pub fn take_interrupted() -> bool {
    INTERRUPTED.with(|i| i.replace(false))
}

/// The handler's check: past this thread's deadline?
fn expired() -> bool {
    DEADLINE.with(Cell::get).is_some_and(|d| Instant::now() > d)
}

/// Installs the progress handler on `c`; `counter` counts the statements it interrupts.
pub fn install(c: &Connection, counter: Arc<AtomicU64>) -> rusqlite::Result<()> {
    c.progress_handler(
        PROGRESS_OPS,
        Some(move || {
            if expired() {
                counter.fetch_add(1, Ordering::Relaxed);
                INTERRUPTED.with(|i| i.set(true));
                true
            } else {
                false
            }
        }),
    )
}

/// True when `e` is SQLite's answer to an interrupted statement.
pub fn is_interrupt(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted)
}
