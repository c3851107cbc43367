//! The authorization matrix: every registered route × {anonymous, customer, provider, admin,
//! another customer, another provider}, with real seeded resources, generated from ONE table
//! (`MATRIX`). The customer and the provider own every resource (a booking between them, its call,
//! its messages and report, the provider's listings and payment and notification, the customer's
//! address, device and spare session); the other customer and provider are strangers to them, so
//! each route is tried on its own resource and on someone else's. A registered route without an
//! entry, or an entry without a route, fails the test.
//!
//! Expectations, one letter per actor in the order `anon customer provider admin customer2 provider2`:
//! - `O` allowed: anything but 401, 403, 404 (validation errors of the empty body `{}` included)
//! - `U` 401 (with `WWW-Authenticate: Bearer`) · `F` 403 · `N` 404 (someone else's: not disclosed)
//! - `*` not an access decision (public pages, gateways, static files): any status
//!
//! Call actions answer 404 to everyone but the call's two parties, admins included (admins may read
//! calls, not act on them: API.md, "non-participants get 404 on every call route").
//!
//! Never a 5xx. One app, one login per actor (the logout routes get fresh sessions); `{id}` of a
//! booking action is a fresh booking of the pair each time, so one route's move does not decide
//! the next one's answer.

use crate::support::{spawn_app_with, Session, TestApp};
use serde_json::{json, Value};

const ACTORS: [&str; 6] = ["anonymous", "customer", "provider", "admin", "customer2", "provider2"];

#[rustfmt::skip]
const MATRIX: &[(&str, &str, &str)] = &[
    // System, static files, hosted pages: public.
    ("GET", "/healthz", "******"),
    ("GET", "/readyz", "******"),
    ("GET", "/metrics", "******"),
    ("GET", "/api/v1/openapi.json", "******"),
    ("GET", "/api/v1/meta", "******"),
    ("GET", "/admin", "******"),
    ("GET", "/admin/", "******"),
    ("GET", "/admin/{file}", "******"),
    ("GET", "/call", "******"),
    ("GET", "/call/", "******"),
    ("GET", "/call/{file}", "******"),
    ("GET", "/pay/sandbox/{id}", "******"),
    ("POST", "/pay/sandbox/{id}", "******"),
    ("GET", "/pay/return/{id}", "******"),
    ("POST", "/api/v1/webhooks/{gateway}", "******"),
    ("GET", "/api/v1/provider/calendar.ics", "******"),
    // Accounts.
    ("POST", "/api/v1/auth/signup", "******"),
    ("POST", "/api/v1/auth/verify", "******"),
    ("POST", "/api/v1/auth/otp/resend", "******"),
    ("POST", "/api/v1/auth/login", "******"),
    ("POST", "/api/v1/auth/refresh", "******"),
    ("POST", "/api/v1/auth/password/forgot", "******"),
    ("POST", "/api/v1/auth/password/reset", "******"),
    ("POST", "/api/v1/auth/logout", "UOOOOO"),
    ("POST", "/api/v1/auth/logout-all", "UOOOOO"),
    ("GET", "/api/v1/auth/sessions", "UOOOOO"),
    ("DELETE", "/api/v1/auth/sessions/{id}", "UONNNN"),
    ("POST", "/api/v1/auth/password/change", "UOOOOO"),
    ("GET", "/api/v1/me", "UOOOOO"),
    ("PATCH", "/api/v1/me", "UOOOOO"),
    ("DELETE", "/api/v1/me", "UOOOOO"),
    ("GET", "/api/v1/me/export", "UOOOOO"),
    ("GET", "/api/v1/me/addresses", "UOOOOO"),
    ("POST", "/api/v1/me/addresses", "UOOOOO"),
    ("PATCH", "/api/v1/me/addresses/{id}", "UONNNN"),
    ("DELETE", "/api/v1/me/addresses/{id}", "UONNNN"),
    ("POST", "/api/v1/me/devices", "UOOOOO"),
    ("DELETE", "/api/v1/me/devices/{token}", "UONNNN"),
    ("GET", "/api/v1/me/notification-settings", "UOOOOO"),
    ("PUT", "/api/v1/me/notification-settings", "UOOOOO"),
    // Notifications and events.
    ("GET", "/api/v1/events", "UOOOOO"),
    ("GET", "/api/v1/notifications", "UOOOOO"),
    ("GET", "/api/v1/notifications/unread-count", "UOOOOO"),
    ("POST", "/api/v1/notifications/read-all", "UOOOOO"),
    ("POST", "/api/v1/notifications/{id}/read", "UNONNN"),
    // Catalogue and listings.
    ("GET", "/api/v1/categories", "OOOOOO"),
    ("GET", "/api/v1/listings", "OOOOOO"),
    ("GET", "/api/v1/listings/{id}", "OOOOOO"),
    ("GET", "/api/v1/provider/listings", "UFOFFO"),
    ("POST", "/api/v1/provider/listings", "UFOFFO"),
    ("GET", "/api/v1/provider/listings/{id}", "UFOFFN"),
    ("PATCH", "/api/v1/provider/listings/{id}", "UFOFFN"),
    ("DELETE", "/api/v1/provider/listings/{id}", "UFOFFN"),
    ("GET", "/api/v1/provider/earnings", "UFOFFO"),
    ("POST", "/api/v1/provider/calendar-token", "UFOFFO"),
    ("DELETE", "/api/v1/provider/calendar-token", "UFOFFO"),
    ("POST", "/api/v1/contact", "OOOOOO"),
    // Bookings and their chat.
    ("POST", "/api/v1/bookings", "UOFFOF"),
    ("GET", "/api/v1/bookings", "UOOFOO"),
    ("GET", "/api/v1/bookings/{id}", "UOOONN"),
    ("POST", "/api/v1/bookings/{id}/accept", "UFOFNN"),
    ("POST", "/api/v1/bookings/{id}/reject", "UFOFNN"),
    ("POST", "/api/v1/bookings/{id}/start", "UFOFNN"),
    ("POST", "/api/v1/bookings/{id}/complete", "UFOFNN"),
    ("POST", "/api/v1/bookings/{id}/cancel", "UOOFNN"),
    ("POST", "/api/v1/bookings/{id}/rating", "UOOFNN"),
    ("POST", "/api/v1/bookings/{id}/report", "UOOFNN"),
    ("GET", "/api/v1/bookings/{id}/messages", "UOOONN"),
    ("POST", "/api/v1/bookings/{id}/messages", "UOOFNN"),
    ("POST", "/api/v1/bookings/{id}/messages/read", "UOOFNN"),
    // Payments.
    ("POST", "/api/v1/payments", "UOOFOO"),
    ("GET", "/api/v1/payments", "UOOOOO"),
    ("GET", "/api/v1/payments/{id}", "UNOONN"),
    ("POST", "/api/v1/payments/{id}/refunds", "UFFOFF"),
    // Calls.
    ("GET", "/api/v1/calls/ice-servers", "UOOOOO"),
    ("POST", "/api/v1/calls", "UOOFNN"),
    ("GET", "/api/v1/calls", "UOOOOO"),
    ("GET", "/api/v1/calls/{id}", "UOOONN"),
    ("POST", "/api/v1/calls/{id}/accept", "UOONNN"),
    ("POST", "/api/v1/calls/{id}/reject", "UOONNN"),
    ("POST", "/api/v1/calls/{id}/cancel", "UOONNN"),
    ("POST", "/api/v1/calls/{id}/end", "UOONNN"),
    ("POST", "/api/v1/calls/{id}/signal", "UOONNN"),
    ("POST", "/api/v1/calls/{id}/quality", "UOONNN"),
    // The admin dashboard's API: admins only.
    ("GET", "/api/v1/admin/stats", "UFFOFF"),
    ("GET", "/api/v1/admin/audit-log", "UFFOFF"),
    ("GET", "/api/v1/admin/backup", "UFFOFF"),
    ("GET", "/api/v1/admin/system", "UFFOFF"),
    ("GET", "/api/v1/admin/alerts", "UFFOFF"),
    ("GET", "/api/v1/admin/export/users.csv", "UFFOFF"),
    ("GET", "/api/v1/admin/export/bookings.csv", "UFFOFF"),
    ("GET", "/api/v1/admin/export/payments.csv", "UFFOFF"),
    ("GET", "/api/v1/admin/users", "UFFOFF"),
    ("GET", "/api/v1/admin/users/{id}", "UFFOFF"),
    ("PATCH", "/api/v1/admin/users/{id}", "UFFOFF"),
    ("POST", "/api/v1/admin/users/{id}/logout-all", "UFFOFF"),
    ("GET", "/api/v1/admin/users/{id}/sessions", "UFFOFF"),
    ("DELETE", "/api/v1/admin/users/{id}/calendar-token", "UFFOFF"),
    ("GET", "/api/v1/admin/notifications", "UFFOFF"),
    ("POST", "/api/v1/admin/notifications/{id}/retry", "UFFOFF"),
    ("GET", "/api/v1/admin/categories", "UFFOFF"),
    ("POST", "/api/v1/admin/categories", "UFFOFF"),
    ("PATCH", "/api/v1/admin/categories/{id}", "UFFOFF"),
    ("GET", "/api/v1/admin/listings", "UFFOFF"),
    ("PATCH", "/api/v1/admin/listings/{id}", "UFFOFF"),
    ("GET", "/api/v1/admin/bookings", "UFFOFF"),
    ("GET", "/api/v1/admin/reports", "UFFOFF"),
    ("PATCH", "/api/v1/admin/reports/{id}", "UFFOFF"),
    ("GET", "/api/v1/admin/enquiries", "UFFOFF"),
    ("PATCH", "/api/v1/admin/enquiries/{id}", "UFFOFF"),
    ("GET", "/api/v1/admin/payments", "UFFOFF"),
    ("GET", "/api/v1/admin/payments/{id}", "UFFOFF"),
    ("GET", "/api/v1/admin/calls", "UFFOFF"),
];

const TAP: &str = "sub_plumber_tap-installation";

/// The seeded world: six actors' sessions and one real resource of each kind.
struct World {
    sessions: Vec<Option<Session>>,
    listing: String,
    unpaid_listing: String,
    booking: String,
    message: String,
    call: String,
    payment: String,
    notification: String,
    address: String,
    device: String,
    spare_session: String,
    report: String,
    enquiry: String,
    delivery: String,
    subject_user: String,
    slots: std::cell::Cell<i64>,
}

fn ok(r: &crate::support::Resp, want: u16, what: &str) -> Value {
    assert_eq!(r.status, want, "{what}: {}", r.body);
    r.json()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

impl World {
    fn session(&self, actor: usize) -> Option<&Session> {
        self.sessions[actor].as_ref()
    }

    /// A new pending booking of the customer with the provider, at its own slot.
    fn fresh_booking(&self, app: &TestApp) -> String {
        let k = self.slots.get();
        self.slots.set(k + 1);
        let date = crate::bookings::local_day(app, 2 + k / 40);
        let time = format!("{:02}:{:02}", 6 + (k % 40) / 4, (k % 4) * 15);
        let body = json!({"listingId": self.listing, "subServiceIds": [TAP], "date": date, "time": time, "address": "4 Lake View"});
        id(&ok(&app.post("/api/v1/bookings", self.session(1).map(|s| s.access.as_str()), body), 201, "booking"))
    }

    /// The path with real ids of the right kind.
    fn path(&self, app: &TestApp, method: &str, template: &str) -> String {
        let booking_action = template.starts_with("/api/v1/bookings/{id}/")
            && !template.contains("messages")
            && !["rating", "report"].iter().any(|a| template.ends_with(a));
        let id = match template {
            _ if booking_action => self.fresh_booking(app),
            t if t.starts_with("/api/v1/bookings/{id}") => self.booking.clone(),
            t if t.starts_with("/api/v1/calls/{id}") => self.call.clone(),
            t if t.contains("/payments/{id}") || t.starts_with("/pay/") => self.payment.clone(),
            t if t.starts_with("/api/v1/notifications/{id}") => self.notification.clone(),
            t if t.starts_with("/api/v1/admin/notifications/{id}") => self.delivery.clone(),
            t if t.starts_with("/api/v1/me/addresses/{id}") => self.address.clone(),
            t if t.starts_with("/api/v1/auth/sessions/{id}") => self.spare_session.clone(),
            t if t.starts_with("/api/v1/admin/users/{id}") => self.subject_user.clone(),
            t if t.starts_with("/api/v1/admin/categories/{id}") => "cat_plumber".into(),
            t if t.starts_with("/api/v1/admin/listings/{id}") => self.unpaid_listing.clone(),
            t if t.starts_with("/api/v1/admin/reports/{id}") => self.report.clone(),
            t if t.starts_with("/api/v1/admin/enquiries/{id}") => self.enquiry.clone(),
            t if t.contains("listings/{id}") => self.listing.clone(),
            _ => String::new(),
        };
        let _ = method;
        template
            .replace("{id}", &id)
            .replace("{token}", &self.device)
            .replace("{gateway}", "sandbox")
            .replace("{file}", "index.html")
    }

    /// The request body: `{}` (validation errors are fine: access is decided first), except where
    /// the resource is named in the body.
    fn body(&self, method: &str, template: &str) -> Option<Value> {
        match (method, template) {
            ("GET", _) | ("DELETE", _) => None,
            ("POST", "/api/v1/calls") => Some(json!({"bookingId": self.booking})),
            // Valid bodies where the body is checked before the resource: the answer is then
            // the access decision, not the validation error.
            ("POST", "/api/v1/bookings/{id}/rating") => Some(json!({"stars": 5})),
            ("POST", "/api/v1/bookings/{id}/report") => {
                Some(json!({"reason": "no_show", "description": "Did not come"}))
            }
            ("POST", "/api/v1/bookings/{id}/messages") => Some(json!({"text": "Hello again"})),
            ("POST", "/api/v1/bookings/{id}/messages/read") => Some(json!({"upTo": self.message})),
            ("POST", "/api/v1/calls/{id}/signal") => Some(json!({"type": "offer", "sdp": "v=0"})),
            ("POST", "/api/v1/calls/{id}/quality") => Some(json!({"rttMs": 40, "jitterMs": 5, "packetLossPercent": 0})),
            _ => Some(json!({})),
        }
    }
}

fn seed(app: &TestApp) -> World {
    let customer = app.register("customer", "9876505001");
    let provider = app.register("provider", "9876505002");
    let admin = app.admin("9876505000");
    let customer2 = app.register("customer", "9876505003");
    let provider2 = app.register("provider", "9876505004");
    let subject = app.register("customer", "9876505005");
    let (c, p, a) = (customer.access.as_str(), provider.access.as_str(), admin.access.as_str());
    let listing_body = |cat: &str, sub: &str| {
        json!({"categoryId": cat, "description": "Careful work", "experienceYears": 5, "city": "Pune", "state": "Maharashtra",
               "address": "1 Main Road", "subServices": [{"id": sub, "price": {"amount": 20000, "currency": "INR"}}]})
    };
    let listing =
        id(&ok(&app.post("/api/v1/provider/listings", Some(p), listing_body("cat_plumber", TAP)), 201, "listing"));
    let unpaid = id(&ok(
        &app.post("/api/v1/provider/listings", Some(p), listing_body("cat_painting", "sub_painting_room-painting")),
        201,
        "listing",
    ));
    ok(
        &app.call("PATCH", &format!("/api/v1/admin/listings/{listing}"), Some(a), Some(json!({"status": "active"}))),
        200,
        "activate",
    );
    let payment = id(&ok(
        &app.post("/api/v1/payments", Some(p), json!({"purpose": "listing_fee", "listingId": unpaid})),
        201,
        "payment",
    ));
    let mut world = World {
        sessions: vec![
            None,
            Some(customer.clone()),
            Some(provider.clone()),
            Some(admin.clone()),
            Some(customer2),
            Some(provider2),
        ],
        listing,
        unpaid_listing: unpaid,
        booking: String::new(),
        message: String::new(),
        call: String::new(),
        payment,
        notification: String::new(),
        address: String::new(),
        device: "ExponentPushToken[owner]".into(),
        spare_session: String::new(),
        report: String::new(),
        enquiry: String::new(),
        delivery: String::new(),
        subject_user: subject.user_id.clone(),
        slots: std::cell::Cell::new(0),
    };
    world.booking = world.fresh_booking(app);
    let b = world.booking.clone();
    ok(&app.post(&format!("/api/v1/bookings/{b}/accept"), Some(p), json!({})), 200, "accept");
    world.message = id(&ok(
        &app.post(&format!("/api/v1/bookings/{b}/messages"), Some(c), json!({"text": "Hello"})),
        201,
        "message",
    ));
    world.report = id(&ok(
        &app.post(
            &format!("/api/v1/bookings/{b}/report"),
            Some(c),
            json!({"reason": "no_show", "description": "Did not come"}),
        ),
        201,
        "report",
    ));
    world.call = id(&ok(&app.post("/api/v1/calls", Some(c), json!({"bookingId": b})), 201, "call"));
    world.notification =
        id(&ok(&app.call("GET", "/api/v1/notifications", Some(p), None), 200, "notifications")["items"][0]);
    world.address = id(&ok(
        &app.post(
            "/api/v1/me/addresses",
            Some(c),
            json!({"label": "Home", "line": "12 MG Road", "city": "Bengaluru", "state": "Karnataka", "pincode": "560001"}),
        ),
        201,
        "address",
    ));
    assert_eq!(
        app.post("/api/v1/me/devices", Some(c), json!({"pushToken": world.device, "platform": "android"})).status,
        201
    );
    let spare = app.post(
        "/api/v1/auth/login",
        None,
        json!({"phone": customer.phone, "password": "s3cret-pass", "role": "customer"}),
    );
    world.spare_session = Session::from(&spare).session_id();
    assert_eq!(
        app.post(
            "/api/v1/contact",
            None,
            json!({"name": "Asha", "phone": "9876505099", "message": "Do you cover Thane?"})
        )
        .status,
        202
    );
    world.enquiry = id(&ok(&app.call("GET", "/api/v1/admin/enquiries", Some(a), None), 200, "enquiries")["items"][0]);
    world.delivery = app
        .app()
        .db
        .read(|c| {
            c.query_row("SELECT id FROM deliveries ORDER BY created_at DESC LIMIT 1", [], |r| r.get::<_, String>(0))
                .map_err(buildxpert::db::DbError::from)
        })
        .expect("a delivery row (the SMS channel is configured)");
    world
}

fn expected(code: u8, status: u16) -> bool {
    match code {
        b'O' => ![401, 403, 404].contains(&status),
        b'U' => status == 401,
        b'F' => status == 403,
        b'N' => status == 404,
        b'*' => true,
        _ => panic!("unknown expectation {}", code as char),
    }
}

#[test]
fn every_route_answers_every_actor_as_the_matrix_says() {
    let app = spawn_app_with(&[
        ("BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE", "0"),
        ("BUILDXPERT_LIMITS__API_PER_USER_PER_MINUTE", "0"),
        ("BUILDXPERT_LIMITS__BOOKINGS_PER_USER_PER_HOUR", "0"),
        ("BUILDXPERT_LIMITS__PAYMENTS_PER_USER_PER_HOUR", "0"),
        ("BUILDXPERT_LIMITS__CALLS_PER_USER_PER_MINUTE", "0"),
        ("BUILDXPERT_LIMITS__CONTACT_PER_IP_PER_HOUR", "0"),
        ("BUILDXPERT_LIMITS__SIGNUP_PER_IP_PER_HOUR", "0"),
        ("BUILDXPERT_LIMITS__OTP_PER_PHONE_PER_HOUR", "0"),
    ]);
    // The table and the router agree, both ways.
    let router = buildxpert::routes::router();
    let registered: Vec<(String, String)> =
        router.routes().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    let missing: Vec<String> = registered
        .iter()
        .filter(|(m, p)| !MATRIX.iter().any(|(mm, pp, _)| mm == m && pp == p))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(missing.is_empty(), "routes without an entry in MATRIX (authz_matrix.rs): {missing:#?}");
    let stale: Vec<String> = MATRIX
        .iter()
        .filter(|(m, p, _)| !registered.iter().any(|(mm, pp)| mm == m && pp == p))
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    assert!(stale.is_empty(), "MATRIX entries for routes that are not registered: {stale:#?}");

    let mut world = seed(&app);
    let mut rows: Vec<&(&str, &str, &str)> = MATRIX.iter().collect();
    // Ending every session, then the caller's own account, go last.
    rows.sort_by_key(|(m, p, _)| ((*m, *p) == ("DELETE", "/api/v1/me"), *p == "/api/v1/auth/logout-all"));
    let mut wrong = Vec::new();
    for (method, template, expect) in rows {
        assert_eq!(expect.len(), ACTORS.len(), "{method} {template}: one letter per actor");
        let path = world.path(&app, method, template);
        let body = world.body(method, template);
        // Strangers first, owners last: a stranger meets the resource as the owner left it.
        for actor in [0, 4, 5, 3, 1, 2] {
            let fresh;
            let token = match world.session(actor) {
                None => None,
                // Logout-style routes would end the session every other row reuses.
                Some(s) if template.starts_with("/api/v1/auth/logout") => {
                    let pw = if s.role == "admin" { "admin-pass-123" } else { "s3cret-pass" };
                    fresh = Session::from(&app.post(
                        "/api/v1/auth/login",
                        None,
                        json!({"phone": s.phone, "password": pw, "role": s.role}),
                    ));
                    Some(fresh.access.as_str())
                }
                Some(s) => Some(s.access.as_str()),
            };
            let r = app.call(method, &path, token, body.clone());
            let want = expect.as_bytes()[actor];
            let auth_header_ok = want != b'U' || r.header("WWW-Authenticate") == Some("Bearer");
            if r.status >= 500 || !expected(want, r.status) || !auth_header_ok {
                wrong.push(format!(
                    "{method} {template} as {}: want {} got {} {}",
                    ACTORS[actor],
                    want as char,
                    r.status,
                    r.body.chars().take(160).collect::<String>()
                ));
            }
        }
        if *template == "/api/v1/auth/logout-all" {
            for s in world.sessions.iter_mut().flatten() {
                let pw = if s.role == "admin" { "admin-pass-123" } else { "s3cret-pass" };
                *s = Session::from(&app.post(
                    "/api/v1/auth/login",
                    None,
                    json!({"phone": s.phone, "password": pw, "role": s.role}),
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} answers differ from MATRIX:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn another_users_resources_answer_404_not_403() {
    let app = crate::support::spawn_app();
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
