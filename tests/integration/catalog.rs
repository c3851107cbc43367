//! /api/v1/categories and /api/v1/admin/categories: the seeded catalogue matches DOMAIN.md, and
//! admins create and edit categories (validated, audited) while everyone else is refused.

use crate::support::{spawn_app, TestApp};
use serde_json::{json, Value};

const DOMAIN: [(&str, usize); 14] = [
    ("plumber", 5),
    ("mason-mastri", 1),
    ("painting", 5),
    ("granite-tiles", 7),
    ("engineer-interior", 5),
    ("electrician", 4),
    ("carpenter", 3),
    ("interiors-building", 5),
    ("stainless-steel", 3),
    ("contact-building", 5),
    ("glass-mirror", 2),
    ("cleaning", 4),
    ("borewell", 2),
    ("labour", 1),
];

fn audit_count(app: &TestApp, action: &str) -> i64 {
    app.app()
        .db
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM audit_log WHERE action = ?1", [action], |r| r.get(0))
                .map_err(buildxpert::db::DbError::from)
        })
        .unwrap()
}

fn fields(r: &crate::support::Resp) -> Value {
    assert_eq!((r.status, r.code()), (400, "validation_failed".to_string()), "{}", r.body);
    r.json()["error"]["fields"].clone()
}

#[test]
fn categories_match_the_domain_catalogue() {
    let app = spawn_app();
    let r = app.get("/api/v1/categories");
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.json()["items"].as_array().unwrap().clone();
    let got: Vec<(&str, usize)> =
        items.iter().map(|c| (c["slug"].as_str().unwrap(), c["subServices"].as_array().unwrap().len())).collect();
    assert_eq!(got, DOMAIN.to_vec(), "14 categories in DOMAIN order with their sub-services");
    for c in &items {
        let slug = c["slug"].as_str().unwrap();
        assert_eq!(c["id"], format!("cat_{slug}"));
        for s in c["subServices"].as_array().unwrap() {
            assert!(s["id"].as_str().unwrap().starts_with(&format!("sub_{slug}_")), "{s}");
            assert!(s["name"].as_str().is_some_and(|n| !n.is_empty()));
        }
        if slug == "labour" {
            assert_eq!(c["listingFee"], json!({"amount": 0, "currency": "INR"}));
            assert_eq!(c["listingDays"], 365);
            assert_eq!(c["requiresPass"], true);
            assert_eq!(c["passFee"], json!({"amount": 9900, "currency": "INR"}));
            assert_eq!(c["passDays"], 7);
        } else {
            assert_eq!(c["listingFee"], json!({"amount": 9900, "currency": "INR"}), "{slug}");
            assert_eq!(c["listingDays"], 30);
            assert_eq!(c["requiresPass"], false);
            assert!(c.get("passFee").is_none() && c.get("passDays").is_none(), "{c}");
        }
    }
    let plumber = &items[0];
    assert_eq!(plumber["name"], "Plumber");
    assert_eq!(plumber["subServices"][3], json!({"id": "sub_plumber_tap-installation", "name": "Tap installation"}));
}

#[test]
fn admins_create_categories_with_validation_and_others_are_refused() {
    let app = spawn_app();
    let admin = app.admin("9876506000");
    let customer = app.register("customer", "9876506001");
    let provider = app.register("provider", "9876506002");
    let body = json!({
        "slug": "roofing", "name": "Roofing", "listingFee": {"amount": 14900, "currency": "INR"}, "listingDays": 60,
        "subServices": [{"name": "Roof repair"}, {"slug": "sheet-roofing", "name": "Metal sheet roofing"}]
    });
    for s in [&customer, &provider] {
        let r = app.post("/api/v1/admin/categories", Some(&s.access), body.clone());
        assert_eq!((r.status, r.code()), (403, "forbidden".to_string()));
        assert_eq!(app.call("GET", "/api/v1/admin/categories", Some(&s.access), None).status, 403);
        let r = app.call("PATCH", "/api/v1/admin/categories/cat_plumber", Some(&s.access), Some(json!({"name": "x"})));
        assert_eq!(r.status, 403);
    }
    assert_eq!(app.post("/api/v1/admin/categories", None, body.clone()).status, 401);
    assert_eq!(app.call("GET", "/api/v1/admin/categories", None, None).status, 401);

    let r = app.post("/api/v1/admin/categories", Some(&admin.access), body.clone());
    assert_eq!(r.status, 201, "{}", r.body);
    let c = r.json();
    assert_eq!(c["id"], "cat_roofing");
    assert_eq!(c["listingFee"], json!({"amount": 14900, "currency": "INR"}));
    assert_eq!(c["position"], 15, "after the seeded 14");
    assert_eq!(c["active"], true);
    let subs: Vec<&str> = c["subServices"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(subs, vec!["sub_roofing_roof-repair", "sub_roofing_sheet-roofing"]);
    let public = app.get("/api/v1/categories").json();
    let last = public["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["slug"], "roofing");
    assert!(last.get("active").is_none() && last["subServices"][0].get("slug").is_none(), "public shape: {last}");
    assert_eq!(audit_count(&app, "admin.category_created"), 1);

    let r = app.post("/api/v1/admin/categories", Some(&admin.access), body.clone());
    assert_eq!((r.status, r.code()), (409, "already_exists".to_string()));
    let bad = json!({
        "slug": "Bad Slug", "name": " ", "listingFee": {"amount": -1, "currency": "INR"}, "listingDays": 0,
        "requiresPass": true, "subServices": [{"name": "Same"}, {"name": "same"}]
    });
    let f = fields(&app.post("/api/v1/admin/categories", Some(&admin.access), bad));
    for k in ["slug", "name", "listingFee", "listingDays", "passFee", "passDays", "subServices[1].slug"] {
        assert!(f.get(k).is_some(), "{k} in {f}");
    }
    let mut unknown = body.clone();
    unknown["slug"] = json!("other");
    unknown["colour"] = json!("red");
    assert!(fields(&app.post("/api/v1/admin/categories", Some(&admin.access), unknown)).get("colour").is_some());
    let mut empty = body.clone();
    empty["slug"] = json!("other");
    empty["subServices"] = json!([]);
    assert!(fields(&app.post("/api/v1/admin/categories", Some(&admin.access), empty)).get("subServices").is_some());
    let all = app.call("GET", "/api/v1/admin/categories", Some(&admin.access), None).json();
    assert_eq!(all["items"].as_array().unwrap().len(), 15, "the refused ones changed nothing");
    assert_eq!(audit_count(&app, "admin.category_created"), 1);
}

#[test]
fn admins_edit_categories_and_sub_services() {
    let app = spawn_app();
    let admin = app.admin("9876506100");
    let path = "/api/v1/admin/categories/cat_plumber";
    let patch = |b: Value| app.call("PATCH", path, Some(&admin.access), Some(b));
    let r = patch(json!({
        "name": "Plumbing", "listingFee": {"amount": 19900, "currency": "INR"}, "listingDays": 45,
        "subServices": [
            {"id": "sub_plumber_tap-installation", "name": "Tap fitting"},
            {"id": "sub_plumber_shower-installation", "active": false},
            {"name": "Geyser installation"}
        ]
    }));
    assert_eq!(r.status, 200, "{}", r.body);
    let c = r.json();
    assert_eq!((c["name"].as_str(), c["listingDays"].as_i64()), (Some("Plumbing"), Some(45)));
    assert_eq!(c["listingFee"]["amount"], 19900);
    assert_eq!(c["subServices"].as_array().unwrap().len(), 6, "admins see inactive ones too");
    let public = app.get("/api/v1/categories").json();
    let p = &public["items"][0];
    let names: Vec<&str> = p["subServices"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Tap fitting") && names.contains(&"Geyser installation"), "{names:?}");
    assert!(!names.contains(&"Shower installation"), "deactivated sub-services are hidden: {names:?}");
    assert_eq!(p["subServices"].as_array().unwrap().last().unwrap()["id"], "sub_plumber_geyser-installation");

    // A pass: both settings required together.
    let f = fields(&patch(json!({"requiresPass": true})));
    assert!(f.get("passFee").is_some() && f.get("passDays").is_some(), "{f}");
    let r = patch(json!({"requiresPass": true, "passFee": {"amount": 4900, "currency": "INR"}, "passDays": 3}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["passFee"]["amount"], 4900);
    let r = patch(json!({"requiresPass": false}));
    assert!(r.json().get("passFee").is_none(), "{}", r.body);

    // Another category's sub-service, bad values, unknown fields: 400 and nothing changes.
    let f =
        fields(&patch(json!({"name": "Changed", "subServices": [{"id": "sub_painting_room-painting", "name": "x"}]})));
    assert!(f.get("subServices[0].id").is_some(), "{f}");
    let f = fields(&patch(json!({"listingFee": {"amount": 100, "currency": "USD"}, "listingDays": -3})));
    assert!(f.get("listingFee").is_some() && f.get("listingDays").is_some(), "{f}");
    assert!(fields(&patch(json!({"colour": "red"}))).get("colour").is_some());
    let all_off: Vec<Value> = app.call("GET", "/api/v1/admin/categories", Some(&admin.access), None).json()["items"][0]
        ["subServices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!({"id": s["id"], "active": false}))
        .collect();
    let f = fields(&patch(json!({"subServices": all_off})));
    assert!(f.get("subServices").is_some(), "at least one stays active: {f}");
    let c = app.call("GET", "/api/v1/admin/categories", Some(&admin.access), None).json()["items"][0].clone();
    assert_eq!(c["name"], "Plumbing");
    assert_eq!(c["subServices"].as_array().unwrap().iter().filter(|s| s["active"] == true).count(), 5);

    // Deactivating hides the category from the public catalogue only.
    assert_eq!(patch(json!({"active": false})).status, 200);
    let public = app.get("/api/v1/categories").json();
    assert_eq!(public["items"].as_array().unwrap().len(), 13);
    assert_eq!(public["items"][0]["slug"], "mason-mastri");
    assert_eq!(
        app.call("GET", "/api/v1/admin/categories", Some(&admin.access), None).json()["items"]
            .as_array()
            .unwrap()
            .len(),
        14
    );
    let r = app.call("PATCH", "/api/v1/admin/categories/cat_nope", Some(&admin.access), Some(json!({"name": "x"})));
    assert_eq!(r.status, 404);
    assert_eq!(audit_count(&app, "admin.category_updated"), 4);
}
