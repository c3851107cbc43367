//! Login with lockouts, refresh rotation, logout, and password reset and change.

use super::lockout::{self, Attempt};
use super::otp::{self, Checked, Purpose};
use super::sessions::{self, Rotated, Tokens};
use super::signup::{invalid_code, parse_phone_role, PhoneRole};
use super::{find_by_phone, LOCK_MS, MAX_FAILURES};
use crate::app::App;
use crate::audit;
use crate::db::Cached;
use crate::db::Tx;
use crate::passwords::check_policy;
use crate::web::auth::Principal;
use crate::web::ratelimit::Limit;
use crate::web::{ApiError, Ctx};
use rusqlite::params;
use serde::Deserialize;
use serde_json::json;

fn invalid_credentials() -> ApiError {
    ApiError::refused("invalid_credentials", "The phone number or password is wrong.")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginBody {
    pub phone: String,
    pub password: String,
    pub role: String,
}

/// `POST /auth/login`: one answer for unknown phone and wrong password, with equal work; locks
/// and slow-downs are keyed by the claimed phone, so they say nothing about existence either.
pub fn login(app: &App, ctx: &Ctx, b: LoginBody, device: &str) -> Result<Tokens, ApiError> {
    app.limiter
        .hit(&format!("login:{}", ctx.client_ip), Limit::per_minute(app.config.limits.login_per_ip_per_minute))
        .check()?;
    let (phone, role) = parse_phone_role(app, &PhoneRole { phone: b.phone, role: b.role }, true)?;
    let now = app.now_ms();
    let ip = ctx.client_ip.to_string();
    let attempt = Attempt { phone: phone.as_str(), role, ip: &ip };
    let user = app.db.read(|c| {
        let user = find_by_phone(c, phone.as_str(), role)?;
        lockout::check_address(c, &attempt, now)?;
        lockout::check_throttle(c, &attempt, user.as_ref().map(|u| u.id.as_str()), now)?;
        Ok::<_, ApiError>(user)
    })?;
    // An admin's lock holds on every address.
    if let Some(until) = user.as_ref().and_then(|u| u.locked_until).filter(|u| *u > now) {
        return Err(lockout::locked(until, now));
    }
    let ok = match &user {
        Some(u) => app.hasher.try_verify(&b.password, &u.password_hash)?,
        None => {
            app.hasher.try_verify_dummy(&b.password)?;
            false
        }
    };
    let actor = user.as_ref().map(|u| (u.id.as_str(), u.role));
    let Some(user) = user.as_ref().filter(|_| ok) else {
        app.db.write(|tx| {
            let in_row = lockout::failed(tx, &attempt, now)?;
            if let Some((id, _)) = actor {
                audit::log(tx, app, ctx, actor, "login.failed", Some(id), json!({"failures": in_row}))?;
                if in_row >= MAX_FAILURES {
                    let minutes = LOCK_MS / 60_000;
                    audit::log(tx, app, ctx, actor, "login.locked", Some(id), json!({"minutes": minutes, "ip": ip}))?;
                }
            }
            Ok::<_, ApiError>(())
        })?;
        return Err(invalid_credentials());
    };
    if user.blocked {
        app.db.write(|tx| {
            Ok::<_, ApiError>(audit::log(tx, app, ctx, actor, "login.blocked", Some(&user.id), json!({}))?)
        })?;
        return Err(ApiError::denied("account_blocked", "This account has been blocked. Contact support."));
    }
    app.db.write(|tx| {
        // Re-checked under the write lock: a lock set by a concurrent failure wins.
        lockout::check_address(tx, &attempt, now)?;
        lockout::succeeded(tx, &attempt, &user.id, now)?;
        audit::log(tx, app, ctx, actor, "login.succeeded", Some(&user.id), json!({}))?;
        sessions::start(tx, app, user, device, &ip)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshBody {
    pub refresh_token: String,
}

/// `POST /auth/refresh`: rotation; a reused token revokes its family.
pub fn refresh(app: &App, ctx: &Ctx, b: RefreshBody) -> Result<Tokens, ApiError> {
    app.limiter
        .hit(
            &format!("refresh:{}", ctx.client_ip),
            Limit::per_minute(app.config.limits.login_per_ip_per_minute.saturating_mul(4)),
        )
        .check()?;
    let ip = ctx.client_ip.to_string();
    let rotated = app.db.write(|tx| {
        let r = sessions::rotate(tx, app, b.refresh_token.trim(), &ip)?;
        if let Rotated::Reused { session_id, user_id } = &r {
            audit::log(tx, app, ctx, None, "token.reused", Some(user_id), json!({"session": session_id}))?;
        }
        Ok::<_, ApiError>(r)
    })?;
    match rotated {
        Rotated::Ok(t) => Ok(*t),
        Rotated::Invalid => Err(ApiError::unauthenticated()),
        Rotated::Reused { session_id, user_id } => {
            sessions::forget(app, &user_id, &[session_id]);
            let message = "This refresh token was already used; the session has been ended.";
            Err(ApiError::refused("refresh_token_reused", message).with_header("WWW-Authenticate", "Bearer"))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogoutBody {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// `POST /auth/logout`: ends this session (its access and refresh tokens), and the session of the
/// given refresh token if it is the caller's.
pub fn logout(app: &App, ctx: &Ctx, p: &Principal, b: LogoutBody) -> Result<(), ApiError> {
    let now = app.now_ms();
    let ended = app.db.write(|tx| {
        let mut ended = vec![p.session_id.clone()];
        if let Some(rt) = b.refresh_token.as_deref() {
            let other: Option<String> = rusqlite::OptionalExtension::optional(tx.query_row_cached(
                "SELECT s.id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = ?1 AND s.user_id = ?2",
                params![sessions::hash_refresh(rt.trim()), p.user_id],
                |r| r.get::<_, String>(0),
            ))?;
            ended.extend(other.filter(|s| *s != p.session_id));
        }
        for sid in &ended {
            sessions::revoke(tx, sid, "logout", now)?;
        }
        audit::log(tx, app, ctx, Some((&p.user_id, p.role)), "logout", Some(&p.user_id), json!({}))?;
        Ok::<_, ApiError>(ended)
    })?;
    app.revoked.revoke_token(&p.jti);
    sessions::forget(app, &p.user_id, &ended);
    Ok(())
}

/// `POST /auth/logout-all` (and admin's forced logout): ends every session of `user_id`.
pub fn logout_all(app: &App, ctx: &Ctx, actor: &Principal, user_id: &str) -> Result<(), ApiError> {
    let now = app.now_ms();
    let ended = app.db.write(|tx| {
        let ended = sessions::revoke_all(tx, user_id, None, "logout_all", now)?;
        audit::log(
            tx,
            app,
            ctx,
            Some((&actor.user_id, actor.role)),
            "logout_all",
            Some(user_id),
            json!({"sessions": ended.len()}),
        )?;
        Ok::<_, ApiError>(ended)
    })?;
    sessions::forget(app, user_id, &ended);
    Ok(())
}

/// `DELETE /auth/sessions/{id}`: 404 unless it is the caller's own live session.
pub fn end_session(app: &App, ctx: &Ctx, p: &Principal, sid: &str) -> Result<(), ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        let mine: Option<String> = rusqlite::OptionalExtension::optional(tx.query_row_cached(
            "SELECT id FROM sessions WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
            params![sid, p.user_id],
            |r| r.get(0),
        ))?;
        if mine.is_none() {
            return Err(ApiError::not_found());
        }
        sessions::revoke(tx, sid, "session_revoked", now)?;
        audit::log(tx, app, ctx, Some((&p.user_id, p.role)), "session.revoked", Some(sid), json!({}))?;
        Ok(())
    })?;
    sessions::forget(app, &p.user_id, &[sid.to_string()]);
    Ok(())
}

/// `POST /auth/password/forgot`: always 202; the code goes out only if the account exists, sent
/// off the request thread so the answer takes the same time either way.
pub fn forgot(app: &App, ctx: &Ctx, b: PhoneRole) -> Result<(), ApiError> {
    let (phone, role) = parse_phone_role(app, &b, true)?;
    let phone = phone.as_str().to_string();
    app.limiter
        .hit(&format!("forgot:{}", ctx.client_ip), Limit::per_hour(app.config.limits.signup_per_ip_per_hour))
        .check()?;
    if !app.limiter.hit(&format!("otp:{phone}"), Limit::per_hour(app.config.limits.otp_per_phone_per_hour)).allowed {
        return Ok(()); // silently: a 429 here would reveal nothing useful but still costs SMS
    }
    let now = app.now_ms();
    let ip = ctx.client_ip.to_string();
    let code = app.db.write(|tx| {
        let Some(user) = find_by_phone(tx, &phone, role)? else { return Ok(None) };
        if otp::check_lock(tx, &phone, &ip, now).is_err() {
            return Ok(None);
        }
        audit::log(tx, app, ctx, None, "password.reset_requested", Some(&user.id), json!({}))?;
        Ok::<_, ApiError>(Some(otp::issue(tx, &app.otp_key, &phone, role.as_str(), Purpose::Reset, now)?))
    })?;
    if let Some(code) = code {
        let text = format!("{code} is your BuildXpert password reset code. It expires in 5 minutes.");
        app.codes.send_later(&phone, &text, &ctx.request_id);
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResetBody {
    pub phone: String,
    pub role: String,
    pub code: String,
    pub new_password: String,
}

/// `POST /auth/password/reset`: a valid code sets the password and ends every session.
pub fn reset(app: &App, ctx: &Ctx, b: ResetBody) -> Result<(), ApiError> {
    let (phone, role) = parse_phone_role(app, &PhoneRole { phone: b.phone, role: b.role }, true)?;
    check_policy(&b.new_password).map_err(|m| ApiError::field("newPassword", m))?;
    app.limiter
        .hit(&format!("verify:{}", ctx.client_ip), Limit::per_minute(app.config.limits.login_per_ip_per_minute))
        .check()?;
    let phone = phone.as_str().to_string();
    let hash = app.hasher.try_hash(&b.new_password)?;
    let now = app.now_ms();
    let ip = ctx.client_ip.to_string();
    let ended = app.db.write(|tx| {
        let code = b.code.trim();
        if let Checked::Wrong = otp::check(tx, &app.otp_key, &phone, role.as_str(), Purpose::Reset, code, &ip, now)? {
            return Ok(None);
        }
        let Some(user) = find_by_phone(tx, &phone, role)? else { return Ok(None) };
        tx.execute_cached(
            "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
            params![user.id, hash, now],
        )?;
        // The code proved the phone from this address: it may sign in at once, however hard
        // others are guessing (an admin's lock still holds).
        lockout::succeeded(tx, &Attempt { phone: &phone, role, ip: &ip }, &user.id, now)?;
        let ended = sessions::revoke_all(tx, &user.id, None, "password_reset", now)?;
        audit::log(tx, app, ctx, Some((&user.id, user.role)), "password.reset", Some(&user.id), json!({}))?;
        password_notice(tx, app, &user.id)?;
        Ok::<_, ApiError>(Some((user.id, ended)))
    })?;
    let (user_id, ended) = ended.ok_or_else(invalid_code)?;
    sessions::forget(app, &user_id, &ended);
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangeBody {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /auth/password/change`: needs the current password; ends the caller's other sessions.
pub fn change(app: &App, ctx: &Ctx, p: &Principal, b: ChangeBody) -> Result<(), ApiError> {
    check_policy(&b.new_password).map_err(|m| ApiError::field("newPassword", m))?;
    app.limiter
        .hit(&format!("login:{}", ctx.client_ip), Limit::per_minute(app.config.limits.login_per_ip_per_minute))
        .check()?;
    let user = app.db.read(|c| super::current_user(c, &p.user_id))?;
    let ip = ctx.client_ip.to_string();
    let attempt = Attempt { phone: &user.phone, role: user.role, ip: &ip };
    let now = app.now_ms();
    app.db.read(|c| lockout::check_address(c, &attempt, now))?;
    if !app.hasher.try_verify(&b.current_password, &user.password_hash)? {
        // A stolen access token must not become an unlimited password oracle.
        app.db.write(|tx| {
            let in_row = lockout::failed(tx, &attempt, now)?;
            let actor = Some((user.id.as_str(), user.role));
            audit::log(tx, app, ctx, actor, "password.change_failed", Some(&user.id), json!({"failures": in_row}))?;
            Ok::<_, ApiError>(())
        })?;
        return Err(ApiError::field("currentPassword", "is incorrect"));
    }
    let hash = app.hasher.try_hash(&b.new_password)?;
    let ended = app.db.write(|tx| {
        tx.execute_cached(
            "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
            params![user.id, hash, now],
        )?;
        let ended = sessions::revoke_all(tx, &user.id, Some(&p.session_id), "password_changed", now)?;
        audit::log(tx, app, ctx, Some((&user.id, user.role)), "password.changed", Some(&user.id), json!({}))?;
        password_notice(tx, app, &user.id)?;
        Ok::<_, ApiError>(ended)
    })?;
    sessions::forget(app, &user.id, &ended);
    Ok(())
}

/// Tells the owner their password changed (security: always delivered, in-app and outside).
fn password_notice(tx: &Tx, app: &App, user_id: &str) -> Result<(), ApiError> {
    let data = json!({
        "title": "Password changed",
        "body": "your BuildXpert password was just changed. If this was not you, reset it now.",
    });
    crate::notify::outbox::notify(tx, app, user_id, super::notices::PASSWORD_CHANGED, data).map(|_| ())
}
