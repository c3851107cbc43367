//! Signup with SMS one-time codes: validation, duplicates, code expiry, lockout, resend limits,
//! and the Twilio wire format.

use crate::support::{spawn_app, spawn_app_with, TWILIO_SID};
use serde_json::json;

fn signup(app: &crate::support::TestApp, phone: &str, role: &str) -> crate::support::Resp {
    app.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "Asha Rao", "phone": phone, "password": "s3cret-pass", "role": role}),
    )
}

#[test]
fn signup_texts_a_code_over_twilio_and_verify_creates_the_account() {
    let app = spawn_app();
    let r = app.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "  Asha Rao ", "phone": "+91 98765 43210", "email": "Asha@Example.com", "password": "s3cret-pass", "role": "customer"}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json(), json!({"otpSent": true, "expiresInSeconds": 300}));
    let sms = app.twilio.received();
    assert_eq!(sms.len(), 1);
    let m = &sms[0];
    assert_eq!(m.method, "POST");
    assert_eq!(m.path, format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"));
    assert!(m.header("Content-Type").unwrap().starts_with("application/x-www-form-urlencoded"));
    let expect_auth = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{TWILIO_SID}:twilio-test-token"))
    );
    assert_eq!(m.header("Authorization"), Some(expect_auth.as_str()));
    let form = crate::support::url_decode_form(&m.body_str());
    assert_eq!(form["To"], "+919876543210");
    assert_eq!(form["From"], "+14155550100");
    let code = app.last_code("+919876543210").unwrap();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));

    let r = app.post("/api/v1/auth/verify", None, json!({"phone": "09876543210", "role": "customer", "code": code}));
    assert_eq!(r.status, 201, "{}", r.body);
    let j = r.json();
    assert_eq!(j["tokenType"], "Bearer");
    assert_eq!(j["expiresIn"], 900);
    assert!(j["refreshToken"].as_str().unwrap().len() > 40);
    let u = &j["user"];
    assert_eq!(u["fullName"], "Asha Rao");
    assert_eq!(u["phone"], "+919876543210");
    assert_eq!(u["email"], "asha@example.com");
    assert_eq!(u["role"], "customer");
    assert_eq!(u["verified"], true);
    assert!(u["id"].as_str().unwrap().starts_with("usr_"));
    assert!(u.get("passwordHash").is_none());
    // The access token works; the code is single-use.
    let tok = j["accessToken"].as_str().unwrap();
    assert_eq!(app.call("GET", "/api/v1/auth/sessions", Some(tok), None).status, 200);
    let again =
        app.post("/api/v1/auth/verify", None, json!({"phone": "09876543210", "role": "customer", "code": code}));
    assert_eq!((again.status, again.code()), (400, "invalid_code".to_string()));
}

#[test]
fn signup_validation_names_every_bad_field_and_stores_nothing() {
    let app = spawn_app();
    let r = app.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "", "phone": "12345", "email": "nope", "password": "1234567", "role": "admin"}),
    );
    assert_eq!((r.status, r.code()), (400, "validation_failed".to_string()));
    let f = &r.json()["error"]["fields"];
    for k in ["fullName", "phone", "email", "password", "role"] {
        assert!(f[k].is_string(), "{k} missing in {f}");
    }
    let r = app.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "A", "phone": "9876543210", "password": "12345678", "role": "customer"}),
    );
    assert_eq!(r.json()["error"]["fields"]["password"], "must not be all digits");
    let r = app.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "A", "phone": "9876543210", "password": "abcdefgh1", "role": "customer", "isAdmin": true}),
    );
    assert_eq!(r.status, 400, "unknown fields are refused");
    assert!(app.twilio.received().is_empty(), "no SMS for bad input");
    let raw =
        crate::support::request("POST", &format!("{}/api/v1/auth/signup", app.url), &[], Some(("text/plain", b"hi")));
    assert_eq!((raw.status, raw.code()), (415, "unsupported_media_type".to_string()));
    let raw = crate::support::request(
        "POST",
        &format!("{}/api/v1/auth/signup", app.url),
        &[],
        Some(("application/json", b"{\"a\":")),
    );
    assert_eq!((raw.status, raw.code()), (400, "invalid_json".to_string()));
}

#[test]
fn taken_phone_for_a_role_or_email_is_409_and_other_roles_are_free() {
    let app = spawn_app();
    let s = app.register("customer", "9876500011");
    assert_eq!(s.role, "customer");
    let r = signup(&app, "9876500011", "customer");
    assert_eq!((r.status, r.code()), (409, "already_exists".to_string()));
    assert_eq!(signup(&app, "9876500011", "provider").status, 202, "one account per (phone, role)");
    let r = app.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "B", "phone": "9876500012", "email": "taken@example.com", "password": "s3cret-pass", "role": "provider"}),
    );
    assert_eq!(r.status, 202);
    let code = app.last_code("+919876500012").unwrap();
    assert_eq!(
        app.post("/api/v1/auth/verify", None, json!({"phone": "9876500012", "role": "provider", "code": code})).status,
        201
    );
    let r = app.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "C", "phone": "9876500013", "email": "TAKEN@example.com", "password": "s3cret-pass", "role": "provider"}),
    );
    assert_eq!((r.status, r.code()), (409, "already_exists".to_string()));
}

#[test]
fn five_wrong_codes_lock_the_phone_for_fifteen_minutes() {
    let app = spawn_app();
    assert_eq!(signup(&app, "9876500021", "customer").status, 202);
    let code = app.last_code("+919876500021").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for i in 1..=5 {
        let r =
            app.post("/api/v1/auth/verify", None, json!({"phone": "9876500021", "role": "customer", "code": wrong}));
        assert_eq!((r.status, r.code()), (400, "invalid_code".to_string()), "attempt {i}");
    }
    let r = app.post("/api/v1/auth/verify", None, json!({"phone": "9876500021", "role": "customer", "code": code}));
    assert_eq!((r.status, r.code()), (429, "otp_locked".to_string()));
    let retry: i64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((890..=900).contains(&retry), "{retry}");
    let r = app.post("/api/v1/auth/otp/resend", None, json!({"phone": "9876500021", "role": "customer"}));
    assert_eq!(r.status, 429, "no new codes while locked");
    app.clock.advance_secs(15 * 60 + 1);
    let r = app.post("/api/v1/auth/otp/resend", None, json!({"phone": "9876500021", "role": "customer"}));
    assert_eq!(r.status, 202);
    let fresh = app.last_code("+919876500021").unwrap();
    let r = app.post("/api/v1/auth/verify", None, json!({"phone": "9876500021", "role": "customer", "code": fresh}));
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn codes_expire_after_five_minutes_and_resend_replaces_them() {
    let app = spawn_app();
    signup(&app, "9876500031", "provider");
    let first = app.last_code("+919876500031").unwrap();
    app.clock.advance_secs(301);
    let r = app.post("/api/v1/auth/verify", None, json!({"phone": "9876500031", "role": "provider", "code": first}));
    assert_eq!(r.code(), "invalid_code");
    assert_eq!(
        app.post("/api/v1/auth/otp/resend", None, json!({"phone": "9876500031", "role": "provider"})).status,
        202
    );
    let second = app.last_code("+919876500031").unwrap();
    if second != first {
        let r =
            app.post("/api/v1/auth/verify", None, json!({"phone": "9876500031", "role": "provider", "code": first}));
        assert_eq!(r.code(), "invalid_code", "one live code per phone and purpose");
    }
    let r = app.post("/api/v1/auth/verify", None, json!({"phone": "9876500031", "role": "provider", "code": second}));
    assert_eq!(r.status, 201);
}

#[test]
fn resend_reveals_nothing_and_is_rate_limited_per_phone() {
    let app = spawn_app_with(&[("BUILDXPERT_LIMITS__OTP_PER_PHONE_PER_HOUR", "3")]);
    let unknown = app.post("/api/v1/auth/otp/resend", None, json!({"phone": "9876500041", "role": "customer"}));
    assert_eq!(unknown.status, 202);
    assert_eq!(app.sms_count("+919876500041"), 0);
    signup(&app, "9876500042", "customer"); // 1
    let pending = app.post("/api/v1/auth/otp/resend", None, json!({"phone": "9876500042", "role": "customer"})); // 2
    assert_eq!(pending.status, 202);
    assert_eq!(pending.json(), unknown.json(), "same answer with or without a pending signup");
    app.post("/api/v1/auth/otp/resend", None, json!({"phone": "9876500042", "role": "customer"})); // 3
    let r = app.post("/api/v1/auth/otp/resend", None, json!({"phone": "9876500042", "role": "customer"}));
    assert_eq!((r.status, r.code()), (429, "rate_limited".to_string()));
    assert!(r.header("Retry-After").is_some() && r.header("X-RateLimit-Limit") == Some("3"));
    assert_eq!(app.sms_count("+919876500042"), 3);
}

#[test]
fn twilio_rejections_and_outages_are_clear_answers() {
    let app = spawn_app_with(&[("BUILDXPERT_BUSINESS__DEFAULT_COUNTRY", "US")]);
    let r = app.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "A", "phone": "+1 555 000 0000", "password": "s3cret-pass", "role": "customer"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["fields"]["phone"], "cannot receive SMS");
    let down = spawn_app_with(&[("BUILDXPERT_SMS__TWILIO__BASE_URL", "http://127.0.0.1:1")]);
    let r = down.post(
        "/api/v1/auth/signup",
        None,
        json!({"fullName": "A", "phone": "9876500051", "password": "s3cret-pass", "role": "customer"}),
    );
    assert_eq!((r.status, r.code()), (503, "unavailable".to_string()));
    assert!(r.header("Retry-After").is_some());
}
