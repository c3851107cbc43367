//! Outgoing Standard Webhooks: signature known answers (published vector, an independent HMAC,
//! Python's stdlib hmac and, when installed, the official `standardwebhooks` library), delivery to
//! a local receiver, status classification and event pattern matching.

use crate::fake::{FakeServer, Reply};
use crate::{closed_port, outbound};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use buildxpert::channels::webhook::{deliver, envelope, matches, service_name, sign};
use buildxpert::channels::SendError;
use serde_json::json;
use sha2::{Digest, Sha256};

const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// HMAC-SHA256 from RFC 2104 over the bare hash, independent of the `hmac` crate.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&ipad).chain_update(msg).finalize();
    Sha256::new().chain_update(&opad).chain_update(inner).finalize().into()
}

fn reference_signature(secret: &str, id: &str, ts: i64, body: &str) -> String {
    let key = B64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    format!("v1,{}", B64.encode(hmac_sha256(&key, format!("{id}.{ts}.{body}").as_bytes())))
}

/// A `whsec_` secret with `n` deterministic pseudo-random key bytes.
fn secret_of(n: usize, seed: u8) -> String {
    let key: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed)).collect();
    format!("whsec_{}", B64.encode(key))
}

#[test]
fn webhook_signature_matches_the_published_test_vector() {
    let sig = sign(VECTOR_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#).unwrap();
    assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    // The prefix is optional, as in the reference libraries.
    let bare = VECTOR_SECRET.strip_prefix("whsec_").unwrap();
    assert_eq!(sign(bare, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#).unwrap(), sig);
}

#[test]
fn webhook_signature_matches_an_independent_hmac() {
    // The independent implementation itself must reproduce the published vector.
    assert_eq!(
        reference_signature(VECTOR_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    let bodies = [
        "",
        "{}",
        r#"{"type":"booking.created","timestamp":"2026-11-23T10:00:00Z","data":{"booking":{"id":"bk_1"}}}"#,
        r#"{"note":"₹ 1,499 — naïve café 🛠"}"#,
    ];
    for (i, n) in [24usize, 32, 64, 65, 100].into_iter().enumerate() {
        let secret = secret_of(n, i as u8);
        for body in bodies {
            let id = format!("msg_{n}_{}", body.len());
            let ts = 1_700_000_000 + n as i64;
            assert_eq!(
                sign(&secret, &id, ts, body).unwrap(),
                reference_signature(&secret, &id, ts, body),
                "key {n} bytes, body {body:?}"
            );
        }
    }
}

fn python_available() -> bool {
    std::process::Command::new("python3").arg("-c").arg("pass").output().is_ok_and(|o| o.status.success())
}

#[test]
fn webhook_signature_matches_python_stdlib_hmac() {
    if !python_available() {
        println!("NOTICE: python3 not found; skipping the Python stdlib hmac cross-check");
        return;
    }
    let secret = secret_of(32, 7);
    let (id, ts, body) = ("msg_py_1", 1_764_000_000i64, r#"{"type":"payment.updated","data":{"amount":"₹499"}}"#);
    let script = r#"
import base64, hashlib, hmac, sys
secret, msg_id, ts, body = sys.argv[1:5]
key = base64.b64decode(secret[len("whsec_"):])
mac = hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
print("v1," + base64.b64encode(mac).decode())
"#;
    let o = std::process::Command::new("python3")
        .args(["-c", script, &secret, id, &ts.to_string(), body])
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), sign(&secret, id, ts, body).unwrap());
}

#[test]
fn webhook_signature_verified_by_official_standardwebhooks_library() {
    let has_lib = std::process::Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_lib {
        println!("NOTICE: python3 module `standardwebhooks` is not installed; skipping the official-library check");
        return;
    }
    let secret = secret_of(32, 42);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let body = envelope("booking.created", "2026-11-23T10:00:00Z", &json!({"booking": {"id": "bk_1"}}));
    let sig = sign(&secret, "msg_std_1", now, &body).unwrap();
    let script = r#"
import sys
from standardwebhooks import Webhook
secret, msg_id, ts, sig, body = sys.argv[1:6]
print(Webhook(secret).verify(body.encode(), {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig}))
"#;
    let o = std::process::Command::new("python3")
        .args(["-c", script, &secret, "msg_std_1", &now.to_string(), &sig, &body])
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "verification failed: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("bk_1"));
}

#[test]
fn webhook_sign_rejects_bad_secrets_and_dotted_ids() {
    assert!(sign("whsec_not*base64!", "msg_1", 1, "{}").unwrap_err().is_permanent());
    assert!(sign("whsec_", "msg_1", 1, "{}").unwrap_err().is_permanent());
    assert!(sign(VECTOR_SECRET, "msg.1", 1, "{}").unwrap_err().is_permanent());
    assert!(sign(VECTOR_SECRET, "", 1, "{}").unwrap_err().is_permanent());
    // Unpadded base64 is accepted (the key here is 31 bytes, whose padded form ends in '=').
    let padded = secret_of(31, 3);
    assert!(padded.ends_with('='));
    assert_eq!(sign(padded.trim_end_matches('='), "m", 5, "x").unwrap(), sign(&padded, "m", 5, "x").unwrap());
}

#[test]
fn webhook_deliver_posts_the_signed_body_with_standard_headers() {
    let fake = FakeServer::start(|_, _| Reply::json(204, json!(null)));
    let secret = secret_of(32, 9);
    let body = envelope("booking.created", "2026-11-23T10:00:00Z", &json!({"booking": {"id": "bk_1"}}));
    let url = format!("{}/hooks/buildxpert?src=1", fake.url);
    let status = deliver(&outbound(), &url, &secret, "msg_2f1c", 1_764_000_000, &body).unwrap();
    assert_eq!(status, 204);

    let reqs = fake.received();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hooks/buildxpert");
    assert_eq!(r.header("webhook-id"), Some("msg_2f1c"));
    assert_eq!(r.header("webhook-timestamp"), Some("1764000000"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let sig = r.header("webhook-signature").unwrap();
    assert_eq!(sig, reference_signature(&secret, "msg_2f1c", 1_764_000_000, &body));
    assert_eq!(r.body_str(), body, "the body is sent byte for byte as signed");
}

#[test]
fn webhook_statuses_classify() {
    let fake = FakeServer::start(|rec, _| match rec.path.as_str() {
        "/ok" => Reply::json(200, json!({"received": true})),
        "/accepted" => Reply::json(202, json!(null)),
        "/gone" => Reply::json(410, json!({"error": "gone"})),
        "/down" => Reply::json(503, json!({"error": "maintenance"})).with_header("Retry-After", "120"),
        "/slow" => Reply::json(429, json!({})),
        "/bad" => Reply::json(400, json!({"error": "bad signature"})),
        _ => Reply::json(404, json!({})),
    });
    let out = outbound();
    let send = |path: &str| deliver(&out, &format!("{}{path}", fake.url), VECTOR_SECRET, "msg_1", 1_764_000_000, "{}");
    assert_eq!(send("/ok"), Ok(200));
    assert_eq!(send("/accepted"), Ok(202));
    let gone = send("/gone").unwrap_err();
    assert!(matches!(gone, SendError::Permanent(_)), "{gone:?}");
    assert!(gone.message().contains("410"), "{gone}");
    let down = send("/down").unwrap_err();
    assert!(matches!(down, SendError::Transient(_)), "{down:?}");
    assert!(down.message().contains("503") && down.message().contains("Retry-After: 120"), "{down}");
    assert!(!send("/slow").unwrap_err().is_permanent());
    assert!(send("/bad").unwrap_err().is_permanent());
    assert!(send("/missing").unwrap_err().is_permanent());
}

#[test]
fn webhook_unreachable_is_transient_and_bad_secret_sends_nothing() {
    let err = deliver(&outbound(), &format!("http://127.0.0.1:{}/h", closed_port()), VECTOR_SECRET, "m", 1, "{}")
        .unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");

    let fake = FakeServer::start(|_, _| Reply::json(200, json!({})));
    let err = deliver(&outbound(), &fake.url, "whsec_%%%", "m", 1, "{}").unwrap_err();
    assert!(err.is_permanent());
    assert!(fake.received().is_empty());
}

#[test]
fn webhook_breaker_is_per_host() {
    assert_eq!(service_name("https://hooks.example.com/a/b?x=1"), "webhook:hooks.example.com");
    assert_eq!(service_name("http://user:pw@Hooks.Example.com:8443/x"), "webhook:hooks.example.com");
    assert_eq!(service_name("http://127.0.0.1:9000"), "webhook:127.0.0.1");
    assert_eq!(service_name("http://[::1]:9000/h"), "webhook:::1");

    // Five failures open the breaker for that host; further deliveries fail fast without a request.
    let fake = FakeServer::start(|_, _| Reply::json(503, json!({})));
    let out = outbound();
    for _ in 0..5 {
        assert!(!deliver(&out, &fake.url, VECTOR_SECRET, "m", 1, "{}").unwrap_err().is_permanent());
    }
    assert!(out.is_open(&service_name(&fake.url)));
    let err = deliver(&out, &fake.url, VECTOR_SECRET, "m", 1, "{}").unwrap_err();
    assert!(matches!(err, SendError::Transient(_)) && err.message().contains("circuit open"), "{err}");
    assert_eq!(fake.received().len(), 5);
}

#[test]
fn webhook_event_pattern_table() {
    let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let table: &[(&[&str], &str, bool)] = &[
        (&[], "booking.created", true),
        (&["*"], "booking.created", true),
        (&["*"], "call.signal", true),
        (&["booking.*"], "booking.created", true),
        (&["booking.*"], "booking.updated", true),
        (&["booking.*"], "payment.updated", false),
        (&["booking.*"], "booking", false),
        (&["booking.*"], "bookings.created", false),
        (&["booking.created"], "booking.created", true),
        (&["booking.created"], "booking.updated", false),
        (&["payment.*", "booking.*"], "payment.updated", true),
        (&["payment.*", "call.*"], "booking.created", false),
        (&["*.updated"], "payment.updated", true),
        (&["*.updated"], "booking.created", false),
        (&["call.*.x"], "call.a.b.x", true),
        (&["Booking.*"], "booking.created", false),
    ];
    for (patterns, event, want) in table {
        assert_eq!(matches(&p(patterns), event), *want, "{patterns:?} vs {event}");
    }
}

#[test]
fn webhook_envelope_is_type_timestamp_data() {
    let data = json!({"booking": {"id": "bk_1", "note": "a \"quoted\" note"}});
    let body = envelope("booking.updated", "2026-11-23T10:00:00Z", &data);
    assert!(body.starts_with(r#"{"type":"booking.updated","timestamp":"2026-11-23T10:00:00Z","data":"#), "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v, json!({"type": "booking.updated", "timestamp": "2026-11-23T10:00:00Z", "data": data}));
}

/// Standard Webhooks: a 3xx is a failed delivery and must not be followed (it would also turn
/// the signed POST into a GET on wherever the receiver points: an SSRF hop). `deliver` already
/// maps 3xx to permanent, but the shared outbound agent in src/outbound.rs follows redirects
/// (ureq's default), so today this sees `GET /elsewhere` and `Ok(200)`.
#[test]
fn webhook_redirect_is_a_failure_and_not_followed() {
    let fake = FakeServer::start(|rec, _| {
        if rec.path == "/hook" {
            Reply::json(302, json!({})).with_header("Location", "/elsewhere")
        } else {
            Reply::json(200, json!({}))
        }
    });
    let r = deliver(&outbound(), &format!("{}/hook", fake.url), VECTOR_SECRET, "msg_1", 1, "{}");
    assert!(r.as_ref().is_err_and(SendError::is_permanent), "{r:?}");
    assert_eq!(fake.received().len(), 1, "the redirect was followed");
}
