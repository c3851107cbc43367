//! `POST /contact`: the public enquiry form. Limited per client address; a filled-in honeypot
//! is answered like a real enquiry and nothing is kept; otherwise the cleaned enquiry is stored
//! and, in the same transaction, an e-mail to the operator is queued in the notifier's outbox.

use crate::app::App;
use crate::db::Cached;
use crate::notify::outbox;
use crate::web::ctx::new_id;
use crate::web::ratelimit::Limit;
use crate::web::{ApiError, Ctx};
use rusqlite::params;
use serde::Deserialize;

pub const NAME_MAX: usize = 100;
pub const MESSAGE_MAX: usize = 2_000;
pub const PHONE_MAX: usize = 30;
pub const EMAIL_MAX: usize = 254;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnquiry {
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub message: String,
    /// The honeypot: hidden in the form, so only robots fill it in.
    #[serde(default)]
    pub website: Option<String>,
}

/// What was accepted, cleaned.
#[derive(Debug, PartialEq, Eq)]
struct Clean {
    name: String,
    phone: Option<String>,
    email: Option<String>,
    message: String,
}

/// Control characters out (line breaks kept where `keep_newlines`; `\r\n` becomes `\n`), then
/// trimmed.
fn clean(s: &str, keep_newlines: bool) -> String {
    s.chars().filter(|c| !c.is_control() || (keep_newlines && *c == '\n')).collect::<String>().trim().to_string()
}

/// Free text a person can dial: digits, spaces, `+`, `-`, `(`, `)`, at least one digit.
fn phone_ok(p: &str) -> bool {
    p.chars().count() <= PHONE_MAX
        && p.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c))
        && p.chars().any(|c| c.is_ascii_digit())
}

/// Loosely an address: one `@` with something before it and a dotted domain after it.
fn email_ok(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else { return false };
    e.len() <= EMAIL_MAX
        && !local.is_empty()
        && !domain.contains('@')
        && !e.chars().any(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

fn validate(b: &NewEnquiry) -> Result<Clean, ApiError> {
    let name = clean(&b.name, false);
    let message = clean(&b.message, true);
    let phone = b.phone.as_deref().map(|p| clean(p, false)).filter(|p| !p.is_empty());
    let email = b.email.as_deref().map(|e| clean(e, false)).filter(|e| !e.is_empty());
    let mut bad: Vec<(&str, String)> = Vec::new();
    let n = name.chars().count();
    if n == 0 || n > NAME_MAX {
        bad.push(("name", format!("must be 1-{NAME_MAX} characters")));
    }
    let m = message.chars().count();
    if m == 0 || m > MESSAGE_MAX {
        bad.push(("message", format!("must be 1-{MESSAGE_MAX} characters")));
    }
    if phone.as_deref().is_some_and(|p| !phone_ok(p)) {
        bad.push(("phone", format!("must be up to {PHONE_MAX} digits, spaces, +, -, ( and )")));
    }
    if email.as_deref().is_some_and(|e| !email_ok(e)) {
        bad.push(("email", "must be an e-mail address".into()));
    }
    if phone.is_none() && email.is_none() {
        bad.push(("phone", "a phone number or an e-mail address is required".into()));
        bad.push(("email", "a phone number or an e-mail address is required".into()));
    }
    if !bad.is_empty() {
        return Err(ApiError::validation(bad));
    }
    Ok(Clean { name, phone, email, message })
}

/// The operator's e-mail: who wrote, how to answer, what they wrote.
fn mail(id: &str, c: &Clean) -> (String, String) {
    let subject = format!("New enquiry from {}", c.name);
    let text = format!(
        "Name: {}\nPhone: {}\nE-mail: {}\n\n{}\n\n(enquiry {id}; close it in the admin dashboard)",
        c.name,
        c.phone.as_deref().unwrap_or("-"),
        c.email.as_deref().unwrap_or("-"),
        c.message
    );
    (subject, text)
}

/// Takes one enquiry from the public form. `Ok(())` for a stored one and for a robot's alike.
pub fn submit(app: &App, ctx: &Ctx, b: NewEnquiry) -> Result<(), ApiError> {
    let limit = Limit::per_hour(app.config.limits.contact_per_ip_per_hour);
    app.limiter.hit(&format!("contact:{}", ctx.client_ip), limit).check()?;
    if b.website.as_deref().is_some_and(|w| !w.trim().is_empty()) {
        log::info!("contact form: honeypot filled, enquiry dropped");
        return Ok(());
    }
    let c = validate(&b)?;
    let id = new_id("enq");
    let now = app.now_ms();
    app.db.write(|tx| {
        tx.execute_cached(
            "INSERT INTO enquiries (id, name, phone, email, message, status, ip, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?7)",
            params![id, c.name, c.phone, c.email, c.message, ctx.client_ip.to_string(), now],
        )?;
        let (subject, text) = mail(&id, &c);
        outbox::email_operator(tx, app, &subject, &text)?;
        Ok::<_, ApiError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(name: &str, phone: Option<&str>, email: Option<&str>, message: &str) -> NewEnquiry {
        NewEnquiry {
            name: name.into(),
            phone: phone.map(Into::into),
            email: email.map(Into::into),
            message: message.into(),
            website: None,
        }
    }

    #[test]
    fn cleans_control_characters_but_keeps_line_breaks_in_the_message() {
        let c =
            validate(&body(" Asha\u{7}\n ", Some(" +91 (98) 765-43210 "), None, " hi\r\nthere\u{1b}[31m ")).unwrap();
        assert_eq!(c.name, "Asha");
        assert_eq!(c.phone.as_deref(), Some("+91 (98) 765-43210"));
        assert_eq!(c.message, "hi\nthere[31m");
    }

    #[test]
    fn names_every_bad_field() {
        let fields = |b: NewEnquiry| validate(&b).unwrap_err().fields.map(|f| f.keys().cloned().collect::<Vec<_>>());
        assert_eq!(fields(body("", None, None, " ")).unwrap(), ["email", "message", "name", "phone"]);
        assert_eq!(fields(body("A", Some("call me"), None, "x")).unwrap(), ["phone"]);
        assert_eq!(fields(body("A", Some(&"1".repeat(31)), None, "x")).unwrap(), ["phone"]);
        for bad in ["a@b", "a@@b.c", "@b.c", "a b@c.d", "a@.c", "a@c."] {
            assert_eq!(fields(body("A", None, Some(bad), "x")).unwrap(), ["email"], "{bad}");
        }
        assert_eq!(fields(body(&"n".repeat(101), None, Some("a@b.c"), "x")).unwrap(), ["name"]);
        assert_eq!(fields(body("A", None, Some("a@b.c"), &"m".repeat(2001))).unwrap(), ["message"]);
        assert!(validate(&body(&"n".repeat(100), None, Some("a@b.co"), &"m".repeat(2000))).is_ok());
    }
}
