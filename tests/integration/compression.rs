//! gzip negotiation in `Finish` (web::compress) and the ETag/If-None-Match validators
//! (web::cache) on the public cacheable GETs.

use crate::support::http::request_bytes;
use crate::support::{request, spawn_app, TestApp};
use buildxpert::notify::outbox;
use serde_json::json;
use std::io::Read;

type Raw = (u16, Vec<(String, String)>, Vec<u8>);

fn h<'a>(r: &'a Raw, name: &str) -> Option<&'a str> {
    r.1.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn all<'a>(r: &'a Raw, name: &str) -> Vec<&'a str> {
    r.1.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
}

fn varies(r: &Raw) -> bool {
    all(r, "Vary").iter().any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("accept-encoding")))
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut out).expect("valid gzip");
    out
}

fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Raw {
    request_bytes("GET", &format!("{}{path}", app.url), headers)
}

#[test]
fn large_json_is_gzipped_when_accepted_and_identical_once_decompressed() {
    let app = spawn_app();
    let plain = get(&app, "/api/v1/categories", &[]);
    assert_eq!(plain.0, 200);
    assert!(plain.2.len() >= 1024, "categories are large enough: {}", plain.2.len());
    assert!(h(&plain, "Content-Encoding").is_none());
    assert!(varies(&plain), "Vary on a compressible answer that was not compressed");
    for ae in ["gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.5", "*", "identity;q=0.5, *;q=0.1"] {
        let z = get(&app, "/api/v1/categories", &[("Accept-Encoding", ae)]);
        assert_eq!(z.0, 200);
        assert_eq!(h(&z, "Content-Encoding"), Some("gzip"), "{ae}");
        assert!(varies(&z));
        assert!(z.2.len() < plain.2.len() / 2, "{} vs {}", z.2.len(), plain.2.len());
        assert_eq!(h(&z, "Content-Length"), Some(z.2.len().to_string().as_str()), "framed by the compressed size");
        assert_eq!(gunzip(&z.2), plain.2, "{ae}");
    }
}

#[test]
fn no_gzip_unless_accepted_and_never_for_small_head_or_304() {
    let app = spawn_app();
    for ae in [None, Some("identity"), Some("gzip;q=0"), Some("gzip;q=0, *"), Some("br, deflate"), Some("*;q=0")] {
        let hs: Vec<(&str, &str)> = ae.map(|v| ("Accept-Encoding", v)).into_iter().collect();
        let r = get(&app, "/api/v1/categories", &hs);
        assert_eq!(r.0, 200);
        assert!(h(&r, "Content-Encoding").is_none(), "{ae:?}");
        assert!(varies(&r), "{ae:?}");
        assert!(serde_json::from_slice::<serde_json::Value>(&r.2).is_ok(), "{ae:?}");
    }
    let small = get(&app, "/healthz", &[("Accept-Encoding", "gzip")]);
    assert_eq!(small.0, 200);
    assert!(small.2.len() < 1024 && h(&small, "Content-Encoding").is_none());
    assert_eq!(small.2, b"{\"status\":\"ok\"}");
    assert!(varies(&small), "small compressible answers still vary");
    let head = request_bytes("HEAD", &format!("{}/api/v1/categories", app.url), &[("Accept-Encoding", "gzip")]);
    assert_eq!(head.0, 200);
    assert!(head.2.is_empty() && h(&head, "Content-Encoding").is_none(), "HEAD is not compressed");
    let plain = get(&app, "/api/v1/categories", &[]);
    assert_eq!(h(&head, "Content-Length"), Some(plain.2.len().to_string().as_str()), "HEAD as before");
    let etag = h(&plain, "ETag").unwrap().to_string();
    let nm = get(&app, "/api/v1/categories", &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)]);
    assert_eq!(nm.0, 304);
    assert!(nm.2.is_empty() && h(&nm, "Content-Encoding").is_none());
}

#[test]
fn a_parked_long_poll_answer_is_compressed_when_large() {
    let app = spawn_app();
    let a = app.register("customer", "9876507001");
    let start = app.call("GET", "/api/v1/events", Some(&a.access), None);
    let cursor = start.json()["cursor"].as_str().unwrap().to_string();
    let auth = format!("Bearer {}", a.access);
    std::thread::scope(|scope| {
        let url = format!("{}/api/v1/events?after={cursor}&wait=10", app.url);
        let waiter =
            scope.spawn(move || request_bytes("GET", &url, &[("Authorization", &auth), ("Accept-Encoding", "gzip")]));
        crate::support::eventually("the poll is parked", || app.app().hub.waiting() == 1);
        let pad = "x".repeat(200);
        let user = a.user_id.clone();
        app.app()
            .db
            .write(|tx| {
                for i in 0..20 {
                    outbox::event(tx, app.app(), &[user.as_str()], "booking.updated", &json!({"seq": i, "pad": pad}))?;
                }
                Ok::<(), buildxpert::web::ApiError>(())
            })
            .unwrap();
        let r = waiter.join().unwrap();
        assert_eq!(r.0, 200);
        assert!(varies(&r));
        assert!(h(&r, "X-Request-Id").is_some(), "Finish ran on the resumed answer");
        assert_eq!(h(&r, "Content-Encoding"), Some("gzip"));
        let j: serde_json::Value = serde_json::from_slice(&gunzip(&r.2)).unwrap();
        assert_eq!(j["events"].as_array().unwrap().len(), 20);
    });
}

/// GET with the 200's ETag → 304, bodyless, same ETag; `W/` and lists and `*` match too.
fn revalidates(app: &TestApp, path: &str) -> String {
    let r = get(app, path, &[]);
    assert_eq!(r.0, 200, "{path}");
    let etag = h(&r, "ETag").unwrap_or_else(|| panic!("{path} has an ETag")).to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "strong: {etag}");
    assert!(h(&r, "Cache-Control").is_some(), "{path}");
    let weak = format!("W/{etag}");
    let list = format!("\"nope\", {etag}");
    for inm in [etag.as_str(), weak.as_str(), list.as_str(), "*"] {
        for ae in ["identity", "gzip"] {
            let nm = get(app, path, &[("If-None-Match", inm), ("Accept-Encoding", ae)]);
            assert_eq!(nm.0, 304, "{path} {inm}");
            assert!(nm.2.is_empty(), "{path}");
            assert_eq!(h(&nm, "ETag"), Some(etag.as_str()));
        }
    }
    let other = get(app, path, &[("If-None-Match", "\"something-else\"")]);
    assert_eq!(other.0, 200);
    // A gzip answer carries the weak form of the same tag, and revalidates with it.
    let z = get(app, path, &[("Accept-Encoding", "gzip")]);
    if h(&z, "Content-Encoding") == Some("gzip") {
        assert_eq!(h(&z, "ETag"), Some(weak.as_str()));
    }
    let head = request_bytes("HEAD", &format!("{}{path}", app.url), &[("If-None-Match", &etag)]);
    assert_eq!(head.0, 304);
    etag
}

#[test]
fn etags_answer_304_on_the_public_cacheable_gets() {
    let app = spawn_app();
    for path in ["/api/v1/openapi.json", "/admin/", "/admin/app.js"] {
        revalidates(&app, path);
        assert_eq!(h(&get(&app, path, &[]), "Cache-Control"), Some("no-cache"), "{path}");
    }
    revalidates(&app, "/api/v1/categories");
    let p = app.register("provider", "9876507011");
    let r = app.post(
        "/api/v1/provider/listings",
        Some(&p.access),
        json!({
            "categoryId": "cat_plumber", "description": "Leak fixing and fittings", "experienceYears": 7,
            "city": "Pune", "state": "Maharashtra", "address": "12 MG Road",
            "subServices": [{"id": "sub_plumber_tap-installation", "price": {"amount": 50000, "currency": "INR"}}]
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    app.app().db.write(|tx| buildxpert::catalog::activate_listing(tx, app.app(), &id, 30)).unwrap();
    let path = format!("/api/v1/listings/{id}");
    revalidates(&app, &path);
    assert_eq!(h(&get(&app, &path, &[]), "Cache-Control"), Some("no-cache"));
    assert_eq!(get(&app, "/api/v1/listings/bl_missing", &[("If-None-Match", "*")]).0, 404, "errors never 304");
}

#[test]
fn a_changed_category_list_gets_a_new_etag() {
    let app = spawn_app();
    let before = revalidates(&app, "/api/v1/categories");
    assert_eq!(h(&get(&app, "/api/v1/categories", &[]), "Cache-Control"), Some("public, max-age=60"));
    let admin = app.admin("9876507021");
    let r = request(
        "PATCH",
        &format!("{}/api/v1/admin/categories/cat_plumber", app.url),
        &[("Authorization", &format!("Bearer {}", admin.access))],
        Some(("application/json", json!({"name": "Plumbing"}).to_string().as_bytes())),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let after = get(&app, "/api/v1/categories", &[("If-None-Match", &before)]);
    assert_eq!(after.0, 200, "the old tag no longer matches");
    let new = h(&after, "ETag").unwrap().to_string();
    assert_ne!(new, before);
    assert!(String::from_utf8_lossy(&after.2).contains("Plumbing"));
    assert_eq!(get(&app, "/api/v1/categories", &[("If-None-Match", &new)]).0, 304);
}
