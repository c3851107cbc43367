//! The push channel: the Expo push service (`POST {base}/--/api/v2/push/send`), which fronts FCM
//! and APNs for Expo apps. One request carries up to 100 messages and Expo answers with one ticket
//! per message, in order; a ticket is either accepted (with a receipt id) or an error such as
//! `DeviceNotRegistered` (stop sending to that token).

use super::{from_out_error, Channel, Message, SendError, Sender, Sent};
use crate::config::Config;
use crate::outbound::{join_url, Body, Outbound};

/// Expo accepts at most this many messages per request.
pub const MAX_PER_REQUEST: usize = 100;
const SERVICE: &str = "expo";
const SEND_PATH: &str = "/--/api/v2/push/send";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expo {
    /// `https://exp.host` in production; a local double in tests.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when non-empty ("enhanced push security").
    pub access_token: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PushMessage {
    /// An `ExponentPushToken[…]` / `ExpoPushToken[…]` device token.
    pub to: String,
    pub title: String,
    pub body: String,
    /// A JSON object handed to the app with the notification; `null` sends none.
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Expo accepted the message; `ticket_id` is the receipt id for `getReceipts`.
    Sent {
        ticket_id: String,
    },
    /// The token is no longer valid: forget the device.
    DeviceNotRegistered,
    Failed(SendError),
}

impl Expo {
    pub fn new(base_url: &str, access_token: &str) -> Expo {
        Expo { base_url: base_url.to_string(), access_token: access_token.to_string() }
    }

    /// The configured Expo client, or `None` when `push.provider` is not `expo`.
    pub fn from_config(c: &Config) -> Option<Expo> {
        (c.push.provider == "expo").then(|| Expo::new(&c.push.expo.base_url, &c.push.expo.access_token))
    }

    /// Sends `msgs` in requests of at most [`MAX_PER_REQUEST`]; returns one outcome per message,
    /// in order. A request-level failure of one chunk marks that chunk's messages `Failed`;
    /// `Err` only when no chunk got through at all (nothing was sent, retry everything).
    /// Never logs tokens or message text.
    pub fn send_batch(&self, out: &Outbound, msgs: &[PushMessage]) -> Result<Vec<PushOutcome>, SendError> {
        let mut outcomes = Vec::with_capacity(msgs.len());
        let mut first_err = None;
        let mut any_ok = msgs.is_empty();
        for chunk in msgs.chunks(MAX_PER_REQUEST) {
            match self.send_chunk(out, chunk) {
                Ok(o) => {
                    any_ok = true;
                    outcomes.extend(o);
                }
                Err(e) => {
                    outcomes.extend(chunk.iter().map(|_| PushOutcome::Failed(e.clone())));
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) if !any_ok => Err(e),
            _ => Ok(outcomes),
        }
    }

    fn send_chunk(&self, out: &Outbound, chunk: &[PushMessage]) -> Result<Vec<PushOutcome>, SendError> {
        let url = join_url(&self.base_url, SEND_PATH);
        let body = serde_json::Value::Array(chunk.iter().map(message_json).collect());
        let bearer = format!("Bearer {}", self.access_token);
        let mut headers = vec![("Accept", "application/json")];
        if !self.access_token.is_empty() {
            headers.push(("Authorization", bearer.as_str()));
        }
        let r = out.send(SERVICE, "POST", &url, &headers, Body::Json(&body)).map_err(|e| from_out_error("Expo", e))?;
        let json: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        match r.status {
            200..=299 => {}
            429 | 500..=599 => {
                return Err(SendError::Transient(format!("Expo answered {}{}", r.status, errors(&json))))
            }
            s => return Err(SendError::Permanent(format!("Expo answered {s}{}", errors(&json)))),
        }
        let Some(tickets) = json["data"].as_array() else {
            // Accepted or not is unknown; Expo documents no such answer, so treat it as an outage.
            return Err(SendError::Transient(format!("Expo answered {} without a data array", r.status)));
        };
        if tickets.len() != chunk.len() {
            log::warn!("push: Expo returned {} tickets for {} messages", tickets.len(), chunk.len());
        }
        Ok((0..chunk.len())
            .map(|i| match tickets.get(i) {
                Some(t) => ticket_outcome(t),
                None => PushOutcome::Failed(SendError::Transient("Expo returned no ticket for this message".into())),
            })
            .collect())
    }
}

/// One notification to every device of a user, in one batch. Sent when any device accepted it
/// (the reference lists the receipt ids); otherwise the first device's error, or permanent when
/// every token was unregistered. Unregistered tokens are handed to `msg.forget` either way.
impl Sender for Expo {
    fn channel(&self) -> Channel {
        Channel::Push
    }

    fn send(&self, out: &Outbound, msg: &Message) -> Result<Sent, SendError> {
        let msgs: Vec<PushMessage> = msg
            .to
            .iter()
            .map(|t| PushMessage {
                to: t.clone(),
                title: msg.title.into(),
                body: msg.body.into(),
                data: msg.data.clone(),
            })
            .collect();
        let outcomes = self.send_batch(out, &msgs)?;
        let mut receipts = Vec::new();
        let mut first_error = None;
        for (token, o) in msg.to.iter().zip(outcomes) {
            match o {
                PushOutcome::Sent { ticket_id } => receipts.push(ticket_id),
                PushOutcome::DeviceNotRegistered => (msg.forget)(token),
                PushOutcome::Failed(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (receipts.is_empty(), first_error) {
            (false, _) => Ok(Sent::new(receipts.join(","))),
            (true, Some(e)) => Err(e),
            (true, None) => Err(SendError::Permanent("DeviceNotRegistered on every device".into())),
        }
    }
}

fn message_json(m: &PushMessage) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    o.insert("to".into(), m.to.clone().into());
    o.insert("title".into(), m.title.clone().into());
    o.insert("body".into(), m.body.clone().into());
    if !m.data.is_null() {
        o.insert("data".into(), m.data.clone());
    }
    serde_json::Value::Object(o)
}

/// ` (CODE: message, …)` from a request-level `{"errors": [{code, message}]}` answer, or nothing.
fn errors(json: &serde_json::Value) -> String {
    let Some(errs) = json["errors"].as_array().filter(|e| !e.is_empty()) else {
        return String::new();
    };
    let parts: Vec<String> = errs
        .iter()
        .map(|e| format!("{}: {}", e["code"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")))
        .collect();
    format!(" ({})", parts.join("; "))
}

/// One push ticket → outcome. Error codes (Expo docs): `DeviceNotRegistered` (token gone),
/// `MessageRateExceeded` (too many to one device: back off → transient), `MessageTooBig`,
/// `InvalidCredentials` and `MismatchSenderId` (our payload or the app's FCM/APNs setup: retrying
/// the same thing cannot help → permanent). An unknown code is treated as transient so a new
/// Expo hiccup is retried (bounded by `notify.max_attempts`) rather than skipping the channel.
fn ticket_outcome(t: &serde_json::Value) -> PushOutcome {
    match t["status"].as_str() {
        Some("ok") => PushOutcome::Sent { ticket_id: t["id"].as_str().unwrap_or("").to_string() },
        Some("error") => {
            let code = t["details"]["error"].as_str().unwrap_or("");
            // The ticket message quotes the device token; keep it out of errors and logs.
            let what = if code.is_empty() { "Expo rejected the message".to_string() } else { format!("Expo: {code}") };
            match code {
                "DeviceNotRegistered" => PushOutcome::DeviceNotRegistered,
                "MessageTooBig" | "InvalidCredentials" | "MismatchSenderId" => {
                    PushOutcome::Failed(SendError::Permanent(what))
                }
                _ => PushOutcome::Failed(SendError::Transient(what)),
            }
        }
        _ => PushOutcome::Failed(SendError::Transient("Expo returned a ticket without a status".into())),
    }
}
