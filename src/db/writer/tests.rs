//! Group commit, with batches lined up deterministically: an opening write holds the writer until
//! every other write of the test is waiting for it, so they all join its transaction.

use super::super::{Db, DbError, DbOptions, Tx};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

type Member = Box<dyn FnOnce(&Tx) -> Result<(), DbError> + Send>;

fn open(group_commit_max: u32) -> (Db, std::path::PathBuf) {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("bx-gc-{}-{}", std::process::id(), u64::from_le_bytes(b)));
    let (mut db, _) = Db::open_with(&dir.join("g.db"), DbOptions { group_commit_max, ..DbOptions::default() }).unwrap();
    // The opener below waits for the others; no age limit may close the batch meanwhile.
    db.writer.max_age = Duration::from_secs(3600);
    db.write(|tx| tx.execute_batch("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER NOT NULL)").map_err(DbError::from))
        .unwrap();
    (db, dir)
}

fn insert(tx: &Tx, k: &str) -> Result<(), DbError> {
    tx.execute("INSERT INTO t(k, v) VALUES (?1, 1)", [k])?;
    Ok(())
}

fn keys(db: &Db) -> Vec<String> {
    db.read(|c| {
        let mut s = c.prepare("SELECT k FROM t ORDER BY k")?;
        let rows = s.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok::<_, DbError>(rows)
    })
    .unwrap()
}

/// Runs `opener` and then `members`, each on its own thread, all while the opener holds the
/// writer; returns the opener's result and the members' in order.
fn lineup(db: &Db, opener: Member, members: Vec<Member>) -> (Result<(), DbError>, Vec<Result<(), DbError>>) {
    let n = members.len();
    let db = &db;
    let (inside_tx, inside) = mpsc::channel();
    std::thread::scope(|s| {
        let first = s.spawn(move || {
            db.write(|tx| {
                let out = opener(tx);
                inside_tx.send(()).unwrap();
                while db.writer.waiting() < n {
                    std::thread::yield_now();
                }
                out
            })
        });
        inside.recv().unwrap();
        let others: Vec<_> = members.into_iter().map(|m| s.spawn(move || db.write(m))).collect();
        let first = first.join().unwrap();
        (first, others.into_iter().map(|h| h.join().unwrap()).collect())
    })
}

#[test]
fn a_batch_shares_one_commit_and_a_failing_request_changes_nothing_of_its_own_or_the_others() {
    let (db, dir) = open(32);
    let before = db.write_stats().commits.load(Ordering::SeqCst);
    let ok = |k: &'static str| -> Member { Box::new(move |tx| insert(tx, k)) };
    let members: Vec<Member> = vec![
        ok("b"),
        // Writes, then fails: its own row must vanish, nobody else's.
        Box::new(|tx| {
            insert(tx, "bad-1")?;
            Err(DbError::Io(std::io::Error::other("refused by the operation")))
        }),
        ok("c"),
        // A constraint violation after a write of its own (the opener's key is taken).
        Box::new(|tx| {
            insert(tx, "bad-2")?;
            insert(tx, "a")
        }),
        ok("d"),
    ];
    let (first, rest) = lineup(&db, Box::new(|tx| insert(tx, "a")), members);
    assert!(first.is_ok());
    let oks: Vec<bool> = rest.iter().map(Result::is_ok).collect();
    assert_eq!(oks, [true, false, true, false, true]);
    assert!(matches!(rest[3], Err(DbError::Sqlite(_))), "the violation is its own error: {:?}", rest[3]);
    assert_eq!(keys(&db), ["a", "b", "c", "d"]);
    let s = db.write_stats();
    assert_eq!(s.commits.load(Ordering::SeqCst) - before, 1, "one commit held the whole batch");
    assert_eq!(s.max_batch.load(Ordering::SeqCst), 4, "the opener and three good requests");
    assert_eq!(s.failed_batches.load(Ordering::SeqCst), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn when_sqlite_ends_the_shared_transaction_its_members_are_told_it_failed_and_later_ones_succeed() {
    let (db, dir) = open(32);
    let members: Vec<Member> = vec![
        Box::new(|tx| insert(tx, "b")),
        // What SQLite does on an interrupted write or a full disk: the whole transaction ends.
        Box::new(|tx| {
            insert(tx, "breaker")?;
            tx.execute_batch("ROLLBACK")?;
            Ok(())
        }),
    ];
    let (first, rest) = lineup(&db, Box::new(|tx| insert(tx, "a")), members);
    // Which of the two ran first decides who was in the lost batch; nobody in it succeeded.
    let kept = keys(&db);
    assert!(!kept.contains(&"breaker".to_string()));
    assert!(matches!(rest[1], Err(DbError::Batch)), "{:?}", rest[1]);
    assert_eq!(first.is_ok(), kept.contains(&"a".to_string()), "the opener is answered as its row fared");
    assert_eq!(rest[0].is_ok(), kept.contains(&"b".to_string()));
    assert!(first.is_err(), "the opener was in the lost batch: {kept:?}");
    assert_eq!(db.write_stats().failed_batches.load(Ordering::SeqCst), 1);
    // The writer goes on.
    db.write(|tx| insert(tx, "after")).unwrap();
    assert!(keys(&db).contains(&"after".to_string()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_panicking_request_loses_its_batch_but_not_the_writer() {
    let (db, dir) = open(32);
    let db = &db;
    let members: Vec<Member> = vec![Box::new(|tx| {
        insert(tx, "p").unwrap();
        panic!("a bug in an operation");
    })];
    let n = members.len();
    let (inside_tx, inside) = mpsc::channel();
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            db.write(|tx| {
                insert(tx, "a")?;
                inside_tx.send(()).unwrap();
                while db.writer.waiting() < n {
                    std::thread::yield_now();
                }
                Ok::<_, DbError>(())
            })
        });
        inside.recv().unwrap();
        let m = members.into_iter().next().unwrap();
        let panicker = s.spawn(move || db.write(m));
        assert!(panicker.join().is_err(), "the panic reaches its own thread");
        assert!(matches!(first.join().unwrap(), Err(DbError::Batch)));
    });
    assert!(keys(db).is_empty());
    db.write(|tx| insert(tx, "after")).unwrap();
    assert_eq!(keys(db), ["after"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn alone_or_with_group_commit_max_1_every_write_commits_by_itself() {
    let (db, dir) = open(32);
    let before = db.write_stats().commits.load(Ordering::SeqCst);
    for k in ["a", "b", "c"] {
        db.write(|tx| insert(tx, k)).unwrap();
    }
    assert_eq!(db.write_stats().commits.load(Ordering::SeqCst) - before, 3, "nobody waiting: no batch");
    let _ = std::fs::remove_dir_all(dir);

    let (db, dir) = open(1);
    let before = db.write_stats().commits.load(Ordering::SeqCst);
    let members: Vec<Member> = vec![Box::new(|tx| insert(tx, "b")), Box::new(|tx| insert(tx, "c"))];
    let (first, rest) = lineup(&db, Box::new(|tx| insert(tx, "a")), members);
    assert!(first.is_ok() && rest.iter().all(Result::is_ok));
    assert_eq!(db.write_stats().commits.load(Ordering::SeqCst) - before, 3);
    assert_eq!(db.write_stats().max_batch.load(Ordering::SeqCst), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn maintenance_commits_a_batch_left_open_for_it() {
    let (db, dir) = open(32);
    let db = &db;
    let n = 1;
    let (inside_tx, inside) = mpsc::channel();
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            db.write(|tx| {
                insert(tx, "a")?;
                inside_tx.send(()).unwrap();
                while db.writer.waiting() < n {
                    std::thread::yield_now();
                }
                Ok::<_, DbError>(())
            })
        });
        inside.recv().unwrap();
        // The readiness probe takes the writer: the opener's batch is committed for it.
        let probe = s.spawn(|| db.writable());
        assert!(probe.join().unwrap().is_ok());
        assert!(first.join().unwrap().is_ok());
    });
    assert_eq!(keys(db), ["a"]);
    let _ = std::fs::remove_dir_all(dir);
}
