//! The public contact form and the operator's enquiries: stored and listed, closed by an admin
//! (audited), the honeypot, the per-IP limit, validation, access, and the operator's e-mail
//! through the delivery queue (sent, or a dead letter when the server refuses it).

use crate::support::{eventually, spawn_app, spawn_app_with, TestApp};
use buildxpert::db::DbError;
use serde_json::json;

fn count(app: &TestApp, sql: &str) -> i64 {
    app.app().db.read(|c| Ok::<_, DbError>(c.query_row(sql, [], |r| r.get(0))?)).unwrap()
}

fn enquiries(app: &TestApp) -> i64 {
    count(app, "SELECT COUNT(*) FROM enquiries")
}

fn contact(app: &TestApp, body: serde_json::Value) -> crate::support::http::Resp {
    app.post("/api/v1/contact", None, body)
}

#[test]
fn an_enquiry_is_stored_listed_for_the_admin_and_closed() {
    let app = spawn_app();
    let r = contact(
        &app,
        json!({"name": "  Asha\u{7} ", "phone": "+91 98765 43210", "message": "Need a plumber\r\non Monday.\u{1b} "}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json(), json!({"received": true}));
    assert!(r.header("X-RateLimit-Limit").is_some(), "the per-IP limit is announced");
    // The manual clock stands still: a second later, so "newest first" has one answer.
    app.clock.advance_secs(1);
    assert_eq!(contact(&app, json!({"name": "Ravi", "email": "ravi@example.com", "message": "Hi"})).status, 202);

    let admin = app.admin("9876506000");
    let r = app.call("GET", "/api/v1/admin/enquiries?status=open", Some(&admin.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["name"], "Ravi", "newest first");
    let asha = &items[1];
    assert_eq!(asha["name"], "Asha");
    assert_eq!(asha["phone"], "+91 98765 43210");
    assert_eq!(asha["email"], serde_json::Value::Null);
    assert_eq!(asha["message"], "Need a plumber\non Monday.");
    assert_eq!(asha["status"], "open");
    let id = asha["id"].as_str().unwrap().to_string();

    let r = app.call("GET", "/api/v1/admin/enquiries?limit=1", Some(&admin.access), None);
    let j = r.json();
    assert_eq!(j["items"].as_array().unwrap().len(), 1);
    let cursor = j["nextCursor"].as_str().expect("a second page").to_string();
    let r = app.call("GET", &format!("/api/v1/admin/enquiries?limit=1&cursor={cursor}"), Some(&admin.access), None);
    assert_eq!(r.json()["items"][0]["id"], id.as_str());
    assert_eq!(r.json()["nextCursor"], serde_json::Value::Null);

    let path = format!("/api/v1/admin/enquiries/{id}");
    let r = app.call("PATCH", &path, Some(&admin.access), Some(json!({"status": "closed"})));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "closed");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.enquiry_status'"), 1);
    let r = app.call("GET", "/api/v1/admin/enquiries?status=closed", Some(&admin.access), None);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.json()["items"][0]["id"], id.as_str());
    let r = app.call("GET", "/api/v1/admin/enquiries?status=open", Some(&admin.access), None);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);

    assert_eq!(
        app.call("PATCH", &path, Some(&admin.access), Some(json!({"status": "done"}))).code(),
        "validation_failed"
    );
    let r = app.call("PATCH", "/api/v1/admin/enquiries/enq_nope", Some(&admin.access), Some(json!({"status": "open"})));
    assert_eq!(r.status, 404);
    assert_eq!(app.call("GET", "/api/v1/admin/enquiries?status=x", Some(&admin.access), None).status, 400);
}

#[test]
fn the_honeypot_answers_the_same_and_keeps_nothing() {
    let app = spawn_app();
    let real = contact(&app, json!({"name": "Asha", "email": "asha@example.com", "message": "Hello"}));
    let bot = contact(
        &app,
        json!({"name": "Bot", "email": "bot@example.com", "message": "Cheap pills", "website": "http://spam.example"}),
    );
    assert_eq!((bot.status, bot.body.as_str()), (real.status, real.body.as_str()));
    // Even an invalid robot's form gets the same answer: nothing tells it what was noticed.
    let bot = contact(&app, json!({"name": "", "message": "", "website": "x"}));
    assert_eq!((bot.status, bot.body.as_str()), (real.status, real.body.as_str()));
    assert_eq!(enquiries(&app), 1);
}

#[test]
fn enquiries_are_limited_per_client_address() {
    let app = spawn_app_with(&[("BUILDXPERT_LIMITS__CONTACT_PER_IP_PER_HOUR", "2")]);
    let body = json!({"name": "Asha", "phone": "9876543210", "message": "Hello"});
    assert_eq!(contact(&app, body.clone()).status, 202);
    let r = contact(&app, body.clone());
    assert_eq!(r.status, 202);
    assert_eq!(r.header("X-RateLimit-Remaining"), Some("0"));
    let r = contact(&app, body);
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.code(), "rate_limited");
    assert!(r.header("Retry-After").is_some_and(|s| s.parse::<u64>().unwrap() > 0));
    assert_eq!(r.header("X-RateLimit-Limit"), Some("2"));
    assert_eq!(enquiries(&app), 2);
}

#[test]
fn zero_disables_the_contact_limit() {
    let app = spawn_app_with(&[("BUILDXPERT_LIMITS__CONTACT_PER_IP_PER_HOUR", "0")]);
    for _ in 0..7 {
        assert_eq!(contact(&app, json!({"name": "A", "phone": "12345", "message": "m"})).status, 202);
    }
    assert_eq!(enquiries(&app), 7);
}

#[test]
fn invalid_enquiries_are_refused_by_field_and_store_nothing() {
    let app = spawn_app_with(&[("BUILDXPERT_LIMITS__CONTACT_PER_IP_PER_HOUR", "0")]);
    let fields = |body: serde_json::Value| {
        let r = contact(&app, body);
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.code(), "validation_failed");
        let mut f: Vec<String> = r.json()["error"]["fields"].as_object().unwrap().keys().cloned().collect();
        f.sort();
        f
    };
    assert_eq!(fields(json!({"name": " ", "message": "\u{7}", "phone": "555"})), ["message", "name"]);
    assert_eq!(fields(json!({"name": "A", "message": "m"})), ["email", "phone"]);
    assert_eq!(fields(json!({"name": "A", "message": "m", "phone": "call me"})), ["phone"]);
    assert_eq!(fields(json!({"name": "A", "message": "m", "email": "a@b"})), ["email"]);
    assert_eq!(fields(json!({"name": "A".repeat(101), "message": "m", "email": "a@b.co"})), ["name"]);
    assert_eq!(fields(json!({"name": "A", "message": "m".repeat(2001), "email": "a@b.co"})), ["message"]);
    let r = contact(&app, json!({"name": "A", "message": "m", "email": "a@b.co", "extra": 1}));
    assert_eq!(r.status, 400);
    assert_eq!(enquiries(&app), 0);
}

#[test]
fn only_admins_see_and_change_enquiries() {
    let app = spawn_app();
    let customer = app.register("customer", "9876506101");
    let provider = app.register("provider", "9876506102");
    for (method, path, body) in [
        ("GET", "/api/v1/admin/enquiries", None),
        ("PATCH", "/api/v1/admin/enquiries/enq_x", Some(json!({"status": "closed"}))),
    ] {
        assert_eq!(app.call(method, path, None, body.clone()).status, 401, "{method} {path}");
        for s in [&customer, &provider] {
            assert_eq!(app.call(method, path, Some(&s.access), body.clone()).status, 403, "{method} {path} {}", s.role);
        }
    }
}

fn smtp_env(port: &str) -> Vec<(&'static str, String)> {
    vec![
        ("BUILDXPERT_EMAIL__PROVIDER", "smtp".into()),
        ("BUILDXPERT_EMAIL__SMTP__HOST", "127.0.0.1".into()),
        ("BUILDXPERT_EMAIL__SMTP__PORT", port.into()),
        ("BUILDXPERT_EMAIL__SMTP__TLS", "none".into()),
        ("BUILDXPERT_EMAIL__FROM", "BuildXpert <noreply@bx.example>".into()),
        ("BUILDXPERT_EMAIL__OPERATOR", "ops@bx.example".into()),
    ]
}

fn statuses(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    app.app()
        .db
        .read(|c| {
            let mut st = c.prepare("SELECT target, status, user_id FROM deliveries ORDER BY rowid")?;
            let r = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok::<_, DbError>(r.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
}

#[test]
fn the_operator_is_mailed_each_enquiry() {
    let sink = crate::support::smtp_sink::SmtpSink::start(&[], &[]);
    let env = smtp_env(&sink.port.to_string());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(&env);
    let r =
        contact(&app, json!({"name": "Asha", "email": "asha@example.com", "message": "Need a plumber\non Monday."}));
    assert_eq!(r.status, 202);
    eventually("mailed", || statuses(&app).iter().any(|d| d.1 == "sent"));
    assert_eq!(statuses(&app), vec![("ops@bx.example".into(), "sent".into(), None)]);
    let mail = sink.received();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].rcpt_to, vec!["ops@bx.example".to_string()]);
    assert!(mail[0].data.contains("Subject: New enquiry from Asha"), "{}", mail[0].data);
    assert!(mail[0].data.contains("asha@example.com") && mail[0].data.contains("Need a plumber"));
    assert!(mail[0].data.contains("Need a plumber<br>"), "line breaks kept in the HTML part: {}", mail[0].data);

    // A honeypot hit sends nothing either.
    contact(&app, json!({"name": "Bot", "email": "b@example.com", "message": "spam", "website": "x"}));
    assert_eq!(statuses(&app).len(), 1);
}

#[test]
fn an_operator_mail_the_server_refuses_becomes_a_dead_letter() {
    let sink = crate::support::smtp_sink::SmtpSink::start(&["ops@bx.example"], &[]);
    let env = smtp_env(&sink.port.to_string());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(&env);
    assert_eq!(contact(&app, json!({"name": "Asha", "phone": "12345", "message": "Hi"})).status, 202);
    eventually("dead", || statuses(&app).iter().any(|d| d.1 == "dead"));
    assert_eq!(enquiries(&app), 1, "the enquiry is kept for the dashboard");
    let admin = app.admin("9876506200");
    let r = app.call("GET", "/api/v1/admin/notifications?status=dead", Some(&admin.access), None);
    assert_eq!(r.json()["items"][0]["target"], "ops@bx.example");
}
