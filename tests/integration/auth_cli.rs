//! Accounts from the command line and the logs: admin create (also beside a running server),
//! the audit chain and its verification, and codes kept out of logs with the Twilio channel.

use crate::support::binary::{run, serve, text};
use crate::support::{fake_twilio, request, with_twilio, TempDir};
use serde_json::json;

fn post(url: &str, path: &str, body: serde_json::Value) -> crate::support::Resp {
    request("POST", &format!("{url}{path}"), &[], Some(("application/json", body.to_string().as_bytes())))
}

#[test]
fn one_time_codes_never_reach_the_logs_with_the_twilio_channel() {
    let dir = TempDir::new("codes-logs");
    let twilio = fake_twilio();
    let mut env = with_twilio(&twilio, &[]);
    env.push(("BUILDXPERT_LOG__LEVEL", "trace"));
    env.push(("RUST_LOG", "trace,ureq_proto=trace,ureq=trace"));
    let mut s = serve(dir.path(), &[], &env).expect("serves");
    let r = post(
        &s.url,
        "/api/v1/auth/signup",
        json!({"fullName": "A", "phone": "9876503001", "password": "s3cret-pass", "role": "customer"}),
    );
    assert_eq!(r.status, 202);
    let body = twilio.received()[0].body_str();
    let form = crate::support::url_decode_form(&body);
    let code = form["Body"].split_whitespace().next().unwrap().to_string();
    let r = post(&s.url, "/api/v1/auth/verify", json!({"phone": "9876503001", "role": "customer", "code": code}));
    assert_eq!(r.status, 201);
    let refresh = r.json()["refreshToken"].as_str().unwrap().to_string();
    let access = r.json()["accessToken"].as_str().unwrap().to_string();
    post(&s.url, "/api/v1/auth/login", json!({"phone": "9876503001", "password": "s3cret-pass", "role": "customer"}));
    s.terminate();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let logs = s.stderr_lines().join("\n");
    assert!(logs.contains("POST /api/v1/auth/verify 201"), "access lines are there: {logs}");
    for secret in [code.as_str(), "s3cret-pass", refresh.as_str(), access.as_str(), "twilio-test-token"] {
        let line = logs.lines().find(|l| l.contains(secret)).unwrap_or("");
        assert!(!logs.contains(secret), "{secret} leaked into the log: {line}");
    }
}

#[test]
fn admin_create_works_beside_a_running_server_and_the_audit_chain_verifies() {
    let dir = TempDir::new("admin-cli");
    let dd = dir.path().to_str().unwrap();
    let mut s = serve(dir.path(), &[], &[]).expect("serves");
    let out = run(
        &["admin", "create", "--data-dir", dd, "--phone", "98765 03011", "--password", "admin-pass-1", "--name", "Ops"],
        dir.path(),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("admin created: usr_"));
    let again = run(
        &["admin", "create", "--data-dir", dd, "--phone", "9876503011", "--password", "admin-pass-1", "--name", "Ops"],
        dir.path(),
        &[],
    );
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already exists"));
    let weak = run(
        &["admin", "create", "--data-dir", dd, "--phone", "9876503012", "--password", "123", "--name", "Ops"],
        dir.path(),
        &[],
    );
    assert!(!weak.status.success() && text(&weak.stderr).contains("--password"));
    let r = post(
        &s.url,
        "/api/v1/auth/login",
        json!({"phone": "+919876503011", "password": "admin-pass-1", "role": "admin"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["user"]["role"], "admin");
    post(&s.url, "/api/v1/auth/login", json!({"phone": "+919876503011", "password": "wrong-pass-1", "role": "admin"}));
    let out = run(&["audit", "verify", "--data-dir", dd], dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("audit log intact: 3 entries"), "{}", text(&out.stdout));
    s.terminate();

    // Rows cannot be changed through SQL, and a forged change is caught by the chain.
    let c = rusqlite::Connection::open(dir.path().join("buildxpert.db")).unwrap();
    assert!(c.execute("UPDATE audit_log SET action = 'nothing' WHERE id = 2", []).is_err(), "append-only");
    assert!(c.execute("DELETE FROM audit_log WHERE id = 2", []).is_err(), "append-only");
    c.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET ip = '10.9.9.9' WHERE id = 2;").unwrap();
    drop(c);
    let out = run(&["audit", "verify", "--data-dir", dd], dir.path(), &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("row 2 was altered"), "{}", text(&out.stderr));
}

#[test]
fn security_events_are_audited_with_actor_ip_and_request_id() {
    let app = crate::support::spawn_app();
    let s = app.register("customer", "9876503021");
    let r = crate::support::request(
        "POST",
        &format!("{}/api/v1/auth/login", app.url),
        &[("X-Request-Id", "rid-audit-1")],
        Some((
            "application/json",
            json!({"phone": "9876503021", "password": "nope-nope-1", "role": "customer"}).to_string().as_bytes(),
        )),
    );
    assert_eq!(r.status, 401);
    app.post("/api/v1/auth/logout-all", Some(&s.access), json!({}));
    type Row = (String, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = app
        .app()
        .db
        .read(|c| {
            let mut st = c.prepare("SELECT action, actor_id, ip, request_id FROM audit_log ORDER BY id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok::<_, buildxpert::db::DbError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(actions, vec!["signup.requested", "signup.verified", "login.failed", "logout_all"]);
    let failed = &rows[2];
    assert_eq!(failed.1.as_deref(), Some(s.user_id.as_str()));
    assert_eq!(failed.2.as_deref(), Some("127.0.0.1"));
    assert_eq!(failed.3.as_deref(), Some("rid-audit-1"));
    let n = app.app().db.read(|c| Ok::<_, buildxpert::db::DbError>(buildxpert::audit::verify(c))).unwrap();
    assert_eq!(n, Ok(4));
}
