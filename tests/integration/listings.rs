//! Providers' listings (/api/v1/provider/listings), activation and renewals, admin moderation,
//! the public search and detail (/api/v1/listings), and the `listings-expire` job.

use crate::support::{spawn_app, Resp, Session, TestApp};
use buildxpert::clock::{rfc3339, Clock};
use buildxpert::db::DbError;
use buildxpert::web::page::PageRequest;
use serde_json::{json, Value};

const DAY: i64 = 86_400;
const MINE: &str = "/api/v1/provider/listings";

fn inr(amount: i64) -> Value {
    json!({"amount": amount, "currency": "INR"})
}

fn plumber(city: &str) -> Value {
    json!({
        "categoryId": "cat_plumber", "description": "Leak fixing and fittings", "experienceYears": 7,
        "city": city, "state": "Maharashtra", "address": "12 MG Road, Shivajinagar",
        "subServices": [
            {"id": "sub_plumber_tap-installation", "price": inr(50_000)},
            {"id": "sub_plumber_shower-installation", "price": inr(75_000)}
        ]
    })
}

fn body_for(category: &str, sub: &str, city: &str, description: &str) -> Value {
    json!({
        "categoryId": format!("cat_{category}"), "description": description, "experienceYears": 3, "city": city,
        "state": "Maharashtra", "address": "Flat 4, Private Lane",
        "subServices": [{"id": format!("sub_{category}_{sub}"), "price": inr(30_000)}]
    })
}

fn create(app: &TestApp, s: &Session, body: Value) -> Value {
    let r = app.post(MINE, Some(&s.access), body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn scalar(app: &TestApp, sql: &str, args: &[&dyn rusqlite::ToSql]) -> i64 {
    app.app().db.read(|c| c.query_row(sql, args, |r| r.get(0)).map_err(DbError::from)).unwrap()
}

fn exec(app: &TestApp, sql: &str, args: &[&dyn rusqlite::ToSql]) {
    app.app().db.write(|tx| tx.execute(sql, args).map_err(DbError::from)).unwrap();
}

fn notifications(app: &TestApp, user: &str, kind: &str) -> i64 {
    scalar(app, "SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND kind = ?2", &[&user, &kind])
}

fn activate(app: &TestApp, id: &str, days: i64) -> buildxpert::catalog::Listing {
    app.app().db.write(|tx| buildxpert::catalog::activate_listing(tx, app.app(), id, days)).unwrap()
}

fn at(app: &TestApp, plus_secs: i64) -> String {
    rfc3339(app.clock.now_ms() + plus_secs * 1000)
}

/// Logs in again: moving the clock by days outlives the 15-minute access tokens.
fn fresh(app: &TestApp, s: &Session) -> Session {
    let pw = if s.role == "admin" { "admin-pass-123" } else { "s3cret-pass" };
    let r = app.post("/api/v1/auth/login", None, json!({"phone": s.phone, "password": pw, "role": s.role}));
    assert_eq!(r.status, 200, "login: {}", r.body);
    Session::from(&r)
}

fn ids(r: &Resp) -> Vec<String> {
    r.json()["items"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_string()).collect()
}

fn fields(r: &Resp) -> Value {
    assert_eq!((r.status, r.code()), (400, "validation_failed".to_string()), "{}", r.body);
    r.json()["error"]["fields"].clone()
}

/// A booking row for `listing` in `status`, as the bookings feature would store it.
fn insert_booking(app: &TestApp, listing: &str, customer: &str, provider: &str, status: &str) -> String {
    let id = format!("bkg_test_{status}_{}", app.clock.now_ms());
    let starts = app.clock.now_ms() + 2 * DAY * 1000;
    exec(
        app,
        "INSERT INTO bookings (id, listing_id, customer_id, provider_id, category_id, status, local_date, local_time,
             starts_at, address, total, currency, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'cat_plumber', ?5, '2030-01-01', '10:00', ?6, 'Somewhere', 50000, 'INR', ?6, ?6)",
        &[&id, &listing, &customer, &provider, &status, &starts],
    );
    id
}

#[test]
fn providers_create_paid_listings_pending_and_free_ones_active() {
    let app = spawn_app();
    let p = app.register("provider", "9876507001");
    let l = create(&app, &p, plumber("Pune"));
    assert!(l["id"].as_str().unwrap().starts_with("lst_"));
    assert_eq!(l["status"], "pending_payment");
    assert!(l["activeUntil"].is_null());
    assert_eq!(l["category"], json!({"id": "cat_plumber", "slug": "plumber", "name": "Plumber"}));
    assert_eq!(l["priceFrom"], inr(50_000), "the lowest price");
    assert_eq!(l["address"], "12 MG Road, Shivajinagar", "the owner sees the address");
    assert_eq!(l["rating"], json!({"average": null, "count": 0}));
    assert_eq!(
        l["subServices"],
        json!([
            {"id": "sub_plumber_tap-installation", "name": "Tap installation", "price": inr(50_000)},
            {"id": "sub_plumber_shower-installation", "name": "Shower installation", "price": inr(75_000)}
        ])
    );
    for k in ["description", "experienceYears", "city", "state", "createdAt", "updatedAt"] {
        assert!(!l[k].is_null(), "{k}");
    }
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM listings WHERE city_key = 'pune' AND state_key = 'maharashtra'", &[]),
        1
    );

    let labour = json!({
        "categoryId": "cat_labour", "description": "Daily helper", "experienceYears": 2, "city": " Pune ",
        "state": "Maharashtra", "address": "Near the bus stand",
        "subServices": [{"id": "sub_labour_per-hour-charges", "price": inr(15_000)}]
    });
    app.clock.advance_secs(1); // distinct creation times: the order is then fully determined
    let free = create(&app, &p, labour);
    assert_eq!(free["status"], "active", "no fee: active at once");
    assert_eq!(free["activeUntil"], at(&app, 365 * DAY));
    assert_eq!(free["city"], "Pune", "stored trimmed");
    assert_eq!(notifications(&app, &p.user_id, "listing.activated"), 1);

    let r = app.post(MINE, Some(&p.access), plumber("Mumbai"));
    assert_eq!((r.status, r.code()), (409, "already_exists".to_string()), "one listing per category");
    let mine = app.call("GET", MINE, Some(&p.access), None);
    assert_eq!(mine.status, 200);
    assert_eq!(
        ids(&mine),
        [free["id"].as_str().unwrap(), l["id"].as_str().unwrap()].iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
    assert!(mine.json()["nextCursor"].is_null());
    assert_eq!(mine.header("Cache-Control"), Some("no-store"));
    let page = app.call("GET", &format!("{MINE}?limit=1"), Some(&p.access), None).json();
    let cursor = page["nextCursor"].as_str().unwrap();
    let rest = app.call("GET", &format!("{MINE}?limit=1&cursor={cursor}"), Some(&p.access), None);
    assert_eq!(ids(&rest), vec![l["id"].as_str().unwrap().to_string()]);
    let one = app.call("GET", &format!("{MINE}/{}", l["id"].as_str().unwrap()), Some(&p.access), None);
    assert_eq!((one.status, one.json()["id"].clone()), (200, l["id"].clone()));
}

#[test]
fn invalid_listings_name_each_field_and_change_nothing() {
    let app = spawn_app();
    let p = app.register("provider", "9876507101");
    let post = |b: Value| app.post(MINE, Some(&p.access), b);
    let f = fields(&post(json!({})));
    for k in ["categoryId", "description", "experienceYears", "city", "state", "address", "subServices"] {
        assert!(f.get(k).is_some(), "{k} in {f}");
    }
    let with = |k: &str, v: Value| {
        let mut b = plumber("Pune");
        b[k] = v;
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (with("categoryId", json!("cat_nope")), "categoryId"),
        (with("description", json!("   ")), "description"),
        (with("description", json!("x".repeat(2001))), "description"),
        (with("experienceYears", json!(-1)), "experienceYears"),
        (with("experienceYears", json!("ten")), "experienceYears"),
        (with("city", json!("")), "city"),
        (with("state", json!("a\u{7}b")), "state"),
        (with("address", json!(null)), "address"),
        (with("subServices", json!([])), "subServices"),
        (with("subServices", json!([{"id": "sub_painting_room-painting", "price": inr(100)}])), "subServices[0].id"),
        (
            with(
                "subServices",
                json!([{"id": "sub_plumber_wiring", "price": inr(100)}, {"id": "sub_plumber_tap-installation", "price": inr(-500)}]),
            ),
            "subServices[1].price",
        ),
        (with("subServices", json!([{"id": "sub_plumber_tap-installation", "price": inr(0)}])), "subServices[0].price"),
        (
            with(
                "subServices",
                json!([{"id": "sub_plumber_tap-installation", "price": {"amount": 100, "currency": "USD"}}]),
            ),
            "subServices[0].price",
        ),
        (
            with(
                "subServices",
                json!([{"id": "sub_plumber_tap-installation", "price": {"amount": 10.5, "currency": "INR"}}]),
            ),
            "subServices[0].price",
        ),
        (with("subServices", json!([{"id": "sub_plumber_tap-installation"}])), "subServices[0].price"),
        (
            with(
                "subServices",
                json!([{"id": "sub_plumber_tap-installation", "price": inr(1)}, {"id": "sub_plumber_tap-installation", "price": inr(2)}]),
            ),
            "subServices[1].id",
        ),
        (with("phone", json!("9876543210")), "phone"),
        (with("status", json!("active")), "status"),
    ];
    for (body, field) in cases {
        let f = fields(&post(body.clone()));
        assert!(f.get(field).is_some(), "{field} expected in {f} for {body}");
    }
    // The wrong sub-service also fails on the other errors in the same body: all reported at once.
    let f = fields(&post(json!({
        "categoryId": "cat_plumber", "description": "", "experienceYears": 3, "city": "Pune", "state": "MH",
        "address": "x", "subServices": [{"id": "sub_labour_per-hour-charges", "price": inr(-1)}]
    })));
    assert!(
        f.get("description").is_some()
            && f.get("subServices[0].id").is_some()
            && f.get("subServices[0].price").is_some(),
        "{f}"
    );
    let r = app.call("POST", MINE, Some(&p.access), None);
    assert_eq!(r.status, 415);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM listings", &[]), 0);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM listing_prices", &[]), 0);
}

#[test]
fn only_providers_manage_listings_and_only_their_own() {
    let app = spawn_app();
    let a = app.register("provider", "9876507201");
    let b = app.register("provider", "9876507202");
    let customer = app.register("customer", "9876507203");
    let l = create(&app, &a, plumber("Pune"));
    let path = format!("{MINE}/{}", l["id"].as_str().unwrap());
    let r = app.post(MINE, Some(&customer.access), plumber("Pune"));
    assert_eq!((r.status, r.code()), (403, "forbidden".to_string()));
    for (m, p) in [("GET", MINE), ("GET", path.as_str()), ("PATCH", path.as_str()), ("DELETE", path.as_str())] {
        let body = (m == "PATCH").then(|| json!({"city": "Nashik"}));
        assert_eq!(app.call(m, p, Some(&customer.access), body.clone()).status, 403, "{m} {p} as customer");
        let r = app.call(m, p, None, body.clone());
        assert_eq!((r.status, r.header("WWW-Authenticate")), (401, Some("Bearer")), "{m} {p} anonymous");
        if p != MINE {
            let r = app.call(m, p, Some(&b.access), body);
            assert_eq!((r.status, r.code()), (404, "not_found".to_string()), "{m} {p} as another provider");
        }
    }
    assert_eq!(app.post(MINE, None, plumber("Pune")).status, 401);
    assert!(ids(&app.call("GET", MINE, Some(&b.access), None)).is_empty());
    let again = app.call("GET", &path, Some(&a.access), None).json();
    assert_eq!(again["city"], "Pune", "the refused PATCH changed nothing");
    assert_eq!(app.call("GET", &format!("{MINE}/lst_nope"), Some(&a.access), None).status, 404);
}

#[test]
fn providers_edit_and_delete_listings_but_not_with_open_bookings() {
    let app = spawn_app();
    let p = app.register("provider", "9876507301");
    let customer = app.register("customer", "9876507302");
    let l = create(&app, &p, plumber("Pune"));
    let id = l["id"].as_str().unwrap().to_string();
    let path = format!("{MINE}/{id}");
    app.clock.advance_secs(5);
    let r = app.call(
        "PATCH",
        &path,
        Some(&p.access),
        Some(json!({
            "description": "Only taps now", "city": "Nashik", "experienceYears": 8,
            "subServices": [{"id": "sub_plumber_tap-installation", "price": inr(45_000)}]
        })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let u = r.json();
    assert_eq!(
        (u["description"].as_str(), u["city"].as_str(), u["experienceYears"].as_i64()),
        (Some("Only taps now"), Some("Nashik"), Some(8))
    );
    assert_eq!(u["state"], "Maharashtra", "untouched fields stay");
    assert_eq!(u["priceFrom"], inr(45_000));
    assert_eq!(u["subServices"].as_array().unwrap().len(), 1);
    assert_ne!(u["updatedAt"], l["updatedAt"]);
    assert_eq!(u["status"], "pending_payment", "editing does not change the status");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM listings WHERE city_key = 'nashik'", &[]), 1);
    let f =
        fields(&app.call("PATCH", &path, Some(&p.access), Some(json!({"categoryId": "cat_painting", "city": "X"}))));
    assert!(f.get("categoryId").is_some());
    let f = fields(&app.call(
        "PATCH",
        &path,
        Some(&p.access),
        Some(json!({"city": "Y", "subServices": [{"id": "sub_plumber_wiring", "price": inr(5)}]})),
    ));
    assert!(f.get("subServices[0].id").is_some());
    assert!(fields(&app.call("PATCH", &path, Some(&p.access), Some(json!({"address": ""})))).get("address").is_some());
    let now = app.call("GET", &path, Some(&p.access), None).json();
    assert_eq!(
        (now["city"].clone(), now["priceFrom"].clone()),
        (json!("Nashik"), inr(45_000)),
        "refused PATCHes changed nothing"
    );

    let booking = insert_booking(&app, &id, &customer.user_id, &p.user_id, "pending");
    let r = app.call("DELETE", &path, Some(&p.access), None);
    assert_eq!((r.status, r.code()), (409, "has_open_bookings".to_string()));
    for s in ["accepted", "in_progress"] {
        exec(&app, "UPDATE bookings SET status = ?2 WHERE id = ?1", &[&booking, &s]);
        assert_eq!(app.call("DELETE", &path, Some(&p.access), None).status, 409, "{s} is open");
    }
    exec(&app, "UPDATE bookings SET status = 'completed' WHERE id = ?1", &[&booking]);
    let r = app.call("DELETE", &path, Some(&p.access), None);
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app.call("GET", &path, Some(&p.access), None).status, 404);
    assert_eq!(app.call("DELETE", &path, Some(&p.access), None).status, 404);
    assert!(ids(&app.call("GET", MINE, Some(&p.access), None)).is_empty());
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM listings WHERE id = ?1 AND deleted_at IS NOT NULL", &[&id]),
        1,
        "soft delete"
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'listing.deleted' AND target = ?1", &[&id]),
        1
    );
    // The category is free again.
    create(&app, &p, plumber("Pune"));
}

#[test]
fn activation_starts_a_period_and_renewals_stack_from_the_current_end() {
    let app = spawn_app();
    let p = app.register("provider", "9876507401");
    let id = create(&app, &p, plumber("Pune"))["id"].as_str().unwrap().to_string();
    let start = app.clock.now_ms();
    let l = activate(&app, &id, 30);
    assert_eq!((l.status.as_str(), l.active_until.clone()), ("active", Some(rfc3339(start + 30 * DAY * 1000))));
    app.clock.advance_secs(10 * DAY);
    let p = fresh(&app, &p);
    let l = activate(&app, &id, 30);
    assert_eq!(l.active_until, Some(rfc3339(start + 60 * DAY * 1000)), "extends from the current end, not from now");
    assert_eq!(notifications(&app, &p.user_id, "listing.activated"), 2);
    let n = app.call("GET", "/api/v1/notifications", Some(&p.access), None).json();
    assert!(n["items"][0]["body"].as_str().unwrap().contains("Plumber"), "{n}");
    // Once lapsed, a renewal starts from now.
    app.clock.advance_secs(51 * DAY);
    let p = fresh(&app, &p);
    buildxpert::jobs::run(app.app(), "listings-expire").unwrap();
    let g = app.call("GET", &format!("{MINE}/{id}"), Some(&p.access), None).json();
    assert_eq!(g["status"], "expired");
    let l = activate(&app, &id, 30);
    assert_eq!((l.status.as_str(), l.active_until.clone()), ("active", Some(at(&app, 30 * DAY))));
    let missing = app.app().db.write(|tx| buildxpert::catalog::activate_listing(tx, app.app(), "lst_nope", 30));
    assert_eq!(missing.unwrap_err().status, 404);
}

#[test]
fn admins_activate_suspend_and_reactivate_listings() {
    let app = spawn_app();
    let admin = app.admin("9876507500");
    let p = app.register("provider", "9876507501");
    let customer = app.register("customer", "9876507502");
    let id = create(&app, &p, plumber("Pune"))["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/listings/{id}");
    let public = format!("/api/v1/listings/{id}");
    assert_eq!(app.get(&public).status, 404, "pending listings are not public");

    let r = app.call("GET", "/api/v1/admin/listings?status=pending_payment", Some(&admin.access), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["items"][0]["id"], id.as_str());
    assert_eq!(j["items"][0]["provider"]["phone"], "+919876507501", "the operator sees the phone");
    assert_eq!(j["items"][0]["address"], "12 MG Road, Shivajinagar");
    assert!(ids(&app.call("GET", "/api/v1/admin/listings?status=active", Some(&admin.access), None)).is_empty());
    assert_eq!(app.call("GET", "/api/v1/admin/listings?status=gone", Some(&admin.access), None).status, 400);
    assert_eq!(app.call("GET", "/api/v1/admin/listings?cursor=%%%", Some(&admin.access), None).status, 400);
    for s in [&p, &customer] {
        assert_eq!(app.call("GET", "/api/v1/admin/listings", Some(&s.access), None).status, 403);
        assert_eq!(app.call("PATCH", &path, Some(&s.access), Some(json!({"status": "active"}))).status, 403);
    }
    assert_eq!(app.call("GET", "/api/v1/admin/listings", None, None).status, 401);

    // Active with no current period: one of the category's listingDays from now.
    let r = app.call("PATCH", &path, Some(&admin.access), Some(json!({"status": "active"})));
    assert_eq!(r.status, 200, "{}", r.body);
    let until = at(&app, 30 * DAY);
    assert_eq!((r.json()["status"].clone(), r.json()["activeUntil"].clone()), (json!("active"), json!(until)));
    assert_eq!(app.get(&public).status, 200);
    assert_eq!(ids(&app.get("/api/v1/listings")), vec![id.clone()]);

    app.clock.advance_secs(DAY);
    let admin = fresh(&app, &admin);
    let r = app.call("PATCH", &path, Some(&admin.access), Some(json!({"status": "suspended"})));
    assert_eq!(
        (r.json()["status"].clone(), r.json()["activeUntil"].clone()),
        (json!("suspended"), json!(until)),
        "suspending keeps activeUntil"
    );
    assert_eq!(app.get(&public).status, 404);
    assert!(ids(&app.get("/api/v1/listings")).is_empty());
    // A renewal payment extends a suspended listing's period but does not lift the suspension.
    let l = activate(&app, &id, 30);
    assert_eq!(l.status, "suspended");
    let until = l.active_until.unwrap();
    assert!(ids(&app.get("/api/v1/listings")).is_empty());

    let r = app.call("PATCH", &path, Some(&admin.access), Some(json!({"status": "active"})));
    assert_eq!(
        (r.json()["status"].clone(), r.json()["activeUntil"].clone()),
        (json!("active"), json!(until)),
        "inside its period: no new one"
    );
    assert_eq!(app.get(&public).status, 200);
    assert_eq!(ids(&app.get("/api/v1/listings")), vec![id.clone()]);

    for bad in [json!({"status": "expired"}), json!({"status": "active", "x": 1}), json!({})] {
        assert_eq!(app.call("PATCH", &path, Some(&admin.access), Some(bad)).status, 400);
    }
    assert_eq!(
        app.call("PATCH", "/api/v1/admin/listings/lst_nope", Some(&admin.access), Some(json!({"status": "active"})))
            .status,
        404
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.listing_updated' AND target = ?1", &[&id]),
        3
    );
}

#[test]
fn search_filters_pages_and_never_shows_addresses_or_phones() {
    let app = spawn_app();
    let p1 = app.register("provider", "9876507601");
    let p2 = app.register("provider", "9876507602");
    let p3 = app.register("provider", "9876507603");
    let customer = app.register("customer", "9876507604");
    exec(&app, "UPDATE users SET full_name = 'Ravi Kumar' WHERE id = ?1", &[&p2.user_id]);
    let mut made = Vec::new();
    for (s, body) in [
        (&p1, body_for("plumber", "tap-installation", "Pune", "Leak fixing 100% guaranteed")),
        (&p2, body_for("plumber", "wiring-none", "Mumbai", "Bathroom fittings")),
        (&p3, body_for("painting", "room-painting", "PUNE", "Walls and ceilings")),
        (&p1, body_for("labour", "per-hour-charges", "pune", "Helper by the hour")),
        (&p2, body_for("carpenter", "furniture-repair", "Bengaluru", "Never paid")),
    ] {
        let mut body = body;
        if body["subServices"][0]["id"] == "sub_plumber_wiring-none" {
            body["subServices"][0]["id"] = json!("sub_plumber_shower-installation");
            body["state"] = json!("maharashtra ");
        }
        if body["city"] == "Bengaluru" {
            body["state"] = json!("Karnataka");
        }
        app.clock.advance_secs(1);
        made.push(create(&app, s, body)["id"].as_str().unwrap().to_string());
    }
    for id in &made[..3] {
        activate(&app, id, 30);
    }
    let (plumb_pune, plumb_mumbai, paint_pune, labour_pune, unpaid) =
        (&made[0], &made[1], &made[2], &made[3], &made[4]);
    let search = |q: &str| {
        let r = app.get(&format!("/api/v1/listings{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        ids(&r)
    };
    let v = |xs: &[&String]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(search(""), v(&[labour_pune, paint_pune, plumb_mumbai, plumb_pune]), "newest first, unpaid hidden");
    assert!(!search("").contains(unpaid));
    assert_eq!(search("?category=plumber"), v(&[plumb_mumbai, plumb_pune]));
    assert_eq!(search("?category=nope"), Vec::<String>::new());
    assert_eq!(search("?category=PLUMBER"), v(&[plumb_mumbai, plumb_pune]), "slugs match case-insensitively");
    assert_eq!(search("?city=%20pUnE%20"), v(&[labour_pune, paint_pune, plumb_pune]), "city is case-insensitive");
    assert_eq!(search("?category=plumber&city=pune"), v(&[plumb_pune]));
    assert_eq!(search("?state=MAHARASHTRA"), v(&[labour_pune, paint_pune, plumb_mumbai, plumb_pune]));
    assert_eq!(search("?state=karnataka"), Vec::<String>::new());
    assert_eq!(search("?q=LEAK"), v(&[plumb_pune]), "description");
    assert_eq!(search("?q=ravi"), v(&[plumb_mumbai]), "provider name");
    assert_eq!(search("?q=painting"), v(&[paint_pune]), "category name");
    assert_eq!(search("?q=100%25"), v(&[plumb_pune]), "a literal %");
    assert_eq!(search("?q=%25%25%25"), Vec::<String>::new(), "wildcards are escaped");
    assert_eq!(search("?q=_"), Vec::<String>::new());

    let first = app.get("/api/v1/listings?limit=3").json();
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = app.get(&format!("/api/v1/listings?limit=3&cursor={cursor}")).json();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["nextCursor"].is_null());
    assert_eq!(second["items"][0]["id"], plumb_pune.as_str());
    assert_eq!(app.get("/api/v1/listings?cursor=garbage!").status, 400);
    assert_eq!(app.get("/api/v1/listings?limit=0").status, 400);
    assert_eq!(app.get(&format!("/api/v1/listings?q={}", "x".repeat(101))).status, 400);

    let item = &first["items"][2];
    assert_eq!(item["provider"], json!({"id": p2.user_id, "fullName": "Ravi Kumar"}));
    assert_eq!(item["category"]["slug"], "plumber");
    assert_eq!(item["priceFrom"], inr(30_000));
    for k in ["city", "state", "experienceYears", "description", "rating"] {
        assert!(!item[k].is_null(), "{k}: {item}");
    }

    // Ratings: average to one decimal, latest customer reviews on the detail.
    let b = insert_booking(&app, plumb_pune, &customer.user_id, &p1.user_id, "completed");
    let now = app.clock.now_ms();
    exec(
        &app,
        "INSERT INTO ratings (booking_id, rater_id, rater_role, ratee_id, listing_id, stars, review, created_at)
         VALUES (?1, ?2, 'customer', ?3, ?4, 4, 'Quick and tidy', ?5), (?1, ?3, 'provider', ?2, ?4, 2, 'Late', ?5)",
        &[&b, &customer.user_id, &p1.user_id, plumb_pune, &now],
    );
    exec(&app, "UPDATE listings SET rating_sum = 14, rating_count = 3 WHERE id = ?1", &[plumb_pune]);
    let d = app.get(&format!("/api/v1/listings/{plumb_pune}"));
    assert_eq!(d.status, 200, "{}", d.body);
    let d = d.json();
    assert_eq!(d["rating"], json!({"average": 4.7, "count": 3}));
    assert_eq!(
        d["reviews"],
        json!([{"stars": 4, "review": "Quick and tidy", "createdAt": rfc3339(now), "customer": {"fullName": "Test customer"}}])
    );
    assert_eq!(
        d["subServices"],
        json!([{"id": "sub_plumber_tap-installation", "name": "Tap installation", "price": inr(30_000)}])
    );
    assert_eq!(d["status"], "active");
    assert_eq!(app.get(&format!("/api/v1/listings/{unpaid}")).status, 404);
    assert_eq!(app.get("/api/v1/listings/lst_nope").status, 404);

    // Nothing public carries an address or a phone number.
    for body in [app.get("/api/v1/listings").body, app.get(&format!("/api/v1/listings/{plumb_pune}")).body] {
        assert!(!body.contains("address") && !body.contains("Private Lane") && !body.contains("98765076"), "{body}");
        assert!(!body.contains("phone"), "{body}");
    }
    // A blocked provider's listings disappear too.
    exec(&app, "UPDATE users SET blocked = 1 WHERE id = ?1", &[&p2.user_id]);
    assert_eq!(search("?category=plumber"), v(&[plumb_pune]));
}

#[test]
fn search_sql_for_category_and_city_uses_an_index() {
    let app = spawn_app();
    let plan = |f: &buildxpert::catalog::search::Filter, page: &PageRequest| -> Vec<String> {
        let (sql, args) = buildxpert::catalog::search::build(f, page, app.clock.now_ms());
        app.app()
            .db
            .read(|c| {
                let sql = format!("EXPLAIN QUERY PLAN {sql}");
                if c.prepare(&sql).is_err() {
                    buildxpert::catalog::rank::register(c)?;
                }
                let mut st = c.prepare(&sql)?;
                let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, String>(3))?;
                rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
            })
            .unwrap()
    };
    let base = buildxpert::catalog::search::Filter {
        category_id: Some("cat_plumber".into()),
        city_key: Some("pune".into()),
        ..Default::default()
    };
    let first = PageRequest { limit: 20, after: None };
    let paged = PageRequest { limit: 20, after: Some((1_700_000_000_000, "lst_x".into())) };
    for page in [&first, &paged] {
        let p = plan(&base, page);
        assert!(p.iter().all(|d| !d.starts_with("SCAN")), "no table scan: {p:?}");
        assert!(
            p.iter().any(|d| d.starts_with("SEARCH l USING INDEX listings_by_category")
                || d.starts_with("SEARCH l USING INDEX listings_by_city")),
            "{p:?}"
        );
        assert!(p.iter().all(|d| !d.contains("TEMP B-TREE")), "the index gives the order: {p:?}");
    }
    // The other filters are served by indexes too.
    for f in [
        buildxpert::catalog::search::Filter::default(),
        buildxpert::catalog::search::Filter { state_key: Some("maharashtra".into()), ..Default::default() },
    ] {
        let p = plan(&f, &first);
        assert!(p.iter().any(|d| d.starts_with("SEARCH l USING INDEX listings_")), "{f:?}: {p:?}");
        assert!(p.iter().all(|d| !d.starts_with("SCAN") && !d.contains("TEMP B-TREE")), "{f:?}: {p:?}");
    }
    // `q` is served by the FTS5 index: only the window of matching rows is read (`w`, the listing
    // by rowid), then ranked; no real table is scanned.
    for (f, page) in [
        (buildxpert::catalog::search::Filter { q: Some("leak".into()), ..Default::default() }, &first),
        (buildxpert::catalog::search::Filter { q: Some("leak pipe".into()), ..base.clone() }, &paged),
    ] {
        let p = plan(&f, page);
        assert!(p.iter().any(|d| d.starts_with("SCAN listing_search VIRTUAL TABLE INDEX")), "{f:?}: {p:?}");
        assert!(p.iter().any(|d| d == "SEARCH l USING INTEGER PRIMARY KEY (rowid=?)"), "{f:?}: {p:?}");
        assert!(
            p.iter().filter(|d| d.starts_with("SCAN")).all(|d| d.contains("VIRTUAL TABLE") || d == "SCAN w"),
            "{f:?}: {p:?}"
        );
    }
}

#[test]
fn expiry_job_warns_once_two_days_ahead_then_expires() {
    let app = spawn_app();
    let p = app.register("provider", "9876507801");
    let id = create(&app, &p, plumber("Pune"))["id"].as_str().unwrap().to_string();
    let run = || buildxpert::jobs::run(app.app(), "listings-expire").unwrap();
    activate(&app, &id, 30);
    let live = || ids(&app.get("/api/v1/listings")).contains(&id);
    app.clock.advance_secs(27 * DAY);
    run();
    assert_eq!(notifications(&app, &p.user_id, "listing.expiring"), 0, "3 days left: too early");
    app.clock.advance_secs(DAY + DAY / 2);
    run();
    run();
    assert_eq!(notifications(&app, &p.user_id, "listing.expiring"), 1, "warned once, however often the job runs");
    assert!(live(), "still active until the end");
    let p = fresh(&app, &p);
    let own = app.call("GET", &format!("{MINE}/{id}"), Some(&p.access), None).json();
    assert_eq!(own["status"], "active");
    app.clock.advance_secs(DAY + DAY / 2 - 1);
    run();
    assert!(live() && notifications(&app, &p.user_id, "listing.expired") == 0, "one second left");
    app.clock.advance_secs(1);
    assert!(!live(), "searches stop at activeUntil even before the job runs");
    run();
    run();
    let p = fresh(&app, &p);
    let own = app.call("GET", &format!("{MINE}/{id}"), Some(&p.access), None).json();
    assert_eq!(own["status"], "expired");
    assert_eq!(notifications(&app, &p.user_id, "listing.expired"), 1);
    assert_eq!(app.get(&format!("/api/v1/listings/{id}")).status, 404);
    // A renewal is a new period with its own warning.
    activate(&app, &id, 30);
    assert!(live());
    app.clock.advance_secs(29 * DAY);
    let p = fresh(&app, &p);
    run();
    assert_eq!(notifications(&app, &p.user_id, "listing.expiring"), 2);
    let text = app.call("GET", "/api/v1/notifications", Some(&p.access), None).json();
    assert!(text.to_string().contains("expires on"), "{text}");
}

/// `q` is full-text (FTS5): words match as prefixes anywhere in the description, the provider's
/// name, the category's and the priced sub-services' names; results are ranked (bm25) and page
/// with a `(rank, id)` cursor; the index follows edits and renames; no query syntax reaches FTS5.
#[test]
fn full_text_search_matches_ranks_follows_renames_and_refuses_no_syntax() {
    let app = spawn_app();
    let admin = app.admin("9876507900");
    let p1 = app.register("provider", "9876507901");
    let p2 = app.register("provider", "9876507902");
    let p3 = app.register("provider", "9876507903");
    exec(&app, "UPDATE users SET full_name = 'Anil Sharma' WHERE id = ?1", &[&p3.user_id]);
    let strong = create(&app, &p1, body_for("plumber", "tap-installation", "Pune", "Leak leak leak: pipe leak repair"))
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.clock.advance_secs(1);
    let weak = create(
        &app,
        &p2,
        body_for(
            "plumber",
            "shower-installation",
            "Pune",
            "Bathroom fittings, showers, geysers, taps, basins, drains and the odd leak, all over the city",
        ),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.clock.advance_secs(1);
    let painter = create(&app, &p3, body_for("painting", "room-painting", "Pune", "Walls and ceilings"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in [&strong, &weak, &painter] {
        activate(&app, id, 30);
    }
    let search = |q: &str| {
        let r = app.get(&format!("/api/v1/listings?q={q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        ids(&r)
    };
    // Ranked: the listing about leaks first, though it is the older one.
    assert_eq!(search("leak"), [strong.clone(), weak.clone()]);
    assert_eq!(search("LEAKS"), Vec::<String>::new(), "a word longer than any indexed one matches nothing");
    // Prefixes, accents folded, words anywhere, all words required.
    assert_eq!(search("lea"), [strong.clone(), weak.clone()]);
    assert_eq!(search("ceil"), vec![painter.clone()]);
    assert_eq!(search("anil"), vec![painter.clone()], "provider name");
    assert_eq!(search("paint"), vec![painter.clone()], "category name");
    assert_eq!(search("shower%20installation"), vec![weak.clone()], "sub-service name");
    assert_eq!(search("leak%20geyser"), vec![weak.clone()], "every word must match");
    assert_eq!(search("c%C3%A9iling"), vec![painter.clone()], "diacritics folded");
    // Keyset paging over the ranked order.
    let first = app.get("/api/v1/listings?q=leak&limit=1").json();
    assert_eq!(first["items"][0]["id"], strong.as_str());
    let cursor = first["nextCursor"].as_str().expect("a next page").to_string();
    let second = app.get(&format!("/api/v1/listings?q=leak&limit=1&cursor={cursor}")).json();
    assert_eq!(second["items"][0]["id"], weak.as_str());
    assert!(second["nextCursor"].is_null());
    // With the indexed filters too.
    assert_eq!(search("leak&category=painting"), Vec::<String>::new());
    let r = app.get("/api/v1/listings?q=walls&category=painting&city=pune");
    assert_eq!(ids(&r), vec![painter.clone()]);

    // Edits and renames reach the index.
    let r = app.call(
        "PATCH",
        &format!("{MINE}/{weak}"),
        Some(&p2.access),
        Some(json!({"description": "Waterproofing terraces"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(search("leak"), vec![strong.clone()]);
    assert_eq!(search("waterproof"), vec![weak.clone()]);
    let r = app.call("PATCH", "/api/v1/me", Some(&p1.access), Some(json!({"fullName": "Zubin Mehta"})));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(search("zubin"), vec![strong.clone()], "provider renamed");
    let r = app.call(
        "PATCH",
        "/api/v1/admin/categories/cat_painting",
        Some(&admin.access),
        Some(json!({"name": "Colourwork"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(search("colourw"), vec![painter.clone()], "category renamed");
    assert_eq!(search("painting"), vec![painter.clone()], "still the sub-service 'Room painting'");
    let r = app.call(
        "PATCH",
        "/api/v1/admin/categories/cat_plumber",
        Some(&admin.access),
        Some(json!({"subServices": [{"id": "sub_plumber_tap-installation", "name": "Faucet fitting"}]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(search("faucet"), vec![strong.clone()], "sub-service renamed");
    assert_eq!(search("tap"), Vec::<String>::new());
    // Hidden listings stay out: a blocked provider.
    exec(&app, "UPDATE users SET blocked = 1 WHERE id = ?1", &[&p3.user_id]);
    assert_eq!(search("walls"), Vec::<String>::new());
    exec(&app, "UPDATE users SET blocked = 0 WHERE id = ?1", &[&p3.user_id]);

    // Hostile syntax: never an error, never FTS5 syntax.
    for q in [
        "%22",
        "%22leak",
        "leak%22%22",
        "(",
        ")",
        "((leak",
        "leak)",
        "*",
        "leak*",
        "*leak",
        "NEAR(leak%20pipe)",
        "leak%20NEAR/2%20pipe",
        "leak%20AND",
        "OR",
        "NOT%20leak",
        "leak%20-pipe",
        "description:leak",
        "%7Bdescription%7D:x",
        "^leak",
        "leak%20%2B%20pipe",
        "%27",
        "%3B%20DROP%20TABLE%20listings",
        "%5C",
        "%00",
        "%E2%80%8F",
    ] {
        let r = app.get(&format!("/api/v1/listings?q={q}"));
        assert!(r.status == 200 || r.status == 400, "{q}: {} {}", r.status, r.body);
    }
    assert_eq!(search("NEAR(leak%20pipe)"), Vec::<String>::new(), "operators are plain words: 'near' is in no listing");
    assert_eq!(search("(leak)%20AND%20%22pipe"), Vec::<String>::new(), "'and' is a word too");
    assert_eq!(search("leak%20-pipe"), vec![strong.clone()], "no NOT: both words required");
    assert_eq!(search("leak*"), vec![strong.clone()]);
    assert_eq!(search("description:leak"), Vec::<String>::new(), "no column filter: 'description' is a word");
    assert_eq!(search("(((("), Vec::<String>::new());
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM listings", &[]), 3, "nothing changed");
}

/// A word that matches thousands of listings: the newest `WINDOW` matches (by insertion) are
/// ranked, best first, and paging through them returns each live one exactly once, in the same
/// order every time, also with a filter; older matches and listings that are not live never show;
/// and the page's plan walks the FTS5 index in rowid order (stopping at the window) and finds
/// each listing by rowid: no scan of listings and no sort of anything but the window.
#[test]
fn search_over_thousands_of_matches_ranks_a_bounded_window_and_pages_each_once() {
    use buildxpert::catalog::search::{build, Filter, WINDOW};
    const N: i64 = 3000;
    let app = spawn_app();
    let now = app.clock.now_ms();
    let until = now + 30 * DAY * 1000;
    // 300 providers with a listing in each of 10 categories; listing n's text: "leak" three times
    // (n % 3 == 0), once in a longer text (n % 3 == 1), or not at all; every 7th expired; even n in
    // Pune, odd in Nashik.
    app.app()
        .db
        .write(|tx| {
            tx.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 299)
                 INSERT INTO users (id, role, phone, full_name, password_hash, verified, created_at, updated_at)
                 SELECT printf('usr_bulk_%03d', i), 'provider', printf('+9170000%05d', i), 'Bulk Provider', 'x', 1, ?1, ?1
                 FROM n",
                [now],
            )?;
            tx.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1),
                 cats(k, id) AS (SELECT row_number() OVER (ORDER BY id) - 1, id FROM categories WHERE active = 1)
                 INSERT INTO listings (id, provider_id, category_id, description, experience_years, city, state, address,
                     city_key, state_key, status, active_until, price_from, created_at, updated_at)
                 SELECT printf('lst_bulk_%05d', i), printf('usr_bulk_%03d', i / 10), (SELECT id FROM cats WHERE k = i % 10),
                     CASE i % 3 WHEN 0 THEN 'Leak leak leak repair' WHEN 1 THEN 'Leak repair, fittings and taps for homes and offices across town' ELSE 'Pipe fitting' END,
                     3, CASE i % 2 WHEN 0 THEN 'Pune' ELSE 'Nashik' END, 'Maharashtra', 'Private',
                     CASE i % 2 WHEN 0 THEN 'pune' ELSE 'nashik' END, 'maharashtra',
                     CASE WHEN i % 7 = 0 THEN 'expired' ELSE 'active' END, ?2, 30000, ?3 + i, ?3 + i
                 FROM n",
                rusqlite::params![N, until, now],
            )?;
            Ok::<_, DbError>(())
        })
        .unwrap();
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM listing_search WHERE listing_search MATCH 'leak'", &[]), 2000);
    // The rule: the newest WINDOW matches of the words, of which the live ones.
    let matches: Vec<i64> = (0..N).rev().filter(|i| i % 3 != 2).take(WINDOW).collect();
    let expected: Vec<i64> = matches.iter().copied().filter(|i| i % 7 != 0).collect();
    let walk = |query: &str| -> Vec<String> {
        let (mut seen, mut cursor) = (Vec::new(), None::<String>);
        for _ in 0..100 {
            let url = match &cursor {
                None => format!("/api/v1/listings?{query}&limit=100"),
                Some(c) => format!("/api/v1/listings?{query}&limit=100&cursor={c}"),
            };
            let r = app.get(&url);
            assert_eq!(r.status, 200, "{url}: {}", r.body);
            seen.extend(ids(&r));
            match r.json()["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return seen,
            }
        }
        panic!("{query}: paging did not end");
    };
    let all = walk("q=leak");
    let unique: std::collections::BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a listing came twice");
    let want: std::collections::BTreeSet<String> = expected.iter().map(|i| format!("lst_bulk_{i:05}")).collect();
    assert_eq!(unique, want.iter().collect(), "exactly the live listings of the window");
    assert_eq!(walk("q=leak"), all, "the same order on a second walk");
    // Ranked: the three-leak texts before the one-leak ones; an old match beyond the window and
    // an expired one inside it never show.
    let n_of = |id: &String| id.trim_start_matches("lst_bulk_").parse::<i64>().unwrap();
    let strong = all.iter().take_while(|id| n_of(id) % 3 == 0).count();
    assert_eq!(strong, expected.iter().filter(|i| *i % 3 == 0).count(), "strong matches first: {all:?}");
    assert!(all[strong..].iter().all(|id| n_of(id) % 3 == 1));
    assert!(!all.contains(&"lst_bulk_00003".to_string()), "beyond the window");
    assert!(!all.iter().any(|id| n_of(id) % 7 == 0), "not live");
    // With a filter: the window's matches in Pune, in the same order.
    let pune = walk("q=leak&city=pune");
    let in_pune: Vec<String> = all.iter().filter(|id| n_of(id) % 2 == 0).cloned().collect();
    assert_eq!(pune, in_pune);
    // A word that matches nothing, and the other words still work.
    assert_eq!(walk("q=leak%20pipe"), Vec::<String>::new());
    let pipes = (0..N).rev().filter(|i| i % 3 == 2).take(WINDOW).filter(|i| i % 7 != 0).count();
    assert_eq!(walk("q=pipe").len(), pipes, "the live ones of the newest WINDOW `pipe` matches");

    // The plan, first page and a later one.
    for after in [None, Some((5_000_000, "lst_bulk_02000".to_string()))] {
        let page = PageRequest { limit: 20, after };
        let f = Filter { q: Some("leak".into()), city_key: Some("pune".into()), ..Default::default() };
        let (sql, args) = build(&f, &page, now);
        let plan: Vec<String> = app
            .app()
            .db
            .read(|c| {
                let sql = format!("EXPLAIN QUERY PLAN {sql}");
                if c.prepare(&sql).is_err() {
                    buildxpert::catalog::rank::register(c)?;
                }
                let mut st = c.prepare(&sql)?;
                let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, String>(3))?;
                rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
            })
            .unwrap();
        let window = plan.iter().position(|l| l == "CO-ROUTINE w").expect("the window is a co-routine");
        let scan_w = plan.iter().position(|l| l == "SCAN w").expect("the window is read first");
        assert!(plan[window + 1].starts_with("SCAN listing_search VIRTUAL TABLE"), "{plan:#?}");
        assert!(!plan[window..scan_w].iter().any(|l| l.contains("TEMP B-TREE")), "matches sorted: {plan:#?}");
        assert!(plan.iter().any(|l| l == "SEARCH l USING INTEGER PRIMARY KEY (rowid=?)"), "{plan:#?}");
        let scanned =
            |l: &String| l.strip_prefix("SCAN ").and_then(|t| t.split_whitespace().next()).map(str::to_string);
        assert!(!plan.iter().filter_map(scanned).any(|t| t == "l" || t == "listings"), "{plan:#?}");
        assert!(sql.contains(&format!("ORDER BY rowid DESC LIMIT {WINDOW}")), "{sql}");
    }
}
