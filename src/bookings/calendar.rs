//! The provider's iCalendar feed (RFC 5545): a secret-URL subscription calendar apps poll.
//! The token is random (256 bits), shown once inside the URL, stored only as its SHA-256; making
//! a new one replaces (revokes) the old, deleting it revokes the feed.

use crate::clock::rfc3339;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

/// A booking's assumed length in the feed (bookings have a start, not an end).
pub const EVENT_MS: i64 = 3_600_000;

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh token (base64url of 32 random bytes).
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b))
}

/// Stores `token` as the provider's only feed token.
pub fn replace(tx: &Transaction, provider_id: &str, token: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO calendar_tokens (provider_id, token_hash, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (provider_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
        params![provider_id, hash(token), now],
    )?;
    Ok(())
}

pub fn revoke(tx: &Transaction, provider_id: &str) -> rusqlite::Result<usize> {
    tx.execute("DELETE FROM calendar_tokens WHERE provider_id = ?1", [provider_id])
}

/// `DELETE /admin/users/{id}/calendar-token`: an admin ends a provider's feed (audited; 404 for an
/// unknown user, done also when there was no feed).
pub fn admin_revoke(
    app: &crate::app::App,
    ctx: &crate::web::Ctx,
    admin: &crate::web::auth::Principal,
    id: &str,
) -> Result<(), crate::web::ApiError> {
    app.db.write(|tx| {
        crate::accounts::find_by_id(tx, id)?.ok_or_else(crate::web::ApiError::not_found)?;
        let revoked = revoke(tx, id)?;
        let details = serde_json::json!({"revoked": revoked > 0});
        crate::audit::log(
            tx,
            app,
            ctx,
            Some((&admin.user_id, admin.role)),
            "admin.calendar_revoked",
            Some(id),
            details,
        )?;
        Ok(())
    })
}

/// The provider a token belongs to, while that provider may still sign in (blocking or deleting
/// also deletes the token, by trigger; this is the second lock on the same door).
pub fn provider_for(c: &Connection, token: &str) -> rusqlite::Result<Option<String>> {
    if token.is_empty() || token.len() > 200 {
        return Ok(None);
    }
    c.query_row(
        "SELECT t.provider_id FROM calendar_tokens t JOIN users u ON u.id = t.provider_id
         WHERE t.token_hash = ?1 AND u.blocked = 0 AND u.deleted_at IS NULL",
        [hash(token)],
        |r| r.get(0),
    )
    .optional()
}

pub struct Event {
    pub id: String,
    pub starts_at: i64,
    pub updated_at: i64,
    pub summary: String,
    pub location: String,
    pub description: String,
}

/// The provider's accepted or running bookings that have not ended yet, soonest first.
pub fn upcoming(c: &Connection, provider_id: &str, now: i64) -> rusqlite::Result<Vec<Event>> {
    let mut st = c.prepare(
        "SELECT b.id, b.starts_at, b.updated_at, c.name, u.full_name, b.address, b.notes,
                (SELECT group_concat(name, ', ') FROM (SELECT name FROM booking_items WHERE booking_id = b.id ORDER BY name))
         FROM bookings b JOIN categories c ON c.id = b.category_id JOIN users u ON u.id = b.customer_id
         WHERE b.provider_id = ?1 AND b.status IN ('accepted', 'in_progress') AND b.starts_at + ?3 > ?2
         ORDER BY b.starts_at, b.id LIMIT 500",
    )?;
    let rows = st.query_map(params![provider_id, now, EVENT_MS], |r| {
        let category: String = r.get(3)?;
        let customer: String = r.get(4)?;
        let items: Option<String> = r.get(7)?;
        let notes: String = r.get(6)?;
        let mut description = format!("Customer: {customer}");
        if let Some(i) = items.filter(|i| !i.is_empty()) {
            description.push_str(&format!("\nServices: {i}"));
        }
        if !notes.is_empty() {
            description.push_str(&format!("\nNotes: {notes}"));
        }
        Ok(Event {
            id: r.get(0)?,
            starts_at: r.get(1)?,
            updated_at: r.get(2)?,
            summary: format!("{category} – {customer}"),
            location: r.get(5)?,
            description,
        })
    })?;
    rows.collect()
}

/// `YYYYMMDDTHHMMSSZ`.
pub fn ical_utc(ms: i64) -> String {
    rfc3339(ms).replace(['-', ':'], "")
}

/// TEXT value escaping (RFC 5545 3.3.11).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets (continuations start with one space), never inside a
/// UTF-8 sequence, and ends every physical line with CRLF.
pub fn fold(line: &str, out: &mut String) {
    let mut used = 0;
    for ch in line.chars() {
        let n = ch.len_utf8();
        if used + n > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(ch);
        used += n;
    }
    out.push_str("\r\n");
}

/// The whole VCALENDAR.
pub fn render(events: &[Event], now: i64, host: &str) -> String {
    let mut out = String::new();
    let mut line = |s: &str| fold(s, &mut out);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//BuildXpert//Bookings//EN");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line("X-WR-CALNAME:BuildXpert bookings");
    for e in events {
        line("BEGIN:VEVENT");
        line(&format!("UID:{}@{}", e.id, host));
        line(&format!("DTSTAMP:{}", ical_utc(now)));
        line(&format!("LAST-MODIFIED:{}", ical_utc(e.updated_at)));
        line(&format!("DTSTART:{}", ical_utc(e.starts_at)));
        line(&format!("DTEND:{}", ical_utc(e.starts_at + EVENT_MS)));
        line(&format!("SUMMARY:{}", escape(&e.summary)));
        line(&format!("LOCATION:{}", escape(&e.location)));
        line(&format!("DESCRIPTION:{}", escape(&e.description)));
        line("STATUS:CONFIRMED");
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_counts_octets_and_keeps_characters_whole() {
        let mut out = String::new();
        let long = format!("SUMMARY:{}", "é".repeat(60));
        fold(&long, &mut out);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
        }
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, long);
        assert_eq!(ical_utc(crate::clock::parse_rfc3339("2026-12-01T05:00:00Z").unwrap()), "20261201T050000Z");
        assert_eq!(escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
