//! Every accounts and admin-user route, tried as anonymous, customer, provider and admin, and
//! with another user's resource ids. A route missing from the table below fails the test, so new
//! routes must be classified.

use crate::support::{spawn_app, spawn_app_with};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    Public,
    AnyUser,
    /// A booking's customer or provider (admins may read, not act: any answer but 401).
    Parties,
    Customer,
    Provider,
    /// Customers and providers (they pay); admins 403.
    Payer,
    Admin,
}

fn classify(method: &str, path: &str) -> Access {
    match (method, path) {
        ("POST", "/api/v1/auth/signup")
        | ("POST", "/api/v1/auth/verify")
        | ("POST", "/api/v1/auth/otp/resend")
        | ("POST", "/api/v1/auth/login")
        | ("POST", "/api/v1/auth/refresh")
        | ("POST", "/api/v1/auth/password/forgot")
        | ("POST", "/api/v1/auth/password/reset") => Access::Public,
        ("GET", "/api/v1/categories")
        | ("GET", "/api/v1/listings")
        | ("GET", "/api/v1/listings/{id}")
        | ("GET", "/api/v1/provider/calendar.ics")
        | ("POST", "/api/v1/contact") => Access::Public,
        ("POST", "/api/v1/webhooks/{gateway}") => Access::Public,
        ("POST", "/api/v1/bookings") => Access::Customer,
        ("POST", "/api/v1/payments") => Access::Payer,
        ("POST", "/api/v1/payments/{id}/refunds") => Access::Admin,
        (_, p) if p.starts_with("/api/v1/payments") => Access::AnyUser,
        (_, p) if p.starts_with("/api/v1/bookings") => Access::Parties,
        ("GET", "/api/v1/calls/ice-servers") => Access::AnyUser,
        // A booking's parties act on its calls; admins read them (POST /calls is 403 for them).
        (_, p) if p.starts_with("/api/v1/calls") => Access::Parties,
        (_, p) if p.starts_with("/api/v1/provider/") => Access::Provider,
        (_, p) if p.starts_with("/api/v1/admin/") => Access::Admin,
        (_, p) if p.starts_with("/api/v1/auth/") || is_me(p) => Access::AnyUser,
        _ => panic!("classify {method} {path} in authz_matrix.rs"),
    }
}

fn is_me(path: &str) -> bool {
    path == "/api/v1/me" || path.starts_with("/api/v1/me/")
}

/// Every API route except the system ones and the events/inbox routes (tested in their own files).
fn covered(path: &str) -> bool {
    let skip = ["/api/v1/openapi.json", "/api/v1/meta", "/api/v1/events"];
    path.starts_with("/api/v1/") && !skip.contains(&path) && !path.starts_with("/api/v1/notifications")
}

#[test]
fn every_route_enforces_its_access_rule_for_every_role() {
    // Three logins per route: the per-IP login limit would stop the test itself.
    let app = spawn_app_with(&[("BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE", "0")]);
    let customer = app.register("customer", "9876505001");
    let provider = app.register("provider", "9876505002");
    let admin = app.admin("9876505000");
    let router = buildxpert::routes::router();
    let mut routes: Vec<(&str, &str)> =
        router.routes().filter(|r| covered(r.path)).map(|r| (r.method, r.path)).collect();
    // Deleting the account under test goes last.
    routes.sort_by_key(|(m, p)| (*m, *p) == ("DELETE", "/api/v1/me"));
    assert!(routes.len() >= 20, "{routes:?}");
    // The admin dashboard's endpoints are all here (and so classified admin-only above).
    for admin_route in [
        "/api/v1/admin/stats",
        "/api/v1/admin/bookings",
        "/api/v1/admin/audit-log",
        "/api/v1/admin/backup",
        "/api/v1/admin/system",
        "/api/v1/admin/alerts",
        "/api/v1/admin/users/{id}/sessions",
        "/api/v1/admin/export/users.csv",
        "/api/v1/admin/export/bookings.csv",
        "/api/v1/admin/export/payments.csv",
    ] {
        assert!(routes.iter().any(|(m, p)| *m == "GET" && *p == admin_route), "{admin_route} is not registered");
    }
    for (method, template) in routes {
        let access = classify(method, template);
        let path = template.replace("{id}", "zz_unknown").replace("{token}", "zz_unknown");
        // Logout-style routes would end the session under test: give each its own.
        let fresh = |role: &str, digits: &str| {
            let pw = if role == "admin" { "admin-pass-123" } else { "s3cret-pass" };
            let r = app.post("/api/v1/auth/login", None, json!({"phone": digits, "password": pw, "role": role}));
            crate::support::Session::from(&r)
        };
        let anon = app.call(method, &path, None, Some(json!({})));
        match access {
            Access::Public => assert_ne!(anon.status, 401, "{method} {template} is public"),
            _ => {
                assert_eq!(anon.status, 401, "{method} {template} anonymous: {}", anon.body);
                assert_eq!(anon.header("WWW-Authenticate"), Some("Bearer"));
            }
        }
        for (role, digits) in [("customer", "9876505001"), ("provider", "9876505002")] {
            let s = fresh(role, digits);
            let r = app.call(method, &path, Some(&s.access), Some(json!({})));
            let allowed = match access {
                Access::Admin => false,
                Access::Customer => role == "customer",
                Access::Provider => role == "provider",
                Access::Payer => true,
                Access::AnyUser | Access::Parties => true,
                Access::Public => continue,
            };
            if allowed {
                assert!(![401, 403].contains(&r.status), "{method} {template} as {role}: {} {}", r.status, r.body);
            } else {
                assert_eq!(r.status, 403, "{method} {template} as {role}: {}", r.body);
            }
        }
        let s = fresh("admin", "+919876505000");
        let r = app.call(method, &path, Some(&s.access), Some(json!({})));
        match access {
            Access::AnyUser | Access::Admin => {
                assert!(![401, 403].contains(&r.status), "{method} {template} as admin: {} {}", r.status, r.body)
            }
            Access::Customer | Access::Provider | Access::Payer => {
                assert_eq!(r.status, 403, "{method} {template} as admin: {}", r.body)
            }
            Access::Parties => assert_ne!(r.status, 401, "{method} {template} as admin"),
            Access::Public => {}
        }
    }
    let _ = (customer, provider, admin);
}

#[test]
fn another_users_resources_answer_404_not_403() {
    let app = spawn_app();
    let owner = app.register("customer", "9876505101");
    let stranger = app.register("customer", "9876505102");
    let addr = app.post(
        "/api/v1/me/addresses",
        Some(&owner.access),
        json!({"label": "Home", "line": "12 MG Road", "city": "Bengaluru", "state": "Karnataka", "pincode": "560001"}),
    );
    assert_eq!(addr.status, 201, "{}", addr.body);
    let addr_id = addr.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.post(
            "/api/v1/me/devices",
            Some(&owner.access),
            json!({"pushToken": "ExponentPushToken[owner]", "platform": "android"})
        )
        .status,
        201
    );
    let owner_session = app.call("GET", "/api/v1/auth/sessions", Some(&owner.access), None).json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, path, body) in [
        ("PATCH", format!("/api/v1/me/addresses/{addr_id}"), Some(json!({"label": "Mine now"}))),
        ("DELETE", format!("/api/v1/me/addresses/{addr_id}"), None),
        ("DELETE", "/api/v1/me/devices/ExponentPushToken[owner]".to_string(), None),
        ("DELETE", format!("/api/v1/auth/sessions/{owner_session}"), None),
    ] {
        let r = app.call(method, &path, Some(&stranger.access), body);
        assert_eq!((r.status, r.code()), (404, "not_found".to_string()), "{method} {path}");
    }
    // Nothing changed for the owner.
    let list = app.call("GET", "/api/v1/me/addresses", Some(&owner.access), None).json();
    assert_eq!(list["items"][0]["label"], "Home");
    assert_eq!(app.call("GET", "/api/v1/auth/sessions", Some(&owner.access), None).status, 200);
    let theirs = app.call("GET", "/api/v1/me/addresses", Some(&stranger.access), None).json();
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0, "lists show only the caller's own");
}
