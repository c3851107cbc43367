//! The admin API the dashboard reads: statistics with daily series, every booking, CSV exports,
//! the audit-log listing, a user's sessions, the backup download (served while writes go on),
//! the system page's facts, the alerts (once per episode, with recovery notices) and the admin
//! rate limit. Authorization for every admin route is in authz_matrix.rs.

use crate::bookings::{act, booked, local_day, plumber_listing};
use crate::support::fake::{FakeServer, Reply};
use crate::support::{eventually, spawn_app, spawn_app_with, TestApp};
use buildxpert::clock::Clock;
use serde_json::{json, Value};

fn get(app: &TestApp, token: &str, path: &str) -> crate::support::Resp {
    app.call("GET", path, Some(token), None)
}

fn dead_letter(app: &TestApp, user_id: &str) -> String {
    let now = app.clock.now_ms();
    app.app()
        .db
        .write(|tx| {
            let id = buildxpert::notify::outbox::queue(
                tx,
                None,
                Some(user_id),
                buildxpert::notify::Channel::Sms,
                "+910000000000",
                "{}",
                now,
            )?;
            tx.execute("UPDATE deliveries SET status = 'dead', last_error = 'refused' WHERE id = ?1", [&id])?;
            Ok::<_, buildxpert::db::DbError>(id)
        })
        .unwrap()
}

#[test]
fn stats_have_one_row_per_day_with_the_seeded_figures_and_refuse_bad_ranges() {
    let app = spawn_app();
    let admin = app.admin("9876509000");
    let provider = app.register("provider", "9876509001");
    let c1 = app.register("customer", "9876509002");
    let c2 = app.register("customer", "9876509003");
    let listing = plumber_listing(&app, &provider);
    booked(&app, &c1, &listing, &local_day(&app, 2), "10:00");
    let b = booked(&app, &c2, &listing, &local_day(&app, 2), "12:00");
    assert_eq!(act(&app, &c2, &b, "cancel", Some("No longer needed")).status, 200);
    dead_letter(&app, &c1.user_id);

    let r = get(&app, &admin.access, "/api/v1/admin/stats");
    assert_eq!(r.status, 200, "{}", r.body);
    let s = r.json();
    let daily = s["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30, "the last 30 days by default");
    let today = local_day(&app, 0);
    assert_eq!(s["to"], today.as_str());
    assert_eq!(daily[29]["date"], today.as_str());
    assert_eq!((daily[29]["bookings"].as_i64(), daily[29]["cancelled"].as_i64()), (Some(2), Some(1)));
    assert_eq!(daily[29]["notificationsFailed"], 1);
    assert!(daily[..29].iter().all(|d| d["bookings"] == 0), "zero-filled days");
    assert_eq!(daily[28]["deliveryRate"], Value::Null, "no rate without deliveries");
    assert_eq!(daily[29]["revenue"], json!({"amount": 0, "currency": "INR"}));
    assert_eq!(s["totals"]["bookings"], 2);
    assert_eq!(s["totals"]["cancelled"], 1);
    assert_eq!(s["now"]["customers"], 2);
    assert_eq!(s["now"]["providers"], 1);
    assert_eq!(s["now"]["activeListings"], 1);
    assert_eq!(s["now"]["deadLetters"], 1);
    for key in ["paymentSuccessRate", "deliveryRate", "meanMos", "calls", "answeredCalls", "paymentsSucceeded"] {
        assert!(daily[0].get(key).is_some(), "{key} in every day");
    }

    // An explicit range, a single day, a year.
    let yesterday = local_day(&app, -1);
    let r = get(&app, &admin.access, &format!("/api/v1/admin/stats?from={yesterday}&to={today}")).json();
    assert_eq!(r["daily"].as_array().unwrap().len(), 2);
    assert_eq!(r["daily"][1]["bookings"], 2);
    let r = get(&app, &admin.access, &format!("/api/v1/admin/stats?from={yesterday}&to={yesterday}")).json();
    assert_eq!(r["totals"]["bookings"], 0);
    let year_ago = local_day(&app, -365);
    assert_eq!(get(&app, &admin.access, &format!("/api/v1/admin/stats?from={year_ago}&to={today}")).status, 200);

    // Bad ranges: 400 naming the field.
    let too_long = local_day(&app, -366);
    for (q, field) in [
        (format!("from={today}&to={yesterday}"), "from"),
        (format!("from={too_long}&to={today}"), "from"),
        ("from=2026-02-30".to_string(), "from"),
        ("to=tomorrow".to_string(), "to"),
    ] {
        let r = get(&app, &admin.access, &format!("/api/v1/admin/stats?{q}"));
        assert_eq!((r.status, r.code()), (400, "validation_failed".to_string()), "{q}: {}", r.body);
        assert!(r.json()["error"]["fields"].get(field).is_some(), "{q}: {}", r.body);
    }
}

#[test]
fn every_booking_lists_with_filters_and_cursors_and_exports_as_csv() {
    let app = spawn_app();
    let admin = app.admin("9876509100");
    let provider = app.register("provider", "9876509101");
    let c1 = app.register("customer", "9876509102");
    let listing = plumber_listing(&app, &provider);
    let mut ids = Vec::new();
    for (i, t) in ["09:00", "10:00", "11:00"].iter().enumerate() {
        ids.push(booked(&app, &c1, &listing, &local_day(&app, 2 + i as i64), t));
        app.clock.advance_secs(1);
    }
    assert_eq!(act(&app, &c1, &ids[0], "cancel", Some("x")).status, 200);
    let r = get(&app, &admin.access, "/api/v1/admin/bookings?limit=2");
    assert_eq!(r.status, 200, "{}", r.body);
    let p1 = r.json();
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    assert_eq!(p1["items"][0]["id"], ids[2].as_str(), "newest first");
    let cursor = p1["nextCursor"].as_str().unwrap();
    let p2 = get(&app, &admin.access, &format!("/api/v1/admin/bookings?limit=2&cursor={cursor}")).json();
    assert_eq!(p2["items"][0]["id"], ids[0].as_str());
    assert!(p2["nextCursor"].is_null());
    let cancelled = get(&app, &admin.access, "/api/v1/admin/bookings?status=cancelled").json();
    assert_eq!(cancelled["items"].as_array().unwrap().len(), 1);
    let theirs = get(&app, &admin.access, &format!("/api/v1/admin/bookings?customerId={}", c1.user_id)).json();
    assert_eq!(theirs["items"].as_array().unwrap().len(), 3);
    let none = get(&app, &admin.access, &format!("/api/v1/admin/bookings?providerId={}", c1.user_id)).json();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let today = local_day(&app, 0);
    let dated = get(&app, &admin.access, &format!("/api/v1/admin/bookings?from={today}&to={today}")).json();
    assert_eq!(dated["items"].as_array().unwrap().len(), 3);
    for q in ["status=lost", "from=yesterday", "cursor=nope", &format!("from={today}&to={}", local_day(&app, -1))] {
        let r = get(&app, &admin.access, &format!("/api/v1/admin/bookings?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }

    let csv = get(&app, &admin.access, "/api/v1/admin/export/bookings.csv?status=cancelled");
    assert_eq!(csv.status, 200);
    assert!(csv.header("Content-Type").unwrap().starts_with("text/csv"));
    assert_eq!(csv.header("Content-Disposition"), Some("attachment; filename=\"bookings.csv\""));
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{}", csv.body);
    assert!(lines[0].starts_with("id,status,createdAt"));
    assert!(lines[1].starts_with(&format!("{},cancelled,", ids[0])));
    assert_eq!(get(&app, &admin.access, "/api/v1/admin/export/bookings.csv?status=odd").status, 400);
    let log = get(&app, &admin.access, "/api/v1/admin/audit-log?action=admin.bookings_exported").json();
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "the bad request exported nothing and was not logged");
    assert_eq!(log["items"][0]["details"]["rows"], 1);
}

#[test]
fn users_csv_defuses_spreadsheet_formulas_and_sessions_show_each_login() {
    let app = spawn_app();
    let admin = app.admin("9876509200");
    let u = app.register("customer", "9876509201");
    let r =
        app.call("PATCH", "/api/v1/me", Some(&u.access), Some(json!({"fullName": "=HYPERLINK(\"http://x\",\"y\")"})));
    assert_eq!(r.status, 200, "{}", r.body);
    let csv = get(&app, &admin.access, "/api/v1/admin/export/users.csv?role=customer");
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with("id,role,fullName,phone,email,verified,blocked,locked,deleted,createdAt\r\n"));
    assert!(csv.body.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""), "{}", csv.body);
    assert!(!csv.body.contains("admin"), "role filter applied");
    assert_eq!(get(&app, &admin.access, "/api/v1/admin/export/users.csv?role=boss").status, 400);

    let s = get(&app, &admin.access, &format!("/api/v1/admin/users/{}/sessions", u.user_id));
    assert_eq!(s.status, 200, "{}", s.body);
    let items = s.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["active"], true);
    assert_eq!(
        app.post(&format!("/api/v1/admin/users/{}/logout-all", u.user_id), Some(&admin.access), json!({})).status,
        204
    );
    let s = get(&app, &admin.access, &format!("/api/v1/admin/users/{}/sessions", u.user_id)).json();
    assert_eq!(s["items"][0]["active"], false);
    assert!(s["items"][0]["revokedAt"].is_string());
    assert_eq!(get(&app, &admin.access, "/api/v1/admin/users/usr_nope/sessions").status, 404);
    let payments = get(&app, &admin.access, "/api/v1/admin/export/payments.csv");
    assert_eq!(payments.status, 200);
    assert!(payments.body.starts_with("id,purpose,status,amount,currency"));
    for what in ["users", "payments"] {
        let log = get(&app, &admin.access, &format!("/api/v1/admin/audit-log?action=admin.{what}_exported")).json();
        assert_eq!(log["items"].as_array().unwrap().len(), 1, "{what}: {log}");
        assert_eq!(log["items"][0]["actorId"], admin.user_id.as_str());
    }
}

#[test]
fn the_audit_log_pages_newest_first_and_filters_by_action_prefix_and_target() {
    let app = spawn_app();
    let admin = app.admin("9876509300");
    let u = app.register("customer", "9876509301");
    for v in [true, false, true] {
        let r = app.call(
            "PATCH",
            &format!("/api/v1/admin/users/{}", u.user_id),
            Some(&admin.access),
            Some(json!({"verified": v})),
        );
        assert_eq!(r.status, 200);
    }
    let all = get(&app, &admin.access, "/api/v1/admin/audit-log?action=admin.user_updated&limit=2");
    assert_eq!(all.status, 200, "{}", all.body);
    let p1 = all.json();
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    assert_eq!(p1["items"][0]["details"]["verified"], true, "newest first");
    assert!(p1["items"][0]["id"].as_i64() > p1["items"][1]["id"].as_i64());
    let cursor = p1["nextCursor"].as_str().unwrap();
    let p2 =
        get(&app, &admin.access, &format!("/api/v1/admin/audit-log?action=admin.user_updated&limit=2&cursor={cursor}"))
            .json();
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert_eq!(p2["items"][0]["details"]["verified"], true);
    assert_eq!(p2["items"][0]["actorId"], admin.user_id.as_str());
    let about = get(&app, &admin.access, &format!("/api/v1/admin/audit-log?target={}", u.user_id)).json();
    assert!(about["items"].as_array().unwrap().len() >= 3);
    let prefix = get(&app, &admin.access, "/api/v1/admin/audit-log?action=admin.").json();
    let actions: Vec<&str> = prefix["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.len() >= 3 && actions.iter().all(|a| a.starts_with("admin.")), "{actions:?}");
    let none = get(&app, &admin.access, "/api/v1/admin/audit-log?action=admin").json();
    assert_eq!(none["items"].as_array().unwrap().len(), 0, "no prefix without the dot");
    assert_eq!(get(&app, &admin.access, "/api/v1/admin/audit-log?cursor=garbage").status, 400);
    assert_eq!(get(&app, &admin.access, &format!("/api/v1/admin/audit-log?actorId={}", "x".repeat(201))).status, 400);
}

#[test]
fn a_backup_downloads_a_sound_snapshot_while_writes_keep_succeeding() {
    let app = spawn_app();
    let admin = app.admin("9876509400");
    let u = app.register("customer", "9876509401");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (url, token, stop) = (app.url.clone(), u.access.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut ok = 0;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || n < 5 {
                n += 1;
                let auth = format!("Bearer {token}");
                let body = json!({"fullName": format!("Writer {n}")}).to_string();
                let r = crate::support::request(
                    "PATCH",
                    &format!("{url}/api/v1/me"),
                    &[("Authorization", auth.as_str())],
                    Some(("application/json", body.as_bytes())),
                );
                if r.status == 200 {
                    ok += 1;
                }
            }
            (ok, n)
        })
    };
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let auth = format!("Bearer {}", admin.access);
        let r = crate::support::http::request_bytes(
            "GET",
            &format!("{}/api/v1/admin/backup", app.url),
            &[("Authorization", auth.as_str())],
        );
        assert_eq!(r.0, 200);
        let cd = r.1.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-disposition")).map(|(_, v)| v.clone());
        assert!(
            cd.as_deref().is_some_and(|v| v.starts_with("attachment; filename=\"buildxpert-") && v.ends_with(".db\"")),
            "{:?}",
            r.1
        );
        assert!(r.2.starts_with(b"SQLite format 3\0"));
        sizes.push(r.2.len());
        let dir = crate::support::TempDir::new("admin-backup");
        let file = dir.path().join("copy.db");
        std::fs::write(&file, &r.2).unwrap();
        buildxpert::db::integrity_check(&file).expect("integrity ok");
        let c = rusqlite::Connection::open(&file).unwrap();
        let users: i64 = c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)).unwrap();
        assert_eq!(users, 2);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, n) = writer.join().unwrap();
    assert_eq!(ok, n, "every write during the downloads succeeded");
    // Nothing is left behind next to the database, and the download was audited.
    let dir = app.app().db.path().parent().unwrap().to_path_buf();
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("admin-backup"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let log = get(&app, &admin.access, "/api/v1/admin/audit-log?action=admin.backup_downloaded").json();
    assert_eq!(log["items"].as_array().unwrap().len(), 3);
    assert!(log["items"][0]["details"]["bytes"].as_u64().unwrap() > 0);
    let _ = sizes;
}

#[test]
fn the_system_page_shows_facts_and_masks_secrets() {
    let app = spawn_app_with(&[("BUILDXPERT_METRICS__TOKEN", "super-secret-metrics-token")]);
    let admin = app.admin("9876509500");
    buildxpert::jobs::run(app.app(), "admin-alerts").unwrap();
    let r = get(&app, &admin.access, "/api/v1/admin/system");
    assert_eq!(r.status, 200, "{}", r.body);
    let s = r.json();
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert!(s["databaseBytes"].as_u64().unwrap() > 0);
    assert!(s["walBytes"].is_u64() && s["uptimeSeconds"].is_u64());
    assert!(s["jobs"].as_array().unwrap().iter().any(|j| j["name"] == "admin-alerts" && j["runs"].as_u64() >= Some(1)));
    let config = s["config"].as_str().unwrap();
    assert!(config.contains("[alerts]") && config.contains("********"));
    assert!(!config.contains("super-secret-metrics-token"), "secrets are masked");
    assert!(!r.body.contains("super-secret-metrics-token"));
}

#[test]
fn the_dashboard_page_has_a_strict_policy_and_revalidates() {
    let app = spawn_app();
    let r = app.get("/admin/");
    assert_eq!(r.status, 200);
    let csp = r.header("Content-Security-Policy").unwrap();
    assert!(csp.starts_with("default-src 'none'; script-src 'self'; style-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    assert!(!r.body.contains("<script>") && !r.body.contains("style="), "no inline script or style");
    for file in ["app.js", "api.js", "chart.js", "dom.js", "ui.js", "style.css"] {
        let a = app.get(&format!("/admin/{file}"));
        assert_eq!(a.status, 200, "{file}");
        assert!(a.header("ETag").is_some() && a.header("Cache-Control").unwrap().contains("no-cache"), "{file}");
        assert!(!a.body.contains("innerHTML"), "{file} never parses HTML");
    }
}

#[test]
fn admin_calls_have_their_own_rate_limit() {
    let app = spawn_app_with(&[("BUILDXPERT_LIMITS__ADMIN_PER_USER_PER_MINUTE", "3")]);
    let admin = app.admin("9876509600");
    let customer = app.register("customer", "9876509601");
    for _ in 0..3 {
        assert_eq!(get(&app, &admin.access, "/api/v1/admin/alerts").status, 200);
    }
    let r = get(&app, &admin.access, "/api/v1/admin/stats");
    assert_eq!((r.status, r.code()), (429, "rate_limited".to_string()));
    assert!(r.header("Retry-After").is_some());
    // Other users are not affected.
    for _ in 0..5 {
        assert_eq!(get(&app, &customer.access, "/api/v1/me").status, 200);
    }
}

fn alert_env(smtp_port: &str, hook: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, String)> = vec![
        ("BUILDXPERT_EMAIL__PROVIDER", "smtp".into()),
        ("BUILDXPERT_EMAIL__SMTP__HOST", "127.0.0.1".into()),
        ("BUILDXPERT_EMAIL__SMTP__PORT", smtp_port.into()),
        ("BUILDXPERT_EMAIL__SMTP__TLS", "none".into()),
        ("BUILDXPERT_EMAIL__FROM", "BuildXpert <noreply@bx.example>".into()),
        ("BUILDXPERT_EMAIL__OPERATOR", "ops@bx.example".into()),
        ("BUILDXPERT_ALERTS__WEBHOOK_URL", hook.into()),
        ("BUILDXPERT_ALERTS__WEBHOOK_SECRET", "whsec_c2VjcmV0LWtleS1mb3ItYWxlcnRz".into()),
        ("BUILDXPERT_ALERTS__DEAD_LETTERS", "1".into()),
    ];
    v.extend(extra.iter().map(|(k, x)| (*k, x.to_string())));
    v
}

#[test]
fn a_dead_letter_alert_fires_once_per_episode_and_announces_its_recovery() {
    let sink = crate::support::smtp_sink::SmtpSink::start(&[], &[]);
    let hook = FakeServer::start(|_, _| Reply::json(200, json!({})));
    let env = alert_env(&sink.port.to_string(), &format!("{}/alerts", hook.url), &[]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(&env);
    let admin = app.admin("9876509700");
    let run = || buildxpert::jobs::run(app.app(), "admin-alerts").unwrap();
    run();
    let alerts = get(&app, &admin.access, "/api/v1/admin/alerts").json();
    assert!(alerts["items"].as_array().unwrap().iter().all(|a| a["firing"] == false), "{alerts}");
    assert!(hook.received().is_empty());

    let id = dead_letter(&app, &admin.user_id);
    run();
    run();
    run();
    let alerts = get(&app, &admin.access, "/api/v1/admin/alerts").json();
    let dead = &alerts["items"][0];
    assert_eq!((dead["name"].as_str(), dead["firing"].as_bool()), (Some("dead_letters"), Some(true)), "{alerts}");
    assert_eq!(dead["value"], 1.0);
    eventually("one webhook and one e-mail", || hook.received().len() == 1 && sink.received().len() == 1);
    let call = &hook.received()[0];
    let body = call.json();
    assert_eq!(body["type"], "alert.firing");
    assert_eq!(body["data"]["name"], "dead_letters");
    let sig = buildxpert::channels::webhook::sign(
        "whsec_c2VjcmV0LWtleS1mb3ItYWxlcnRz",
        call.header("webhook-id").unwrap(),
        call.header("webhook-timestamp").unwrap().parse().unwrap(),
        &call.body_str(),
    )
    .unwrap();
    assert_eq!(call.header("webhook-signature"), Some(sig.as_str()), "signed per Standard Webhooks");
    let mail = &sink.received()[0];
    assert_eq!(mail.rcpt_to, vec!["ops@bx.example".to_string()]);
    assert!(mail.data.contains("ALERT: Dead notification deliveries"), "{}", mail.data);

    // Still firing on later checks: nothing more is sent. Then the operator retries it.
    app.clock.advance_secs(120);
    run();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(hook.received().len(), 1, "once per episode");
    let r = app.post(&format!("/api/v1/admin/notifications/{id}/retry"), Some(&admin.access), json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    // Whatever the worker does with the retried delivery, mark it sent to end the episode.
    app.app()
        .db
        .write(|tx| {
            tx.execute("UPDATE deliveries SET status = 'sent' WHERE id = ?1", [&id])
                .map_err(buildxpert::db::DbError::from)
        })
        .unwrap();
    run();
    eventually("a recovery webhook", || hook.received().len() == 2);
    assert_eq!(hook.received()[1].json()["type"], "alert.resolved");
    eventually("a recovery e-mail", || sink.received().len() == 2);
    assert!(sink.received()[1].data.contains("Resolved: Dead notification deliveries"));
    run();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(hook.received().len(), 2, "no repeat of the recovery");
    let alerts = get(&app, &admin.access, "/api/v1/admin/alerts").json();
    assert!(alerts["items"].as_array().unwrap().iter().all(|a| a["firing"] == false));
}

#[test]
fn low_disk_fires_an_alert_shown_on_the_dashboard() {
    let app =
        spawn_app_with(&[("BUILDXPERT_ALERTS__MIN_FREE_DISK_MB", "999999999"), ("BUILDXPERT_ALERTS__EMAIL", "false")]);
    let admin = app.admin("9876509800");
    buildxpert::jobs::run(app.app(), "admin-alerts").unwrap();
    let alerts = get(&app, &admin.access, "/api/v1/admin/alerts").json();
    let disk = alerts["items"].as_array().unwrap().iter().find(|a| a["name"] == "free_disk").unwrap().clone();
    assert_eq!(disk["firing"], true, "{alerts}");
    assert!(disk["message"].as_str().unwrap().contains("MiB free"));
    assert_eq!(alerts["items"][0]["name"], "free_disk", "firing alerts first");
    // No e-mail channel configured and e-mail off: nothing was queued.
    let queued: i64 = app
        .app()
        .db
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0)).map_err(buildxpert::db::DbError::from)
        })
        .unwrap();
    assert_eq!(queued, 0);
}

#[test]
fn bad_alert_settings_are_refused_at_start() {
    for (k, v) in [
        ("BUILDXPERT_ALERTS__PAYMENT_FAILURE_RATE", "1.5"),
        ("BUILDXPERT_ALERTS__CHECK_INTERVAL_SECONDS", "0"),
        ("BUILDXPERT_ALERTS__WEBHOOK_URL", "https://ops.example/hook"),
    ] {
        let dir = crate::support::TempDir::new("alerts-config");
        let env = [(k.to_string(), v.to_string())];
        let err = buildxpert::config::Config::load_from(
            &buildxpert::config::Overrides { data_dir: Some(dir.path().to_path_buf()), ..Default::default() },
            &env,
        )
        .unwrap_err();
        assert!(err.0.contains("alerts."), "{k}: {err}");
    }
}

#[test]
fn the_5xx_rate_is_judged_between_checks_and_recovers() {
    let hook = FakeServer::start(|_, _| Reply::json(200, json!({})));
    let url = format!("{}/alerts", hook.url);
    let app = spawn_app_with(&[
        ("BUILDXPERT_ALERTS__WEBHOOK_URL", url.as_str()),
        ("BUILDXPERT_ALERTS__WEBHOOK_SECRET", "whsec_c2VjcmV0LWtleS1mb3ItYWxlcnRz"),
        ("BUILDXPERT_ALERTS__MIN_SAMPLES", "10"),
    ]);
    let admin = app.admin("9876509900");
    let run = || buildxpert::jobs::run(app.app(), "admin-alerts").unwrap();
    let observe = |status: u16, n: usize| {
        for _ in 0..n {
            app.app().metrics.observe("GET", "/api/v1/test", status, std::time::Duration::from_millis(1));
        }
    };
    run(); // the baseline
    observe(500, 3);
    run(); // too few responses since the baseline to judge: the baseline is kept
    observe(200, 9);
    run(); // 3 of at least 12 failed
    let firing = |app: &TestApp| {
        let a = get(app, &admin.access, "/api/v1/admin/alerts").json();
        a["items"].as_array().unwrap().iter().find(|x| x["name"] == "server_error_rate").unwrap()["firing"] == true
    };
    assert!(firing(&app));
    eventually("the firing webhook", || hook.received().len() == 1);
    assert_eq!(hook.received()[0].json()["data"]["name"], "server_error_rate");
    observe(200, 50);
    run();
    assert!(!firing(&app));
    eventually("the recovery webhook", || hook.received().len() == 2);
    assert_eq!(hook.received()[1].json()["type"], "alert.resolved");
}
