//! Backups while the server is writing, and restore's refusal while a server holds the database.

use crate::support::binary::{run, text};
use crate::support::{spawn_app, TempDir};
use buildxpert::db::DbError;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

fn count(path: &std::path::Path) -> (i64, i64) {
    let c = rusqlite::Connection::open(path).unwrap();
    let verdict: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(verdict, "ok");
    c.query_row(
        "SELECT COUNT(*), COALESCE(MAX(CAST(substr(key, 3) AS INTEGER)), -1) FROM app_meta WHERE key LIKE 'w-%'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn backup_is_consistent_while_the_server_is_writing() {
    let app = spawn_app();
    let out_dir = TempDir::new("snapshots");
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        let (stop2, written2, a) = (stop.clone(), written.clone(), app.app());
        s.spawn(move || {
            let mut i = 0usize;
            while !stop2.load(Ordering::SeqCst) {
                // Two rows per transaction: a snapshot must never hold half of one.
                a.db.write(|tx| {
                    tx.execute("INSERT INTO app_meta (key, value) VALUES (?1, 'x')", [format!("w-{}", i)])?;
                    tx.execute("INSERT INTO app_meta (key, value) VALUES (?1, 'x')", [format!("w-{}", i + 1)])?;
                    Ok::<_, DbError>(())
                })
                .unwrap();
                i += 2;
                written2.store(i, Ordering::SeqCst);
            }
        });
        let mut seen = Vec::new();
        for n in 0..3 {
            while written.load(Ordering::SeqCst) < (n + 1) * 200 {
                std::thread::yield_now();
            }
            let snap = out_dir.path().join(format!("snap-{n}.db"));
            let out = run(
                &["backup", "--data-dir", app.dir.path().to_str().unwrap(), "--out", snap.to_str().unwrap()],
                out_dir.path(),
                &[],
            );
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert!(text(&out.stdout).contains("integrity ok"));
            let (rows, max) = count(&snap);
            assert!(rows > 0 && rows % 2 == 0, "whole transactions only: {rows}");
            assert_eq!(max + 1, rows, "a gap-free prefix of the writes");
            seen.push(rows);
        }
        stop.store(true, Ordering::SeqCst);
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    });
    let again = run(
        &[
            "backup",
            "--data-dir",
            app.dir.path().to_str().unwrap(),
            "--out",
            out_dir.path().join("snap-0.db").to_str().unwrap(),
        ],
        out_dir.path(),
        &[],
    );
    assert!(!again.status.success(), "never overwrites an existing file");
}

#[test]
fn restore_refuses_while_served_then_swaps_and_keeps_the_old_file() {
    let mut app = spawn_app();
    let dd = app.dir.path().to_str().unwrap().to_string();
    app.app()
        .db
        .write(|tx| {
            tx.execute("INSERT INTO app_meta (key, value) VALUES ('marker', 'before')", []).map_err(DbError::from)
        })
        .unwrap();
    let snaps = TempDir::new("restore");
    let snap = snaps.path().join("s.db");
    assert!(run(&["backup", "--data-dir", &dd, "--out", snap.to_str().unwrap()], snaps.path(), &[]).status.success());
    app.app()
        .db
        .write(|tx| tx.execute("UPDATE app_meta SET value = 'after' WHERE key = 'marker'", []).map_err(DbError::from))
        .unwrap();

    let out = run(&["restore", "--data-dir", &dd, "--from", snap.to_str().unwrap()], snaps.path(), &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("in use by a running buildxpert server"), "{}", text(&out.stderr));

    app.stop();
    let junk = snaps.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let out = run(&["restore", "--data-dir", &dd, "--from", junk.to_str().unwrap()], snaps.path(), &[]);
    assert!(!out.status.success(), "a file that is not a database is refused");

    let out = run(&["restore", "--data-dir", &dd, "--from", snap.to_str().unwrap()], snaps.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("before-restore-"));
    app.restart(&[]);
    let v: String = app
        .app()
        .db
        .read(|c| {
            c.query_row("SELECT value FROM app_meta WHERE key = 'marker'", [], |r| r.get(0)).map_err(DbError::from)
        })
        .unwrap();
    assert_eq!(v, "before");
    assert_eq!(app.get("/readyz").status, 200);
}
