//! Scheduled backups (`backup.schedule`, `backup.keep`, `backup.dir`): once a day at a local time
//! the job writes a consistent snapshot (the same `VACUUM INTO` path as `buildxpert backup`) named
//! after its instant, then deletes the oldest beyond `keep`. A run missed while the server was down
//! is caught up once at start. File names, not modification times, say when a snapshot was
//! taken, so the injectable clock drives the schedule.

use crate::app::App;
use crate::clock::DAY_MS;
use crate::runner::Job;
use crate::tz::BusinessTz;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PREFIX: &str = "buildxpert-";
const SUFFIX: &str = ".db";

pub fn jobs() -> Vec<Job<App>> {
    vec![Job::new("backup-scheduled", Duration::from_secs(60), run_scheduled)]
}

/// Where scheduled snapshots go: `backup.dir`, or `<data_dir>/backups`.
pub fn backup_dir(app: &App) -> PathBuf {
    let b = &app.config.backup;
    if b.dir.as_os_str().is_empty() {
        app.config.server.data_dir.join("backups")
    } else {
        b.dir.clone()
    }
}

/// `buildxpert-20261204T031500Z.db` for an instant (UTC, to the second).
fn file_name(ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!("{PREFIX}{}{SUFFIX}", t.format("%Y%m%dT%H%M%SZ"))
}

/// The instant a snapshot file was taken, from its name; None for any other file.
fn taken_at(name: &str) -> Option<i64> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let t = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok()?;
    Some(t.and_utc().timestamp_millis())
}

/// Snapshot files in `dir`, oldest first.
pub fn snapshots(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            taken_at(name.to_str()?).map(|t| (t, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The latest scheduled instant at or before `now`, for a daily local `HH:MM`.
fn last_due(tz: &BusinessTz, at: &str, now: i64) -> Option<i64> {
    let today = tz.local_date(now);
    for back in 0..3 {
        let day = today - chrono::Duration::days(back);
        // A time inside a DST gap that day has no instant: the day before is the last due one.
        if let Ok(due) = tz.local_to_utc(&day.format("%Y-%m-%d").to_string(), at) {
            if due <= now {
                return Some(due);
            }
        }
    }
    None
}

/// The job: take today's snapshot when it is due and not yet taken, then rotate.
pub fn run_scheduled(app: &App) -> Result<(), String> {
    let at = app.config.backup.schedule.trim();
    if at.is_empty() {
        return Ok(());
    }
    let tz = BusinessTz::parse(&app.config.business.timezone).ok_or("business.timezone is invalid")?;
    let now = app.now_ms();
    let Some(due) = last_due(&tz, at, now) else { return Ok(()) };
    let dir = backup_dir(app);
    let existing = snapshots(&dir);
    if existing.last().is_some_and(|(t, _)| *t >= due && *t <= now + DAY_MS) {
        return Ok(());
    }
    crate::files::create_private_dir(&dir)?;
    let out = dir.join(file_name(now));
    let bytes = crate::db::backup_to(&app.config.database_path(), &out)?;
    log::info!("scheduled backup written: {} ({bytes} bytes)", out.display());
    rotate(&dir, app.config.backup.keep as usize);
    Ok(())
}

/// Deletes the oldest snapshots beyond `keep`.
fn rotate(dir: &Path, keep: usize) {
    let all = snapshots(dir);
    let excess = all.len().saturating_sub(keep);
    for (_, path) in all.into_iter().take(excess) {
        match std::fs::remove_file(&path) {
            Ok(()) => log::info!("old backup removed: {}", path.display()),
            Err(e) => log::warn!("cannot remove old backup {}: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_files_are_ignored() {
        let ms = 1_796_354_100_000; // 2026-12-04T03:15:00Z
        assert_eq!(file_name(ms), "buildxpert-20261204T031500Z.db");
        assert_eq!(taken_at(&file_name(ms)), Some(ms));
        assert_eq!(taken_at("buildxpert.db"), None);
        assert_eq!(taken_at("buildxpert-2026.db"), None);
        assert_eq!(taken_at("notes.txt"), None);
    }

    #[test]
    fn the_last_due_instant_is_today_or_yesterday() {
        let tz = BusinessTz::parse("Asia/Kolkata").expect("tz");
        // 03:15 IST = 21:45 UTC the day before.
        let due_today = tz.local_to_utc("2026-12-04", "03:15").expect("due");
        assert_eq!(last_due(&tz, "03:15", due_today), Some(due_today));
        assert_eq!(last_due(&tz, "03:15", due_today - 1), Some(due_today - DAY_MS));
        assert_eq!(last_due(&tz, "03:15", due_today + 5 * 3_600_000), Some(due_today));
    }
}
