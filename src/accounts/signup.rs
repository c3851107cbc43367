//! Signup: the account waits in `signups` until the phone proves itself with a one-time code.

use super::otp::{self, Checked, Purpose};
use super::phone::Phone;
use super::sessions::{self, Tokens};
use super::{audit, check_email, check_name, parse_role, send_code};
use crate::app::App;
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
    format!("{code} is your BuildXpert verification code. It expires in 5 minutes. Do not share it.")
}

/// `POST /auth/signup`: validates, stores the pending signup and sends a code.
pub fn signup(app: &App, ctx: &Ctx, b: SignupBody) -> Result<(), ApiError> {
    let v = validate(app, &b)?;
    let l = &app.config.limits;
    app.limiter.hit(&format!("signup:{}", ctx.client_ip), Limit::per_hour(l.signup_per_ip_per_hour)).check()?;
    let phone = v.phone.as_str().to_string();
    app.limiter.hit(&format!("otp:{phone}"), Limit::per_hour(l.otp_per_phone_per_hour)).check()?;
    let hash = app.hasher.hash(&b.password);
    let now = app.now_ms();
    let code = app.db.write(|tx| {
        let taken: bool = tx
            .query_row("SELECT 1 FROM users WHERE phone = ?1 AND role = ?2", params![phone, v.role.as_str()], |_| Ok(()))
            .optional()?
            .is_some();
        if taken {
            return Err(ApiError::conflict("already_exists", "An account with this phone already exists for this role."));
        }
        if let Some(email) = &v.email {
            let used = tx
                .query_row("SELECT 1 FROM users WHERE email = ?1 AND role = ?2", params![email, v.role.as_str()], |_| Ok(()))
                .optional()?;
            if used.is_some() {
                return Err(ApiError::conflict("already_exists", "This e-mail address is already in use."));
            }
        }
        otp::check_lock(tx, &phone, now)?;
        tx.execute(
            "INSERT INTO signups (phone, role, full_name, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (phone, role) DO UPDATE SET full_name = excluded.full_name, email = excluded.email,
                 password_hash = excluded.password_hash, created_at = excluded.created_at",
            params![phone, v.role.as_str(), v.full_name, v.email, hash, now],
        )?;
        let code = otp::issue(tx, &app.otp_key, &phone, v.role.as_str(), Purpose::Signup, now)?;
        audit(tx, app, ctx, None, "signup.requested", Some(&phone), json!({"role": v.role.as_str()}))?;
        Ok(code)
    })?;
    send_code(app, &phone, &code_text(&code))
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

/// `POST /auth/otp/resend`: a fresh code for a pending signup. Always 202: says nothing about
/// whether a signup is pending.
pub fn resend(app: &App, ctx: &Ctx, b: PhoneRole) -> Result<(), ApiError> {
    let (phone, role) = parse_phone_role(app, &b, false)?;
    let phone = phone.as_str().to_string();
    app.limiter.hit(&format!("otp:{phone}"), Limit::per_hour(app.config.limits.otp_per_phone_per_hour)).check()?;
    let now = app.now_ms();
    let code = app.db.write(|tx| {
        otp::check_lock(tx, &phone, now)?;
        let pending =
            tx.query_row("SELECT 1 FROM signups WHERE phone = ?1 AND role = ?2", params![phone, role.as_str()], |_| {
                Ok(())
            })
            .optional()?;
        if pending.is_none() {
            return Ok(None);
        }
        audit(tx, app, ctx, None, "signup.code_resent", Some(&phone), json!({"role": role.as_str()}))?;
        Ok::<_, ApiError>(Some(otp::issue(tx, &app.otp_key, &phone, role.as_str(), Purpose::Signup, now)?))
    })?;
    match code {
        Some(code) => send_code(app, &phone, &code_text(&code)),
        None => Ok(()),
    }
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

/// `POST /auth/verify`: the code creates the account and starts a session.
pub fn verify(app: &App, ctx: &Ctx, b: VerifyBody, device: &str) -> Result<Tokens, ApiError> {
    let (phone, role) = parse_phone_role(app, &PhoneRole { phone: b.phone, role: b.role }, false)?;
    let phone = phone.as_str().to_string();
    app.limiter
        .hit(&format!("verify:{}", ctx.client_ip), Limit::per_minute(app.config.limits.login_per_ip_per_minute))
        .check()?;
    let now = app.now_ms();
    let ip = ctx.client_ip.to_string();
    // Wrong codes are counted (committed) even though the request fails.
    let outcome = app.db.write(|tx| {
        if let Checked::Wrong =
            otp::check(tx, &app.otp_key, &phone, role.as_str(), Purpose::Signup, b.code.trim(), now)?
        {
            audit(tx, app, ctx, None, "signup.code_rejected", Some(&phone), json!({}))?;
            return Ok(None);
        }
        let pending: Option<(String, Option<String>, String)> = tx
            .query_row(
                "SELECT full_name, email, password_hash FROM signups WHERE phone = ?1 AND role = ?2",
                params![phone, role.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((full_name, email, hash)) = pending else { return Ok(None) };
        let id = new_id("usr");
        tx.execute(
            "INSERT INTO users (id, role, phone, full_name, email, password_hash, verified, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
            params![id, role.as_str(), phone, full_name, email, hash, now],
        )?;
        tx.execute("DELETE FROM signups WHERE phone = ?1 AND role = ?2", params![phone, role.as_str()])?;
        tx.execute("INSERT INTO notification_settings (user_id, updated_at) VALUES (?1, ?2)", params![id, now])?;
        audit(tx, app, ctx, Some((&id, role)), "signup.verified", Some(&id), json!({}))?;
        let user = super::find_by_id(tx, &id)?.ok_or_else(|| ApiError::internal("new user vanished"))?;
        Ok::<_, ApiError>(Some(sessions::start(tx, app, &user, device, &ip)?))
    })?;
    outcome.ok_or_else(invalid_code)
}
