//! Strict JSON bodies through the real server: an array is not an object (a login from
//! `["phone","password","role"]`), at the top or deeper down, and no object repeats a key.

use crate::support::{request, spawn_app};
use serde_json::json;

#[test]
fn arrays_for_objects_and_repeated_keys_are_refused() {
    let app = spawn_app();
    app.register("customer", "9876509121");
    let send = |path: &str, token: Option<&str>, body: &str| {
        let auth = token.map(|t| format!("Bearer {t}"));
        let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        request("POST", &format!("{}{path}", app.url), &h, Some(("application/json", body.as_bytes())))
    };
    let r = send("/api/v1/auth/login", None, r#"["+919876509121","s3cret-pass","customer"]"#);
    assert!(r.json()["accessToken"].is_null(), "an array body logged in: {}", r.body);
    assert_eq!((r.status, r.code()), (400, "validation_failed".to_string()), "{}", r.body);
    assert_eq!(r.json()["error"]["fields"]["body"], "must be a JSON object");
    let dup = r#"{"phone":"+910000000000","phone":"+919876509121","password":"s3cret-pass","role":"customer"}"#;
    let r = send("/api/v1/auth/login", None, dup);
    assert_eq!((r.status, r.code()), (400, "validation_failed".to_string()), "{}", r.body);
    assert_eq!(r.json()["error"]["fields"]["phone"], "appears more than once");
    let ok = r#"{"phone":"+919876509121","password":"s3cret-pass","role":"customer"}"#;
    assert_eq!(send("/api/v1/auth/login", None, ok).status, 200, "the object form still logs in");
    // Deeper down too: a listing's sub-service given as an array.
    let p = app.register("provider", "9876509122");
    let listing = json!({
        "categoryId": "cat_plumber", "description": "Leak fixing and fittings", "experienceYears": 7,
        "city": "Pune", "state": "Maharashtra", "address": "12 MG Road",
        "subServices": [["sub_plumber_tap-installation", {"amount": 50_000, "currency": "INR"}]]
    });
    let r = send("/api/v1/provider/listings", Some(&p.access), &listing.to_string());
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["fields"]["subServices[0]"], "must be a JSON object");
}
