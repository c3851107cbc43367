//! Crash safety under mixed writes: the compiled binary serves bookings being created and
//! accepted, listing fees ordered and paid through signed sandbox webhooks, and chat messages,
//! from several threads at once, and is killed with SIGKILL at a random moment, `CRASH_ROUNDS`
//! times (default 3; the long run is `CRASH_ROUNDS=20 cargo test --test integration crash_mixed`),
//! restarting on the same data dir each time. Then:
//! - every acknowledged (2xx) booking, acceptance, payment order, payment and message is there;
//! - no payment succeeded without its activation (the listing's `active_until`, one 30-day period
//!   per succeeded payment, a `payment_events` row and one notification) and no activation
//!   without its payment;
//! - no duplicates beyond at-least-once: one `booking.created` notification per booking, one
//!   delivery row per notification and channel;
//! - `PRAGMA integrity_check` is ok and `buildxpert audit verify` accepts the audit chain.

use crate::support::binary::{run, serve, text, Served};
use crate::support::{fake_twilio, url_decode_form, with_twilio, TempDir};
use buildxpert::payments::gateways::sandbox;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "crash-mixed-sandbox-secret-0123456789";
const DAY_MS: i64 = 86_400_000;
const CATEGORIES: [(&str, &str); 4] = [
    ("cat_plumber", "sub_plumber_tap-installation"),
    ("cat_painting", "sub_painting_room-painting"),
    ("cat_electrician", "sub_electrician_wiring"),
    ("cat_carpenter", "sub_carpenter_furniture-repair"),
];

struct R {
    status: u16,
    body: Value,
}

/// `buildxpert_db_commit_batch_max` from `/metrics` (0 when unreadable).
fn largest_batch(url: &str) -> u64 {
    let Some(r) = call_text(&format!("{url}/metrics")) else { return 0 };
    r.lines()
        .find_map(|l| l.strip_prefix("buildxpert_db_commit_batch_max "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn call_text(url: &str) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).build().into();
    agent.get(url).call().ok()?.body_mut().read_to_string().ok()
}

/// One request; `None` when the server is gone (refused, reset, timed out): not acknowledged.
fn call(method: &str, url: &str, token: Option<&str>, headers: &[(&str, &str)], body: &str) -> Option<R> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut b = ureq::http::Request::builder().method(method).uri(url).header("Content-Type", "application/json");
    if let Some(t) = token {
        b = b.header("Authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = agent.run(b.body(body.as_bytes().to_vec()).ok()?).ok()?;
    let status = resp.status().as_u16();
    // A response cut off by the kill is not an acknowledgement either.
    let text = resp.into_body().read_to_string().ok()?;
    Some(R { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) })
}

fn must(r: Option<R>, want: u16, what: &str) -> Value {
    let r = r.unwrap_or_else(|| panic!("{what}: no answer"));
    assert_eq!(r.status, want, "{what}: {}", r.body);
    r.body
}

/// What the server acknowledged, across every round.
#[derive(Default)]
struct Acked {
    bookings: Vec<String>,
    accepted: Vec<String>,
    orders: Vec<String>,
    paid: Vec<String>,
    messages: Vec<String>,
}

struct World {
    customer: String,
    provider: String,
    /// The listing bookings go to (paid at setup).
    bookable: String,
    /// The provider's four listings, whose fees are paid again and again.
    listings: Vec<String>,
}

fn login(url: &str, phone: &str, role: &str) -> String {
    let b = must(
        call(
            "POST",
            &format!("{url}/api/v1/auth/login"),
            None,
            &[],
            &json!({"phone": phone, "password": "s3cret-pass", "role": role}).to_string(),
        ),
        200,
        "login",
    );
    b["accessToken"].as_str().expect("token").to_string()
}

fn pay(url: &str, payment: &str, n: u64) -> Option<R> {
    let body = json!({"id": format!("evt_mixed_{n}_{payment}"), "type": "payment.succeeded", "paymentId": payment,
                      "amount": 9900, "currency": "INR"})
    .to_string();
    let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let sig = sandbox::header(SECRET, t, body.as_bytes());
    call("POST", &format!("{url}/api/v1/webhooks/sandbox"), None, &[("X-Sandbox-Signature", &sig)], &body)
}

fn setup(s: &Served, twilio: &crate::support::fake::FakeServer) -> World {
    let url = &s.url;
    let mut tokens = Vec::new();
    for (phone, role) in [("9876507001", "provider"), ("9876507002", "customer")] {
        must(
            call(
                "POST",
                &format!("{url}/api/v1/auth/signup"),
                None,
                &[],
                &json!({"fullName": "Crash Tester", "phone": phone, "password": "s3cret-pass", "role": role})
                    .to_string(),
            ),
            202,
            "signup",
        );
        let code = twilio
            .received()
            .iter()
            .rev()
            .map(|m| url_decode_form(&m.body_str()))
            .filter(|f| f.get("To").is_some_and(|to| to.ends_with(phone)))
            .find_map(|f| f.get("Body").and_then(|b| b.split_whitespace().next()).map(str::to_string))
            .unwrap_or_default();
        let b = must(
            call(
                "POST",
                &format!("{url}/api/v1/auth/verify"),
                None,
                &[],
                &json!({"phone": phone, "role": role, "code": code}).to_string(),
            ),
            201,
            "verify",
        );
        tokens.push(b["accessToken"].as_str().expect("token").to_string());
    }
    let provider = &tokens[0];
    let mut listings = Vec::new();
    for (cat, sub) in CATEGORIES {
        let b = must(
            call(
                "POST",
                &format!("{url}/api/v1/provider/listings"),
                Some(provider),
                &[],
                &json!({"categoryId": cat, "description": "Careful work", "experienceYears": 5, "city": "Pune",
                        "state": "Maharashtra", "address": "1 Main Road",
                        "subServices": [{"id": sub, "price": {"amount": 20000, "currency": "INR"}}]})
                .to_string(),
            ),
            201,
            "listing",
        );
        listings.push(b["id"].as_str().expect("id").to_string());
    }
    World { customer: "9876507002".into(), provider: "9876507001".into(), bookable: listings[0].clone(), listings }
}

/// A tiny xorshift: the kill moments (the seed is printed, to replay a failure).
struct Rng(u64);
impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn sigkill_under_mixed_writes_loses_nothing_acknowledged_and_keeps_every_invariant() {
    let rounds: usize = std::env::var("CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1);
    eprintln!("crash_mixed: CRASH_ROUNDS={rounds} CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let twilio = fake_twilio();
    let dir = TempDir::new("crashmixed");
    let env = with_twilio(
        &twilio,
        &[
            ("BUILDXPERT_PAYMENTS__SANDBOX__SECRET", SECRET),
            ("BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE", "0"),
            ("BUILDXPERT_LIMITS__BOOKINGS_PER_USER_PER_HOUR", "0"),
            ("BUILDXPERT_LIMITS__PAYMENTS_PER_USER_PER_HOUR", "0"),
            ("BUILDXPERT_LIMITS__MESSAGES_PER_USER_PER_MINUTE", "0"),
            ("BUILDXPERT_LIMITS__API_PER_USER_PER_MINUTE", "0"),
        ],
    );
    let mut s = serve(dir.path(), &[], &env).expect("serves");
    let world = Arc::new(setup(&s, &twilio));
    // The bookable listing is paid before the chaos starts (bookings need an active listing).
    {
        let t = login(&s.url, &world.provider, "provider");
        let b = must(
            call(
                "POST",
                &format!("{}/api/v1/payments", s.url),
                Some(&t),
                &[],
                &json!({"purpose": "listing_fee", "listingId": world.bookable}).to_string(),
            ),
            201,
            "first fee",
        );
        let id = b["id"].as_str().expect("id").to_string();
        assert_eq!(pay(&s.url, &id, 0).map(|r| r.status), Some(200));
    }
    let acked = Arc::new(Mutex::new(Acked::default()));
    let slot = Arc::new(AtomicU64::new(0));
    let event_seq = Arc::new(AtomicU64::new(1));
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Duration::days(2);
    // The most requests one commit held (group commit), over the rounds.
    let mut batch_max = 0;
    for round in 0..rounds {
        let url = s.url.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let customer = login(&url, &world.customer, "customer");
        let provider = login(&url, &world.provider, "provider");
        let mut workers = Vec::new();
        // Customers book (each at its own slot), two threads.
        for _ in 0..2 {
            let (url, stop, acked, slot, world, token) =
                (url.clone(), stop.clone(), acked.clone(), slot.clone(), world.clone(), customer.clone());
            workers.push(std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let k = slot.fetch_add(1, Ordering::SeqCst) as i64;
                    let date = (tomorrow + chrono::Duration::days(k / 96)).format("%Y-%m-%d").to_string();
                    let time = format!("{:02}:{:02}", (k % 96) / 4, (k % 4) * 15);
                    let body = json!({"listingId": world.bookable, "subServiceIds": [CATEGORIES[0].1], "date": date,
                                      "time": time, "address": "4 Lake View"});
                    match call("POST", &format!("{url}/api/v1/bookings"), Some(&token), &[], &body.to_string()) {
                        None => break,
                        Some(r) if r.status == 201 => {
                            let id = r.body["id"].as_str().expect("booking id").to_string();
                            acked.lock().unwrap().bookings.push(id);
                        }
                        Some(r) => panic!("POST /bookings {}: {}", r.status, r.body),
                    }
                }
            }));
        }
        // The provider accepts acknowledged bookings.
        {
            let (url, stop, acked, token) = (url.clone(), stop.clone(), acked.clone(), provider.clone());
            workers.push(std::thread::spawn(move || {
                let mut done = std::collections::HashSet::new();
                while !stop.load(Ordering::SeqCst) {
                    let next = {
                        let a = acked.lock().unwrap();
                        a.accepted.iter().for_each(|id| {
                            done.insert(id.clone());
                        });
                        a.bookings.iter().find(|b| !done.contains(*b)).cloned()
                    };
                    let Some(id) = next else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    done.insert(id.clone());
                    match call("POST", &format!("{url}/api/v1/bookings/{id}/accept"), Some(&token), &[], "{}") {
                        None => break,
                        Some(r) if r.status == 200 => acked.lock().unwrap().accepted.push(id),
                        // Accepted already in a round whose answer the kill cut off.
                        Some(r) if r.status == 409 => {}
                        Some(r) => panic!("accept {}: {}", r.status, r.body),
                    }
                }
            }));
        }
        // The customer writes to acknowledged bookings.
        {
            let (url, stop, acked, token) = (url.clone(), stop.clone(), acked.clone(), customer.clone());
            workers.push(std::thread::spawn(move || {
                let mut n = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let target = {
                        let a = acked.lock().unwrap();
                        (!a.bookings.is_empty()).then(|| a.bookings[n % a.bookings.len()].clone())
                    };
                    let Some(id) = target else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    n += 1;
                    let body = json!({"text": format!("message {n} of round {round}")}).to_string();
                    match call("POST", &format!("{url}/api/v1/bookings/{id}/messages"), Some(&token), &[], &body) {
                        None => break,
                        Some(r) if r.status == 201 => {
                            acked.lock().unwrap().messages.push(r.body["id"].as_str().expect("message id").to_string())
                        }
                        Some(r) => panic!("message {}: {}", r.status, r.body),
                    }
                }
            }));
        }
        // The provider orders listing fees and the gateway pays them (signed webhooks).
        {
            let (url, stop, acked, world, token, seq) =
                (url.clone(), stop.clone(), acked.clone(), world.clone(), provider.clone(), event_seq.clone());
            workers.push(std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let listing = &world.listings[i % world.listings.len()];
                    i += 1;
                    let body = json!({"purpose": "listing_fee", "listingId": listing}).to_string();
                    let id = match call("POST", &format!("{url}/api/v1/payments"), Some(&token), &[], &body) {
                        None => break,
                        Some(r) if r.status == 201 => r.body["id"].as_str().expect("payment id").to_string(),
                        // An order from before the kill is still open: pay that one.
                        Some(r) if r.status == 409 => match r.body["error"]["paymentId"].as_str() {
                            Some(p) => p.to_string(),
                            None => panic!("409 without paymentId: {}", r.body),
                        },
                        Some(r) => panic!("POST /payments {}: {}", r.status, r.body),
                    };
                    acked.lock().unwrap().orders.push(id.clone());
                    match pay(&url, &id, seq.fetch_add(1, Ordering::SeqCst)) {
                        None => break,
                        Some(r) if r.status == 200 => acked.lock().unwrap().paid.push(id),
                        Some(r) => panic!("webhook {}: {}", r.status, r.body),
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(300 + rng.next(1200)));
        batch_max = batch_max.max(largest_batch(&url));
        s.child.kill().expect("SIGKILL");
        let _ = s.child.wait();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.join().expect("a worker saw a wrong answer");
        }
        s = serve(dir.path(), &[], &env).unwrap_or_else(|e| panic!("restart after kill {round}: {e}"));
    }
    // Stop cleanly, then read the file as it is on disk.
    s.terminate().expect("exits after SIGTERM");
    let acked = acked.lock().unwrap();
    eprintln!(
        "crash_mixed: acknowledged {} bookings, {} accepts, {} orders, {} payments, {} messages",
        acked.bookings.len(),
        acked.accepted.len(),
        acked.orders.len(),
        acked.paid.len(),
        acked.messages.len()
    );
    assert!(!acked.bookings.is_empty() && !acked.paid.is_empty(), "the load did some work before the kills");
    eprintln!("crash_mixed: the largest group commit before a kill held {batch_max} writes");
    assert!(batch_max > 1, "concurrent writes shared commits (group commit was exercised)");
    let db = dir.path().join("buildxpert.db");
    let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let one = |sql: &str, p: &str| -> Option<String> { c.query_row(sql, [p], |r| r.get(0)).ok() };
    for id in &acked.bookings {
        assert!(one("SELECT status FROM bookings WHERE id = ?1", id).is_some(), "acknowledged booking {id} lost");
        let n: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM notifications WHERE kind = 'booking.created' AND data LIKE ?1",
                [format!("%\"{id}\"%")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "booking {id}: one booking.created notification, not {n}");
    }
    for id in &acked.accepted {
        assert_eq!(one("SELECT status FROM bookings WHERE id = ?1", id).as_deref(), Some("accepted"), "{id}");
    }
    for id in &acked.orders {
        assert!(one("SELECT status FROM payments WHERE id = ?1", id).is_some(), "acknowledged order {id} lost");
    }
    for id in &acked.paid {
        assert_eq!(one("SELECT status FROM payments WHERE id = ?1", id).as_deref(), Some("succeeded"), "{id}");
    }
    for id in &acked.messages {
        assert!(one("SELECT id FROM messages WHERE id = ?1", id).is_some(), "acknowledged message {id} lost");
    }
    // Payments and activations go together, one 30-day period per succeeded fee.
    let mut per_listing: HashMap<String, (i64, i64, i64)> = HashMap::new();
    let mut st = c
        .prepare(
            "SELECT p.id, p.target_id, p.completed_at,
                    (SELECT COUNT(*) FROM payment_events e WHERE e.payment_id = p.id),
                    (SELECT COUNT(*) FROM notifications n WHERE n.kind = 'payment.succeeded' AND n.data LIKE '%' || p.id || '%')
             FROM payments p WHERE p.purpose = 'listing_fee' AND p.status = 'succeeded'",
        )
        .unwrap();
    let rows: Vec<(String, String, i64, i64, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (id, listing, completed, events, notices) in rows {
        assert_eq!((events, notices), (1, 1), "payment {id}: one event record and one notification");
        let e = per_listing.entry(listing).or_insert((0, i64::MAX, 0));
        e.0 += 1;
        e.1 = e.1.min(completed);
        e.2 = e.2.max(completed);
    }
    let unsettled: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM payments p WHERE p.status != 'succeeded' AND
                 (EXISTS (SELECT 1 FROM payment_events e WHERE e.payment_id = p.id)
                  OR EXISTS (SELECT 1 FROM notifications n WHERE n.kind = 'payment.succeeded' AND n.data LIKE '%' || p.id || '%'))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unsettled, 0, "an unpaid payment has a settlement record");
    for listing in &world.listings {
        let until: Option<i64> =
            c.query_row("SELECT active_until FROM listings WHERE id = ?1", [listing], |r| r.get(0)).unwrap();
        match (per_listing.get(listing), until) {
            (None, None) => {}
            (Some(&(k, first, last)), Some(u)) => {
                let slop = 5_000;
                assert!(
                    u >= first + k * 30 * DAY_MS - slop && u <= last + k * 30 * DAY_MS + slop,
                    "listing {listing}: {k} paid periods but active_until {u} (first paid {first}, last {last})"
                );
            }
            (paid, until) => panic!("listing {listing}: payments {paid:?} but active_until {until:?}"),
        }
    }
    let dup: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE notification_id IS NOT NULL
                 GROUP BY notification_id, channel HAVING COUNT(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dup, 0, "one delivery row per notification and channel");
    let integrity: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    drop(st);
    drop(c);
    let dd = dir.path().to_str().expect("utf-8 path");
    let out = run(&["audit", "verify", "--data-dir", dd], dir.path(), &[]);
    assert!(out.status.success(), "audit verify: {} {}", text(&out.stdout), text(&out.stderr));
}
