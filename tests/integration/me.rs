//! /api/v1/me: profile, deletion, export, addresses, devices and notification settings.

use crate::support::{spawn_app, Resp, Session, TestApp};
use serde_json::{json, Value};

const PASSWORD: &str = "s3cret-pass";

/// The `fields` of a 400 validation error (asserts the code).
fn fields(r: &Resp) -> Value {
    assert_eq!((r.status, r.code().as_str()), (400, "validation_failed"), "{}", r.body);
    r.json()["error"]["fields"].clone()
}

fn address(label: &str) -> Value {
    json!({"label": label, "line": "12 MG Road", "city": "Bengaluru", "state": "Karnataka", "pincode": "560001"})
}

fn me(app: &TestApp, s: &Session) -> Value {
    let r = app.call("GET", "/api/v1/me", Some(&s.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn export(app: &TestApp, s: &Session) -> Value {
    let r = app.call("GET", "/api/v1/me/export", Some(&s.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn login(app: &TestApp, phone: &str, role: &str) -> Resp {
    app.post("/api/v1/auth/login", None, json!({"phone": phone, "password": PASSWORD, "role": role}))
}

const ROUTES: [(&str, &str); 12] = [
    ("GET", "/api/v1/me"),
    ("PATCH", "/api/v1/me"),
    ("DELETE", "/api/v1/me"),
    ("GET", "/api/v1/me/export"),
    ("GET", "/api/v1/me/addresses"),
    ("POST", "/api/v1/me/addresses"),
    ("PATCH", "/api/v1/me/addresses/adr_x"),
    ("DELETE", "/api/v1/me/addresses/adr_x"),
    ("POST", "/api/v1/me/devices"),
    ("DELETE", "/api/v1/me/devices/tok"),
    ("GET", "/api/v1/me/notification-settings"),
    ("PUT", "/api/v1/me/notification-settings"),
];

#[test]
fn every_me_route_needs_a_valid_token() {
    let app = spawn_app();
    let s = app.register("customer", "9876500001");
    let forged = format!("{}x", s.access);
    for (method, path) in ROUTES {
        for token in [None, Some("not-a-jwt"), Some(forged.as_str())] {
            let r = app.call(method, path, token, Some(json!({})));
            assert_eq!(r.status, 401, "{method} {path} with {token:?}: {}", r.body);
            assert_eq!(r.code(), "unauthenticated");
            assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
        }
    }
    // Nothing was deleted by the unauthenticated DELETE /me.
    assert_eq!(me(&app, &s)["id"], s.user_id.as_str());
}

#[test]
fn any_role_reads_its_profile() {
    let app = spawn_app();
    let c = app.register("customer", "9876500001");
    let p = app.register("provider", "9876500001");
    let a = app.admin("9876500009");
    for (s, role) in [(&c, "customer"), (&p, "provider"), (&a, "admin")] {
        let u = me(&app, s);
        assert_eq!((u["id"].as_str(), u["role"].as_str()), (Some(s.user_id.as_str()), Some(role)));
    }
    let u = me(&app, &c);
    assert_eq!(u["fullName"], "Test customer");
    assert_eq!(u["phone"], "+919876500001");
    assert_eq!(u["email"], Value::Null);
    assert_eq!(u["verified"], true);
    assert!(u["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(u.get("passwordHash").is_none());
    let r = app.call("GET", "/api/v1/me", Some(&c.access), None);
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
}

#[test]
fn patch_me_updates_name_and_email_and_clears_email() {
    let app = spawn_app();
    let s = app.register("customer", "9876500001");
    let r = app.call(
        "PATCH",
        "/api/v1/me",
        Some(&s.access),
        Some(json!({"fullName": "  Asha Rao ", "email": " Asha@Example.COM "})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let u = r.json();
    assert_eq!((u["fullName"].as_str(), u["email"].as_str()), (Some("Asha Rao"), Some("asha@example.com")));
    assert_eq!(me(&app, &s), u);

    // Only the given fields change.
    let r = app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"fullName": "Asha R"})));
    assert_eq!((r.json()["fullName"].as_str(), r.json()["email"].as_str()), (Some("Asha R"), Some("asha@example.com")));
    let r = app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({})));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["fullName"], "Asha R");

    // "" and null both clear the e-mail.
    let r = app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"email": ""})));
    assert_eq!((r.status, r.json()["email"].clone()), (200, Value::Null));
    app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"email": "a@example.com"})));
    let r = app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"email": null})));
    assert_eq!((r.status, r.json()["email"].clone()), (200, Value::Null));
    assert_eq!(me(&app, &s)["email"], Value::Null);

    let log = export(&app, &s)["auditLog"].clone();
    assert!(log.as_array().unwrap().iter().any(|e| e["action"] == "profile.updated"));
}

#[test]
fn bad_patch_me_is_400_per_field_and_changes_nothing() {
    let app = spawn_app();
    let s = app.register("customer", "9876500001");
    app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"email": "keep@example.com"})));
    let before = me(&app, &s);

    let f = fields(&app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"fullName": "  ", "email": "nope"}))));
    assert_eq!(f["fullName"], "is required");
    assert_eq!(f["email"], "must be a valid e-mail address");
    let f = fields(&app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"fullName": "x".repeat(101)}))));
    assert!(f.get("fullName").is_some());
    // A good field next to a bad one is not applied either.
    let f = fields(&app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"fullName": "New", "email": "a@b"}))));
    assert!(f.get("email").is_some() && f.get("fullName").is_none());
    let f = fields(&app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"fullName": "New", "phone": "1"}))));
    assert_eq!(f["phone"], "is not a known field");
    let f = fields(&app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"role": "admin"}))));
    assert_eq!(f["role"], "is not a known field");
    let f = fields(&app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"fullName": 7}))));
    assert!(f.get("fullName").is_some());
    let r = app.call("PATCH", "/api/v1/me", Some(&s.access), None);
    assert_eq!(r.status, 415);
    assert_eq!(me(&app, &s), before);
}

#[test]
fn patch_me_email_taken_by_same_role_is_409() {
    let app = spawn_app();
    let a = app.register("customer", "9876500001");
    let b = app.register("customer", "9876500002");
    let p = app.register("provider", "9876500003");
    let r = app.call("PATCH", "/api/v1/me", Some(&a.access), Some(json!({"email": "shared@example.com"})));
    assert_eq!(r.status, 200);
    let before = me(&app, &b);
    let r =
        app.call("PATCH", "/api/v1/me", Some(&b.access), Some(json!({"fullName": "B", "email": "SHARED@example.com"})));
    assert_eq!((r.status, r.code().as_str()), (409, "already_exists"));
    assert_eq!(me(&app, &b), before, "a refused PATCH changes nothing");
    // Another role may use it; setting your own address again is fine.
    let r = app.call("PATCH", "/api/v1/me", Some(&p.access), Some(json!({"email": "shared@example.com"})));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.call("PATCH", "/api/v1/me", Some(&a.access), Some(json!({"email": "shared@example.com"})));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn delete_me_anonymises_and_ends_every_session() {
    let app = spawn_app();
    let s = app.register("customer", "9876500001");
    let other = login(&app, &s.phone, "customer");
    assert_eq!(other.status, 200);
    let other = Session::from(&other);
    app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"email": "gone@example.com"})));
    assert_eq!(app.call("POST", "/api/v1/me/addresses", Some(&s.access), Some(address("Home"))).status, 201);
    let dev = json!({"pushToken": "ExponentPushToken[gone]", "platform": "ios"});
    assert_eq!(app.call("POST", "/api/v1/me/devices", Some(&s.access), Some(dev.clone())).status, 201);

    let r = app.call("DELETE", "/api/v1/me", Some(&s.access), None);
    assert_eq!(r.status, 204, "{}", r.body);

    for t in [&s.access, &other.access] {
        let r = app.call("GET", "/api/v1/me", Some(t), None);
        assert_eq!((r.status, r.code().as_str()), (401, "unauthenticated"));
    }
    let r = app.post("/api/v1/auth/refresh", None, json!({"refreshToken": s.refresh}));
    assert_eq!(r.status, 401);
    let r = login(&app, &s.phone, "customer");
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_credentials"));

    // The row stays (for the other party of past bookings) but holds nothing personal.
    let row = app
        .app()
        .db
        .read(|c| {
            c.query_row(
                "SELECT full_name, phone, email, password_hash, deleted_at IS NOT NULL,
                    (SELECT COUNT(*) FROM addresses WHERE user_id = ?1) + (SELECT COUNT(*) FROM devices WHERE user_id = ?1),
                    (SELECT COUNT(*) FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL),
                    (SELECT COUNT(*) FROM audit_log WHERE target = ?1 AND action = 'account.deleted')
                 FROM users WHERE id = ?1",
                [&s.user_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, bool>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, i64>(7)?,
                    ))
                },
            )
            .map_err(buildxpert::db::DbError::from)
        })
        .expect("user row");
    let deleted_phone = format!("deleted:{}", s.user_id);
    assert_eq!(row, ("Deleted user".into(), deleted_phone, None, "!".into(), true, 0, 0, 1));

    // The phone and e-mail are free again: a new account starts empty.
    let again = app.register("customer", "9876500001");
    assert_ne!(again.user_id, s.user_id);
    let u = me(&app, &again);
    assert_eq!((u["phone"].as_str(), u["email"].clone()), (Some("+919876500001"), Value::Null));
    let r = app.call("PATCH", "/api/v1/me", Some(&again.access), Some(json!({"email": "gone@example.com"})));
    assert_eq!(r.status, 200, "{}", r.body);
    let x = export(&app, &again);
    assert_eq!((x["addresses"].clone(), x["devices"].clone()), (json!([]), json!([])));
    assert_eq!(login(&app, &s.phone, "customer").status, 200);
}

#[test]
fn export_holds_everything_about_the_caller_and_no_secrets() {
    let app = spawn_app();
    let s = app.register("customer", "9876500001");
    let stranger = app.register("customer", "9876500002");
    let second = Session::from(&login(&app, &s.phone, "customer"));
    assert_eq!(app.post("/api/v1/auth/logout", Some(&second.access), json!({})).status, 204);
    app.call("PATCH", "/api/v1/me", Some(&s.access), Some(json!({"email": "me@example.com"})));
    app.call("POST", "/api/v1/me/addresses", Some(&s.access), Some(address("Home")));
    app.call("POST", "/api/v1/me/devices", Some(&s.access), Some(json!({"pushToken": "tok-1", "platform": "android"})));
    app.call("POST", "/api/v1/me/addresses", Some(&stranger.access), Some(address("Stranger")));

    let r = app.call("GET", "/api/v1/me/export", Some(&s.access), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let x = r.json();
    assert_eq!(x["user"]["id"], s.user_id.as_str());
    assert_eq!(x["user"]["email"], "me@example.com");
    let addrs = x["addresses"].as_array().unwrap();
    assert_eq!(addrs.len(), 1);
    assert_eq!(addrs[0]["label"], "Home");
    let dev = &x["devices"][0];
    assert_eq!((dev["pushToken"].as_str(), dev["platform"].as_str()), (Some("tok-1"), Some("android")));
    assert!(dev["createdAt"].is_string());
    assert_eq!(x["notificationSettings"]["marketing"], false);

    let sessions = x["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["revoked"] == true).count(), 1);
    for k in ["id", "device", "ip", "createdAt", "lastSeenAt"] {
        assert!(sessions[0][k].is_string(), "sessions[].{k}");
    }

    let log = x["auditLog"].as_array().unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["login.succeeded", "logout", "profile.updated", "account.exported"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert_eq!(actions[0], "account.exported", "newest first");
    let pos = |a: &str| actions.iter().position(|x| *x == a).unwrap();
    assert!(pos("profile.updated") < pos("logout"));
    assert!(log.iter().all(|e| e["at"].is_string() && e.as_object().unwrap().len() == 3));

    let body = r.body.to_lowercase();
    for secret in ["password", "hash", "$argon2", &s.refresh.to_lowercase(), &second.refresh.to_lowercase()] {
        assert!(!body.contains(secret), "export leaks {secret}");
    }
    assert!(!r.body.contains("Stranger") && !r.body.contains(&stranger.user_id));
}

#[test]
fn addresses_crud_newest_first_and_at_most_five() {
    let app = spawn_app();
    let s = app.register("customer", "9876500001");
    let r = app.call("GET", "/api/v1/me/addresses", Some(&s.access), None);
    assert_eq!(r.json(), json!({"items": [], "nextCursor": null}));

    let mut ids = Vec::new();
    for i in 1..=5 {
        let r = app.call("POST", "/api/v1/me/addresses", Some(&s.access), Some(address(&format!("Place {i}"))));
        assert_eq!(r.status, 201, "{}", r.body);
        let a = r.json();
        assert!(a["id"].as_str().unwrap().starts_with("adr_"));
        assert_eq!(a["createdAt"], a["updatedAt"]);
        ids.push(a["id"].as_str().unwrap().to_string());
    }
    let r = app.call("POST", "/api/v1/me/addresses", Some(&s.access), Some(address("Sixth")));
    assert_eq!((r.status, r.code().as_str()), (409, "limit_reached"));

    let list = app.call("GET", "/api/v1/me/addresses", Some(&s.access), None).json();
    let labels: Vec<&str> = list["items"].as_array().unwrap().iter().map(|a| a["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["Place 5", "Place 4", "Place 3", "Place 2", "Place 1"]);
    assert_eq!(list["nextCursor"], Value::Null);

    app.clock.advance_secs(60);
    let path = format!("/api/v1/me/addresses/{}", ids[0]);
    let r = app.call("PATCH", &path, Some(&s.access), Some(json!({"city": "  Mysuru ", "pincode": "570001"})));
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    assert_eq!(
        (a["city"].as_str(), a["pincode"].as_str(), a["label"].as_str()),
        (Some("Mysuru"), Some("570001"), Some("Place 1"))
    );
    assert_ne!(a["updatedAt"], a["createdAt"]);

    assert_eq!(app.call("DELETE", &path, Some(&s.access), None).status, 204);
    assert_eq!(app.call("DELETE", &path, Some(&s.access), None).code(), "not_found");
    assert_eq!(app.call("PATCH", &path, Some(&s.access), Some(json!({"city": "X"}))).status, 404);
    let r = app.call("POST", "/api/v1/me/addresses", Some(&s.access), Some(address("Again")));
    assert_eq!(r.status, 201, "a freed slot can be used");
}

#[test]
fn address_validation_names_every_bad_field_and_changes_nothing() {
    let app = spawn_app();
    let s = app.register("customer", "9876500001");
    let post = |body: Value| app.call("POST", "/api/v1/me/addresses", Some(&s.access), Some(body));

    let f = fields(&post(json!({})));
    for k in ["label", "line", "city", "state", "pincode"] {
        assert_eq!(f[k], "is required", "{k}");
    }
    let f = fields(&post(
        json!({"label": " ", "line": "l".repeat(201), "city": "c".repeat(81), "state": "s".repeat(81), "pincode": "12345"}),
    ));
    assert_eq!(f.as_object().unwrap().len(), 5, "{f}");
    let mut ok = address("x".repeat(40).as_str());
    assert_eq!(post(ok.clone()).status, 201, "40-character label is fine");
    ok["label"] = json!("x".repeat(41));
    assert!(fields(&post(ok)).get("label").is_some());
    for pin in ["1234567", "56000a", "56 001", "", "５６０００１"] {
        let mut b = address("Home");
        b["pincode"] = json!(pin);
        assert!(fields(&post(b)).get("pincode").is_some(), "pincode {pin:?}");
    }
    let mut b = address("Home");
    b["label"] = json!("a\u{7}b");
    assert!(fields(&post(b)).get("label").is_some());
    let mut b = address("Home");
    b["pincode"] = json!(560001);
    assert!(fields(&post(b)).get("pincode").is_some());
    let mut b = address("Home");
    b["country"] = json!("IN");
    assert_eq!(fields(&post(b))["country"], "is not a known field");

    let list = app.call("GET", "/api/v1/me/addresses", Some(&s.access), None).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "only the valid POST stored anything");
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/me/addresses/{id}");
    let before = list["items"][0].clone();
    let f = fields(&app.call("PATCH", &path, Some(&s.access), Some(json!({"city": "Pune", "pincode": "4110"}))));
    assert!(f.get("pincode").is_some() && f.get("city").is_none());
    let f = fields(&app.call("PATCH", &path, Some(&s.access), Some(json!({"userId": "usr_x"}))));
    assert!(f.get("userId").is_some());
    let after = app.call("GET", "/api/v1/me/addresses", Some(&s.access), None).json();
    assert_eq!(after["items"][0], before);
}

#[test]
fn another_users_address_is_404() {
    let app = spawn_app();
    let a = app.register("customer", "9876500001");
    let b = app.register("provider", "9876500002");
    let r = app.call("POST", "/api/v1/me/addresses", Some(&a.access), Some(address("Home")));
    let mine = r.json();
    let path = format!("/api/v1/me/addresses/{}", mine["id"].as_str().unwrap());

    let r = app.call("PATCH", &path, Some(&b.access), Some(json!({"label": "Mine now"})));
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = app.call("DELETE", &path, Some(&b.access), None);
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = app.call("DELETE", "/api/v1/me/addresses/adr_missing", Some(&a.access), None);
    assert_eq!(r.status, 404);

    let b_list = app.call("GET", "/api/v1/me/addresses", Some(&b.access), None).json();
    assert_eq!(b_list["items"], json!([]));
    let a_list = app.call("GET", "/api/v1/me/addresses", Some(&a.access), None).json();
    assert_eq!(a_list["items"], json!([mine]));
}

#[test]
fn devices_register_idempotently_move_between_users_and_forget() {
    let app = spawn_app();
    let a = app.register("customer", "9876500001");
    let b = app.register("customer", "9876500002");
    let token = "ExponentPushToken[abc-123_XY]";
    let path = "/api/v1/me/devices/ExponentPushToken%5Babc-123_XY%5D";
    let body = json!({"pushToken": token, "platform": "ios"});

    let r = app.call("POST", "/api/v1/me/devices", Some(&a.access), Some(body.clone()));
    assert_eq!(r.status, 201, "{}", r.body);
    let first = r.json();
    assert_eq!((first["pushToken"].as_str(), first["platform"].as_str()), (Some(token), Some("ios")));
    app.clock.advance_secs(5);
    let r = app.call("POST", "/api/v1/me/devices", Some(&a.access), Some(body.clone()));
    assert_eq!((r.status, r.json()), (201, first.clone()), "re-registering is idempotent");
    assert_eq!(export(&app, &a)["devices"].as_array().unwrap().len(), 1);

    // The phone changes hands: B takes the token over and A no longer holds it.
    let r = app.call(
        "POST",
        "/api/v1/me/devices",
        Some(&b.access),
        Some(json!({"pushToken": token, "platform": "android"})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["platform"], "android");
    assert_eq!(export(&app, &a)["devices"], json!([]));
    assert_eq!(export(&app, &b)["devices"][0]["pushToken"], token);
    let r = app.call("DELETE", path, Some(&a.access), None);
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    assert_eq!(export(&app, &b)["devices"].as_array().unwrap().len(), 1, "A's failed delete left B's device");

    assert_eq!(app.call("DELETE", path, Some(&b.access), None).status, 204);
    assert_eq!(app.call("DELETE", path, Some(&b.access), None).status, 404);
    assert_eq!(export(&app, &b)["devices"], json!([]));
}

#[test]
fn devices_are_capped_dropping_the_oldest() {
    let app = spawn_app();
    let s = app.register("customer", "9876500001");
    for i in 0..12 {
        let r = app.call(
            "POST",
            "/api/v1/me/devices",
            Some(&s.access),
            Some(json!({"pushToken": format!("tok-{i}"), "platform": "web"})),
        );
        assert_eq!(r.status, 201);
    }
    let devices = export(&app, &s)["devices"].clone();
    let tokens: Vec<&str> = devices.as_array().unwrap().iter().map(|d| d["pushToken"].as_str().unwrap()).collect();
    assert_eq!(tokens.len(), 10);
    assert!(tokens.contains(&"tok-11") && !tokens.contains(&"tok-0") && !tokens.contains(&"tok-1"));
}

#[test]
fn device_validation() {
    let app = spawn_app();
    let s = app.register("customer", "9876500001");
    let post = |body: Value| app.call("POST", "/api/v1/me/devices", Some(&s.access), Some(body));
    let f = fields(&post(json!({"pushToken": "", "platform": "blackberry"})));
    assert!(f.get("pushToken").is_some() && f.get("platform").is_some());
    for bad in ["t".repeat(256), "has space".into(), "a/b".into(), "tab\there".into(), "ü-token".into()] {
        assert!(fields(&post(json!({"pushToken": bad, "platform": "web"}))).get("pushToken").is_some(), "{bad:?}");
    }
    assert!(fields(&post(json!({"pushToken": "t"}))).get("platform").is_some());
    assert!(fields(&post(json!({"platform": "ios"}))).get("pushToken").is_some());
    assert!(fields(&post(json!({"pushToken": "t", "platform": "IOS"}))).get("platform").is_some());
    assert!(fields(&post(json!({"pushToken": "t", "platform": "ios", "userId": "x"}))).get("userId").is_some());
    assert_eq!(export(&app, &s)["devices"], json!([]), "nothing stored");
    assert_eq!(post(json!({"pushToken": "t".repeat(255), "platform": "web"})).status, 201);
}

#[test]
fn notification_settings_default_round_trip_and_validate() {
    let app = spawn_app();
    let a = app.register("customer", "9876500001");
    let b = app.register("provider", "9876500002");
    let path = "/api/v1/me/notification-settings";
    let defaults = json!({"bookingUpdates": true, "reminders": true, "calls": true, "marketing": false,
        "channels": {"push": true, "sms": true, "email": true}});
    let r = app.call("GET", path, Some(&a.access), None);
    assert_eq!((r.status, r.json()), (200, defaults.clone()));

    let mine = json!({"bookingUpdates": false, "reminders": true, "calls": false, "marketing": true,
        "channels": {"push": false, "sms": true, "email": false}});
    let r = app.call("PUT", path, Some(&a.access), Some(mine.clone()));
    assert_eq!((r.status, r.json()), (200, mine.clone()));
    assert_eq!(app.call("GET", path, Some(&a.access), None).json(), mine);
    assert_eq!(app.call("GET", path, Some(&b.access), None).json(), defaults, "per user");
    assert_eq!(export(&app, &a)["notificationSettings"], mine);

    let mut missing = mine.clone();
    missing.as_object_mut().unwrap().remove("calls");
    assert_eq!(fields(&app.call("PUT", path, Some(&a.access), Some(missing)))["calls"], "is required");
    let mut missing = defaults.clone();
    missing["channels"].as_object_mut().unwrap().remove("sms");
    assert!(fields(&app.call("PUT", path, Some(&a.access), Some(missing))).get("channels.sms").is_some());
    let mut wrong = defaults.clone();
    wrong["marketing"] = json!("yes");
    assert!(fields(&app.call("PUT", path, Some(&a.access), Some(wrong))).get("marketing").is_some());
    let mut wrong = defaults.clone();
    wrong["channels"]["push"] = json!(1);
    assert!(fields(&app.call("PUT", path, Some(&a.access), Some(wrong))).get("channels.push").is_some());
    let mut extra = defaults.clone();
    extra["channels"]["whatsapp"] = json!(true);
    assert!(fields(&app.call("PUT", path, Some(&a.access), Some(extra))).get("channels.whatsapp").is_some());
    let mut extra = defaults.clone();
    extra["digest"] = json!(true);
    assert!(fields(&app.call("PUT", path, Some(&a.access), Some(extra))).get("digest").is_some());
    assert_eq!(app.call("GET", path, Some(&a.access), None).json(), mine, "bad PUTs changed nothing");
}

#[test]
fn unsupported_methods_on_me_paths_are_405() {
    let app = spawn_app();
    let s = app.register("customer", "9876500001");
    for (method, path) in [
        ("PUT", "/api/v1/me"),
        ("POST", "/api/v1/me/export"),
        ("DELETE", "/api/v1/me/addresses"),
        ("GET", "/api/v1/me/devices"),
        ("PATCH", "/api/v1/me/notification-settings"),
    ] {
        let r = app.call(method, path, Some(&s.access), Some(json!({})));
        assert_eq!((r.status, r.code().as_str()), (405, "method_not_allowed"), "{method} {path}");
        assert!(r.header("Allow").is_some());
    }
}
