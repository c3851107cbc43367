//! `GET /admin/system`: what the operator's system page shows: version, uptime, database and WAL
//! size, free disk, readiness, the jobs' heartbeats and the effective configuration with every
//! secret masked (the same masking as `buildxpert config check`).

use crate::app::App;
use crate::clock::rfc3339;
use crate::web::ApiError;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub name: String,
    pub runs: u64,
    pub failures: u64,
    pub last_error: Option<String>,
    pub last_duration_ms: u64,
    pub last_run_at: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct System {
    pub version: &'static str,
    pub schema_version: i64,
    pub started_at: String,
    pub uptime_seconds: u64,
    pub server_time: String,
    pub database_bytes: u64,
    pub wal_bytes: u64,
    pub free_disk_bytes: Option<u64>,
    pub readiness: crate::system::Readiness,
    pub jobs: Vec<Job>,
    /// The effective configuration as TOML, secrets shown as `********`.
    pub config: String,
}

fn file_len(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

pub fn system(app: &App) -> Result<System, ApiError> {
    let db = app.db.path();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let uptime = app.started.elapsed();
    let now = app.now_ms();
    // Jobs that have run at least once (the runner starts each at boot).
    let statuses = app.jobs.statuses();
    let jobs = statuses
        .into_iter()
        .map(|(name, s)| Job {
            name: name.to_string(),
            runs: s.runs,
            failures: s.failures,
            last_error: s.last_error,
            last_duration_ms: s.last_duration_ms,
            last_run_at: (s.last_run_unix_ms > 0).then(|| rfc3339(s.last_run_unix_ms as i64)),
        })
        .collect();
    let config = toml::Table::try_from(&app.config)
        .map(|t| crate::config::Config::masked_toml(&t))
        .unwrap_or_else(|e| format!("# the configuration cannot be shown: {e}"));
    Ok(System {
        version: env!("CARGO_PKG_VERSION"),
        schema_version: app.db.schema_version()?,
        started_at: rfc3339(now - uptime.as_millis() as i64),
        uptime_seconds: uptime.as_secs(),
        server_time: rfc3339(now),
        database_bytes: file_len(db),
        wal_bytes: file_len(std::path::Path::new(&wal)),
        free_disk_bytes: crate::system::free_disk_bytes(db.parent().unwrap_or(std::path::Path::new("."))),
        readiness: crate::system::readiness(app),
        jobs,
        config,
    })
}
