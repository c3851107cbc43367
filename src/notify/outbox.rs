//! The outbox API, called inside the business transaction: [`notify`] records the in-app
//! notification, its `notification.created` event and the first external delivery; [`event`]
//! records a real-time event for users and the operator-webhook deliveries it matches;
//! [`email_operator`] queues an e-mail to the operator's address (`email.operator`).

use super::{Category, Channel, Kind, Texts, FALLBACK};
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::Cached;
use crate::db::Tx;
use crate::events;
use crate::hub::Hub;
use crate::web::ctx::new_id;
use crate::web::ApiError;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: Value,
    pub read: bool,
    pub created_at: String,
}

/// The user's preferences (defaults when no row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefs {
    pub booking_updates: bool,
    pub reminders: bool,
    pub calls: bool,
    pub marketing: bool,
    pub push: bool,
    pub sms: bool,
    pub email: bool,
}

/// API.md: everything on except marketing (consent to marketing must be given, not assumed).
impl Default for Prefs {
    fn default() -> Prefs {
        Prefs {
            booking_updates: true,
            reminders: true,
            calls: true,
            marketing: false,
            push: true,
            sms: true,
            email: true,
        }
    }
}

pub fn prefs(tx: &rusqlite::Connection, user_id: &str) -> rusqlite::Result<Prefs> {
    let row = tx
        .query_row(
            "SELECT booking_updates, reminders, calls, marketing, channel_push, channel_sms, channel_email
             FROM notification_settings WHERE user_id = ?1",
            [user_id],
            |r| {
                Ok(Prefs {
                    booking_updates: r.get(0)?,
                    reminders: r.get(1)?,
                    calls: r.get(2)?,
                    marketing: r.get(3)?,
                    push: r.get(4)?,
                    sms: r.get(5)?,
                    email: r.get(6)?,
                })
            },
        )
        .optional()?;
    Ok(row.unwrap_or_default())
}

fn wants(p: &Prefs, c: Category) -> bool {
    match c {
        Category::BookingUpdates => p.booking_updates,
        Category::Reminders => p.reminders,
        Category::Calls => p.calls,
        Category::Marketing => p.marketing,
        Category::Security => true,
    }
}

/// The first channel after `after` (in push → SMS → e-mail order) that the user enabled, the
/// operator configured, and the user can receive on.
pub fn next_channel(
    tx: &rusqlite::Connection,
    app: &App,
    user: &super::Recipient,
    after: Option<Channel>,
) -> rusqlite::Result<Option<Channel>> {
    if user.deleted {
        return Ok(None);
    }
    let p = prefs(tx, &user.id)?;
    let start = after.and_then(|a| FALLBACK.iter().position(|c| *c == a)).map_or(0, |i| i + 1);
    for c in &FALLBACK[start..] {
        let ok = match c {
            Channel::Push => {
                p.push
                    && app.senders.get(Channel::Push).is_some()
                    && tx
                        .query_row(
                            "SELECT 1 FROM devices WHERE user_id = ?1 AND disabled_at IS NULL LIMIT 1",
                            [&user.id],
                            |_| Ok(()),
                        )
                        .optional()?
                        .is_some()
            }
            Channel::Sms => p.sms,
            Channel::Email => p.email && app.senders.get(Channel::Email).is_some() && user.email.is_some(),
            Channel::Webhook => false,
        };
        if ok {
            return Ok(Some(*c));
        }
    }
    Ok(None)
}

/// Queues a delivery on `channel` for a notification (the worker is kicked after the commit).
pub fn queue(
    tx: &Tx,
    notification_id: Option<&str>,
    user_id: Option<&str>,
    channel: Channel,
    target: &str,
    payload: &str,
    now: i64,
) -> rusqlite::Result<String> {
    let id = new_id("dlv");
    tx.execute_cached(
        "INSERT INTO deliveries (id, notification_id, user_id, channel, target, payload, status, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7, ?7)",
        params![id, notification_id, user_id, channel.as_str(), target, payload, now],
    )?;
    Hub::defer_worker();
    Ok(id)
}

/// Notifies `user_id` of `kind` (with the facts in `data`, as its texts expect): in-app always,
/// externally when the kind's category is enabled. Call inside the business transaction.
pub fn notify(tx: &Tx, app: &App, user_id: &str, kind: Kind, data: Value) -> Result<NotificationView, ApiError> {
    let user = super::recipient(tx, user_id)?.ok_or_else(|| ApiError::internal("notify: no such user"))?;
    let now = app.now_ms();
    let Texts { title, body } = kind.texts(&user.full_name, &data);
    let id = new_id("ntf");
    tx.execute_cached(
        "INSERT INTO notifications (id, user_id, kind, title, body, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, user_id, kind.name, title, body, data.to_string(), now],
    )?;
    let view = NotificationView {
        id: id.clone(),
        kind: kind.name.into(),
        title,
        body,
        data,
        read: false,
        created_at: rfc3339(now),
    };
    event(tx, app, &[user_id], "notification.created", &json!({"notification": view}))?;
    if wants(&prefs(tx, user_id)?, kind.category) {
        if let Some(c) = next_channel(tx, app, &user, None)? {
            queue(tx, Some(&id), Some(user_id), c, "", "{}", now)?;
        }
    }
    Ok(view)
}

/// Publishes a real-time event to each user, and queues it for every operator webhook whose
/// patterns match (one delivery per webhook, not per user). Call inside the business transaction.
pub fn event(tx: &Tx, app: &App, user_ids: &[&str], event_type: &str, data: &Value) -> Result<(), ApiError> {
    let now = app.now_ms();
    for u in user_ids {
        events::publish(tx, u, event_type, data, now)?;
    }
    let body = json!({"type": event_type, "timestamp": rfc3339(now), "data": data}).to_string();
    for hook in &app.config.webhooks {
        if crate::channels::webhook::matches(&hook.events, event_type) {
            queue(tx, None, None, Channel::Webhook, &hook.url, &body, now)?;
        }
    }
    Ok(())
}

/// Queues an e-mail to the operator (`email.operator`) when e-mail is configured and the address
/// is set; returns the delivery id, or `None` when there is nowhere to send it. The delivery has
/// no user: its target is the address and its payload the subject and text, and the worker sends
/// it through the same e-mail sender, with the same retries and dead letters. Call inside the
/// business transaction.
pub fn email_operator(tx: &Tx, app: &App, subject: &str, text: &str) -> rusqlite::Result<Option<String>> {
    let to = app.config.email.operator.as_str();
    if to.is_empty() || app.senders.get(Channel::Email).is_none() {
        return Ok(None);
    }
    let payload = json!({"subject": subject, "text": text}).to_string();
    queue(tx, None, None, Channel::Email, to, &payload, app.now_ms()).map(Some)
}
