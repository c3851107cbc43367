//! Booking chat (API.md "Messages (booking chat) and enquiries"): the customer and the provider
//! of a booking write to each other while it is open and for [`CLOSES_AFTER_FINAL_MS`] after it
//! reached a final state. Each message is one transaction with the other party's
//! `message.created` event and `message.received` notification; reading marks the other party's
//! messages read and tells them (`message.read`). Admins may read a conversation (audited), never
//! write to one. Texts are stored sanitised and only ever served as JSON.

use super::{notices, Party};
use crate::app::App;
use crate::clock::{rfc3339, DAY_MS};
use crate::db::Cached;
use crate::notify::outbox;
use crate::web::auth::{Principal, Role};
use crate::web::ctx::new_id;
use crate::web::page::{Page, PageRequest};
use crate::web::{ApiError, Ctx};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Longest message, in characters after sanitising.
pub const MAX_TEXT: usize = 2000;
/// How long a booking's chat stays open after it became rejected, cancelled, completed or expired.
pub const CLOSES_AFTER_FINAL_MS: i64 = 7 * DAY_MS;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReadUpTo {
    pub up_to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sender {
    pub id: String,
    pub role: String,
}

/// A Message as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    pub booking_id: String,
    pub from: Sender,
    pub text: String,
    pub created_at: String,
    pub read_at: Option<String>,
    #[serde(skip)]
    pub created_ms: i64,
}

const COLUMNS: &str = "id, booking_id, sender_id, sender_role, text, created_at, read_at";

fn from_row(r: &Row) -> rusqlite::Result<MessageView> {
    Ok(MessageView {
        id: r.get(0)?,
        booking_id: r.get(1)?,
        from: Sender { id: r.get(2)?, role: r.get(3)? },
        text: r.get(4)?,
        created_at: rfc3339(r.get(5)?),
        read_at: r.get::<_, Option<i64>>(6)?.map(rfc3339),
        created_ms: r.get(5)?,
    })
}

fn find(c: &Connection, booking_id: &str, id: &str) -> rusqlite::Result<Option<MessageView>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1 AND booking_id = ?2"))?
        .query_row([id, booking_id], from_row)
        .optional()
}

/// The text as stored: `\r\n` becomes `\n`, every other control character is dropped, then
/// trimmed; 1..=[`MAX_TEXT`] characters. Err is the problem with it.
pub fn clean(text: &str) -> Result<String, String> {
    let kept: String = text.replace("\r\n", "\n").chars().filter(|c| *c == '\n' || !c.is_control()).collect();
    let t = kept.trim();
    if t.is_empty() {
        return Err("is required".into());
    }
    if t.chars().count() > MAX_TEXT {
        return Err(format!("must be at most {MAX_TEXT} characters"));
    }
    Ok(t.to_string())
}

/// `GET /bookings/{id}/messages?after=&limit=`: the conversation oldest first. Its parties and
/// admins (an admin's read is audited, so it takes the writer); anyone else 404.
pub fn list(
    app: &App,
    ctx: &Ctx,
    p: &Principal,
    booking_id: &str,
    page: &PageRequest,
) -> Result<Page<MessageView>, ApiError> {
    if p.role == Role::Admin {
        return app.db.write(|tx| {
            super::find(tx, booking_id)?.ok_or_else(|| ApiError::missing("No such booking."))?;
            let out = fetch(tx, booking_id, page)?;
            crate::audit::log(
                tx,
                app,
                ctx,
                Some((&p.user_id, p.role)),
                "admin.messages_read",
                Some(booking_id),
                json!({"bookingId": booking_id, "count": out.items.len()}),
            )?;
            Ok(out)
        });
    }
    app.db.read(|c| {
        let b = super::find(c, booking_id)?.ok_or_else(|| ApiError::missing("No such booking."))?;
        if b.party(p) == Party::Stranger {
            return Err(ApiError::missing("No such booking."));
        }
        Ok(fetch(c, booking_id, page)?)
    })
}

/// One page oldest first. The paging kit's `push_before` is newest first, so the keyset runs the
/// other way here: rows after the cursor's `(created_at, id)`, served by `messages_booking`.
fn fetch(c: &Connection, booking_id: &str, page: &PageRequest) -> rusqlite::Result<Page<MessageView>> {
    let (at, id) = page.after.clone().unwrap_or((i64::MIN, String::new()));
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages WHERE booking_id = ?1 AND (created_at, id) > (?2, ?3)
         ORDER BY created_at, id LIMIT ?4"
    ))?;
    let rows =
        st.query_map(params![booking_id, at, id, page.fetch()], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page.finish(rows, |m| (m.created_ms, &m.id)))
}

/// `POST /bookings/{id}/messages`: the caller, one of its parties, writes to the other.
pub fn send(app: &App, p: &Principal, booking_id: &str, m: NewMessage) -> Result<MessageView, ApiError> {
    let text = clean(&m.text).map_err(|e| ApiError::field("text", &e))?;
    let now = app.now_ms();
    app.db.write(|tx| {
        let (b, party) = super::for_party(tx, booking_id, p)?;
        // The moment it became final is its last update (every move sets `updated_at`).
        if !b.status.is_open() && now >= b.updated_at + CLOSES_AFTER_FINAL_MS {
            return Err(ApiError::conflict(
                "chat_closed",
                "This booking's chat closed 7 days after it was rejected, cancelled, completed or expired.",
            )
            .with_extra("status", json!(b.status.as_str())));
        }
        // Strictly later than the booking's last message, so a conversation's order is the order
        // it was written in even within one millisecond (ids are random); one writer makes it safe.
        let last: Option<i64> = tx
            .prepare_cached("SELECT MAX(created_at) FROM messages WHERE booking_id = ?1")?
            .query_row([&b.id], |r| r.get(0))?;
        let at = last.map_or(now, |l| now.max(l + 1));
        let id = new_id("msg");
        tx.execute_cached(
            "INSERT INTO messages (id, booking_id, sender_id, sender_role, text, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, b.id, p.user_id, party.role(), text, at],
        )?;
        let view = find(tx, &b.id, &id)?.ok_or_else(|| ApiError::internal("inserted message not found"))?;
        let other = b.other(party).to_string();
        outbox::event(tx, app, &[&other], "message.created", &json!({"message": view, "bookingId": b.id}))?;
        let mut facts = super::facts(tx, &b, &p.user_id, None)?;
        facts["preview"] = json!(text);
        outbox::notify(tx, app, &other, notices::MESSAGE_RECEIVED, facts)?;
        Ok(view)
    })
}

/// `POST /bookings/{id}/messages/read`: the other party's messages up to `upTo` (a message of this
/// booking, by either side) become read; the other party hears of it when any did.
pub fn mark_read(app: &App, p: &Principal, booking_id: &str, r: ReadUpTo) -> Result<(), ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        let (b, party) = super::for_party(tx, booking_id, p)?;
        let upto =
            find(tx, &b.id, &r.up_to)?.ok_or_else(|| ApiError::field("upTo", "is not a message of this booking"))?;
        let changed = tx.execute_cached(
            "UPDATE messages SET read_at = ?5
             WHERE booking_id = ?1 AND sender_id != ?2 AND read_at IS NULL AND (created_at, id) <= (?3, ?4)",
            params![b.id, p.user_id, upto.created_ms, upto.id, now],
        )?;
        if changed > 0 {
            let other = b.other(party).to_string();
            outbox::event(
                tx,
                app,
                &[&other],
                "message.read",
                &json!({"bookingId": b.id, "upTo": upto.id, "readAt": rfc3339(now)}),
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_sanitised_and_bounded() {
        assert_eq!(clean("  hi\r\nthere \u{7}\u{1b}[31m "), Ok("hi\nthere [31m".into()));
        assert_eq!(clean("a\tb\u{0}c"), Ok("abc".into()));
        assert!(clean(" \n\u{7} ").is_err());
        assert!(clean(&"x".repeat(MAX_TEXT + 1)).is_err());
        assert_eq!(clean(&"é".repeat(MAX_TEXT)).map(|t| t.chars().count()), Ok(MAX_TEXT));
    }
}
