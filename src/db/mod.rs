//! SQLite access: one writer connection behind a lock for every write (`BEGIN IMMEDIATE`), a pool
//! of read-only connections for reads. In WAL mode readers never block the writer and vice versa;
//! serialising writes in-process avoids SQLITE_BUSY storms that pooled writers cause.

mod backup;
mod cached;
mod checkpoint;
pub mod deadline;
pub mod keyset;
mod lock;
mod migrate;
pub mod series;
mod writer;

pub use backup::{backup_to, integrity_check, restore_from};
pub use cached::Cached;
pub use checkpoint::{CheckpointResult, CheckpointStats};
pub use lock::DataLock;
pub use migrate::{is_current as migrate_is_current, migrate, Applied, MigrationError, MIGRATIONS};
pub use writer::{Tx, WriteStats};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a statement waits for a lock held by another process (backup, admin CLI).
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// How long a checkpoint of an outgrown WAL waits for in-flight reads to end while holding new
/// ones back ([`Db::reader_gate`]); past it the checkpoint runs anyway, as a PASSIVE one.
const GATE_WAIT: Duration = Duration::from_millis(250);
/// How long a checkpoint while serving waits for readers to leave the WAL before settling for a
/// PASSIVE one (readers hold a snapshot for one short `Db::read` call).
pub const CHECKPOINT_WAIT: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub enum DbError {
    Sqlite(rusqlite::Error),
    Pool(r2d2::Error),
    Migration(MigrationError),
    Io(std::io::Error),
    /// SQLite rolled back the whole shared transaction of a group commit (see `writer`), or its
    /// commit failed: nothing of this request was kept.
    Batch,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "database error: {e}"),
            DbError::Pool(e) => write!(f, "database pool error: {e}"),
            DbError::Migration(e) => write!(f, "{e}"),
            DbError::Io(e) => write!(f, "database file error: {e}"),
            DbError::Batch => write!(f, "the write batch holding this request was rolled back"),
        }
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}
impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        DbError::Pool(e)
    }
}
impl From<MigrationError> for DbError {
    fn from(e: MigrationError) -> Self {
        DbError::Migration(e)
    }
}
impl From<std::io::Error> for DbError {
    fn from(e: std::io::Error) -> Self {
        DbError::Io(e)
    }
}

/// How the connections are sized and how the WAL is kept small (`[database]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct DbOptions {
    /// Read-only connections in the pool.
    pub readers: u32,
    /// `database.statement_timeout_ms`; zero: unbounded.
    pub statement_timeout: Duration,
    /// `database.wal_checkpoint_pages`: a commit that leaves this many pages in the WAL wakes the
    /// background checkpointer (see `checkpoint`); 0 disables it.
    pub wal_checkpoint_pages: u32,
    /// `database.wal_max_bytes`: the WAL is truncated to this after a checkpoint
    /// (`journal_size_limit`), and a commit that leaves it larger tries a TRUNCATE checkpoint
    /// (without waiting for readers); 0: no bound.
    pub wal_max_bytes: u64,
    /// `database.cache_size_kib`: each connection's page cache.
    pub cache_size_kib: u32,
    /// `database.mmap_size_mb`: memory-mapped reads of the database file; 0: off.
    pub mmap_size_mb: u32,
    /// `database.synchronous`: FULL syncs the WAL at every commit (durable across power loss);
    /// NORMAL only at checkpoints (durable across a crash of the process, not of the machine).
    pub synchronous: Synchronous,
    /// `database.group_commit_max`: write requests one commit may hold (1: each commits alone).
    pub group_commit_max: u32,
}

/// SQLite's `synchronous` in WAL mode, as `database.synchronous` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    Normal,
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            readers: 2,
            statement_timeout: Duration::ZERO,
            wal_checkpoint_pages: 1000,
            wal_max_bytes: 64 << 20,
            cache_size_kib: 2048,
            mmap_size_mb: 0,
            synchronous: Synchronous::Normal,
            group_commit_max: 32,
        }
    }
}

/// Pragmas every connection gets; busy_timeout first so the others wait instead of failing.
fn common_pragmas(c: &Connection, o: &DbOptions) -> rusqlite::Result<()> {
    c.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    c.set_prepared_statement_cache_capacity(cached::STATEMENT_CACHE);
    c.pragma_update(None, "foreign_keys", "ON")?;
    c.pragma_update(None, "temp_store", "MEMORY")?;
    // Negative: KiB rather than pages.
    c.pragma_update(None, "cache_size", -i64::from(o.cache_size_kib.max(64)))?;
    c.query_row(&format!("PRAGMA mmap_size = {}", u64::from(o.mmap_size_mb) << 20), [], |_| Ok(())).or_else(
        |e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(()),
            e => Err(e),
        },
    )?;
    Ok(())
}

/// Opens a read-write connection with the appliance's pragmas (WAL, synchronous=NORMAL by default).
pub fn open_writer(path: &Path) -> Result<Connection, DbError> {
    open_writer_with(path, &DbOptions::default())
}

fn open_writer_with(path: &Path, o: &DbOptions) -> Result<Connection, DbError> {
    // 0600 before SQLite sees it: SQLite copies the database's mode to its -wal and -shm files.
    crate::files::private_file(path).map_err(|e| DbError::Io(std::io::Error::other(e)))?;
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        crate::files::tighten(Path::new(&p), crate::files::FILE_MODE);
    }
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", o.synchronous.pragma())?;
    common_pragmas(&c, o)?;
    c.query_row(&format!("PRAGMA wal_autocheckpoint = {}", o.wal_checkpoint_pages), [], |_| Ok(()))?;
    let limit = if o.wal_max_bytes == 0 { -1 } else { i64::try_from(o.wal_max_bytes).unwrap_or(i64::MAX) };
    c.query_row(&format!("PRAGMA journal_size_limit = {limit}"), [], |_| Ok(()))?;
    Ok(c)
}

pub struct Db {
    /// Runs after every write transaction with whether it committed (wakes waiters).
    after_commit: std::sync::OnceLock<Box<dyn Fn(bool) + Send + Sync>>,
    writer: writer::Writer,
    readers: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
    /// `database.statement_timeout_ms`; zero: unbounded.
    statement_timeout: Duration,
    /// Statements the progress handler interrupted (every connection's).
    interrupted: Arc<AtomicU64>,
    /// `database.wal_max_bytes`; zero: no bound.
    wal_max_bytes: u64,
    wal_path: PathBuf,
    pub checkpoints: Arc<CheckpointStats>,
    /// `database.wal_checkpoint_pages`: past this many WAL pages a commit asks `background`.
    wal_checkpoint_pages: u32,
    /// PASSIVE checkpoints beside the writer (see `checkpoint`); none when the pages are 0.
    background: Option<checkpoint::Background>,
    /// Readers hold it shared for their transaction; a checkpoint that must reset an outgrown WAL
    /// takes it exclusively for a moment. Under a steady stream of overlapping readers there is
    /// otherwise never an instant with no snapshot in the WAL, every checkpoint stays busy and the
    /// WAL grows without end (seen in the soak: 327 MB in a minute, then reads slowed to seconds).
    reader_gate: parking_lot::RwLock<()>,
}

impl Db {
    /// Opens (creating if needed) the database, applies pending migrations, opens the read pool.
    /// Every [`Db::read`] / [`Db::write`] call is bounded by `statement_timeout` (zero: unbounded);
    /// migrations run before any deadline exists.
    pub fn open(path: &Path, readers: u32, statement_timeout: Duration) -> Result<(Db, Vec<Applied>), DbError> {
        Db::open_with(path, DbOptions { readers, statement_timeout, ..DbOptions::default() })
    }

    /// [`Db::open`] with every option.
    pub fn open_with(path: &Path, o: DbOptions) -> Result<(Db, Vec<Applied>), DbError> {
        let (readers, statement_timeout) = (o.readers, o.statement_timeout);
        if let Some(dir) = path.parent() {
            crate::files::create_private_dir(dir).map_err(|e| DbError::Io(std::io::Error::other(e)))?;
        }
        let interrupted = Arc::new(AtomicU64::new(0));
        let mut writer = open_writer_with(path, &o)?;
        let applied = migrate(&mut writer)?;
        deadline::install(&writer, interrupted.clone())?;
        checkpoint::watch(&writer);
        let checkpoints = Arc::new(CheckpointStats::default());
        let background = match o.wal_checkpoint_pages {
            0 => None,
            _ => Some(checkpoint::Background::start(path, &o, checkpoints.clone())?),
        };
        let counter = interrupted.clone();
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)
            .with_init(move |c| {
                common_pragmas(c, &o)?;
                deadline::install(c, counter.clone())?;
                c.pragma_update(None, "query_only", "ON")
            });
        let readers = r2d2::Pool::builder()
            .max_size(readers.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        Ok((
            Db {
                after_commit: std::sync::OnceLock::new(),
                writer: writer::Writer::new(writer, o.group_commit_max),
                readers,
                path: path.to_path_buf(),
                statement_timeout,
                interrupted,
                wal_max_bytes: o.wal_max_bytes,
                wal_path: {
                    let mut p = path.as_os_str().to_owned();
                    p.push("-wal");
                    PathBuf::from(p)
                },
                checkpoints,
                wal_checkpoint_pages: o.wal_checkpoint_pages,
                background,
                reader_gate: parking_lot::RwLock::new(()),
            },
            applied,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Installs the after-commit hook (once, at start).
    pub fn set_after_commit(&self, hook: Box<dyn Fn(bool) + Send + Sync>) {
        let _ = self.after_commit.set(hook);
    }

    /// Group-commit counters (commits, the writes they held, the largest batch).
    pub fn write_stats(&self) -> &WriteStats {
        &self.writer.stats
    }

    /// Statements interrupted at `database.statement_timeout_ms` since open.
    pub fn interrupted_total(&self) -> u64 {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Runs `f` atomically on the writer, inside a `BEGIN IMMEDIATE` transaction it may share with
    /// other requests (group commit, see `writer`): its work is kept on Ok and rolled back on Err,
    /// and it returns only after the commit that holds it. The after-commit hook then runs
    /// (outside the write lock) with whether it committed. `f` runs under the statement deadline:
    /// a statement past it fails with SQLITE_INTERRUPT.
    pub fn write<T, E>(&self, f: impl FnOnce(&Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        self.write_with(self.statement_timeout, f)
    }

    /// [`Db::write`] with no statement deadline: maintenance (`PRAGMA optimize`) only.
    pub fn write_unbounded<T, E>(&self, f: impl FnOnce(&Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        deadline::unbounded(|| self.write_with(Duration::ZERO, f))
    }

    fn write_with<T, E>(&self, timeout: Duration, f: impl FnOnce(&Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let result = self.writer.write(timeout, f, |conn| self.after_commit_on_writer(conn));
        if let Some(hook) = self.after_commit.get() {
            hook(result.is_ok());
        }
        result
    }

    /// On the committing thread, still holding the writer: the background checkpointer is asked
    /// once the WAL holds `database.wal_checkpoint_pages`, and an outgrown WAL is bounded.
    fn after_commit_on_writer(&self, conn: &Connection) {
        if let (Some(bg), Some(pages)) = (&self.background, checkpoint::take_wal_pages()) {
            if pages >= self.wal_checkpoint_pages {
                bg.ask();
            }
        }
        self.bound_wal(conn);
    }

    /// After a commit: when the WAL file has outgrown `database.wal_max_bytes` (readers kept the
    /// automatic checkpoints from resetting it), try a TRUNCATE checkpoint that does not wait for
    /// readers. A busy attempt is retried only once the WAL has grown by another eighth of the bound.
    fn bound_wal(&self, conn: &Connection) {
        if self.wal_max_bytes == 0 {
            return;
        }
        let wal = std::fs::metadata(&self.wal_path).map(|m| m.len()).unwrap_or(0);
        if wal <= self.wal_max_bytes {
            self.checkpoints.attempted_at.store(0, Ordering::Relaxed);
            return;
        }
        let last = self.checkpoints.attempted_at.load(Ordering::Relaxed);
        if last != 0 && wal < last + (self.wal_max_bytes / 8).max(4096) {
            return;
        }
        self.checkpoints.attempted_at.store(wal, Ordering::Relaxed);
        // New readers wait (in-flight ones finish, each a short transaction) so the checkpoint
        // can move everything and reset the WAL. Bounded: a read that cannot end in time (one
        // nested in another on this thread, say) makes this give up, never deadlock.
        let _quiet = self.reader_gate.try_write_for(GATE_WAIT);
        let _ = self.checkpoint_on(conn, CHECKPOINT_WAIT);
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)` on `conn`, waiting at most `wait` for readers (zero: it
    /// runs as a PASSIVE checkpoint when readers are in the WAL), counted in [`Db::checkpoints`].
    fn checkpoint_on(&self, conn: &Connection, wait: Duration) -> Result<CheckpointResult, DbError> {
        checkpoint::run(conn, "TRUNCATE", wait, &self.checkpoints)
    }

    /// A checkpoint while serving (the `db-checkpoint` job): everything readers allow is moved
    /// into the database file and, when no reader is in the WAL, the WAL is truncated; it waits
    /// at most [`CHECKPOINT_WAIT`] for readers (theirs are short read transactions).
    pub fn checkpoint_passive(&self) -> Result<CheckpointResult, DbError> {
        let conn = self.writer.exclusive()?;
        let wal = std::fs::metadata(&self.wal_path).map(|m| m.len()).unwrap_or(0);
        // Past the bound, hold new readers back as the writer does (see `reader_gate`).
        let _quiet =
            (self.wal_max_bytes > 0 && wal > self.wal_max_bytes).then(|| self.reader_gate.try_write_for(GATE_WAIT));
        self.checkpoint_on(&conn, CHECKPOINT_WAIT)
    }

    /// Runs `f` on a pooled read-only connection, inside one read transaction (one snapshot for
    /// every statement of `f`, ended when `f` returns so no reader pins the WAL for long).
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let conn = self.readers.get().map_err(|e| E::from(DbError::from(e)))?;
        let _gate = self.reader_gate.read();
        let begin = conn.prepare_cached("BEGIN DEFERRED").and_then(|mut s| s.execute([]).map(|_| ()));
        begin.map_err(|e| E::from(DbError::from(e)))?;
        let out = {
            let _armed = deadline::arm(self.statement_timeout);
            f(&conn)
        };
        // A read transaction has nothing to commit; ending it releases the snapshot.
        if !conn.is_autocommit() {
            let end = conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([]).map(|_| ()));
            if end.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        out
    }

    /// True when the writer can take the write lock right now (readiness check).
    pub fn writable(&self) -> Result<(), DbError> {
        let conn = self.writer.exclusive()?;
        conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
        Ok(())
    }

    /// Moves the WAL into the main file and truncates it (shutdown, before backups).
    pub fn checkpoint(&self) -> Result<(), DbError> {
        let conn = self.writer.exclusive()?;
        self.checkpoint_on(&conn, Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
        Ok(())
    }

    /// (database file bytes, WAL file bytes).
    pub fn file_sizes(&self) -> (u64, u64) {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        (size(&self.path), size(Path::new(&wal)))
    }

    /// The newest applied migration version.
    pub fn schema_version(&self) -> Result<i64, DbError> {
        self.read(|c| Ok(c.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?))
    }
}

#[cfg(test)]
mod tests;
