//! The SMS channel: `console` prints messages (for local use, selected explicitly in config) and
//! `twilio` posts to the Twilio Messages REST API (any Twilio-compatible base URL).

use crate::config::Config;
use crate::outbound::{join_url, Body, OutError, Outbound};
use base64::Engine;
use std::io::Write;

pub use super::SendError;

pub enum Sms {
    Console,
    Twilio { base_url: String, account_sid: String, auth_token: String, from: String },
}

impl Sms {
    pub fn from_config(c: &Config) -> Sms {
        match c.sms.provider.as_str() {
            "twilio" => Sms::Twilio {
                base_url: c.sms.twilio.base_url.clone(),
                account_sid: c.sms.twilio.account_sid.clone(),
                auth_token: c.sms.twilio.auth_token.clone(),
                from: c.sms.twilio.from.clone(),
            },
            _ => Sms::Console,
        }
    }

    /// Sends one message; returns the provider's message id. Never logs the body.
    pub fn send(&self, out: &Outbound, to: &str, body: &str) -> Result<String, SendError> {
        match self {
            Sms::Console => {
                // The console channel exists to show messages to the operator; stdout only.
                let mut o = std::io::stdout().lock();
                let _ = writeln!(o, "[sms] to={to} {body}");
                let _ = o.flush();
                Ok("console".into())
            }
            Sms::Twilio { base_url, account_sid, auth_token, from } => {
                let url = join_url(base_url, &format!("/2010-04-01/Accounts/{account_sid}/Messages.json"));
                let basic = base64::engine::general_purpose::STANDARD.encode(format!("{account_sid}:{auth_token}"));
                let auth = format!("Basic {basic}");
                let form = [("To", to), ("From", from.as_str()), ("Body", body)];
                let r = out
                    .send(
                        "twilio",
                        "POST",
                        &url,
                        &[("Authorization", &auth), ("Accept", "application/json")],
                        Body::Form(&form),
                    )
                    .map_err(|e| match e {
                        OutError::BadUrl(u) => SendError::Permanent(format!("bad Twilio URL: {u}")),
                        other => SendError::Transient(other.to_string()),
                    })?;
                let json: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
                match r.status {
                    200..=299 => Ok(json["sid"].as_str().unwrap_or("").to_string()),
                    429 | 500..=599 => Err(SendError::Transient(format!("Twilio answered {}", r.status))),
                    s => Err(SendError::Permanent(format!(
                        "Twilio answered {s} (code {}): {}",
                        json["code"],
                        json["message"].as_str().unwrap_or("")
                    ))),
                }
            }
        }
    }
}

/// Sends SMS off the request thread (where the answer must not reveal whether one was sent).
pub struct Background {
    tx: std::sync::Mutex<std::sync::mpsc::Sender<(String, String, String)>>,
}

impl Background {
    pub fn start(sms: Sms, out: Outbound) -> Background {
        let (tx, rx) = std::sync::mpsc::channel::<(String, String, String)>();
        let _ = std::thread::Builder::new().name("sms".into()).spawn(move || {
            for (to, body, rid) in rx {
                let _g = crate::web::ctx::RequestIdGuard::set(&rid);
                if let Err(e) = sms.send(&out, &to, &body) {
                    log::warn!("sms: message not sent: {e}");
                }
            }
        });
        Background { tx: std::sync::Mutex::new(tx) }
    }

    pub fn send(&self, to: &str, body: &str, request_id: &str) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let _ = tx.send((to.to_string(), body.to_string(), request_id.to_string()));
    }
}
