//! The hot reads' query plans (`EXPLAIN QUERY PLAN` of the exact statements the operations run):
//! every page is served by an index, so its cost does not grow with the table. A `SCAN` of a
//! table that grows with use fails the test; only virtual tables (`json_each`, the FTS5 index)
//! the small seeded catalogue and the search's bounded window of matches (`w`, at most
//! `catalog::search::WINDOW` rows) may be scanned.

use crate::support::spawn_app;
use buildxpert::clock::Clock;
use buildxpert::db::DbError;
use buildxpert::web::auth::Role;
use buildxpert::web::page::PageRequest;
use rusqlite::types::Value;

/// Tables that grow with use: never scanned by a hot read.
const BIG: &[&str] = &[
    "bookings",
    "booking_items",
    "booking_history",
    "listings",
    "listing_prices",
    "notifications",
    "users",
    "ratings",
    "events",
];

fn plan(app: &crate::support::TestApp, sql: &str, args: &[Value]) -> Vec<String> {
    app.app()
        .db
        .read(|c| {
            let sql = format!("EXPLAIN QUERY PLAN {sql}");
            // The search's rank function is registered on a connection when a search first needs it.
            if c.prepare(&sql).is_err() {
                buildxpert::catalog::rank::register(c)?;
            }
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, String>(3))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
        })
        .expect("plan")
}

fn assert_indexed(name: &str, p: &[String], sorted_ok: bool) {
    assert!(p.iter().any(|l| l.starts_with("SEARCH ")), "{name}: no index used: {p:#?}");
    if std::env::var_os("SHOW_PLANS").is_some() {
        eprintln!("{name}: {p:#?}");
    }
    for line in p {
        if let Some(rest) = line.strip_prefix("SCAN ") {
            let table = rest.split_whitespace().next().unwrap_or("");
            assert!(
                !BIG.contains(&table)
                    && (rest.contains("VIRTUAL TABLE")
                        || ["c", "categories", "s", "sub_services", "w"].contains(&table)),
                "{name}: scans {table}: {p:#?}"
            );
        }
        if !sorted_ok {
            assert!(!line.contains("TEMP B-TREE"), "{name}: sorts instead of reading an index in order: {p:#?}");
        }
    }
}

#[test]
fn hot_reads_are_served_by_indexes() {
    let app = spawn_app();
    let now = app.clock.now_ms();
    let first = PageRequest { limit: 20, after: None };
    let paged = PageRequest { limit: 20, after: Some((now, "x_cursor".into())) };
    let ids = Value::from(r#"["a","b","c"]"#.to_string());
    for page in [&first, &paged] {
        for side in [Role::Customer, Role::Provider] {
            for statuses in
                [vec![], vec![buildxpert::bookings::Status::Pending, buildxpert::bookings::Status::Accepted]]
            {
                let m = buildxpert::bookings::read::Mine { side, statuses };
                let (sql, args) = buildxpert::bookings::read::mine_sql("usr_x", &m, page);
                assert_indexed("GET /bookings", &plan(&app, &sql, &args), false);
            }
        }
        let (sql, args) = buildxpert::catalog::provider_listings::own_sql("usr_x", page);
        assert_indexed("GET /provider/listings", &plan(&app, &sql, &args), false);
        for unread in [false, true] {
            let (sql, args) = buildxpert::notify::inbox::list_sql("usr_x", unread, page);
            assert_indexed("GET /notifications", &plan(&app, &sql, &args), false);
        }
        let f = buildxpert::catalog::search::Filter::default();
        let (sql, args) = buildxpert::catalog::search::build(&f, page, now);
        assert_indexed("GET /listings", &plan(&app, &sql, &args), false);
        let f = buildxpert::catalog::search::Filter {
            category_id: Some("cat_plumber".into()),
            city_key: Some("pune".into()),
            ..Default::default()
        };
        let (sql, args) = buildxpert::catalog::search::build(&f, page, now);
        assert_indexed("GET /listings?category=&city=", &plan(&app, &sql, &args), false);
        let f = buildxpert::catalog::search::Filter { q: Some("leak".into()), ..Default::default() };
        let (sql, args) = buildxpert::catalog::search::build(&f, page, now);
        assert_indexed("GET /listings?q=", &plan(&app, &sql, &args), true);
    }
    // The batched second statements of a page, and the detail reads.
    assert_indexed(
        "booking items of a page",
        &plan(&app, buildxpert::bookings::views::ITEMS_OF_PAGE, std::slice::from_ref(&ids)),
        true,
    );
    assert_indexed("prices of a page", &plan(&app, buildxpert::catalog::listings::PRICES_OF, &[ids]), true);
    let detail = buildxpert::catalog::search::detail_sql();
    let p = plan(&app, &detail, &[Value::from(now), Value::from("lst_x".to_string())]);
    assert_indexed("GET /listings/{id}", &p, false);
    let by_id = format!("SELECT {} FROM bookings WHERE id = ?1", buildxpert::bookings::COLUMNS);
    assert_indexed("GET /bookings/{id}", &plan(&app, &by_id, &[Value::from("bkg_x".to_string())]), false);
}
