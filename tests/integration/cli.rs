//! The compiled binary: serve, signals, config check, migrate, healthcheck, start-up refusals.

use crate::support::binary::{run, serve, text};
use crate::support::{get, request, TempDir};

#[test]
fn serve_prints_its_address_first_logs_request_ids_and_stops_cleanly_on_sigterm() {
    let dir = TempDir::new("cli-serve");
    let mut s = serve(dir.path(), &[], &[("BUILDXPERT_LOG__LEVEL", "info")]).expect("serves");
    assert!(s.first_line.starts_with("buildxpert listening on http://127.0.0.1:"), "{}", s.first_line);
    assert!(!s.url.ends_with(":0"), "the real port is printed");
    let r = request(
        "GET",
        &format!("{}/healthz?token=very-secret-feed-token", s.url),
        &[("X-Request-Id", "rid-cli-1")],
        None,
    );
    assert_eq!(r.status, 200);
    let hc = run(&["healthcheck", "--url", &s.url], dir.path(), &[]);
    assert!(hc.status.success(), "{}", text(&hc.stderr));
    let status = s.terminate().expect("exits after SIGTERM");
    assert!(status.success(), "exit 0 on SIGTERM, got {status:?}");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let logs = s.stderr_lines().join("\n");
    let line = logs.lines().find(|l| l.contains("rid=rid-cli-1")).unwrap_or_else(|| panic!("no access line: {logs}"));
    assert!(line.contains("GET /healthz 200"), "{line}");
    assert!(!logs.contains("very-secret-feed-token"), "query strings never reach the log");
    // Checkpointed on the way out: the WAL is empty.
    let wal = dir.path().join("buildxpert.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
    // The port is free again: healthcheck now fails with a reason.
    let hc = run(&["healthcheck", "--url", &s.url], dir.path(), &[]);
    assert!(!hc.status.success());
    assert!(text(&hc.stderr).starts_with("buildxpert: "), "{}", text(&hc.stderr));
}

#[test]
fn json_logs_carry_the_request_id_field() {
    let dir = TempDir::new("cli-json");
    let mut s = serve(dir.path(), &[], &[("BUILDXPERT_LOG__FORMAT", "json")]).expect("serves");
    get(&s.url, "/api/v1/meta");
    request("GET", &format!("{}/healthz", s.url), &[("X-Request-Id", "rid-json-7")], None);
    s.terminate();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let lines = s.stderr_lines();
    let access: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|j| j["target"] == "access")
        .collect();
    assert!(
        access.iter().any(|j| j["requestId"] == "rid-json-7" && j["msg"].as_str().unwrap().contains("/healthz 200")),
        "{lines:?}"
    );
}

#[test]
fn config_check_masks_secrets_and_names_bad_keys() {
    let dir = TempDir::new("cli-config");
    let out = run(
        &["config", "check"],
        dir.path(),
        &[("BUILDXPERT_PAYMENTS__STRIPE__SECRET_KEY", "sk_live_dontprint"), ("BUILDXPERT_SERVER__WORKERS", "8")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("workers = 8"));
    assert!(!shown.contains("sk_live_dontprint") && shown.contains("********"));

    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:8080\"\nworkerz = 4\n").unwrap();
    let out = run(&["config", "check", "--config", file.to_str().unwrap()], dir.path(), &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("server.workerz") && err.lines().count() == 1, "{err}");

    let out = run(&["serve", "--data-dir", "x"], dir.path(), &[("BUILDXPERT_SMS__PROVIDER", "carrier-pigeon")]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("sms.provider"));

    // No config file at all is fine; ./buildxpert.toml is picked up when present.
    std::fs::write(dir.path().join("buildxpert.toml"), "[server]\nworkers = 3\n").unwrap();
    let out = run(&["config", "check"], dir.path(), &[]);
    assert!(text(&out.stdout).contains("workers = 3"));
}

#[test]
fn migrate_reports_what_ran_and_then_nothing() {
    let dir = TempDir::new("cli-migrate");
    let dd = dir.path().join("data");
    let out = run(&["migrate", "--data-dir", dd.to_str().unwrap()], dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("applied 0001_init"), "{}", text(&out.stdout));
    let out = run(&["migrate", "--data-dir", dd.to_str().unwrap()], dir.path(), &[]);
    assert!(text(&out.stdout).contains("no migrations pending"));
}

#[test]
fn serve_refuses_a_database_newer_than_the_binary_and_a_second_server() {
    let dir = TempDir::new("cli-newer");
    let dd = dir.path().to_str().unwrap();
    assert!(run(&["migrate", "--data-dir", dd], dir.path(), &[]).status.success());
    let mut s = serve(dir.path(), &[], &[]).expect("first server");
    let second = run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dd], dir.path(), &[]);
    assert!(!second.status.success());
    assert!(text(&second.stderr).contains("in use by a running buildxpert server"), "{}", text(&second.stderr));
    s.terminate();
    let c = rusqlite::Connection::open(dir.path().join("buildxpert.db")).unwrap();
    c.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 'x', '2030-01-01T00:00:00Z')", []).unwrap();
    drop(c);
    let out = run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dd], dir.path(), &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("newer than this binary"), "{}", text(&out.stderr));
}
