//! One claimed delivery out through its channel's [`Sender`]: the webhook payload as stored, an
//! operator e-mail's subject and text to its address, or the notification's texts to the user's
//! address on the channel (their phone, e-mail address or every active device). Runs outside any
//! transaction.

use super::worker::{Claimed, Outcome};
use super::{Channel, Recipient};
use crate::app::App;
use crate::channels::{Message, SendError, Sender};
use crate::db::Cached;
use crate::db::DbError;
use rusqlite::{params, OptionalExtension};
use serde_json::Value;

/// The in-app notification a delivery sends: title, body and data (JSON text).
type Note = (String, String, String);

pub(super) fn send(app: &App, d: &Claimed) -> Outcome {
    if d.channel == Channel::Webhook {
        let Some(hook) = app.senders.webhook(&d.target) else {
            return Outcome::Permanent("the webhook is no longer configured".into());
        };
        let msg = Message { id: &d.id, body: &d.payload, ..Message::text(&[], "") };
        return outcome(hook.send(&app.outbound, &msg));
    }
    if d.channel == Channel::Email && d.user_id.is_none() && !d.target.is_empty() {
        return to_operator(app, d);
    }
    let (user, (title, body, data)) = match load(app, d) {
        Ok((Some(user), Some(note))) => (user, note),
        Ok(_) => return Outcome::Permanent("the user or notification no longer exists".into()),
        Err(e) => return Outcome::Transient(e.to_string()),
    };
    if user.deleted {
        return Outcome::Permanent("the account was deleted".into());
    }
    let (sender, to) = match addresses(app, d.channel, &user) {
        Ok(found) => found,
        Err(o) => return o,
    };
    let data: Value = serde_json::from_str(&data).unwrap_or_default();
    let forget = |token: &str| forget_device(app, token);
    let msg = Message { id: &d.id, to: &to, title: &title, body: &body, data: &data, forget: &forget };
    outcome(sender.send(&app.outbound, &msg))
}

/// An e-mail queued by `outbox::email_operator`: `{subject, text}` to the stored address.
fn to_operator(app: &App, d: &Claimed) -> Outcome {
    let Some(sender) = app.senders.get(Channel::Email) else {
        return Outcome::Permanent("e-mail is no longer configured".into());
    };
    let p: Value = serde_json::from_str(&d.payload).unwrap_or_default();
    let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let (title, body) = (field("subject"), field("text"));
    let to = [d.target.clone()];
    let msg = Message { id: &d.id, to: &to, title: &title, body: &body, ..Message::text(&[], "") };
    outcome(sender.send(&app.outbound, &msg))
}

fn load(app: &App, d: &Claimed) -> Result<(Option<Recipient>, Option<Note>), DbError> {
    app.db.read(|c| {
        let user = match &d.user_id {
            Some(u) => super::recipient(c, u)?,
            None => None,
        };
        let note = match &d.notification_id {
            Some(n) => c
                .query_row("SELECT title, body, data FROM notifications WHERE id = ?1", [n], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?,
            None => None,
        };
        Ok((user, note))
    })
}

/// The channel's sender and the user's addresses on it, or why the delivery cannot go.
fn addresses<'a>(app: &'a App, channel: Channel, user: &Recipient) -> Result<(&'a dyn Sender, Vec<String>), Outcome> {
    let sender = app.senders.get(channel);
    match (channel, sender) {
        (Channel::Sms, Some(s)) => Ok((s, vec![user.phone.clone()])),
        (Channel::Email, Some(s)) if user.email.is_some() => Ok((s, user.email.iter().cloned().collect())),
        (Channel::Email, _) => Err(Outcome::Permanent("e-mail is not configured for this user".into())),
        (Channel::Push, Some(s)) => match devices(app, &user.id) {
            Ok(tokens) if tokens.is_empty() => Err(Outcome::Permanent("no registered device".into())),
            Ok(tokens) => Ok((s, tokens)),
            Err(e) => Err(Outcome::Transient(e.to_string())),
        },
        (c, _) => Err(Outcome::Permanent(format!("{} is not configured", c.as_str()))),
    }
}

fn devices(app: &App, user_id: &str) -> Result<Vec<String>, DbError> {
    app.db.read(|c| {
        let mut st = c.prepare("SELECT push_token FROM devices WHERE user_id = ?1 AND disabled_at IS NULL")?;
        let r = st.query_map([user_id], |r| r.get(0))?;
        Ok(r.collect::<Result<Vec<String>, _>>()?)
    })
}

/// The app was uninstalled or the token rotated: stop sending to it.
fn forget_device(app: &App, token: &str) {
    let now = app.now_ms();
    let _ = app.db.write(|tx| {
        tx.execute_cached("UPDATE devices SET disabled_at = ?2 WHERE push_token = ?1", params![token, now])
            .map_err(DbError::from)
    });
}

fn outcome(r: Result<crate::channels::Sent, SendError>) -> Outcome {
    match r {
        Ok(sent) => Outcome::Sent(sent.reference),
        Err(e) if e.is_permanent() => Outcome::Permanent(e.message().to_string()),
        Err(e) => Outcome::Transient(e.message().to_string()),
    }
}
