//! Sessions are refresh-token families. Login starts one; each refresh rotates its token inside one
//! transaction; presenting a token that was already rotated means it was copied, so the whole
//! family is revoked — including access tokens already issued from it (they carry `sid`).

use super::User;
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::Cached;
use crate::db::Tx;
use crate::web::auth::{Claims, Principal};
use crate::web::ctx::new_id;
use crate::web::ApiError;
use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

pub fn hash_refresh(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_refresh_token() -> String {
    let mut b = [0u8; 32];
    let _ = getrandom::fill(&mut b);
    format!("rt_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub user: super::UserView,
}

/// Starts a session for `user` and returns its tokens.
pub fn start(tx: &Tx, app: &App, user: &User, device: &str, ip: &str) -> Result<Tokens, ApiError> {
    let now = app.now_ms();
    let sid = new_id("ses");
    let expires = now + i64::from(app.config.auth.refresh_ttl_days) * crate::clock::DAY_MS;
    let device: String = device.chars().take(200).collect();
    tx.execute_cached(
        "INSERT INTO sessions (id, user_id, device, ip, created_at, last_seen_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        params![sid, user.id, device, ip, now, expires],
    )?;
    let refresh = new_refresh_token();
    tx.execute_cached(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
        params![hash_refresh(&refresh), sid, now],
    )?;
    issue(app, user, &sid, refresh)
}

fn issue(app: &App, user: &User, sid: &str, refresh: String) -> Result<Tokens, ApiError> {
    let now = app.clock.now_secs();
    let ttl = app.keys.access_ttl_secs;
    let claims = Claims {
        sub: user.id.clone(),
        role: user.role,
        jti: new_id("jti"),
        sid: sid.to_string(),
        iat: now,
        exp: now + ttl,
        iss: app.keys.issuer.clone(),
    };
    Ok(Tokens {
        access_token: app.keys.mint(&claims)?,
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: ttl,
        user: user.view(),
    })
}

pub enum Rotated {
    Ok(Box<Tokens>),
    /// Unknown, expired or revoked: 401.
    Invalid,
    /// An already-rotated token: the family was revoked (the caller must commit, then revoke in memory).
    Reused {
        session_id: String,
        user_id: String,
    },
}

/// Rotates a refresh token within its family.
pub fn rotate(tx: &Tx, app: &App, presented: &str, ip: &str) -> Result<Rotated, ApiError> {
    let now = app.now_ms();
    let row: Option<(String, Option<i64>)> = tx
        .query_row(
            "SELECT session_id, used_at FROM refresh_tokens WHERE token_hash = ?1",
            [hash_refresh(presented)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((sid, used_at)) = row else { return Ok(Rotated::Invalid) };
    let session: Option<(String, i64, Option<i64>)> = tx
        .query_row("SELECT user_id, expires_at, revoked_at FROM sessions WHERE id = ?1", [&sid], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((user_id, expires_at, revoked_at)) = session else { return Ok(Rotated::Invalid) };
    if used_at.is_some() {
        if revoked_at.is_none() {
            revoke(tx, &sid, "refresh_token_reused", now)?;
        }
        return Ok(Rotated::Reused { session_id: sid, user_id });
    }
    if revoked_at.is_some() || expires_at <= now {
        return Ok(Rotated::Invalid);
    }
    let user = match super::find_by_id(tx, &user_id)? {
        Some(u) if !u.deleted && !u.blocked => u,
        _ => return Ok(Rotated::Invalid),
    };
    tx.execute_cached(
        "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1",
        params![hash_refresh(presented), now],
    )?;
    let refresh = new_refresh_token();
    tx.execute_cached(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
        params![hash_refresh(&refresh), sid, now],
    )?;
    let expires = now + i64::from(app.config.auth.refresh_ttl_days) * crate::clock::DAY_MS;
    tx.execute_cached(
        "UPDATE sessions SET last_seen_at = ?2, expires_at = ?3, ip = ?4 WHERE id = ?1",
        params![sid, now, expires, ip],
    )?;
    Ok(Rotated::Ok(Box::new(issue(app, &user, &sid, refresh)?)))
}

/// Marks one session revoked in the database (call [`forget`] after the commit).
pub fn revoke(tx: &Tx, sid: &str, reason: &str, now: i64) -> rusqlite::Result<bool> {
    let n = tx.execute_cached(
        "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        params![sid, now, reason],
    )?;
    Ok(n > 0)
}

/// Revokes every live session of a user except `keep`; returns their ids.
pub fn revoke_all(tx: &Tx, user_id: &str, keep: Option<&str>, reason: &str, now: i64) -> rusqlite::Result<Vec<String>> {
    let ids: Vec<String> = {
        let mut st = tx.prepare("SELECT id FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL")?;
        let rows = st.query_map([user_id], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<Vec<_>, _>>()?.into_iter().filter(|id| Some(id.as_str()) != keep).collect()
    };
    for id in &ids {
        revoke(tx, id, reason, now)?;
    }
    Ok(ids)
}

/// Applies committed revocations to the in-memory set, so tokens fail at once.
pub fn forget(app: &App, user_id: &str, sids: &[String]) {
    for sid in sids {
        app.revoked.revoke_session(sid);
    }
    // Parked long-polls of the ended sessions answer 401 now, not with the user's next events.
    if !sids.is_empty() {
        app.hub.wake(user_id);
    }
}

/// Rebuilds the in-memory revocation set from the database: at start-up, and periodically so it
/// stays small (revocations older than an access token's life protect nothing; every revoked jti
/// belongs to a revoked session).
pub fn reload_revocations(app: &App) -> Result<(), String> {
    let sessions = app
        .db
        .read(|c| load_revoked(c, app.now_ms(), app.keys.access_ttl_secs).map_err(crate::db::DbError::from))
        .map_err(|e| e.to_string())?;
    app.revoked.replace(sessions, Default::default());
    Ok(())
}

/// Revoked sessions whose access tokens may still be unexpired (start-up and pruning).
pub fn load_revoked(c: &Connection, now: i64, access_ttl_secs: i64) -> rusqlite::Result<HashSet<String>> {
    let horizon = now - (access_ttl_secs + 60) * 1000;
    let mut st = c.prepare("SELECT id FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at > ?1")?;
    let rows = st.query_map([horizon], |r| r.get::<_, String>(0))?;
    rows.collect()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub current: bool,
}

/// The caller's live sessions, newest first.
/// `GET /auth/sessions`: the caller's live sessions.
pub fn list_mine(app: &App, p: &Principal) -> Result<Vec<SessionView>, crate::web::ApiError> {
    app.db.read(|c| list(c, p, app.now_ms()).map_err(crate::web::ApiError::from))
}

pub fn list(c: &Connection, p: &Principal, now: i64) -> rusqlite::Result<Vec<SessionView>> {
    let mut st = c.prepare(
        "SELECT id, device, ip, created_at, last_seen_at FROM sessions
         WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 ORDER BY created_at DESC, id DESC LIMIT 100",
    )?;
    let rows = st.query_map(params![p.user_id, now], |r| {
        let id: String = r.get(0)?;
        Ok(SessionView {
            current: id == p.session_id,
            id,
            device: r.get(1)?,
            ip: r.get(2)?,
            created_at: rfc3339(r.get(3)?),
            last_seen_at: rfc3339(r.get(4)?),
        })
    })?;
    rows.collect()
}
