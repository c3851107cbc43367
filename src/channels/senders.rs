//! The senders the operator configured, built once with the App: SMS always (console or Twilio),
//! push and e-mail when their provider is set, and one sender per `[[webhooks]]` table.

use super::{email, push, sms, webhook, Channel, Sender};
use crate::clock::Clock;
use crate::config::Config;
use std::sync::Arc;

pub struct Senders {
    /// At most one per channel.
    by_channel: Vec<Box<dyn Sender>>,
    webhooks: Vec<webhook::Endpoint>,
}

impl Senders {
    /// Every configured sender; an error names the setting that cannot work.
    pub fn from_config(c: &Config, clock: Arc<dyn Clock>) -> Result<Senders, String> {
        let mut by_channel: Vec<Box<dyn Sender>> = vec![sms::from_config(c)];
        if let Some(expo) = push::Expo::from_config(c) {
            by_channel.push(Box::new(expo));
        }
        if let Some(mailer) = email::Mailer::from_config(c).map_err(|e| format!("email.smtp: {}", e.message()))? {
            by_channel.push(Box::new(mailer));
        }
        Ok(Senders { by_channel, webhooks: webhook::from_config(c, clock) })
    }

    /// The sender for `channel`, if the operator configured one (webhooks: see [`Senders::webhook`]).
    pub fn get(&self, channel: Channel) -> Option<&dyn Sender> {
        self.by_channel.iter().find(|s| s.channel() == channel).map(|s| s.as_ref())
    }

    /// The sender for the configured webhook at `url`.
    pub fn webhook(&self, url: &str) -> Option<&dyn Sender> {
        self.webhooks.iter().find(|w| w.url() == url).map(|w| w as &dyn Sender)
    }
}
