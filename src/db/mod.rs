//! SQLite access: one writer connection behind a lock for every write (`BEGIN IMMEDIATE`), a pool
//! of read-only connections for reads. In WAL mode readers never block the writer and vice versa;
//! serialising writes in-process avoids SQLITE_BUSY storms that pooled writers cause.

mod backup;
pub mod deadline;
pub mod keyset;
mod lock;
mod migrate;
pub mod series;

pub use backup::{backup_to, integrity_check, restore_from};
pub use lock::DataLock;
pub use migrate::{is_current as migrate_is_current, migrate, Applied, MigrationError, MIGRATIONS};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a statement waits for a lock held by another process (backup, admin CLI).
const BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(Debug)]
pub enum DbError {
    Sqlite(rusqlite::Error),
    Pool(r2d2::Error),
    Migration(MigrationError),
    Io(std::io::Error),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "database error: {e}"),
            DbError::Pool(e) => write!(f, "database pool error: {e}"),
            DbError::Migration(e) => write!(f, "{e}"),
            DbError::Io(e) => write!(f, "database file error: {e}"),
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

/// Pragmas every connection gets; busy_timeout first so the others wait instead of failing.
fn common_pragmas(c: &Connection) -> rusqlite::Result<()> {
    c.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    c.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Opens a read-write connection with the appliance's pragmas (WAL, synchronous=NORMAL).
pub fn open_writer(path: &Path) -> Result<Connection, DbError> {
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
    c.pragma_update(None, "synchronous", "NORMAL")?;
    common_pragmas(&c)?;
    Ok(c)
}

pub struct Db {
    /// Runs after every write transaction with whether it committed (wakes waiters).
    after_commit: std::sync::OnceLock<Box<dyn Fn(bool) + Send + Sync>>,
    writer: Mutex<Connection>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
    /// `database.statement_timeout_ms`; zero: unbounded.
    statement_timeout: Duration,
    /// Statements the progress handler interrupted (every connection's).
    interrupted: Arc<AtomicU64>,
}

impl Db {
    /// Opens (creating if needed) the database, applies pending migrations, opens the read pool.
    /// Every [`Db::read`] / [`Db::write`] call is bounded by `statement_timeout` (zero: unbounded);
    /// migrations run before any deadline exists.
    pub fn open(path: &Path, readers: u32, statement_timeout: Duration) -> Result<(Db, Vec<Applied>), DbError> {
        if let Some(dir) = path.parent() {
            crate::files::create_private_dir(dir).map_err(|e| DbError::Io(std::io::Error::other(e)))?;
        }
        let interrupted = Arc::new(AtomicU64::new(0));
        let mut writer = open_writer(path)?;
        let applied = migrate(&mut writer)?;
        deadline::install(&writer, interrupted.clone())?;
        let counter = interrupted.clone();
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)
            .with_init(move |c| {
                common_pragmas(c)?;
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
                writer: Mutex::new(writer),
                readers,
                path: path.to_path_buf(),
                statement_timeout,
                interrupted,
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

    /// Statements interrupted at `database.statement_timeout_ms` since open.
    pub fn interrupted_total(&self) -> u64 {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer; commits on Ok, rolls back on Err.
    /// The after-commit hook then runs (outside the write lock) with whether it committed.
    /// `f` runs under the statement deadline: a statement past it fails with SQLITE_INTERRUPT.
    pub fn write<T, E>(&self, f: impl FnOnce(&Transaction) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        self.write_with(self.statement_timeout, f)
    }

    /// [`Db::write`] with no statement deadline: maintenance (`PRAGMA optimize`) only.
    pub fn write_unbounded<T, E>(&self, f: impl FnOnce(&Transaction) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        deadline::unbounded(|| self.write_with(Duration::ZERO, f))
    }

    fn write_with<T, E>(&self, timeout: Duration, f: impl FnOnce(&Transaction) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let result = self.write_inner(timeout, f);
        if let Some(hook) = self.after_commit.get() {
            hook(result.is_ok());
        }
        result
    }

    fn write_inner<T, E>(&self, timeout: Duration, f: impl FnOnce(&Transaction) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        // A panic inside a previous write poisons the lock; its transaction was rolled back on
        // unwind, so the connection is still sound.
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx =
            conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| E::from(DbError::from(e)))?;
        // The deadline covers `f` only: the commit, or the rollback when `tx` drops on an error
        // (an interrupted statement included), runs after it and is never cut off.
        let out = {
            let _armed = deadline::arm(timeout);
            f(&tx)
        }?;
        tx.commit().map_err(|e| E::from(DbError::from(e)))?;
        Ok(out)
    }

    /// Runs `f` on a pooled read-only connection.
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let conn = self.readers.get().map_err(|e| E::from(DbError::from(e)))?;
        let _armed = deadline::arm(self.statement_timeout);
        f(&conn)
    }

    /// True when the writer can take the write lock right now (readiness check).
    pub fn writable(&self) -> Result<(), DbError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
        Ok(())
    }

    /// Moves the WAL into the main file and truncates it (shutdown, before backups).
    pub fn checkpoint(&self) -> Result<(), DbError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
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
