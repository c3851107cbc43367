//! Operations: liveness, readiness checks, metrics gauges, service facts.

pub mod routes;

use crate::app::App;
use crate::db::DbError;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: &'static str,
    pub checks: Checks,
}

#[derive(Debug, Serialize)]
pub struct Checks {
    pub database: &'static str,
    pub migrations: &'static str,
    pub disk: &'static str,
    pub workers: &'static str,
}

impl Readiness {
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Free bytes on the filesystem holding `path` (statvfs).
pub fn free_disk_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    #[allow(clippy::useless_conversion)] // the field types differ between platforms
    (rc == 0).then(|| u64::from(st.f_bavail) * u64::from(st.f_frsize))
}

/// Runs every readiness check; failures are logged with detail and reported by a short word.
pub fn readiness(app: &App) -> Readiness {
    let database = match app.db.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(DbError::from)) {
        Ok(()) => match app.db.writable() {
            Ok(()) => "ok",
            Err(e) => {
                log::warn!("readyz: database not writable: {e}");
                "read_only"
            }
        },
        Err(e) => {
            log::warn!("readyz: database unreachable: {e}");
            "unavailable"
        }
    };
    let migrations = match app.db.read(|c| crate::db::migrate_is_current(c).map_err(DbError::from)) {
        Ok(true) => "ok",
        Ok(false) => "pending",
        Err(e) => {
            log::warn!("readyz: cannot read migrations: {e}");
            "unknown"
        }
    };
    let dir = app.db.path().parent().unwrap_or(Path::new("."));
    let min = app.config.database.min_free_disk_mb.saturating_mul(1024 * 1024);
    let disk = match free_disk_bytes(dir) {
        Some(free) if free >= min => "ok",
        Some(free) => {
            log::warn!("readyz: only {} MiB free for the database (minimum {} MiB)", free / 1_048_576, min / 1_048_576);
            "low"
        }
        None => "unknown",
    };
    let workers = match app.jobs.check() {
        Ok(()) => "ok",
        Err(e) => {
            log::warn!("readyz: {e}");
            "stalled"
        }
    };
    let all_ok = [database, migrations, disk, workers].iter().all(|c| *c == "ok");
    Readiness { status: if all_ok { "ok" } else { "degraded" }, checks: Checks { database, migrations, disk, workers } }
}
