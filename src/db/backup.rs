//! Backups are a consistent snapshot of one file (`VACUUM INTO` reads inside one transaction, so
//! writers keep going and the copy never restarts); restore swaps a checked snapshot in atomically.

use super::{lock::DataLock, open_writer, DbError, MIGRATIONS};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// `PRAGMA integrity_check` on a database file; Err with SQLite's first complaint.
pub fn integrity_check(path: &Path) -> Result<(), String> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("{} cannot be opened: {e}", path.display()))?;
    let verdict: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("{} is not a SQLite database: {e}", path.display()))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(format!("{} failed the integrity check: {verdict}", path.display()))
    }
}

/// Writes a consistent snapshot of `db_path` to `out` (atomically: temp file, then rename).
pub fn backup_to(db_path: &Path, out: &Path) -> Result<u64, String> {
    if !db_path.is_file() {
        return Err(format!("no database at {}", db_path.display()));
    }
    if out.exists() {
        return Err(format!("{} already exists; choose a new file", out.display()));
    }
    let tmp = sibling(out, ".partial");
    let _ = std::fs::remove_file(&tmp);
    let src = Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open {}: {e}", db_path.display()))?;
    src.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let target = tmp.to_str().ok_or("the output path must be valid UTF-8")?;
    // VACUUM INTO accepts an empty file: creating it 0600 first keeps the snapshot private
    // even where the umask is not ours (the library called from elsewhere).
    crate::files::private_file(&tmp)?;
    if let Err(e) = src.execute("VACUUM INTO ?1", [target]) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("snapshot failed: {e}"));
    }
    drop(src);
    if let Err(e) = integrity_check(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).map_err(|e| format!("cannot move snapshot to {}: {e}", out.display()))?;
    Ok(std::fs::metadata(out).map(|m| m.len()).unwrap_or(0))
}

/// Replaces the database with `from`, refusing while a server holds the data lock. The current
/// file is kept as `<db>.before-restore-<unix-seconds>`. Returns that path (if there was one).
pub fn restore_from(db_path: &Path, from: &Path, now_secs: i64) -> Result<Option<PathBuf>, String> {
    let _lock = DataLock::acquire(db_path)?;
    integrity_check(from)?;
    check_schema_known(from)?;
    let staged = sibling(db_path, ".restore-tmp");
    copy_private(from, &staged)?;
    let mut kept = None;
    if db_path.exists() {
        // Fold the old WAL into its file first so the copy kept aside is complete on its own.
        let old = open_writer(db_path).map_err(|e: DbError| e.to_string())?;
        old.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| format!("cannot checkpoint the current database: {e}"))?;
        old.pragma_update(None, "journal_mode", "DELETE").map_err(|e| e.to_string())?;
        drop(old);
        let aside = sibling(db_path, &format!(".before-restore-{now_secs}"));
        std::fs::rename(db_path, &aside).map_err(|e| format!("cannot move the current database aside: {e}"))?;
        kept = Some(aside);
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(sibling(db_path, suffix));
    }
    std::fs::rename(&staged, db_path).map_err(|e| format!("cannot put the restored file in place: {e}"))?;
    Ok(kept)
}

/// Copies `from` to a new 0600 file `to` and syncs it (`fs::copy` would copy `from`'s mode).
fn copy_private(from: &Path, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(to);
    crate::files::private_file(to)?;
    let mut src = std::fs::File::open(from).map_err(|e| format!("cannot open {}: {e}", from.display()))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(to)
        .map_err(|e| format!("cannot open {}: {e}", to.display()))?;
    std::io::copy(&mut src, &mut dst)
        .and_then(|_| dst.sync_all())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    Ok(())
}

fn check_schema_known(path: &Path) -> Result<(), String> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| e.to_string())?;
    let newest: Option<i64> = c
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| r.get(0))
        .map_err(|_| format!("{} is not a buildxpert database (no schema_migrations)", path.display()))?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    match newest {
        Some(v) if v > known => {
            Err(format!("{} has schema version {v}, newer than this binary knows ({known})", path.display()))
        }
        _ => Ok(()),
    }
}
