//! The e-mail channel: SMTP submission with `lettre`'s blocking transport (no async runtime).
//! `email.smtp.tls` picks the connection: `none` (plaintext, local relays and test sinks),
//! `starttls` (upgrade on the submission port, refusing to continue unencrypted) or `tls`
//! (implicit TLS, the submissions port). Messages are multipart/alternative, plain text + HTML.

use super::{single, Channel, SendError, Sender, Sent};
use crate::config::{Config, Smtp};
use crate::outbound::Outbound;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use std::time::Duration;

/// Connect, command and data timeout for one SMTP conversation.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    /// For diagnostics only (no credentials).
    host: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("host", &self.host).finish_non_exhaustive()
    }
}

impl Mailer {
    /// The configured mailer, `Ok(None)` when `email.provider` is not `smtp`, and a permanent
    /// error when the settings cannot work (bad `email.from`, unknown `tls` mode).
    pub fn from_config(c: &Config) -> Result<Option<Mailer>, SendError> {
        if c.email.provider != "smtp" {
            return Ok(None);
        }
        Mailer::new(&c.email.from, &c.email.smtp).map(Some)
    }

    /// A mailer sending as `from` (`Name <addr>` or a bare address) through `smtp`.
    pub fn new(from: &str, smtp: &Smtp) -> Result<Mailer, SendError> {
        let from: Mailbox =
            from.parse().map_err(|_| SendError::Permanent("`email.from` is not a valid mailbox".into()))?;
        let tls_err = |e: lettre::transport::smtp::Error| SendError::Permanent(format!("SMTP TLS setup: {e}"));
        let mut builder = match smtp.tls.as_str() {
            "none" => SmtpTransport::builder_dangerous(smtp.host.as_str()),
            "starttls" => SmtpTransport::starttls_relay(&smtp.host).map_err(tls_err)?,
            "tls" => SmtpTransport::relay(&smtp.host).map_err(tls_err)?,
            other => return Err(SendError::Permanent(format!("unknown `email.smtp.tls` mode {other:?}"))),
        };
        if smtp.port != 0 {
            builder = builder.port(smtp.port);
        }
        if !smtp.username.is_empty() {
            builder = builder.credentials(Credentials::new(smtp.username.clone(), smtp.password.clone()));
        }
        let transport = builder.timeout(Some(SMTP_TIMEOUT)).build();
        Ok(Mailer { transport, from, host: smtp.host.clone() })
    }

    /// Sends one multipart/alternative message; returns its `Message-ID` (with angle brackets).
    /// Errors name the SMTP reply code but never the addresses, the content or credentials.
    pub fn send(&self, to: &str, subject: &str, text: &str, html: &str) -> Result<String, SendError> {
        let to: Mailbox =
            to.parse().map_err(|_| SendError::Permanent("recipient is not a valid e-mail address".into()))?;
        let message_id = new_message_id(self.from.email.domain());
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id.clone()))
            .multipart(MultiPart::alternative_plain_html(text.to_string(), html.to_string()))
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        self.transport.send(&message).map_err(classify)?;
        Ok(message_id)
    }
}

/// The title is the subject; the HTML part is the body as one paragraph, its line breaks kept
/// (an operator e-mail quotes a multi-line enquiry). SMTP needs no outbound HTTP client.
impl Sender for Mailer {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn send(&self, _: &Outbound, msg: &super::Message) -> Result<Sent, SendError> {
        let to = single(msg, "e-mail address")?;
        let html = format!("<p>{}</p>", html_escape(msg.body).replace('\n', "<br>\n"));
        Mailer::send(self, to, msg.title, msg.body, &html).map(Sent::new)
    }
}

/// Notification texts are one line, an enquiry's may be several; the HTML part needs markup
/// escaped either way.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// `<32 random hex digits@domain>`; falls back to the clock if the OS has no randomness to give.
fn new_message_id(domain: &str) -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        b = nanos.to_le_bytes();
    }
    format!("<{}@{}>", hex::encode(b), domain)
}

/// SMTP reply 5xx → permanent (bad recipient, rejected content, authentication refused);
/// 4xx → transient (greylisting, mailbox busy, server load); connection, network, timeout and
/// TLS failures → transient; lettre's own client errors (no usable AUTH mechanism, …) are
/// configuration problems → permanent.
fn classify(e: lettre::transport::smtp::Error) -> SendError {
    if let Some(code) = e.status() {
        // The server's reply text often quotes the address (`<bob@x>: Recipient address
        // rejected`); keep the code and the text with addresses blanked.
        let text = std::error::Error::source(&e).map(|s| redact_addresses(&s.to_string())).unwrap_or_default();
        let msg = format!("SMTP server answered {code}{}", if text.is_empty() { text } else { format!(": {text}") });
        return if e.is_permanent() { SendError::Permanent(msg) } else { SendError::Transient(msg) };
    }
    if e.is_client() {
        return SendError::Permanent(format!("SMTP: {e}"));
    }
    let what = if e.is_timeout() { "SMTP timed out".to_string() } else { format!("SMTP: {e}") };
    SendError::Transient(what)
}

fn redact_addresses(s: &str) -> String {
    s.split(' ').map(|w| if w.contains('@') { "[address]" } else { w }).collect::<Vec<_>>().join(" ")
}
