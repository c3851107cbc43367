//! Notifications: the inbox, delivery over the SMS channel, retry with backoff on the injectable
//! clock, fallback from push to SMS (DeviceNotRegistered), dead letters and admin retry,
//! preferences, and signed operator webhooks.

use crate::support::fake::{FakeServer, Reply};
use crate::support::{
    eventually, spawn_app, spawn_app_in, spawn_app_with_file, url_decode_form, Session, TempDir, TestApp,
};
use buildxpert::db::DbError;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn change_password(app: &TestApp, s: &Session) {
    let r = app.post(
        "/api/v1/auth/password/change",
        Some(&s.access),
        json!({"currentPassword": "s3cret-pass", "newPassword": "another-pass-1"}),
    );
    assert_eq!(r.status, 204, "{}", r.body);
}

fn deliveries(app: &TestApp) -> Vec<(String, String, i64, i64, Option<String>)> {
    app.app()
        .db
        .read(|c| {
            let mut st = c.prepare(
                "SELECT channel, status, attempts, next_attempt_at, last_error FROM deliveries ORDER BY rowid",
            )?;
            let r = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
            Ok::<_, DbError>(r.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
}

fn notices_to(app: &TestApp, phone: &str) -> usize {
    app.twilio
        .received()
        .iter()
        .filter(|r| {
            let f = url_decode_form(&r.body_str());
            f.get("To").map(String::as_str) == Some(phone)
                && f.get("Body").is_some_and(|b| b.starts_with("Password changed"))
        })
        .count()
}

#[test]
fn the_inbox_lists_counts_and_marks_read_only_the_callers_notifications() {
    let app = spawn_app();
    let a = app.register("customer", "9876507001");
    let b = app.register("customer", "9876507002");
    change_password(&app, &a);
    app.clock.advance_secs(1);
    app.app()
        .db
        .write(|tx| {
            buildxpert::notify::outbox::notify(
                tx,
                app.app(),
                &a.user_id,
                buildxpert::bookings::notices::ACCEPTED,
                json!({"category": "Plumber", "otherName": "Ravi"}),
            )
        })
        .unwrap();
    let list = app.call("GET", "/api/v1/notifications?limit=1", Some(&a.access), None).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let newest = &list["items"][0];
    assert_eq!(newest["kind"], "booking.accepted");
    assert_eq!(newest["title"], "Booking accepted");
    assert_eq!(newest["body"], "Hi Test, Ravi accepted your Plumber booking.");
    assert_eq!(newest["read"], false);
    let cursor = list["nextCursor"].as_str().unwrap();
    let page2 =
        app.call("GET", &format!("/api/v1/notifications?limit=1&cursor={cursor}"), Some(&a.access), None).json();
    assert_eq!(page2["items"][0]["kind"], "account.password_changed");
    assert!(page2["nextCursor"].is_null());
    let count = |s: &Session| {
        app.call("GET", "/api/v1/notifications/unread-count", Some(&s.access), None).json()["count"].as_i64().unwrap()
    };
    assert_eq!((count(&a), count(&b)), (2, 0));
    let id = newest["id"].as_str().unwrap();
    let r = app.post(&format!("/api/v1/notifications/{id}/read"), Some(&b.access), json!({}));
    assert_eq!((r.status, r.code()), (404, "not_found".to_string()));
    assert_eq!(app.post(&format!("/api/v1/notifications/{id}/read"), Some(&a.access), json!({})).status, 204);
    assert_eq!(count(&a), 1);
    let unread = app.call("GET", "/api/v1/notifications?unread=true", Some(&a.access), None).json();
    assert_eq!(unread["items"].as_array().unwrap().len(), 1);
    let cursor =
        app.call("GET", "/api/v1/events", Some(&a.access), None).json()["cursor"].as_str().unwrap().to_string();
    assert_eq!(app.post("/api/v1/notifications/read-all", Some(&a.access), json!({})).status, 204);
    assert_eq!(count(&a), 0);
    let ev = app.call("GET", &format!("/api/v1/events?after={cursor}"), Some(&a.access), None).json();
    assert_eq!(ev["events"][0]["type"], "notification.read", "other devices learn the badge changed");
    assert_eq!(ev["events"][0]["data"]["unreadCount"], 0);
    assert_eq!(app.call("GET", "/api/v1/notifications?unread=maybe", Some(&a.access), None).status, 400);
    assert_eq!(app.call("GET", "/api/v1/notifications", None, None).status, 401);
}

#[test]
fn a_notification_goes_out_by_sms_and_its_event_reaches_the_user() {
    let app = spawn_app();
    let a = app.register("provider", "9876507011");
    let cursor =
        app.call("GET", "/api/v1/events", Some(&a.access), None).json()["cursor"].as_str().unwrap().to_string();
    change_password(&app, &a);
    eventually("the notice is texted", || notices_to(&app, "+919876507011") == 1);
    let sms = app.twilio.received();
    let body = url_decode_form(&sms.last().unwrap().body_str())["Body"].clone();
    assert!(body.starts_with("Password changed: Hi Test, your BuildXpert password was just changed."), "{body}");
    eventually("marked sent", || deliveries(&app).iter().any(|d| d.0 == "sms" && d.1 == "sent"));
    let ev = app.call("GET", &format!("/api/v1/events?after={cursor}"), Some(&a.access), None).json();
    assert_eq!(ev["events"][0]["type"], "notification.created");
    assert_eq!(ev["events"][0]["data"]["notification"]["kind"], "account.password_changed");
}

/// A Twilio stand-in whose answers for notification texts are scripted per call.
fn scripted_twilio(script: Arc<dyn Fn(usize) -> u16 + Send + Sync>) -> (FakeServer, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let fake = FakeServer::start(move |rec, n| {
        let f = url_decode_form(&rec.body_str());
        let body = f.get("Body").cloned().unwrap_or_default();
        if body.starts_with("Password changed") {
            let i = c.fetch_add(1, Ordering::SeqCst);
            let status = script(i);
            if status != 201 {
                let code = if status == 400 { 21610 } else { 20500 };
                return Reply::json(status, json!({"code": code, "message": "scripted failure", "status": status}));
            }
        }
        Reply::json(201, json!({"sid": format!("SM{n:032}"), "status": "queued", "to": f.get("To"), "body": body}))
    });
    (fake, calls)
}

fn app_with_twilio(fake: &FakeServer, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("BUILDXPERT_SMS__TWILIO__BASE_URL", fake.url.as_str())];
    env.extend_from_slice(extra);
    spawn_app_in(TempDir::new("notify"), &env)
}

#[test]
fn transient_failures_retry_with_exponential_backoff_on_the_clock() {
    let (fake, calls) = scripted_twilio(Arc::new(|i| if i < 2 { 503 } else { 201 }));
    let app = app_with_twilio(&fake, &[]);
    // The app's own fake receives OTPs too: point last_code at the scripted fake instead.
    let a = register_via(&app, &fake, "9876507021");
    change_password(&app, &a);
    eventually("first attempt failed", || calls.load(Ordering::SeqCst) == 1 && deliveries(&app)[0].1 == "pending");
    let (_, _, attempts, next, err) = deliveries(&app)[0].clone();
    let now = buildxpert::clock::Clock::now_ms(app.clock.as_ref());
    assert_eq!(attempts, 1);
    assert!(err.unwrap().contains("503"));
    let delay = next - now;
    assert!((24_000..=36_000).contains(&delay), "first retry after base 30 s ±20 %: {delay}");
    app.clock.advance_ms(delay + 1);
    app.app().hub.kick_worker();
    eventually("second attempt failed", || {
        calls.load(Ordering::SeqCst) == 2 && deliveries(&app)[0].2 == 2 && deliveries(&app)[0].1 == "pending"
    });
    let now = buildxpert::clock::Clock::now_ms(app.clock.as_ref());
    let delay = deliveries(&app)[0].3 - now;
    assert!((48_000..=72_000).contains(&delay), "second retry after 60 s ±20 %: {delay}");
    app.clock.advance_ms(delay + 1);
    app.app().hub.kick_worker();
    eventually("third attempt sent", || deliveries(&app)[0].1 == "sent");
    assert_eq!(deliveries(&app)[0].2, 3);
}

fn register_via(app: &TestApp, fake: &FakeServer, digits: &str) -> Session {
    let phone = format!("+91{digits}");
    let r = app.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "Test user", "phone": digits, "password": "s3cret-pass", "role": "customer"}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let code = fake
        .received()
        .iter()
        .rev()
        .find_map(|r| {
            let f = url_decode_form(&r.body_str());
            (f.get("To").map(String::as_str) == Some(phone.as_str()))
                .then(|| f["Body"].split_whitespace().next().unwrap_or("").to_string())
        })
        .expect("code texted");
    let r = app.post("/api/v1/auth/verify", None, json!({"phone": phone, "role": "customer", "code": code}));
    assert_eq!(r.status, 201, "{}", r.body);
    Session::from(&r)
}

#[test]
fn a_permanent_failure_dead_letters_and_an_admin_retry_sends_it() {
    let fail = Arc::new(AtomicUsize::new(1));
    let f2 = fail.clone();
    let (fake, calls) = scripted_twilio(Arc::new(move |_| if f2.load(Ordering::SeqCst) == 1 { 400 } else { 201 }));
    let app = app_with_twilio(&fake, &[]);
    let a = register_via(&app, &fake, "9876507031");
    change_password(&app, &a);
    eventually("dead after one permanent error (no e-mail channel to fall back to)", || {
        deliveries(&app).first().is_some_and(|d| d.1 == "dead")
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1, "permanent errors are not retried");
    let admin = app.admin("9876507030");
    let dead = app.call("GET", "/api/v1/admin/notifications?status=dead", Some(&admin.access), None);
    assert_eq!(dead.status, 200, "{}", dead.body);
    let item = dead.json()["items"][0].clone();
    assert_eq!(item["channel"], "sms");
    assert_eq!(item["status"], "dead");
    assert!(item["lastError"].as_str().unwrap().contains("21610"));
    let id = item["id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/api/v1/admin/notifications/{id}/retry"), Some(&a.access), json!({})).status, 403);
    fail.store(0, Ordering::SeqCst);
    let r = app.post(&format!("/api/v1/admin/notifications/{id}/retry"), Some(&admin.access), json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("sent after the retry", || deliveries(&app)[0].1 == "sent");
    let again = app.post(&format!("/api/v1/admin/notifications/{id}/retry"), Some(&admin.access), json!({}));
    assert_eq!((again.status, again.code()), (409, "invalid_transition".to_string()));
    assert_eq!(app.post("/api/v1/admin/notifications/dlv_nope/retry", Some(&admin.access), json!({})).status, 404);
    assert_eq!(app.call("GET", "/api/v1/admin/notifications?status=odd", Some(&admin.access), None).status, 400);
}

#[test]
fn push_falls_back_to_sms_when_expo_says_device_not_registered() {
    let expo = FakeServer::start(|rec, _| {
        let msgs: serde_json::Value = serde_json::from_slice(&rec.body).unwrap_or_default();
        let tickets: Vec<serde_json::Value> = msgs
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|_| json!({"status": "error", "message": "not registered", "details": {"error": "DeviceNotRegistered"}}))
                    .collect()
            })
            .unwrap_or_default();
        Reply::json(200, json!({"data": tickets}))
    });
    let app = crate::support::spawn_app_with(&[
        ("BUILDXPERT_PUSH__PROVIDER", "expo"),
        ("BUILDXPERT_PUSH__EXPO__BASE_URL", expo.url.as_str()),
    ]);
    let a = app.register("customer", "9876507041");
    let r = app.post(
        "/api/v1/me/devices",
        Some(&a.access),
        json!({"pushToken": "ExponentPushToken[abc]", "platform": "android"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    change_password(&app, &a);
    eventually("fell back to SMS and sent", || {
        let d = deliveries(&app);
        d.len() == 2 && d[0].0 == "push" && d[0].1 == "failed" && d[1].0 == "sms" && d[1].1 == "sent"
    });
    let req = &expo.received()[0];
    assert_eq!(req.path, "/--/api/v2/push/send");
    let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(sent[0]["to"], "ExponentPushToken[abc]");
    assert_eq!(sent[0]["title"], "Password changed");
    let disabled: Option<i64> = app
        .app()
        .db
        .read(|c| c.query_row("SELECT disabled_at FROM devices", [], |r| r.get(0)).map_err(DbError::from))
        .unwrap();
    assert!(disabled.is_some(), "DeviceNotRegistered disables the token");
}

#[test]
fn channel_preferences_are_honoured() {
    let app = spawn_app();
    let a = app.register("customer", "9876507051");
    let r = app.call(
        "PUT",
        "/api/v1/me/notification-settings",
        Some(&a.access),
        Some(json!({"bookingUpdates": false, "reminders": true, "calls": true, "marketing": false, "channels": {"push": true, "sms": false, "email": true}})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    change_password(&app, &a);
    app.app()
        .db
        .write(|tx| {
            buildxpert::notify::outbox::notify(
                tx,
                app.app(),
                &a.user_id,
                buildxpert::bookings::notices::ACCEPTED,
                json!({}),
            )
        })
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(deliveries(&app).is_empty(), "SMS off and no other channel: in-app only");
    let inbox = app.call("GET", "/api/v1/notifications", Some(&a.access), None).json();
    assert_eq!(inbox["items"].as_array().unwrap().len(), 2, "the in-app notification always exists");
}

#[test]
fn operator_webhooks_are_signed_per_standard_webhooks_and_filtered_by_pattern() {
    use base64::Engine;
    use hmac::Mac;
    let hook = FakeServer::start(|_, _| Reply::json(200, json!({})));
    let key = b"0123456789abcdef0123456789abcdef";
    let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key));
    let toml =
        format!("[[webhooks]]\nurl = \"{}/hooks/bx\"\nsecret = \"{secret}\"\nevents = [\"booking.*\"]\n", hook.url);
    let app = spawn_app_with_file(&toml, &[]);
    let a = app.register("customer", "9876507061");
    for t in ["booking.created", "payment.updated"] {
        app.app()
            .db
            .write(|tx| {
                buildxpert::notify::outbox::event(tx, app.app(), &[&a.user_id], t, &json!({"booking": {"id": "bk_1"}}))
            })
            .unwrap();
    }
    eventually("delivered", || {
        hook.received().len() == 1 && deliveries(&app).iter().any(|d| d.0 == "webhook" && d.1 == "sent")
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(hook.received().len(), 1, "payment.* does not match booking.*");
    let r = &hook.received()[0];
    assert_eq!(r.path, "/hooks/bx");
    let id = r.header("webhook-id").unwrap();
    let ts = r.header("webhook-timestamp").unwrap();
    let body = r.body_str();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expect = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(r.header("webhook-signature"), Some(expect.as_str()));
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["type"], "booking.created");
    assert_eq!(j["data"]["booking"]["id"], "bk_1");
    assert!(j["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn e_mail_carries_the_notification_when_it_is_the_users_channel() {
    let sink = crate::support::smtp_sink::SmtpSink::start(&[], &[]);
    let port = sink.port.to_string();
    let app = crate::support::spawn_app_with(&[
        ("BUILDXPERT_EMAIL__PROVIDER", "smtp"),
        ("BUILDXPERT_EMAIL__SMTP__HOST", "127.0.0.1"),
        ("BUILDXPERT_EMAIL__SMTP__PORT", port.as_str()),
        ("BUILDXPERT_EMAIL__SMTP__TLS", "none"),
        ("BUILDXPERT_EMAIL__FROM", "BuildXpert <noreply@bx.example>"),
    ]);
    let a = app.register("customer", "9876507071");
    assert_eq!(
        app.call("PATCH", "/api/v1/me", Some(&a.access), Some(json!({"email": "asha@example.com"}))).status,
        200
    );
    let r = app.call(
        "PUT",
        "/api/v1/me/notification-settings",
        Some(&a.access),
        Some(json!({"bookingUpdates": true, "reminders": true, "calls": true, "marketing": false, "channels": {"push": true, "sms": false, "email": true}})),
    );
    assert_eq!(r.status, 200);
    change_password(&app, &a);
    eventually("mailed", || deliveries(&app).iter().any(|d| d.0 == "email" && d.1 == "sent"));
    let mail = sink.received();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].rcpt_to, vec!["asha@example.com".to_string()]);
    assert!(mail[0].data.contains("Subject: Password changed"), "{}", mail[0].data);
    assert!(mail[0].data.contains("text/plain") && mail[0].data.contains("text/html"));
    assert_eq!(notices_to(&app, "+919876507071"), 0, "SMS was switched off");
}
