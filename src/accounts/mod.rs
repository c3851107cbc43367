//! Accounts: signup with SMS one-time codes, login with lockouts, sessions as refresh-token
//! families, password reset and change, the caller's profile and addresses (devices and
//! notification settings are notify's), and the operator's user management.
//!
//! House rules (the same words open every feature's `mod.rs`):
//! - `routes.rs` has `register()` with all of the feature's routes, its admin routes included,
//!   and thin handlers: parse the request (`web::json::{body, optional_body, private}`,
//!   `web::page::PageRequest::from_query`), check the caller (`guard::{principal, require}`), call
//!   ONE operation, shape the response. No SQL and no `app.db` in route files.
//! - An operation is `pub fn op(app: &App, [ctx: &Ctx,] [caller: &Principal,] input) ->
//!   Result<Out, ApiError>` (`ctx` when it audits, `caller` unless the route is public or admin
//!   and nothing depends on who asks) and opens its own transaction: `app.db.read`, or
//!   `app.db.write` (`BEGIN IMMEDIATE`). Building blocks that other operations, or other
//!   features, call inside their transaction take `&Tx` / `&Connection`.
//! - Failures are named (`ApiError::{missing, denied, refused, conflict, locked, field, …}`); the
//!   web kit owns the statuses. A violated unique constraint becomes its answer in one table,
//!   `web::error::CONSTRAINTS`; operations let the database refuse and return the error (`?`).
//! - Lists page with the kit: take a `&PageRequest`, add `db::keyset::push_before` for its
//!   cursor, fetch `page.fetch()` rows newest first, return `page.finish(rows, key)` (a `Page`,
//!   shaped with `Page::map`/`try_map`).
//! - One owner per table. accounts: users, signups, one-time codes, sessions, refresh tokens,
//!   lockouts, trusted addresses, addresses. notify: notifications, deliveries, devices,
//!   notification_settings. events: events. enquiries: enquiries. catalog: categories, sub_services, listings,
//!   listing_prices. bookings: bookings, booking_items, booking_history, ratings, reports,
//!   passes, calendar_tokens, messages and the reminder marks. Another owner's rows are read through a
//!   function it exports when it is below the reader (bookings → catalog → accounts → notify →
//!   events), and through a view it exports (`schema/0008_views.sql`) when they join into the
//!   reader's own statement or the reader may not import it (catalog never imports bookings).
//! - Periodic work is the feature's `jobs()`, listed in `src/jobs.rs`; notification kinds are
//!   constants in the feature's `notices.rs`.
//! - Spans of time are `clock::{HOUR_MS, DAY_MS}`.

pub mod addresses;
pub mod admin_users;
pub mod bootstrap;

pub mod lockout;
pub mod login;
pub mod me;
pub mod notices;
pub mod otp;

pub mod phone;
pub mod routes;
pub mod sessions;
pub mod signup;

use crate::clock::rfc3339;
use crate::db::Cached;
use crate::web::auth::Role;
use crate::web::ApiError;
use rusqlite::{Connection, OptionalExtension, Row};
use serde::Serialize;

/// Lockout after this many consecutive failures (logins, or wrong codes for a phone).
pub const MAX_FAILURES: i64 = 5;
pub const LOCK_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub role: Role,
    pub phone: String,
    pub full_name: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub verified: bool,
    pub blocked: bool,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub deleted: bool,
}

pub const USER_COLUMNS: &str = "id, role, phone, full_name, email, password_hash, verified, blocked, locked_until, \
     created_at, deleted_at";

impl User {
    pub fn from_row(r: &Row) -> rusqlite::Result<User> {
        let role: String = r.get(1)?;
        Ok(User {
            id: r.get(0)?,
            role: Role::parse(&role).unwrap_or(Role::Customer),
            phone: r.get(2)?,
            full_name: r.get(3)?,
            email: r.get(4)?,
            password_hash: r.get(5)?,
            verified: r.get::<_, i64>(6)? != 0,
            blocked: r.get::<_, i64>(7)? != 0,
            locked_until: r.get(8)?,
            created_at: r.get(9)?,
            deleted: r.get::<_, Option<i64>>(10)?.is_some(),
        })
    }

    /// The public shape (API.md `User`).
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            full_name: self.full_name.clone(),
            phone: self.phone.clone(),
            email: self.email.clone(),
            role: self.role,
            verified: self.verified,
            created_at: rfc3339(self.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub full_name: String,
    pub phone: String,
    pub email: Option<String>,
    pub role: Role,
    pub verified: bool,
    pub created_at: String,
}

pub fn find_by_id(c: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    // Cached: every authenticated write and most notifications look a user up.
    c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id], User::from_row)
        .optional()
}

pub fn find_by_phone(c: &Connection, phone: &str, role: Role) -> rusqlite::Result<Option<User>> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE phone = ?1 AND role = ?2 AND deleted_at IS NULL"
    ))?
    .query_row(rusqlite::params![phone, role.as_str()], User::from_row)
    .optional()
}

/// The caller's own live account, or 401 (deleted accounts' tokens are revoked anyway).
pub fn current_user(c: &Connection, id: &str) -> Result<User, ApiError> {
    match find_by_id(c, id)? {
        Some(u) if !u.deleted => Ok(u),
        _ => Err(ApiError::unauthenticated()),
    }
}

/// Trimmed full name, 1-100 characters.
pub fn check_name(name: &str) -> Result<String, &'static str> {
    let n = name.trim();
    if n.is_empty() {
        return Err("is required");
    }
    if n.chars().count() > 100 {
        return Err("must be at most 100 characters");
    }
    if n.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(n.to_string())
}

/// Lower-cased e-mail with one `@`, a dot in the domain, no spaces, at most 254 characters.
pub fn check_email(email: &str) -> Result<String, &'static str> {
    let e = email.trim().to_ascii_lowercase();
    let ok = e.len() <= 254
        && !e.contains(char::is_whitespace)
        && e.split('@').count() == 2
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.'));
    if ok {
        Ok(e)
    } else {
        Err("must be a valid e-mail address")
    }
}

pub fn parse_role(s: &str, allow_admin: bool) -> Result<Role, ApiError> {
    match Role::parse(s) {
        Some(Role::Admin) if !allow_admin => Err(ApiError::field("role", "must be customer or provider")),
        Some(r) => Ok(r),
        None => Err(ApiError::field(
            "role",
            if allow_admin { "must be customer, provider or admin" } else { "must be customer or provider" },
        )),
    }
}

/// Sends a code by SMS now; a provider failure becomes 503 (the stored code stays valid for a resend).
pub fn send_code(app: &crate::app::App, phone: &str, text: &str) -> Result<(), ApiError> {
    use crate::channels::{codes, SendError};
    match codes::send(&app.senders, &app.outbound, phone, text) {
        Ok(_) => Ok(()),
        Err(SendError::Permanent(e)) => {
            log::warn!("sms: permanent failure sending a code: {e}");
            Err(ApiError::field("phone", "cannot receive SMS"))
        }
        Err(SendError::Transient(e)) => {
            log::warn!("sms: could not send a code: {e}");
            Err(ApiError::unavailable("The SMS provider is unavailable; try again shortly.", 30))
        }
    }
}

/// Accounts' periodic work, on the one runner (src/jobs.rs lists every feature's).
pub fn jobs() -> Vec<crate::runner::Job<crate::app::App>> {
    use crate::runner::Job;
    use std::time::Duration;
    vec![
        Job::new("revocations-prune", Duration::from_secs(600), sessions::reload_revocations),
        // Failed-login and wrong-code counters, and pending signups, past their use.
        Job::new("lockouts-prune", Duration::from_secs(3600), |app: &crate::app::App| {
            let now = app.now_ms();
            app.db.write(|tx| {
                lockout::prune(tx, now)?;
                signup::prune(tx, now)?;
                Ok::<_, crate::db::DbError>(())
            })
        }),
    ]
}

/// Live (not deleted) accounts by role: (customers, providers), for the operator's overview.
pub fn count_by_role(c: &Connection) -> rusqlite::Result<(i64, i64)> {
    c.query_row_cached(
        "SELECT COALESCE(SUM(role = 'customer'), 0), COALESCE(SUM(role = 'provider'), 0) FROM users WHERE deleted_at IS NULL",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}
