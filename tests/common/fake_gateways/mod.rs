//! Fake Stripe, Razorpay and Paytm servers that speak the providers' real wire formats, for
//! tests, one file each (`stripe.rs`, `razorpay.rs`, `paytm.rs`). Built on `fake_http.rs` (include
//! both with `#[path]`; this module expects that one as `super::fake`). Each fake:
//! - checks our requests the way the provider does (Stripe `Bearer sk_…` and form fields,
//!   Razorpay Basic auth, Paytm `head.signature` checksum over the raw `body` text) and answers
//!   with the provider's ids, statuses, amounts and error bodies;
//! - keeps state (sessions/orders, payments, refunds) so status queries and refunds agree with
//!   what was "paid";
//! - can be told to fail: `fail_with(Some(503))` answers every request with that status,
//!   `fail_with(None)` recovers; `unreachable_url()` is a base URL where nothing listens;
//! - produces correctly signed deliveries as `(headers, body)` to POST to
//!   `/api/v1/webhooks/<gateway>` (or feed to `Gateway::parse_webhook`).
//!
//! ```ignore
//! let stripe = FakeStripe::start();                   // keys: stripe.secret_key / stripe.webhook_secret
//! let app = spawn_app_with(&env_refs(&stripe.env())); // BUILDXPERT_PAYMENTS__GATEWAY=stripe + keys + api_base
//! // … POST /payments → the app created a Checkout Session at the fake:
//! let session = stripe.last_session_id().unwrap();
//! let (headers, body) = stripe.completed_event(&session); // marks it paid, signed with the webhook secret
//! // … POST body with headers to /api/v1/webhooks/stripe → the payment succeeds
//! let (headers, body) = razorpay.captured_event(&order_id);  // also order_paid_event, failed_event
//! let (headers, body) = paytm.callback_form(&order_id, true); // browser callback; status API then says TXN_SUCCESS
//! ```
//! Deliveries are signed at the fake's clock: the wall clock, or the app's `ManualClock` after
//! `with_clock(app.clock.clone())`.

#![allow(dead_code)]

use super::fake::{FakeServer, Recorded, Reply};
use buildxpert::clock::{Clock, SystemClock};
use buildxpert::payments::gateways::{paytm_checksum, wire};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

mod paytm;
mod razorpay;
mod stripe;

pub use paytm::*;
pub use razorpay::*;
pub use stripe::*;

pub type Delivery = (Vec<(String, String)>, Vec<u8>);

/// A base URL where nothing listens (connection refused).
pub fn unreachable_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// `spawn_app_with` takes `&[(&str, &str)]`.
pub fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn rand_id(prefix: &str) -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("os rng");
    format!("{prefix}{}", hex::encode(b))
}

fn hmac_hex(key: &str, msg: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("hmac key");
    m.update(msg);
    hex::encode(m.finalize().into_bytes())
}

fn form_map(body: &[u8]) -> HashMap<String, String> {
    wire::form_decode(body).unwrap_or_default().into_iter().collect()
}

struct Shared<S> {
    state: Mutex<S>,
    fail: Mutex<Option<u16>>,
    clock: Mutex<Arc<dyn Clock>>,
}

impl<S> Shared<S> {
    fn new(s: S) -> Arc<Shared<S>> {
        Arc::new(Shared { state: Mutex::new(s), fail: Mutex::new(None), clock: Mutex::new(Arc::new(SystemClock)) })
    }
    fn st(&self) -> std::sync::MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn failing(&self) -> Option<u16> {
        *self.fail.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn now_secs(&self) -> i64 {
        self.clock.lock().unwrap_or_else(|p| p.into_inner()).now_ms() / 1000
    }
}
