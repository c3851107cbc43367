//! Data files are private whatever the umask: the compiled binary run with umask 000 creates
//! its data dir 0700 and the database, WAL, SHM, secret, lock and backups 0600, and tightens
//! loose modes it finds at start.

use crate::support::binary::{run_with_umask, serve_in, text};
use crate::support::TempDir;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
}

#[test]
fn data_files_are_private_whatever_the_umask() {
    let base = TempDir::new("modes");
    let data = base.path().join("data");
    let env = [("BUILDXPERT_LOG__LEVEL", "info")];
    let files = ["buildxpert.db", "buildxpert.db-wal", "buildxpert.db-shm", "jwt_secret", "buildxpert.db.lock"];
    let check = |when: &str| {
        assert_eq!(mode(&data), 0o700, "{when}: data dir");
        for f in files {
            assert_eq!(mode(&data.join(f)), 0o600, "{when}: {f}");
        }
    };
    let mut s = serve_in(base.path(), &data, &[], &env, Some(0)).expect("serves");
    check("fresh data dir, umask 000");
    let dd = data.to_str().unwrap();
    let snap = base.path().join("snap.db");
    let out = run_with_umask(&["backup", "--data-dir", dd, "--out", snap.to_str().unwrap()], base.path(), &[], Some(0));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&snap), 0o600, "backup");
    s.terminate().expect("stops");

    // A restored snapshot is private even when the file it came from was not.
    chmod(&snap, 0o644);
    let out =
        run_with_umask(&["restore", "--data-dir", dd, "--from", snap.to_str().unwrap()], base.path(), &[], Some(0));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&data.join("buildxpert.db")), 0o600, "restored database");

    // Loose modes left by an older version or by hand are tightened at start.
    chmod(&data, 0o777);
    for f in ["buildxpert.db", "jwt_secret", "buildxpert.db.lock"] {
        chmod(&data.join(f), 0o666);
    }
    let mut s = serve_in(base.path(), &data, &[], &env, Some(0)).expect("serves again");
    check("tightened at start");
    let logs = s.stop_and_logs().join("\n");
    assert!(logs.contains(&format!("tightened {dd} from 777 to 700")), "{logs}");
}
