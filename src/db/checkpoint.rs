//! WAL checkpoints: the counters `/metrics` shows, one runner, and the background checkpointer.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses `wal_autocheckpoint`, on the
//! committing thread, while it holds the writer: copying the WAL's pages into the database file
//! and syncing both cost ~18 % of a booking write under load (`perf`). Instead the writer only
//! notes how many pages the WAL holds after each commit (SQLite's WAL hook) and wakes a thread
//! of its own with its own connection, which runs the PASSIVE checkpoint beside the writer:
//! a PASSIVE checkpoint never blocks writers or readers.

use super::{DbError, DbOptions};
use rusqlite::hooks::Wal;
use rusqlite::Connection;
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The least time between two background checkpoints: when readers keep one from completing,
/// the next commit asks again, and this keeps that from becoming a loop.
const PAUSE: Duration = Duration::from_millis(20);

/// What one checkpoint did: `PRAGMA wal_checkpoint`'s row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointResult {
    /// Readers (or another checkpointer) kept it from completing: it ran as a PASSIVE one.
    pub busy: bool,
    /// Frames in the WAL.
    pub log_frames: i64,
    /// Frames moved into the database file.
    pub checkpointed_frames: i64,
}

/// Checkpoint counters `/metrics` shows.
#[derive(Debug, Default)]
pub struct CheckpointStats {
    pub total: AtomicU64,
    pub busy_total: AtomicU64,
    pub failed_total: AtomicU64,
    pub last_busy: AtomicU64,
    pub last_log_frames: AtomicU64,
    pub last_checkpointed_frames: AtomicU64,
    /// WAL bytes at the last commit-triggered attempt (so a busy one is not retried every commit).
    pub(super) attempted_at: AtomicU64,
    /// Held while a checkpoint of this process runs: SQLite refuses a second checkpointer at
    /// once (SQLITE_BUSY, no busy handler), so the writer's TRUNCATE waits for the background one.
    serial: Mutex<()>,
}

/// `PRAGMA wal_checkpoint(<mode>)` on `conn`, waiting at most `wait` for readers and writers
/// (PASSIVE never waits), counted in `stats`. No statement deadline: a checkpoint is maintenance.
pub(super) fn run(
    conn: &Connection,
    mode: &str,
    wait: Duration,
    stats: &CheckpointStats,
) -> Result<CheckpointResult, DbError> {
    let once = || -> rusqlite::Result<CheckpointResult> {
        conn.busy_timeout(wait)?;
        let r = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok(CheckpointResult {
                busy: r.get::<_, i64>(0)? != 0,
                log_frames: r.get(1)?,
                checkpointed_frames: r.get(2)?,
            })
        });
        conn.busy_timeout(Duration::from_millis(super::BUSY_TIMEOUT_MS.into()))?;
        r
    };
    let _one = stats.serial.lock().unwrap_or_else(PoisonError::into_inner);
    stats.total.fetch_add(1, Ordering::Relaxed);
    match super::deadline::unbounded(once) {
        Ok(r) => {
            if r.busy {
                stats.busy_total.fetch_add(1, Ordering::Relaxed);
            }
            stats.last_busy.store(u64::from(r.busy), Ordering::Relaxed);
            stats.last_log_frames.store(r.log_frames.max(0) as u64, Ordering::Relaxed);
            stats.last_checkpointed_frames.store(r.checkpointed_frames.max(0) as u64, Ordering::Relaxed);
            Ok(r)
        }
        Err(e) => {
            stats.failed_total.fetch_add(1, Ordering::Relaxed);
            Err(e.into())
        }
    }
}

thread_local! {
    /// Pages in the WAL after the last commit on this thread (SQLite calls the WAL hook on the
    /// committing thread, before `COMMIT` returns); -1: none since it was taken.
    static WAL_PAGES: Cell<i32> = const { Cell::new(-1) };
}

fn note_wal_pages(_: &Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(pages));
    Ok(())
}

/// Makes `conn` (the writer) note its WAL's size at each commit instead of checkpointing it
/// itself (the hook replaces SQLite's automatic checkpoint).
pub(super) fn watch(conn: &Connection) {
    conn.wal_hook(Some(note_wal_pages));
}

/// Pages the WAL held after this thread's last commit, if it committed since the last call.
pub(super) fn take_wal_pages() -> Option<u32> {
    u32::try_from(WAL_PAGES.with(|p| p.replace(-1))).ok()
}

#[derive(Default)]
struct Signal {
    pending: bool,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    signal: Mutex<Signal>,
    wake: Condvar,
}

/// The thread that runs PASSIVE checkpoints when the writer asks ([`Background::ask`]).
pub(super) struct Background {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    pub(super) fn start(path: &Path, o: &DbOptions, stats: Arc<CheckpointStats>) -> Result<Background, DbError> {
        let conn = Connection::open(path)?;
        // The checkpoint's syncs follow `database.synchronous`, as the writer's would.
        conn.pragma_update(None, "synchronous", o.synchronous.pragma())?;
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("db-checkpointer".into())
            .stack_size(256 * 1024)
            .spawn(move || loop {
                {
                    let mut sig = s.signal.lock().unwrap_or_else(PoisonError::into_inner);
                    while !sig.pending && !sig.stop {
                        sig = s.wake.wait(sig).unwrap_or_else(PoisonError::into_inner);
                    }
                    if sig.stop {
                        return;
                    }
                    sig.pending = false;
                }
                // A failure is counted in `stats` and tried again at the next request; one that
                // readers kept from completing is asked again by the next commit, after a pause.
                if !matches!(run(&conn, "PASSIVE", Duration::ZERO, &stats), Ok(r) if r.checkpointed_frames >= r.log_frames) {
                    std::thread::sleep(PAUSE);
                }
            })?;
        Ok(Background { shared, thread: Some(thread) })
    }

    /// Asks for a checkpoint soon (cheap; many asks before it runs make one checkpoint).
    pub(super) fn ask(&self) {
        let mut sig = self.shared.signal.lock().unwrap_or_else(PoisonError::into_inner);
        if !sig.pending {
            sig.pending = true;
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.shared.signal.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
