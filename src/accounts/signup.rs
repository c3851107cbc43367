//! Signup: each signup request waits in `signups`, with its own one-time code, until the phone
//! proves itself by sending that code back.

use super::otp::{self, Purpose};
use super::phone::Phone;
use super::sessions::{self, Tokens};
use super::{check_email, check_name, parse_role, send_code};
use crate::app::App;
use crate::audit;
use crate::db::Cached;
use crate::db::Tx;
use crate::passwords::check_policy;
use crate::web::auth::Role;
use crate::web::ctx::new_id;
use crate::web::ratelimit::Limit;
use crate::web::{ApiError, Ctx};
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignupBody {
    pub full_name: String,
    pub phone: String,
    #[serde(default)]
    pub email: Option<String>,
    pub password: String,
    pub role: String,
}

pub struct Valid {
    pub full_name: String,
    pub phone: Phone,
    pub email: Option<String>,
    pub role: Role,
}

fn validate(app: &App, b: &SignupBody) -> Result<Valid, ApiError> {
    let mut errs: Vec<(&str, &str)> = Vec::new();
    let name = check_name(&b.full_name).map_err(|e| errs.push(("fullName", e))).ok();
    let phone = Phone::parse(&b.phone, &app.config.business.default_country);
    if phone.is_none() {
        errs.push(("phone", "must be a valid mobile number"));
    }
    let email = match b.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => check_email(e).map_err(|m| errs.push(("email", m))).ok(),
        None => None,
    };
    if let Err(m) = check_policy(&b.password) {
        errs.push(("password", m));
    }
    let role = Role::parse(&b.role).filter(|r| *r != Role::Admin);
    if role.is_none() {
        errs.push(("role", "must be customer or provider"));
    }
    match (errs.is_empty(), name, phone, role) {
        (true, Some(full_name), Some(phone), Some(role)) => Ok(Valid { full_name, phone, email, role }),
        _ => Err(ApiError::validation(errs)),
    }
}

fn code_text(code: &str) -> String {
    format!(
        "{code} is your BuildXpert verification code. It expires in 5 minutes. \
         If you did not just sign up, ignore it and never share it."
    )
}

/// A pending signup lives this long (its code 5 minutes; a resend renews the code).
pub const PENDING_TTL_MS: i64 = 60 * 60 * 1000;
/// Pending signups per (phone, role) at most: each is a separate request's credentials.
const MAX_PENDING: i64 = 5;

/// Forgets pending signups past their hour (a job).
pub fn prune(tx: &Tx, now: i64) -> rusqlite::Result<usize> {
    tx.execute_cached("DELETE FROM signups WHERE created_at <= ?1", [now - PENDING_TTL_MS])
}

/// A fresh code for pending signup `id`, distinct from every other live code of the phone, so a
/// code names exactly one signup request.
fn new_signup_code(tx: &Tx, app: &App, phone: &str, role: Role, now: i64) -> rusqlite::Result<(String, String)> {
    loop {
        let code = otp::new_code();
        let hash = otp::hash_code(&app.otp_key, phone, role.as_str(), Purpose::Signup, &code);
        let clash = tx
            .query_row(
                "SELECT 1 FROM signups WHERE phone = ?1 AND role = ?2 AND code_hash = ?3 AND code_expires_at > ?4",
                params![phone, role.as_str(), hash, now],
                |_| Ok(()),
            )
            .optional()?;
        if clash.is_none() {
            return Ok((code, hash));
        }
    }
}

/// `POST /auth/signup`: validates, stores this request's pending signup and texts its code.
/// The code is bound to this request's credentials: a later signup for the same phone (someone
/// else's, or the owner's second try) is a separate pending signup with its own code, and never
/// changes this one — whoever types a code gets the account that code was sent for.
pub fn signup(app: &App, ctx: &Ctx, b: SignupBody) -> Result<(), ApiError> {
    let v = validate(app, &b)?;
    let l = &app.config.limits;
    app.limiter.hit(&format!("signup:{}", ctx.client_ip), Limit::per_hour(l.signup_per_ip_per_hour)).check()?;
    let phone = v.phone.as_str().to_string();
    app.limiter.hit(&format!("otp:{phone}"), Limit::per_hour(l.otp_per_phone_per_hour)).check()?;
    let hash = app.hasher.try_hash(&b.password)?;
    let now = app.now_ms();
    let ip = ctx.client_ip.to_string();
    let code = app.db.write(|tx| {
        let taken: bool = tx
            .query_row("SELECT 1 FROM users WHERE phone = ?1 AND role = ?2", params![phone, v.role.as_str()], |_| Ok(()))
            .optional()?
            .is_some();
        if taken {
            return Err(ApiError::conflict("already_exists", "An account with this phone already exists for this role."));
        }
        if let Some(email) = &v.email {
            email_free(tx, email, v.role)?;
        }
        otp::check_lock(tx, &phone, &ip, now)?;
        prune(tx, now)?;
        let pending: i64 = tx.query_row_cached(
            "SELECT COUNT(*) FROM signups WHERE phone = ?1 AND role = ?2",
            params![phone, v.role.as_str()],
            |r| r.get(0),
        )?;
        if pending >= MAX_PENDING {
            let message = "Too many signups for this phone; try again later.";
            return Err(ApiError::locked("rate_limited", message, PENDING_TTL_MS / 1000));
        }
        let (code, code_hash) = new_signup_code(tx, app, &phone, v.role, now)?;
        tx.execute_cached(
            "INSERT INTO signups (id, phone, role, full_name, email, password_hash, code_hash, code_expires_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                new_id("sgn"),
                phone,
                v.role.as_str(),
                v.full_name,
                v.email,
                hash,
                code_hash,
                now + otp::CODE_TTL_MS,
                now
            ],
        )?;
        audit::log(tx, app, ctx, None, "signup.requested", Some(&phone), json!({"role": v.role.as_str()}))?;
        Ok(code)
    })?;
    send_code(app, &phone, &code_text(&code))
}

fn email_free(tx: &Tx, email: &str, role: Role) -> Result<(), ApiError> {
    let used = tx
        .query_row("SELECT 1 FROM users WHERE email = ?1 AND role = ?2", params![email, role.as_str()], |_| Ok(()))
        .optional()?;
    match used {
        Some(()) => Err(ApiError::conflict("already_exists", "This e-mail address is already in use.")),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PhoneRole {
    pub phone: String,
    pub role: String,
}

pub fn parse_phone_role(app: &App, b: &PhoneRole, allow_admin: bool) -> Result<(Phone, Role), ApiError> {
    let phone = Phone::parse(&b.phone, &app.config.business.default_country)
        .ok_or_else(|| ApiError::field("phone", "must be a valid mobile number"))?;
    Ok((phone, parse_role(&b.role, allow_admin)?))
}

/// `POST /auth/otp/resend`: a fresh code for each pending signup of the phone (each bound to its
/// own request; the old codes die). Always 202: says nothing about whether a signup is pending.
pub fn resend(app: &App, ctx: &Ctx, b: PhoneRole) -> Result<(), ApiError> {
    let (phone, role) = parse_phone_role(app, &b, false)?;
    let phone = phone.as_str().to_string();
    app.limiter.hit(&format!("otp:{phone}"), Limit::per_hour(app.config.limits.otp_per_phone_per_hour)).check()?;
    let now = app.now_ms();
    let ip = ctx.client_ip.to_string();
    let codes = app.db.write(|tx| {
        otp::check_lock(tx, &phone, &ip, now)?;
        let ids: Vec<String> = {
            let mut st = tx.prepare(
                "SELECT id FROM signups WHERE phone = ?1 AND role = ?2 AND created_at > ?3 ORDER BY created_at",
            )?;
            let rows = st.query_map(params![phone, role.as_str(), now - PENDING_TTL_MS], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut codes = Vec::with_capacity(ids.len());
        for id in &ids {
            let (code, hash) = new_signup_code(tx, app, &phone, role, now)?;
            tx.execute_cached(
                "UPDATE signups SET code_hash = ?2, code_expires_at = ?3 WHERE id = ?1",
                params![id, hash, now + otp::CODE_TTL_MS],
            )?;
            codes.push(code);
        }
        if !codes.is_empty() {
            audit::log(tx, app, ctx, None, "signup.code_resent", Some(&phone), json!({"role": role.as_str()}))?;
        }
        Ok::<_, ApiError>(codes)
    })?;
    for code in codes {
        send_code(app, &phone, &code_text(&code))?;
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyBody {
    pub phone: String,
    pub role: String,
    pub code: String,
}

pub fn invalid_code() -> ApiError {
    ApiError::bad_request("invalid_code", "The code is wrong or has expired.")
}

/// `POST /auth/verify`: the code creates the account its signup request described, and starts a
/// session.
pub fn verify(app: &App, ctx: &Ctx, b: VerifyBody, device: &str) -> Result<Tokens, ApiError> {
    let (phone, role) = parse_phone_role(app, &PhoneRole { phone: b.phone, role: b.role }, false)?;
    let phone = phone.as_str().to_string();
    app.limiter
        .hit(&format!("verify:{}", ctx.client_ip), Limit::per_minute(app.config.limits.login_per_ip_per_minute))
        .check()?;
    let now = app.now_ms();
    let ip = ctx.client_ip.to_string();
    let code = b.code.trim();
    // Wrong codes are counted (committed) even though the request fails.
    let outcome = app.db.write(|tx| {
        otp::check_lock(tx, &phone, &ip, now)?;
        let hash = otp::hash_code(&app.otp_key, &phone, role.as_str(), Purpose::Signup, code);
        let pending: Option<(String, Option<String>, String)> = if otp::well_formed(code) {
            tx.query_row_cached(
                "SELECT full_name, email, password_hash FROM signups
                 WHERE phone = ?1 AND role = ?2 AND code_hash = ?3 AND code_expires_at > ?4 AND created_at > ?5",
                params![phone, role.as_str(), hash, now, now - PENDING_TTL_MS],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
        } else {
            None
        };
        let Some((full_name, email, password_hash)) = pending else {
            otp::record_wrong(tx, &phone, &ip, now)?;
            audit::log(tx, app, ctx, None, "signup.code_rejected", Some(&phone), json!({}))?;
            return Ok(None);
        };
        if let Some(e) = &email {
            email_free(tx, e, role)?;
        }
        let id = new_id("usr");
        tx.execute_cached(
            "INSERT INTO users (id, role, phone, full_name, email, password_hash, verified, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
            params![id, role.as_str(), phone, full_name, email, password_hash, now],
        )?;
        tx.execute_cached("DELETE FROM signups WHERE phone = ?1 AND role = ?2", params![phone, role.as_str()])?;
        otp::clear_wrong(tx, &phone, &ip)?;
        super::lockout::trust(tx, &id, &ip, now)?;
        crate::notify::settings::create_defaults(tx, &id, now)?;
        audit::log(tx, app, ctx, Some((&id, role)), "signup.verified", Some(&id), json!({}))?;
        let user = super::find_by_id(tx, &id)?.ok_or_else(|| ApiError::internal("new user vanished"))?;
        Ok::<_, ApiError>(Some(sessions::start(tx, app, &user, device, &ip)?))
    })?;
    outcome.ok_or_else(invalid_code)
}
