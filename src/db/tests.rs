use super::migrate::{apply, Migration};
use super::*;

fn tmp() -> PathBuf {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap_or_default();
    let d = std::env::temp_dir().join(format!("bx-db-{}-{}", std::process::id(), u64::from_le_bytes(b)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn m(version: i64, sql: &str) -> Migration {
    use sha2::{Digest, Sha256};
    Migration { version, name: format!("m{version}"), sql: sql.into(), checksum: hex::encode(Sha256::digest(sql)) }
}

#[test]
fn migrations_apply_once_in_order_and_pragmas_are_set() {
    let dir = tmp();
    let path = dir.join("a.db");
    let (db, applied) = Db::open(&path, 2, Duration::ZERO).unwrap();
    assert_eq!(applied.len(), MIGRATIONS.len());
    assert_eq!(applied[0].version, 1);
    let (mode, sync, fk): (String, i64, i64) = db
        .write(|tx| {
            Ok::<_, DbError>((
                tx.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?,
                tx.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!((mode.as_str(), sync, fk), ("wal", 1, 1));
    drop(db);
    let (_db, again) = Db::open(&path, 2, Duration::ZERO).unwrap();
    assert!(again.is_empty(), "nothing pending the second time");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn changed_or_unknown_migrations_stop_startup() {
    let dir = tmp();
    let mut c = open_writer(&dir.join("b.db")).unwrap();
    apply(&mut c, &[m(1, "CREATE TABLE t(x);")]).unwrap();
    let err = apply(&mut c, &[m(1, "CREATE TABLE t(y);")]).unwrap_err();
    assert!(err.to_string().contains("changed after it was applied"), "{err}");
    apply(&mut c, &[m(1, "CREATE TABLE t(x);"), m(2, "CREATE TABLE u(x);")]).unwrap();
    let err = apply(&mut c, &[m(1, "CREATE TABLE t(x);")]).unwrap_err();
    assert!(err.to_string().contains("newer than this binary"), "{err}");
    // A failing migration leaves nothing behind (one transaction).
    let err =
        apply(&mut c, &[m(1, "CREATE TABLE t(x);"), m(2, "CREATE TABLE u(x);"), m(3, "CREATE TABLE v(x); BOGUS;")]);
    assert!(err.is_err());
    let v: i64 = c.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'v'", [], |r| r.get(0)).unwrap();
    assert_eq!(v, 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failed_write_rolls_back_and_readers_see_commits() {
    let dir = tmp();
    let (db, _) = Db::open(&dir.join("c.db"), 2, Duration::ZERO).unwrap();
    let r: Result<(), DbError> = db.write(|tx| {
        tx.execute("INSERT INTO app_meta (key, value) VALUES ('x', '1')", [])?;
        Err(DbError::Io(std::io::Error::other("business rule failed")))
    });
    assert!(r.is_err());
    db.write(|tx| tx.execute("INSERT INTO app_meta (key, value) VALUES ('y', '2')", []).map_err(DbError::from))
        .unwrap();
    let keys: Vec<String> = db
        .read(|c| {
            let mut st = c.prepare("SELECT key FROM app_meta WHERE key IN ('x','y')")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok::<_, DbError>(rows.collect::<Result<_, _>>()?)
        })
        .unwrap();
    assert_eq!(keys, vec!["y".to_string()]);
    // Readers are read-only.
    let denied = db.read(|c| c.execute("DELETE FROM app_meta", []).map_err(DbError::from));
    assert!(denied.is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn restore_refuses_while_locked_and_keeps_the_old_file() {
    let dir = tmp();
    let path = dir.join("d.db");
    let (db, _) = Db::open(&path, 2, Duration::ZERO).unwrap();
    db.write(|tx| tx.execute("INSERT INTO app_meta (key, value) VALUES ('v', 'one')", []).map_err(DbError::from))
        .unwrap();
    let snap = dir.join("snap.db");
    backup_to(&path, &snap).unwrap();
    assert!(backup_to(&path, &snap).is_err(), "never overwrites a file");
    db.write(|tx| tx.execute("UPDATE app_meta SET value = 'two' WHERE key = 'v'", []).map_err(DbError::from)).unwrap();
    let lock = DataLock::acquire(&path).unwrap();
    let err = restore_from(&path, &snap, 1).unwrap_err();
    assert!(err.contains("in use by a running buildxpert server"), "{err}");
    drop(lock);
    drop(db);
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, b"not a database at all, not even close......").unwrap();
    assert!(restore_from(&path, &garbage, 2).is_err());
    let kept = restore_from(&path, &snap, 3).unwrap().unwrap();
    let (db, _) = Db::open(&path, 2, Duration::ZERO).unwrap();
    let v: String = db
        .read(|c| c.query_row("SELECT value FROM app_meta WHERE key='v'", [], |r| r.get(0)).map_err(DbError::from))
        .unwrap();
    assert_eq!(v, "one");
    let old = rusqlite::Connection::open(&kept).unwrap();
    let v: String = old.query_row("SELECT value FROM app_meta WHERE key='v'", [], |r| r.get(0)).unwrap();
    assert_eq!(v, "two", "the replaced database is kept aside, complete");
    let _ = std::fs::remove_dir_all(dir);
}

/// Counts to 2 million: some tens of milliseconds, well past a 1 ms deadline.
const LONG: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT count(*) FROM c";

#[test]
fn statements_past_the_deadline_are_interrupted_per_call_and_maintenance_is_exempt() {
    let dir = tmp();
    let (db, _) = Db::open(&dir.join("d.db"), 2, Duration::from_millis(1)).unwrap();
    let count = |c: &Connection| c.query_row(LONG, [], |r| r.get::<_, i64>(0));
    let e = db.read(|c| count(c).map_err(DbError::from)).unwrap_err();
    assert!(matches!(&e, DbError::Sqlite(s) if deadline::is_interrupt(s)), "{e}");
    assert!(deadline::take_interrupted());
    assert!(!deadline::take_interrupted(), "taken once");
    // A write: its insert is rolled back, the writer stays usable.
    db.write(|tx| tx.execute_batch("CREATE TABLE t (x)").map_err(DbError::from)).unwrap();
    let e = db
        .write(|tx| {
            tx.execute("INSERT INTO t VALUES (1)", [])?;
            count(tx).map_err(DbError::from)
        })
        .unwrap_err();
    assert!(matches!(&e, DbError::Sqlite(s) if deadline::is_interrupt(s)), "{e}");
    // An interrupted INSERT … SELECT (SQLite rolls the whole transaction back itself).
    let e = db
        .write(|tx| {
            tx.execute("INSERT INTO t VALUES (3)", [])?;
            tx.execute(
                "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) \
                 SELECT x FROM c",
                [],
            )
            .map_err(DbError::from)
        })
        .unwrap_err();
    assert!(matches!(&e, DbError::Sqlite(s) if deadline::is_interrupt(s)), "{e}");
    assert_eq!(db.interrupted_total(), 3);
    // Short statements after it, on the same connections, are fine: the deadline is per call.
    db.write(|tx| tx.execute("INSERT INTO t VALUES (2)", []).map_err(DbError::from)).unwrap();
    let xs: i64 = db.read(|c| c.query_row("SELECT sum(x) FROM t", [], |r| r.get(0)).map_err(DbError::from)).unwrap();
    assert_eq!(xs, 2, "only the second insert is kept");
    // Maintenance and unbounded callers are not cut off.
    assert_eq!(db.write_unbounded(|tx| count(tx).map_err(DbError::from)).unwrap(), 2_000_000);
    let (free, _) = Db::open(&dir.join("e.db"), 2, Duration::ZERO).unwrap();
    assert_eq!(free.read(|c| count(c).map_err(DbError::from)).unwrap(), 2_000_000);
    assert_eq!(free.interrupted_total(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nested_calls_keep_the_outer_deadline() {
    let _outer = deadline::arm(Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(5));
    {
        // A later, longer deadline inside does not extend the outer one.
        let _inner = deadline::arm(Duration::from_secs(60));
        let c = Connection::open_in_memory().unwrap();
        deadline::install(&c, Arc::new(AtomicU64::new(0))).unwrap();
        let e = c.query_row(LONG, [], |r| r.get::<_, i64>(0)).unwrap_err();
        assert!(deadline::is_interrupt(&e), "{e}");
    }
    // Unbounded inside a bounded caller.
    let c = Connection::open_in_memory().unwrap();
    deadline::install(&c, Arc::new(AtomicU64::new(0))).unwrap();
    let n = deadline::unbounded(|| c.query_row(LONG, [], |r| r.get::<_, i64>(0))).unwrap();
    assert_eq!(n, 2_000_000);
    let _ = deadline::take_interrupted();
}

fn wal_len(path: &Path) -> u64 {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    std::fs::metadata(std::path::PathBuf::from(p)).map(|m| m.len()).unwrap_or(0)
}

/// Many writes, reads between them: the WAL never passes its bound (plus one transaction), and a
/// reader that pins an old snapshot only delays the truncation until it ends.
#[test]
fn a_long_write_load_keeps_the_wal_under_its_bound() {
    let dir = tmp();
    let path = dir.join("w.db");
    let bound: u64 = 256 * 1024;
    let o = DbOptions { wal_checkpoint_pages: 32, wal_max_bytes: bound, ..DbOptions::default() };
    let (db, _) = Db::open_with(&path, o).unwrap();
    db.write(|tx| tx.execute_batch("CREATE TABLE w (id INTEGER PRIMARY KEY, body TEXT)").map_err(DbError::from))
        .unwrap();
    let body = "x".repeat(2000);
    let mut peak = 0;
    for i in 0..3000 {
        db.write(|tx| tx.execute("INSERT INTO w (body) VALUES (?1)", [&body]).map_err(DbError::from)).unwrap();
        if i % 3 == 0 {
            let n: i64 =
                db.read(|c| c.query_row("SELECT count(*) FROM w", [], |r| r.get(0)).map_err(DbError::from)).unwrap();
            assert_eq!(n, i + 1);
        }
        peak = peak.max(wal_len(&path));
    }
    // 3000 rows of 2 KB is ~6 MB written through the WAL.
    assert!(peak <= bound + 64 * 1024, "WAL peaked at {peak} bytes, bound {bound}");
    // A reader holding a snapshot keeps the WAL from being reset…
    let pin = rusqlite::Connection::open(&path).unwrap();
    pin.execute_batch("BEGIN").unwrap();
    let _: i64 = pin.query_row("SELECT count(*) FROM w", [], |r| r.get(0)).unwrap();
    let busy_before = db.checkpoints.busy_total.load(Ordering::Relaxed);
    for _ in 0..300 {
        db.write(|tx| tx.execute("INSERT INTO w (body) VALUES (?1)", [&body]).map_err(DbError::from)).unwrap();
    }
    assert!(wal_len(&path) > bound, "a pinned snapshot holds the WAL");
    assert!(db.checkpoints.busy_total.load(Ordering::Relaxed) > busy_before, "busy checkpoints are counted");
    // …and once it ends, the commits that grow it by another eighth of the bound (busy attempts
    // are not repeated on every commit) bring it back under the bound.
    pin.execute_batch("COMMIT").unwrap();
    let mut commits = 0;
    while wal_len(&path) > bound {
        assert!(commits < 40, "still {} bytes after {commits} commits", wal_len(&path));
        db.write(|tx| tx.execute("INSERT INTO w (body) VALUES (?1)", [&body]).map_err(DbError::from)).unwrap();
        commits += 1;
    }
    db.write(|tx| tx.execute("INSERT INTO w (body) VALUES (?1)", [&body]).map_err(DbError::from)).unwrap();
    let r = db.checkpoint_passive().unwrap();
    assert!(!r.busy, "{r:?}");
    assert_eq!(wal_len(&path), 0, "TRUNCATE when no reader is in the WAL");
    assert!(db.checkpoints.total.load(Ordering::Relaxed) > 3);
    assert_eq!(db.checkpoints.failed_total.load(Ordering::Relaxed), 0);
    drop(pin);
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn reads_run_in_one_snapshot_and_end_it() {
    let dir = tmp();
    let (db, _) = Db::open(&dir.join("s.db"), 1, Duration::ZERO).unwrap();
    let (inside, after) = db
        .read(|c| Ok::<_, DbError>(!c.is_autocommit()))
        .and_then(|i| db.read(|c| Ok::<_, DbError>((i, c.is_autocommit()))))
        .unwrap();
    assert!(inside, "f runs inside a read transaction");
    assert!(!after, "the next call opens its own");
    // An error inside leaves the pooled connection out of any transaction.
    let _ = db.read(|c| c.query_row("SELECT nope FROM nothing", [], |r| r.get::<_, i64>(0)).map_err(DbError::from));
    let conn = db.readers.get().unwrap();
    assert!(conn.is_autocommit());
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
}

/// Readers that overlap without a gap (the soak's closed-loop searches) never leave a moment with
/// no snapshot in the WAL; without the reader gate every checkpoint stayed busy and the WAL grew
/// without end. With it, the WAL stays near its bound while the readers keep reading.
#[test]
fn overlapping_readers_do_not_starve_the_checkpoint() {
    let dir = tmp();
    let path = dir.join("o.db");
    let bound: u64 = 256 * 1024;
    let o = DbOptions { wal_checkpoint_pages: 32, wal_max_bytes: bound, readers: 4, ..DbOptions::default() };
    let (db, _) = Db::open_with(&path, o).unwrap();
    let db = std::sync::Arc::new(db);
    db.write(|tx| tx.execute_batch("CREATE TABLE w (id INTEGER PRIMARY KEY, body TEXT)").map_err(DbError::from))
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // A read that lasts a little, back to back with the next one.
                    db.read(|c| {
                        let n: i64 = c.query_row("SELECT count(*) FROM w", [], |r| r.get(0))?;
                        std::thread::sleep(std::time::Duration::from_millis(30));
                        Ok::<_, DbError>(n)
                    })
                    .unwrap();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let body = "x".repeat(2000);
    let mut peak = 0;
    for _ in 0..3000 {
        db.write(|tx| tx.execute("INSERT INTO w (body) VALUES (?1)", [&body]).map_err(DbError::from)).unwrap();
        peak = peak.max(wal_len(&path));
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 100, "the readers kept reading ({reads})");
    // ~6 MB went through the WAL; with starved checkpoints it would all still be there.
    assert!(peak <= 4 * bound, "WAL peaked at {peak} bytes, bound {bound}");
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}
