//! `Idempotency-Key` on POST (API.md Conventions), for authenticated callers: the first response
//! to (user, key) is kept for 24 h and replayed to a retry with the same method, path and body
//! (`Idempotent-Replayed: true`); the same key with a different request → 422
//! `idempotency_key_reused`; while the first is still running → 409 `idempotency_in_progress`.
//! 429 and 5xx answers are not kept (a retry after `Retry-After` runs again). Keys are scoped to
//! the user's session, so no other session (or user) ever gets a response replayed. Routes that
//! hand out credentials are outside the layer: no kept response holds a live token. Unauthenticated
//! POSTs ignore the header.

use crate::app::App;
use crate::db::Cached;
use crate::web::auth::authenticate;
use crate::web::json::read_body;
use crate::web::ApiError;
use rouille::{Request, Response};
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};
use std::io::Read;

pub const TTL_MS: i64 = 24 * 3600 * 1000;
/// Responses larger than this are not kept (a retry then runs again).
const MAX_KEPT: usize = 1024 * 1024;

/// The key from the header: 1-255 visible ASCII characters; the IETF draft's quoted form is accepted.
fn parse_key(raw: &str) -> Result<String, ApiError> {
    let k = raw.trim();
    let k = k.strip_prefix('"').and_then(|k| k.strip_suffix('"')).unwrap_or(k);
    if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ApiError::field("Idempotency-Key", "must be 1-255 visible ASCII characters"));
    }
    Ok(k.to_string())
}

/// Routes whose answers carry live credentials (tokens, a calendar feed secret): never kept.
const MINTS_SECRETS: &[&str] = &["/api/v1/auth/", "/api/v1/provider/calendar-token"];

fn is_kept(status: u16) -> bool {
    status != 429 && status < 500
}

/// Clears a reservation if the request dies before storing its result (panic, early return).
struct Reservation<'a> {
    app: &'a App,
    user: String,
    session: String,
    key: String,
    armed: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.app.db.write(|tx| {
                tx.execute_cached(
                    "DELETE FROM idempotency_keys WHERE user_id = ?1 AND session_id = ?2 AND idem_key = ?3
                     AND state = 'running'",
                    params![self.user, self.session, self.key],
                )
                .map_err(crate::db::DbError::from)
            });
        }
    }
}

/// Runs `run` under the idempotency rules when the request is a POST with a key from a signed-in
/// caller; otherwise just runs it.
pub fn guard(app: &App, req: &Request, rid: &str, run: impl FnOnce(&Request) -> Response) -> Response {
    let Some(raw) = req.header("Idempotency-Key").filter(|_| req.method() == "POST") else { return run(req) };
    if MINTS_SECRETS.iter().any(|p| req.url().starts_with(p)) {
        return run(req);
    }
    let Ok(principal) = authenticate(req, &app.keys, &app.revoked, app.clock.now_secs()) else { return run(req) };
    let scope = Scope { user: &principal.user_id, session: &principal.session_id };
    match begin(app, req, raw, &scope) {
        Err(e) => e.into_response(rid),
        Ok(Begun::Replay(r)) => r,
        Ok(Begun::Fresh { key, hash, body }) => {
            let mut reservation = Reservation {
                app,
                user: principal.user_id.clone(),
                session: principal.session_id.clone(),
                key,
                armed: true,
            };
            let headers: Vec<(String, String)> = req.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let again = Request::fake_http_from(*req.remote_addr(), req.method(), req.raw_url(), headers, body);
            let resp = run(&again);
            let (resp, kept) = keep(resp);
            let stored = kept.filter(|_| is_kept(resp.status_code)).map(|(ct, bytes)| {
                app.db.write(|tx| {
                    tx.execute_cached(
                        "UPDATE idempotency_keys SET state = 'done', status = ?4, content_type = ?5, body = ?6, request_hash = ?7
                         WHERE user_id = ?1 AND session_id = ?2 AND idem_key = ?3",
                        params![
                            reservation.user,
                            reservation.session,
                            reservation.key,
                            resp.status_code,
                            ct,
                            bytes,
                            hash
                        ],
                    )
                    .map_err(crate::db::DbError::from)
                })
            });
            if matches!(stored, Some(Ok(_))) {
                reservation.armed = false;
            }
            resp
        }
    }
}

/// A kept key, as read back.
struct Stored {
    hash: String,
    running: bool,
    status: Option<i64>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
    created: i64,
}

/// Whose key it is: one session of one user.
struct Scope<'a> {
    user: &'a str,
    session: &'a str,
}

enum Begun {
    Fresh { key: String, hash: String, body: Vec<u8> },
    Replay(Response),
}

fn begin(app: &App, req: &Request, raw: &str, scope: &Scope) -> Result<Begun, ApiError> {
    let (user, session) = (scope.user, scope.session);
    let key = parse_key(raw)?;
    let body = read_body(req, app.config.server.body_limit_bytes)?;
    let mut h = Sha256::new();
    h.update(req.method().as_bytes());
    h.update(b"\n");
    h.update(req.raw_url().as_bytes());
    h.update(b"\n");
    h.update(&body);
    let hash = hex::encode(h.finalize());
    let now = app.now_ms();
    app.db.write(|tx| {
        let row: Option<Stored> = tx
            .query_row(
                "SELECT request_hash, state, status, content_type, body, created_at FROM idempotency_keys
                 WHERE user_id = ?1 AND session_id = ?2 AND idem_key = ?3",
                params![user, session, key],
                |r| {
                    Ok(Stored {
                        hash: r.get(0)?,
                        running: r.get::<_, String>(1)? == "running",
                        status: r.get(2)?,
                        content_type: r.get(3)?,
                        body: r.get(4)?,
                        created: r.get(5)?,
                    })
                },
            )
            .optional()?;
        match row {
            Some(old) if old.created + TTL_MS <= now => {
                tx.execute_cached(
                    "DELETE FROM idempotency_keys WHERE user_id = ?1 AND session_id = ?2 AND idem_key = ?3",
                    params![user, session, key],
                )?;
            }
            Some(old) if old.running => {
                return Err(ApiError::conflict(
                    "idempotency_in_progress",
                    "A request with this Idempotency-Key is still running.",
                ));
            }
            Some(Stored { hash: stored_hash, status, content_type: ct, body, .. }) => {
                if stored_hash != hash {
                    return Err(ApiError::new(
                        422,
                        "idempotency_key_reused",
                        "This Idempotency-Key was used with a different request.",
                    ));
                }
                let r = Response::from_data(ct.unwrap_or_else(|| "application/json".into()), body.unwrap_or_default())
                    .with_status_code(status.unwrap_or(200) as u16)
                    .with_unique_header("Idempotent-Replayed", "true");
                return Ok(Begun::Replay(r));
            }
            None => {}
        }
        tx.execute_cached(
            "INSERT INTO idempotency_keys (user_id, session_id, idem_key, method, path, request_hash, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7)",
            params![user, session, key, req.method(), req.raw_url(), hash, now],
        )?;
        Ok(Begun::Fresh { key: key.clone(), hash: hash.clone(), body: body.clone() })
    })
}

/// Buffers a (small) response so it can be both sent and kept.
fn keep(resp: Response) -> (Response, Option<(String, Vec<u8>)>) {
    let ct = resp
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Type"))
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| "application/json".into());
    let Response { status_code, headers, data, upgrade } = resp;
    let (mut reader, size) = data.into_reader_and_size();
    if size.is_some_and(|s| s > MAX_KEPT) {
        return (Response { status_code, headers, data: rouille::ResponseBody::from_reader(reader), upgrade }, None);
    }
    let mut bytes = Vec::new();
    let ok = reader.by_ref().take(MAX_KEPT as u64 + 1).read_to_end(&mut bytes).is_ok() && bytes.len() <= MAX_KEPT;
    let data = rouille::ResponseBody::from_data(bytes.clone());
    (Response { status_code, headers, data, upgrade }, ok.then_some((ct, bytes)))
}

/// Deletes keys past their 24 h (a job).
pub fn prune(app: &App) -> Result<usize, crate::db::DbError> {
    let cutoff = app.now_ms() - TTL_MS;
    app.db.write(|tx| Ok(tx.execute_cached("DELETE FROM idempotency_keys WHERE created_at < ?1", [cutoff])?))
}
