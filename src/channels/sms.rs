//! The SMS channel: `console` prints messages (for local use, selected explicitly in config) and
//! `twilio` posts to the Twilio Messages REST API (any Twilio-compatible base URL). An SMS has no
//! title: it reads `title: body` (one-time codes have no title, so just the body).

use super::{from_out_error, single, Channel, Message, Sender, Sent};
use crate::config::Config;
use crate::outbound::{join_url, Body, Outbound};
use base64::Engine;
use std::io::Write;

pub use super::SendError;

/// The SMS sender `sms.provider` names (`twilio`, otherwise the console).
pub fn from_config(c: &Config) -> Box<dyn Sender> {
    match c.sms.provider.as_str() {
        "twilio" => Box::new(Twilio {
            base_url: c.sms.twilio.base_url.clone(),
            account_sid: c.sms.twilio.account_sid.clone(),
            auth_token: c.sms.twilio.auth_token.clone(),
            from: c.sms.twilio.from.clone(),
        }),
        _ => Box::new(Console),
    }
}

fn text(msg: &Message) -> String {
    if msg.title.is_empty() {
        msg.body.to_string()
    } else {
        format!("{}: {}", msg.title, msg.body)
    }
}

/// Prints each message on stdout for the operator.
pub struct Console;

impl Sender for Console {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn send(&self, _: &Outbound, msg: &Message) -> Result<Sent, SendError> {
        let to = single(msg, "phone number")?;
        // The console channel exists to show messages to the operator; stdout only.
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "[sms] to={to} {}", text(msg));
        let _ = o.flush();
        Ok(Sent::new("console"))
    }
}

pub struct Twilio {
    base_url: String,
    account_sid: String,
    auth_token: String,
    from: String,
}

impl Sender for Twilio {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    /// The reference is Twilio's message sid.
    fn send(&self, out: &Outbound, msg: &Message) -> Result<Sent, SendError> {
        let to = single(msg, "phone number")?;
        let body = text(msg);
        let url = join_url(&self.base_url, &format!("/2010-04-01/Accounts/{}/Messages.json", self.account_sid));
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.account_sid, self.auth_token));
        let auth = format!("Basic {basic}");
        let form = [("To", to), ("From", self.from.as_str()), ("Body", body.as_str())];
        let headers = [("Authorization", auth.as_str()), ("Accept", "application/json")];
        let r =
            out.send("twilio", "POST", &url, &headers, Body::Form(&form)).map_err(|e| from_out_error("Twilio", e))?;
        let json: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        match r.status {
            200..=299 => Ok(Sent::new(json["sid"].as_str().unwrap_or(""))),
            429 | 500..=599 => Err(SendError::Transient(format!("Twilio answered {}", r.status))),
            s => Err(SendError::Permanent(format!(
                "Twilio answered {s} (code {}): {}",
                json["code"],
                json["message"].as_str().unwrap_or("")
            ))),
        }
    }
}
