//! The provider's iCalendar feed: a secret-URL subscription calendar apps poll.
//! The token is random (256 bits), shown once inside the URL, stored only as its SHA-256; making
//! a new one replaces (revokes) the old, deleting it revokes the feed.

use super::ical::{self, Event, EVENT_MS};
use crate::app::App;
use crate::db::Cached;
use crate::db::Tx;
use crate::web::auth::Principal;
use crate::web::{ApiError, Ctx};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

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
pub fn replace(tx: &Tx, provider_id: &str, token: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute_cached(
        "INSERT INTO calendar_tokens (provider_id, token_hash, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (provider_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
        params![provider_id, hash(token), now],
    )?;
    Ok(())
}

pub fn revoke(tx: &Tx, provider_id: &str) -> rusqlite::Result<usize> {
    tx.execute_cached("DELETE FROM calendar_tokens WHERE provider_id = ?1", [provider_id])
}

/// `POST /provider/calendar-token`: a new secret feed URL for the calling provider; the previous
/// one stops working.
pub fn new_feed(app: &App, p: &Principal) -> Result<String, ApiError> {
    let token = new_token().map_err(ApiError::internal)?;
    let now = app.now_ms();
    app.db.write(|tx| {
        crate::accounts::current_user(tx, &p.user_id)?;
        replace(tx, &p.user_id, &token, now)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(feed_url(app, &token))
}

/// `DELETE /provider/calendar-token`: the calling provider's feed URL stops working (done also
/// when there was none).
pub fn revoke_own(app: &App, p: &Principal) -> Result<(), ApiError> {
    app.db.write(|tx| {
        revoke(tx, &p.user_id)?;
        Ok(())
    })
}

/// `DELETE /admin/users/{id}/calendar-token`: an admin ends a provider's feed (audited; 404 for an
/// unknown user, done also when there was no feed).
pub fn admin_revoke(app: &App, ctx: &Ctx, admin: &Principal, id: &str) -> Result<(), ApiError> {
    app.db.write(|tx| {
        crate::accounts::find_by_id(tx, id)?.ok_or_else(ApiError::not_found)?;
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

/// `GET /provider/calendar.ics?token=`: the feed of the provider the token belongs to; 404 for a
/// bad or revoked token.
pub fn feed(app: &App, token: &str) -> Result<String, ApiError> {
    let now = app.now_ms();
    let events = app.db.read(|c| {
        let provider = provider_for(c, token)?.ok_or_else(ApiError::not_found)?;
        Ok::<_, ApiError>(upcoming(c, &provider, now)?)
    })?;
    Ok(ical::render(&events, now, &host(app)))
}

fn feed_url(app: &App, token: &str) -> String {
    format!("{}/api/v1/provider/calendar.ics?token={token}", app.config.server.public_url.trim_end_matches('/'))
}

/// The host of `server.public_url`, for event UIDs.
fn host(app: &App) -> String {
    let u = &app.config.server.public_url;
    let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if host.starts_with('[') { host } else { host.split(':').next().unwrap_or(host) };
    if host.is_empty() {
        "buildxpert".into()
    } else {
        host.to_string()
    }
}

/// The provider a token belongs to, while that provider may still sign in (blocking or deleting
/// also deletes the token, by trigger; this is the second lock on the same door).
pub fn provider_for(c: &Connection, token: &str) -> rusqlite::Result<Option<String>> {
    if token.is_empty() || token.len() > 200 {
        return Ok(None);
    }
    c.prepare_cached(
        "SELECT t.provider_id FROM calendar_tokens t JOIN user_directory u ON u.id = t.provider_id
         WHERE t.token_hash = ?1 AND u.blocked = 0 AND u.deleted = 0",
    )?
    .query_row([hash(token)], |r| r.get(0))
    .optional()
}

/// The provider's accepted or running bookings that have not ended yet, soonest first (names
/// through catalog's and accounts' views; cached, so they are expanded once per connection).
pub fn upcoming(c: &Connection, provider_id: &str, now: i64) -> rusqlite::Result<Vec<Event>> {
    let mut st = c.prepare_cached(
        "SELECT b.id, b.starts_at, b.updated_at, c.name, u.full_name, b.address, b.notes,
                (SELECT group_concat(name, ', ') FROM (SELECT name FROM booking_items WHERE booking_id = b.id ORDER BY name))
         FROM bookings b JOIN category_directory c ON c.id = b.category_id
         JOIN user_directory u ON u.id = b.customer_id
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
