//! Seeds a data dir for the marketplace bench: customers (password `bench-pass-123`), providers
//! with one active listing each (categories round-robin, two priced sub-services), and bookings
//! spread over listings, customers, statuses and future slots. Bulk inserts through the library in
//! large transactions; not part of the binary's normal path.
//!
//! `cargo bench --bench seed_marketplace -- --data-dir D [--listings 10000] [--bookings 10000] [--customers 1000] [--bookable 50000] [--pending-payments 0]`
//!
//! `--transitions N` adds N pending bookings `bt_<n>` (unpadded) of customer `usr_c00000000` on listing
//! `lst_00000000` (provider phone +917000000000), each at its own slot, for the provider's
//! `POST /bookings/bt_{seq}/accept` in the bench's mix. `--notifications N` gives that customer N
//! notifications (`GET /notifications` then has a full page).
//!
//! `--pending-payments N` (at most `--listings`) adds pending sandbox listing-fee payments `pay_bench_<n>`
//! (unpadded; listing `lst_<n>`'s provider pays), for the webhook bench (`bench/payments.sh`).

use buildxpert::app::App;
use buildxpert::clock::{Clock, SystemClock};
use buildxpert::config::{Config, Overrides};
use rusqlite::params;
use std::sync::Arc;
use std::time::Instant;

const CITIES: [(&str, &str); 10] = [
    ("Pune", "Maharashtra"),
    ("Mumbai", "Maharashtra"),
    ("Bengaluru", "Karnataka"),
    ("Mysuru", "Karnataka"),
    ("Chennai", "Tamil Nadu"),
    ("Hyderabad", "Telangana"),
    ("Kolkata", "West Bengal"),
    ("Jaipur", "Rajasthan"),
    ("Lucknow", "Uttar Pradesh"),
    ("Kochi", "Kerala"),
];
const BATCH: usize = 20_000;
const INSERT_PROVIDER: &str =
    "INSERT INTO users (id, role, phone, full_name, password_hash, verified, created_at, updated_at)
     VALUES (?1, 'provider', ?2, ?3, ?4, 1, ?5, ?5)";

fn arg(name: &str) -> Option<String> {
    let a: Vec<String> = std::env::args().collect();
    a.iter().position(|x| x == name).and_then(|i| a.get(i + 1)).cloned()
}

fn num(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let Some(dir) = arg("--data-dir") else {
        eprintln!("usage: seed_marketplace --data-dir DIR [--listings N] [--bookings M] [--customers C]");
        std::process::exit(2);
    };
    let (listings, bookings, customers) =
        (num("--listings", 10_000), num("--bookings", 10_000), num("--customers", 1_000));
    // Extra plumber listings `bl_<n>` (unpadded) for the booking-creation run: each request books
    // a different one (`bl_{seq}` in the bench body), all priced for tap installation.
    let bookable = num("--bookable", 50_000);
    let o = Overrides { config_file: None, listen: Some("127.0.0.1:0".into()), data_dir: Some(dir.clone().into()) };
    let cfg = Config::load_from(&o, &[("BUILDXPERT_LOG__LEVEL".into(), "off".into())]).expect("config");
    let (app, _) = App::build(cfg, Arc::new(SystemClock)).expect("app");
    let t = Instant::now();
    let now = SystemClock.now_ms();
    let hash = app.hasher.hash("bench-pass-123");
    // Paid categories with their first two sub-services.
    let cats: Vec<(String, Vec<(String, String)>)> = app
        .db
        .read(|c| {
            let mut st = c.prepare("SELECT id FROM categories WHERE requires_pass = 0 ORDER BY position")?;
            let ids: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            let mut out = Vec::new();
            for id in ids {
                let mut s =
                    c.prepare("SELECT id, name FROM sub_services WHERE category_id = ?1 ORDER BY position LIMIT 2")?;
                let subs: Vec<(String, String)> =
                    s.query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
                out.push((id, subs));
            }
            Ok::<_, buildxpert::db::DbError>(out)
        })
        .expect("catalogue is seeded");
    assert!(!cats.is_empty(), "run on a database with the catalogue migration");

    for chunk in (0..customers).collect::<Vec<_>>().chunks(BATCH) {
        app.db
            .write(|tx| {
                let mut st = tx.prepare(
                    "INSERT INTO users (id, role, phone, full_name, password_hash, verified, created_at, updated_at)
                     VALUES (?1, 'customer', ?2, ?3, ?4, 1, ?5, ?5)",
                )?;
                for i in chunk {
                    st.execute(params![
                        format!("usr_c{i:08}"),
                        format!("+9160{i:08}"),
                        format!("Customer {i}"),
                        hash,
                        now
                    ])?;
                }
                Ok::<_, buildxpert::db::DbError>(())
            })
            .expect("customers");
    }
    for chunk in (0..listings).collect::<Vec<_>>().chunks(BATCH) {
        app.db
            .write(|tx| {
                let mut user = tx.prepare(INSERT_PROVIDER)?;
                let mut listing = tx.prepare(
                    "INSERT INTO listings (id, provider_id, category_id, description, experience_years, city, state, address,
                         city_key, state_key, status, active_until, price_from, rating_sum, rating_count, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'Shop 1, Main Road', ?8, ?9, 'active', ?10, ?11, ?12, ?13, ?14, ?14)",
                )?;
                let mut price = tx.prepare("INSERT INTO listing_prices (listing_id, sub_service_id, price) VALUES (?1, ?2, ?3)")?;
                for i in chunk {
                    let (cat, subs) = &cats[i % cats.len()];
                    let (city, state) = CITIES[(i / cats.len()) % CITIES.len()];
                    let uid = format!("usr_p{i:08}");
                    user.execute(params![uid, format!("+9170{i:08}"), format!("Provider {i}"), hash, now])?;
                    let base = 20_000 + (i % 50) as i64 * 1_000;
                    let lid = format!("lst_{i:08}");
                    let created = now - (listings - i) as i64 * 1000;
                    listing.execute(params![
                        lid,
                        uid,
                        cat,
                        format!("Experienced professional #{i} serving {city}"),
                        (i % 25) as i64,
                        city,
                        state,
                        city.to_lowercase(),
                        state.to_lowercase(),
                        now + 30 * 86_400_000,
                        base,
                        (i % 5 + 1) as i64 * 3,
                        3i64,
                        created
                    ])?;
                    for (k, (sub, _)) in subs.iter().enumerate() {
                        price.execute(params![lid, sub, base + k as i64 * 5_000])?;
                    }
                }
                Ok::<_, buildxpert::db::DbError>(())
            })
            .expect("listings");
    }
    for chunk in (0..bookable).collect::<Vec<_>>().chunks(BATCH) {
        app.db
            .write(|tx| {
                let mut user = tx.prepare(INSERT_PROVIDER)?;
                let mut listing = tx.prepare(
                    "INSERT INTO listings (id, provider_id, category_id, description, experience_years, city, state, address,
                         city_key, state_key, status, active_until, price_from, created_at, updated_at)
                     VALUES (?1, ?2, 'cat_plumber', 'Bookable plumber', 5, 'Pune', 'Maharashtra', 'Shop 2',
                         'pune', 'maharashtra', 'active', ?3, 30000, ?4, ?4)",
                )?;
                let mut price = tx.prepare(
                    "INSERT INTO listing_prices (listing_id, sub_service_id, price) VALUES (?1, 'sub_plumber_tap-installation', 30000)",
                )?;
                for i in chunk {
                    let uid = format!("usr_b{i:08}");
                    user.execute(params![uid, format!("+9180{i:08}"), format!("Plumber {i}"), hash, now])?;
                    let lid = format!("bl_{i}");
                    listing.execute(params![lid, uid, now + 30 * 86_400_000, now - 10 * 86_400_000])?;
                    price.execute(params![lid])?;
                }
                Ok::<_, buildxpert::db::DbError>(())
            })
            .expect("bookable listings");
    }
    let statuses = ["pending", "accepted", "completed", "cancelled", "rejected"];
    for chunk in (0..bookings).collect::<Vec<_>>().chunks(BATCH) {
        app.db
            .write(|tx| {
                let mut b = tx.prepare(
                    "INSERT INTO bookings (id, listing_id, customer_id, provider_id, category_id, status, local_date, local_time,
                         starts_at, address, total, currency, completed_at, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '12 Park Street', ?10, 'INR', ?11, ?12, ?12)",
                )?;
                let mut item = tx.prepare("INSERT INTO booking_items (booking_id, sub_service_id, name, price) VALUES (?1, ?2, ?3, ?4)")?;
                for i in chunk {
                    let l = i % listings.max(1);
                    let (cat, subs) = &cats[l % cats.len()];
                    let status = statuses[i % statuses.len()];
                    // Unique slots per booking keep every partial unique index satisfied.
                    let starts = now + 86_400_000 + *i as i64 * 60_000;
                    let (date, time) = app.tz.utc_to_local(starts);
                    let id = format!("bkg_{i:09}");
                    let total = 20_000 + (l % 50) as i64 * 1_000;
                    let completed = (status == "completed").then_some(now - (*i as i64 % 86_400) * 1000);
                    b.execute(params![
                        id,
                        format!("lst_{l:08}"),
                        format!("usr_c{:08}", i % customers.max(1)),
                        format!("usr_p{l:08}"),
                        cat,
                        status,
                        date,
                        time,
                        starts,
                        total,
                        completed,
                        now - (bookings - i) as i64 * 1000
                    ])?;
                    if let Some((sub, name)) = subs.first() {
                        item.execute(params![id, sub, name, total])?;
                    }
                }
                Ok::<_, buildxpert::db::DbError>(())
            })
            .expect("bookings");
    }
    let transitions = if listings == 0 || customers == 0 { 0 } else { num("--transitions", 0) };
    for chunk in (0..transitions).collect::<Vec<_>>().chunks(BATCH) {
        app.db
            .write(|tx| {
                let mut b = tx.prepare(
                    "INSERT INTO bookings (id, listing_id, customer_id, provider_id, category_id, status, local_date, local_time,
                         starts_at, address, total, currency, created_at, updated_at)
                     VALUES (?1, 'lst_00000000', 'usr_c00000000', 'usr_p00000000', ?2, 'pending', ?3, ?4, ?5,
                         '12 Park Street', 20000, 'INR', ?6, ?6)",
                )?;
                let mut item = tx.prepare("INSERT INTO booking_items (booking_id, sub_service_id, name, price) VALUES (?1, ?2, ?3, 20000)")?;
                let (cat, subs) = &cats[0];
                for i in chunk {
                    // Slots after every seeded booking's, one minute apart.
                    let starts = now + 86_400_000 + (bookings + *i) as i64 * 60_000;
                    let (date, time) = app.tz.utc_to_local(starts);
                    let id = format!("bt_{i}");
                    b.execute(params![id, cat, date, time, starts, now])?;
                    if let Some((sub, name)) = subs.first() {
                        item.execute(params![id, sub, name])?;
                    }
                }
                Ok::<_, buildxpert::db::DbError>(())
            })
            .expect("transition bookings");
    }
    let notices = if customers == 0 { 0 } else { num("--notifications", 0) };
    app.db
        .write(|tx| {
            let mut st = tx.prepare(
                "INSERT INTO notifications (id, user_id, kind, title, body, data, created_at)
                 VALUES (?1, 'usr_c00000000', 'booking.accepted', 'Booking accepted', 'Your booking was accepted', '{}', ?2)",
            )?;
            for i in 0..notices {
                st.execute(params![format!("ntf_bench_{i:06}"), now - (notices - i) as i64 * 1000])?;
            }
            Ok::<_, buildxpert::db::DbError>(())
        })
        .expect("notifications");
    let pending = num("--pending-payments", 0).min(listings);
    for chunk in (0..pending).collect::<Vec<_>>().chunks(BATCH) {
        app.db
            .write(|tx| {
                let mut st = tx.prepare(
                    "INSERT INTO payments (id, payer_id, purpose, target_id, days, amount, currency, gateway, gateway_ref,
                         checkout, status, expires_at, created_at, updated_at)
                     VALUES (?1, ?2, 'listing_fee', ?3, 30, 9900, 'INR', 'sandbox', ?1, '{}', 'pending', ?4, ?5, ?5)",
                )?;
                for i in chunk {
                    let id = format!("pay_bench_{i}");
                    st.execute(params![id, format!("usr_p{i:08}"), format!("lst_{i:08}"), now + 86_400_000, now])?;
                }
                Ok::<_, buildxpert::db::DbError>(())
            })
            .expect("pending payments");
    }
    app.db.write(|tx| tx.execute_batch("ANALYZE;").map_err(buildxpert::db::DbError::from)).expect("analyze");
    app.db.checkpoint().expect("checkpoint");
    println!(
        "seeded {customers} customers, {listings} listings (providers), {bookings} bookings into {dir} in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    println!("customer login: phone +916000000001 password bench-pass-123 role customer");
}
