//! The Expo push channel against a local double of exp.host answering Expo's real shapes.

use crate::fake::{FakeServer, Recorded, Reply};
use crate::{closed_port, outbound};
use buildxpert::channels::push::{Expo, PushMessage, PushOutcome};
use buildxpert::channels::SendError;
use serde_json::json;

fn msg(to: &str) -> PushMessage {
    PushMessage {
        to: format!("ExponentPushToken[{to}]"),
        title: "Booking".into(),
        body: "Confirmed".into(),
        data: json!({"bookingId": "bk_1"}),
    }
}

/// What exp.host answers: one ticket per message, in order. Tokens containing `gone` are
/// unregistered, `big` too big, `rate` rate-limited; the others get `rcpt-<token>` receipts.
fn expo_tickets(rec: &Recorded) -> Reply {
    let msgs = rec.json();
    let tickets: Vec<serde_json::Value> = msgs
        .as_array()
        .expect("an array of messages")
        .iter()
        .map(|m| {
            let to = m["to"].as_str().unwrap();
            let err = |code: &str| {
                json!({"status": "error", "message": format!("\"{to}\" failed"), "details": {"error": code}})
            };
            if to.contains("gone") {
                json!({"status": "error",
                       "message": format!("\"{to}\" is not a registered push notification recipient"),
                       "details": {"error": "DeviceNotRegistered"}})
            } else if to.contains("big") {
                err("MessageTooBig")
            } else if to.contains("rate") {
                err("MessageRateExceeded")
            } else if to.contains("creds") {
                err("InvalidCredentials")
            } else {
                let token = to.trim_start_matches("ExponentPushToken[").trim_end_matches(']');
                json!({"status": "ok", "id": format!("rcpt-{token}")})
            }
        })
        .collect();
    Reply::json(200, json!({ "data": tickets }))
}

#[test]
fn expo_sends_one_request_and_maps_every_ticket() {
    let fake = FakeServer::start(|rec, _| expo_tickets(rec));
    let expo = Expo::new(&fake.url, "");
    let mut plain = msg("plain");
    plain.data = serde_json::Value::Null;
    let msgs = vec![msg("good"), msg("gone"), msg("big"), msg("rate"), msg("creds"), plain];
    let out = expo.send_batch(&outbound(), &msgs).expect("request accepted");
    assert_eq!(
        out,
        vec![
            PushOutcome::Sent { ticket_id: "rcpt-good".into() },
            PushOutcome::DeviceNotRegistered,
            PushOutcome::Failed(SendError::Permanent("Expo: MessageTooBig".into())),
            PushOutcome::Failed(SendError::Transient("Expo: MessageRateExceeded".into())),
            PushOutcome::Failed(SendError::Permanent("Expo: InvalidCredentials".into())),
            PushOutcome::Sent { ticket_id: "rcpt-plain".into() },
        ]
    );

    let reqs = fake.received();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/--/api/v2/push/send");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("Accept"), Some("application/json"));
    assert_eq!(r.header("Authorization"), None, "no Bearer without an access token");
    let body = r.json();
    assert_eq!(
        body[0],
        json!({"to": "ExponentPushToken[good]", "title": "Booking", "body": "Confirmed", "data": {"bookingId": "bk_1"}})
    );
    assert_eq!(body[5], json!({"to": "ExponentPushToken[plain]", "title": "Booking", "body": "Confirmed"}));
    assert_eq!(body.as_array().unwrap().len(), 6);
}

#[test]
fn expo_sends_bearer_token_only_when_configured() {
    let fake = FakeServer::start(|rec, _| expo_tickets(rec));
    let base = format!("{}/", fake.url); // a trailing slash must not double up
    let expo = Expo::new(&base, "secret-access-token");
    let out = expo.send_batch(&outbound(), &[msg("a")]).unwrap();
    assert_eq!(out, vec![PushOutcome::Sent { ticket_id: "rcpt-a".into() }]);
    let r = &fake.received()[0];
    assert_eq!(r.path, "/--/api/v2/push/send");
    assert_eq!(r.header("Authorization"), Some("Bearer secret-access-token"));
}

#[test]
fn expo_from_config_follows_provider() {
    let mut c = buildxpert::config::Config::defaults();
    c.push.provider = "none".into();
    assert_eq!(Expo::from_config(&c), None);
    c.push.provider = "expo".into();
    c.push.expo.base_url = "https://exp.host".into();
    c.push.expo.access_token = "tok".into();
    assert_eq!(Expo::from_config(&c), Some(Expo::new("https://exp.host", "tok")));
}

#[test]
fn expo_chunks_150_messages_into_100_and_50() {
    let fake = FakeServer::start(|rec, _| expo_tickets(rec));
    let expo = Expo::new(&fake.url, "");
    let msgs: Vec<PushMessage> = (0..150).map(|i| msg(&format!("d{i}"))).collect();
    let out = expo.send_batch(&outbound(), &msgs).unwrap();
    assert_eq!(out.len(), 150);
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o, &PushOutcome::Sent { ticket_id: format!("rcpt-d{i}") }, "outcome {i} in order");
    }
    let reqs = fake.received();
    let sizes: Vec<usize> = reqs.iter().map(|r| r.json().as_array().unwrap().len()).collect();
    assert_eq!(sizes, vec![100, 50]);
    assert_eq!(reqs[1].json()[0]["to"], "ExponentPushToken[d100]");
}

#[test]
fn expo_500_is_transient() {
    let fake = FakeServer::start(|_, _| Reply::json(500, json!({"errors": [{"code": "INTERNAL", "message": "oops"}]})));
    let err = Expo::new(&fake.url, "").send_batch(&outbound(), &[msg("a")]).unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    assert!(err.message().contains("500"), "{err}");
}

#[test]
fn expo_429_is_transient() {
    let fake = FakeServer::start(|_, _| {
        Reply::json(429, json!({"errors": [{"code": "TOO_MANY_REQUESTS", "message": "slow down"}]}))
    });
    let err = Expo::new(&fake.url, "").send_batch(&outbound(), &[msg("a")]).unwrap_err();
    assert!(!err.is_permanent(), "{err:?}");
}

#[test]
fn expo_400_is_permanent_and_names_the_error_code() {
    let fake = FakeServer::start(|_, _| {
        Reply::json(
            400,
            json!({"errors": [{"code": "PUSH_TOO_MANY_EXPERIENCE_IDS", "message": "All push notification messages in the same request must be for the same project"}]}),
        )
    });
    let err = Expo::new(&fake.url, "").send_batch(&outbound(), &[msg("a")]).unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert!(err.message().contains("PUSH_TOO_MANY_EXPERIENCE_IDS"), "{err}");
}

#[test]
fn expo_unreachable_is_transient() {
    let expo = Expo::new(&format!("http://127.0.0.1:{}", closed_port()), "");
    let err = expo.send_batch(&outbound(), &[msg("a")]).unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
}

#[test]
fn expo_failed_second_chunk_keeps_the_first_chunks_tickets() {
    let fake = FakeServer::start(|rec, n| if n == 1 { expo_tickets(rec) } else { Reply::json(503, json!({})) });
    let msgs: Vec<PushMessage> = (0..120).map(|i| msg(&format!("d{i}"))).collect();
    let out = Expo::new(&fake.url, "").send_batch(&outbound(), &msgs).expect("the first chunk got through");
    assert_eq!(out.len(), 120);
    assert_eq!(out[99], PushOutcome::Sent { ticket_id: "rcpt-d99".into() });
    assert!(out[100..].iter().all(|o| matches!(o, PushOutcome::Failed(SendError::Transient(_)))), "{:?}", out[100]);
}

#[test]
fn expo_empty_batch_sends_nothing() {
    let fake = FakeServer::start(|rec, _| expo_tickets(rec));
    assert_eq!(Expo::new(&fake.url, "").send_batch(&outbound(), &[]).unwrap(), vec![]);
    assert!(fake.received().is_empty());
}

/// As a `Sender`, one notification goes to every device in one request: sent if any device took
/// it, unregistered tokens are handed back to be forgotten whatever the outcome.
#[test]
fn expo_as_a_sender_batches_devices_and_hands_back_unregistered_tokens() {
    use buildxpert::channels::{Message, Sender};
    use std::cell::RefCell;
    let fake = FakeServer::start(|rec, _| expo_tickets(rec));
    let expo = Expo::new(&fake.url, "");
    let token = |t: &str| format!("ExponentPushToken[{t}]");
    let send = |to: &[String]| {
        let gone = RefCell::new(Vec::new());
        let forget = |t: &str| gone.borrow_mut().push(t.to_string());
        let data = json!({"bookingId": "bk_1"});
        let m = Message { id: "dlv_1", to, title: "Booking", body: "Confirmed", data: &data, forget: &forget };
        let r = expo.send(&outbound(), &m);
        (r, gone.into_inner())
    };
    let (r, gone) = send(&[token("good"), token("gone")]);
    assert_eq!(r.unwrap().reference, "rcpt-good");
    assert_eq!(gone, vec![token("gone")]);
    let (r, gone) = send(&[token("gone"), token("rate")]);
    assert!(matches!(r, Err(SendError::Transient(_))), "no device took it: the first device's error");
    assert_eq!(gone, vec![token("gone")], "forgotten even though the send failed");
    let (r, _) = send(&[token("gone")]);
    assert!(r.unwrap_err().is_permanent(), "every token unregistered");
    assert_eq!(fake.received().len(), 3, "one request per notification");
    assert_eq!(fake.received()[0].json()[1]["data"]["bookingId"], "bk_1");
}
