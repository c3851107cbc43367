//! `POST /calls/{id}/signal {type, sdp?, candidate?}`: the WebRTC relay. A party's offer, answer
//! or ICE candidate reaches the other party only, as a `call.signal` event
//! `{callId, from, seq, type, sdp?, candidate?}` on their `/events` stream, in the order the
//! server accepted them (one writer; `seq` counts the call's signals from 1).
//!
//! What WebRTC needs decides who may send what:
//! - while the call rings, only the caller signals (its offer and trickled candidates wait in the
//!   callee's event log until they answer; nothing of the callee's reaches a caller they have not
//!   accepted);
//! - once active, both parties send any type: candidates flow both ways, and either side may
//!   renegotiate (an offer from the callee, answered by the caller);
//! - a closed call takes no more signals (409 `call_closed`).
//!
//! Limits: `sdp` at most [`MAX_SDP`] bytes, a candidate line at most [`MAX_CANDIDATE`] bytes, and
//! `limits.call_signals_per_minute` signals per party per call (429 `rate_limited`).

use super::{Side, Status};
use crate::app::App;
use crate::db::Cached;
use crate::notify::outbox;
use crate::web::auth::Principal;
use crate::web::ratelimit::Limit;
use crate::web::ApiError;
use serde_json::{json, Map, Value};

pub const MAX_SDP: usize = 16 * 1024;
pub const MAX_CANDIDATE: usize = 1024;
const MAX_MID: usize = 64;
const MAX_UFRAG: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Offer,
    Answer,
    Candidate,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Offer => "offer",
            Kind::Answer => "answer",
            Kind::Candidate => "candidate",
        }
    }
}

/// A signal checked against the limits: its kind and the event's payload members.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub kind: Kind,
    pub sdp: Option<String>,
    /// `Some(Value::Null)` is end-of-candidates.
    pub candidate: Option<Value>,
}

fn check_candidate(c: &Value, errs: &mut Vec<(String, String)>) -> Value {
    let Some(o) = c.as_object() else {
        if !c.is_null() {
            errs.push(("candidate".into(), "must be an RTCIceCandidateInit object or null".into()));
        }
        return Value::Null;
    };
    let mut out = Map::new();
    for (k, v) in o {
        let ok = match k.as_str() {
            "candidate" => v.as_str().is_some_and(|s| s.len() <= MAX_CANDIDATE && !s.contains(['\r', '\n'])),
            "sdpMid" => v.is_null() || v.as_str().is_some_and(|s| s.len() <= MAX_MID),
            "sdpMLineIndex" => v.is_null() || v.as_u64().is_some_and(|i| i <= 255),
            "usernameFragment" => v.is_null() || v.as_str().is_some_and(|s| s.len() <= MAX_UFRAG),
            _ => {
                errs.push((format!("candidate.{k}"), "is not a member of RTCIceCandidateInit".into()));
                continue;
            }
        };
        if ok {
            out.insert(k.clone(), v.clone());
        } else {
            let why = match k.as_str() {
                "candidate" => format!("must be one candidate line of at most {MAX_CANDIDATE} bytes"),
                "sdpMid" => format!("must be a string of at most {MAX_MID} bytes or null"),
                "sdpMLineIndex" => "must be an integer from 0 to 255 or null".into(),
                _ => format!("must be a string of at most {MAX_UFRAG} bytes or null"),
            };
            errs.push((format!("candidate.{k}"), why));
        }
    }
    if !out.contains_key("candidate") && !o.contains_key("candidate") {
        errs.push(("candidate.candidate".into(), "is required".into()));
    }
    Value::Object(out)
}

/// Checks a signal body (any JSON object): 400 `validation_failed` naming every bad field.
pub fn check(body: &Value) -> Result<Checked, ApiError> {
    let Some(o) = body.as_object() else { return Err(ApiError::field("type", "is required")) };
    let mut errs: Vec<(String, String)> = Vec::new();
    for k in o.keys() {
        if !matches!(k.as_str(), "type" | "sdp" | "candidate") {
            errs.push((k.clone(), "is not a field of a signal".into()));
        }
    }
    let kind = match o.get("type").and_then(Value::as_str) {
        Some("offer") => Some(Kind::Offer),
        Some("answer") => Some(Kind::Answer),
        Some("candidate") => Some(Kind::Candidate),
        _ => {
            errs.push(("type".into(), "must be offer, answer or candidate".into()));
            None
        }
    };
    let mut sdp = None;
    let mut candidate = None;
    match kind {
        Some(Kind::Offer | Kind::Answer) => {
            match o.get("sdp").and_then(Value::as_str) {
                Some(s) if s.trim().is_empty() => errs.push(("sdp".into(), "is required".into())),
                Some(s) if s.len() > MAX_SDP => errs.push(("sdp".into(), format!("must be at most {MAX_SDP} bytes"))),
                Some(s) => sdp = Some(s.to_string()),
                None => errs.push(("sdp".into(), "is required (a session description)".into())),
            }
            if o.contains_key("candidate") {
                errs.push(("candidate".into(), "is only for type candidate".into()));
            }
        }
        Some(Kind::Candidate) => {
            match o.get("candidate") {
                Some(c) => candidate = Some(check_candidate(c, &mut errs)),
                None => errs.push(("candidate".into(), "is required (null for end-of-candidates)".into())),
            }
            if o.contains_key("sdp") {
                errs.push(("sdp".into(), "is only for type offer or answer".into()));
            }
        }
        None => {}
    }
    match kind {
        Some(kind) if errs.is_empty() => Ok(Checked { kind, sdp, candidate }),
        _ => Err(ApiError::validation(errs)),
    }
}

/// Relays a checked signal from the request's caller to the other party of call `id`.
pub fn relay(app: &App, p: &Principal, id: &str, s: Checked) -> Result<i64, ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        let (call, side) = super::for_party(tx, id, p)?;
        match call.status {
            Status::Active => {}
            Status::Ringing if side == Side::Caller && s.kind != Kind::Answer => {}
            Status::Ringing => {
                return Err(ApiError::conflict(
                    "not_answered",
                    "While the call rings only the caller signals (an offer and candidates); answer it first.",
                )
                .with_extra("status", json!("ringing")))
            }
            other => {
                return Err(ApiError::conflict("call_closed", "This call is over; it takes no more signals.")
                    .with_extra("status", json!(other.as_str())))
            }
        }
        app.limiter
            .hit(
                &format!("call-signals:{}:{}", call.id, p.user_id),
                Limit::per_minute(app.config.limits.call_signals_per_minute),
            )
            .check()?;
        let seq = call.signals + 1;
        tx.execute_cached("UPDATE calls SET signals = ?2 WHERE id = ?1", rusqlite::params![call.id, seq])?;
        super::timeouts::seen(tx, &call, &p.user_id, now)?;
        let mut data = json!({"callId": call.id, "from": p.user_id, "seq": seq, "type": s.kind.as_str()});
        if let Some(sdp) = s.sdp {
            data["sdp"] = json!(sdp);
        }
        if let Some(c) = s.candidate {
            data["candidate"] = c;
        }
        outbox::event(tx, app, &[call.other(side)], "call.signal", &data)?;
        Ok(seq)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_checked_against_their_type_and_limits() {
        let ok = check(&json!({"type": "offer", "sdp": "v=0\r\n"})).unwrap();
        assert_eq!((ok.kind, ok.sdp.as_deref()), (Kind::Offer, Some("v=0\r\n")));
        let c = check(&json!({"type": "candidate", "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}})).unwrap();
        assert_eq!(c.candidate.unwrap()["sdpMid"], "0");
        assert_eq!(check(&json!({"type": "candidate", "candidate": null})).unwrap().candidate, Some(Value::Null));
        let fields = |v: Value| -> Vec<String> {
            check(&v).unwrap_err().fields.map(|f| f.keys().cloned().collect()).unwrap_or_default()
        };
        assert_eq!(fields(json!({"type": "hello"})), vec!["type"]);
        assert_eq!(fields(json!({"type": "answer"})), vec!["sdp"]);
        assert_eq!(fields(json!({"type": "offer", "sdp": "x".repeat(MAX_SDP + 1)})), vec!["sdp"]);
        assert_eq!(fields(json!({"type": "candidate"})), vec!["candidate"]);
        assert_eq!(
            fields(json!({"type": "candidate", "candidate": {"candidate": "c".repeat(MAX_CANDIDATE + 1)}})),
            vec!["candidate.candidate"]
        );
        assert_eq!(
            fields(json!({"type": "candidate", "candidate": {"candidate": "a", "sdpMLineIndex": -1, "x": 1}})),
            vec!["candidate.sdpMLineIndex", "candidate.x"]
        );
        assert_eq!(fields(json!({"type": "offer", "sdp": "v=0", "to": "u"})), vec!["to"]);
        assert!(check(&json!({"type": "offer", "sdp": "x".repeat(MAX_SDP)})).is_ok());
    }
}
