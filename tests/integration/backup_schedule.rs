//! Scheduled backups: one snapshot per day at `backup.schedule` (local time), a missed run caught
//! up once, the oldest beyond `backup.keep` deleted, every snapshot a sound copy.

use crate::support::{spawn_app_with, test_config, TempDir};
use buildxpert::clock::Clock;
use buildxpert::system::backups::{backup_dir, snapshots};

const HOUR: i64 = 3600;

fn run(app: &crate::support::TestApp) {
    buildxpert::jobs::run(app.app(), "backup-scheduled").expect("backup job");
}

#[test]
fn snapshots_follow_the_daily_schedule_and_rotate() {
    let app = spawn_app_with(&[("BUILDXPERT_BACKUP__SCHEDULE", "03:15"), ("BUILDXPERT_BACKUP__KEEP", "2")]);
    // 2026-12-04 03:00 IST: today's 03:15 is ahead, yesterday's was missed → caught up once.
    let tz = buildxpert::tz::BusinessTz::parse("Asia/Kolkata").expect("tz");
    let due = tz.local_to_utc("2026-12-04", "03:15").expect("instant");
    app.clock.set_ms(due - 15 * 60 * 1000);
    app.register("customer", "9000000001");
    let dir = backup_dir(app.app());
    run(&app);
    assert_eq!(snapshots(&dir).len(), 1, "the missed run is caught up");
    run(&app);
    assert_eq!(snapshots(&dir).len(), 1, "nothing more until the next scheduled time");

    app.clock.advance_secs(16 * 60); // 03:16: today's run
    run(&app);
    run(&app);
    assert_eq!(snapshots(&dir).len(), 2);

    app.clock.advance_secs(24 * HOUR); // tomorrow 03:16
    run(&app);
    let kept = snapshots(&dir);
    assert_eq!(kept.len(), 2, "keep = 2 deletes the oldest");
    assert_eq!(kept.last().map(|(t, _)| *t), Some(app.clock.now_ms()), "the newest is today's");
    for (_, path) in &kept {
        buildxpert::db::integrity_check(path).expect("a sound snapshot");
        let c = rusqlite::Connection::open(path).expect("open snapshot");
        let users: i64 =
            c.query_row("SELECT count(*) FROM users WHERE role = 'customer'", [], |r| r.get(0)).expect("count");
        assert_eq!(users, 1, "the snapshot holds the data");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "snapshots are private");
    }
    // Files that are not ours are never touched by the rotation.
    std::fs::write(dir.join("notes.txt"), "mine").expect("write");
    app.clock.advance_secs(24 * HOUR);
    run(&app);
    assert!(dir.join("notes.txt").exists());
    assert_eq!(snapshots(&dir).len(), 2);
}

#[test]
fn no_schedule_no_backups() {
    let app = spawn_app_with(&[]);
    app.clock.advance_secs(48 * HOUR);
    run(&app);
    assert!(snapshots(&backup_dir(app.app())).is_empty());
}

#[test]
fn a_bad_schedule_stops_start_up_naming_the_key() {
    let dir = TempDir::new("badsched");
    for bad in ["25:00", "3:15", "03:15:00", "daily"] {
        let o =
            buildxpert::config::Overrides { config_file: None, listen: None, data_dir: Some(dir.path().to_path_buf()) };
        let err = buildxpert::config::Config::load_from(&o, &[("BUILDXPERT_BACKUP__SCHEDULE".into(), bad.into())])
            .expect_err(bad);
        assert!(err.to_string().contains("backup.schedule"), "{bad}: {err}");
    }
    let _ = test_config(dir.path(), &[("BUILDXPERT_BACKUP__SCHEDULE", "23:59")]);
}
