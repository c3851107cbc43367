//! HTTP handlers of accounts: /auth/* (signup, login, sessions, passwords), /me/* (profile,
//! export, addresses, devices, notification settings) and the operator's /admin/users. Each
//! parses, checks the caller, calls an operation and shapes the answer; no SQL here.

use super::{addresses, admin_users, login, me, sessions, signup};
use crate::app::{App, Handler};
use crate::guard;
use crate::notify::{devices, settings};
use crate::web::auth::Role;
use crate::web::json::{body, created, json_response, no_content, ok, optional_body, private};
use crate::web::page::PageRequest;
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("POST", "/api/v1/auth/signup", signup)
        .add("POST", "/api/v1/auth/verify", verify)
        .add("POST", "/api/v1/auth/otp/resend", resend)
        .add("POST", "/api/v1/auth/login", login)
        .add("POST", "/api/v1/auth/refresh", refresh)
        .add("POST", "/api/v1/auth/logout", logout)
        .add("POST", "/api/v1/auth/logout-all", logout_all)
        .add("GET", "/api/v1/auth/sessions", list_sessions)
        .add("DELETE", "/api/v1/auth/sessions/{id}", delete_session)
        .add("POST", "/api/v1/auth/password/forgot", forgot)
        .add("POST", "/api/v1/auth/password/reset", reset)
        .add("POST", "/api/v1/auth/password/change", change_password);
    r.add("GET", "/api/v1/me", get_me)
        .add("PATCH", "/api/v1/me", patch_me)
        .add("DELETE", "/api/v1/me", delete_me)
        .add("GET", "/api/v1/me/export", export)
        .add("GET", "/api/v1/me/addresses", list_addresses)
        .add("POST", "/api/v1/me/addresses", create_address)
        .add("PATCH", "/api/v1/me/addresses/{id}", update_address)
        .add("DELETE", "/api/v1/me/addresses/{id}", delete_address)
        .add("POST", "/api/v1/me/devices", register_device)
        .add("DELETE", "/api/v1/me/devices/{token}", forget_device)
        .add("GET", "/api/v1/me/notification-settings", get_settings)
        .add("PUT", "/api/v1/me/notification-settings", put_settings);
    r.add("GET", "/api/v1/admin/users", admin_list_users)
        .add("GET", "/api/v1/admin/users/{id}", admin_get_user)
        .add("PATCH", "/api/v1/admin/users/{id}", admin_patch_user)
        .add("POST", "/api/v1/admin/users/{id}/logout-all", admin_logout_user)
        .add("GET", "/api/v1/admin/users/{id}/sessions", admin_user_sessions)
        .add("GET", "/api/v1/admin/export/users.csv", admin_export_users);
}

fn device(req: &Request) -> String {
    req.header("User-Agent").unwrap_or("").chars().take(200).collect()
}

pub fn signup(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    signup::signup(app, ctx, body(ctx, req)?)?;
    Ok(json_response(202, &json!({"otpSent": true, "expiresInSeconds": super::otp::CODE_TTL_MS / 1000})))
}

// Token answers are never cached anywhere (RFC 6749 §5.1).
pub fn verify(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    private(json_response(201, &signup::verify(app, ctx, body(ctx, req)?, &device(req))?))
}

pub fn resend(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    signup::resend(app, ctx, body(ctx, req)?)?;
    Ok(json_response(202, &json!({"otpSent": true, "expiresInSeconds": super::otp::CODE_TTL_MS / 1000})))
}

pub fn login(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    private(json_response(200, &login::login(app, ctx, body(ctx, req)?, &device(req))?))
}

pub fn refresh(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    private(json_response(200, &login::refresh(app, ctx, body(ctx, req)?)?))
}

pub fn logout(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    // The body is optional: an empty one means "just this session".
    let b = optional_body(ctx, req)?;
    login::logout(app, ctx, &p, b)?;
    no_content()
}

pub fn logout_all(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    login::logout_all(app, ctx, &p, &p.user_id.clone())?;
    no_content()
}

pub fn list_sessions(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    ok(&json!({"items": sessions::list_mine(app, &p)?, "nextCursor": null}))
}

pub fn delete_session(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    login::end_session(app, ctx, &p, params.get("id"))?;
    no_content()
}

pub fn forgot(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    login::forgot(app, ctx, body(ctx, req)?)?;
    Ok(json_response(202, &json!({"otpSent": true, "expiresInSeconds": super::otp::CODE_TTL_MS / 1000})))
}

pub fn reset(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    login::reset(app, ctx, body(ctx, req)?)?;
    no_content()
}

pub fn change_password(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    login::change(app, ctx, &p, body(ctx, req)?)?;
    no_content()
}

pub fn get_me(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(json_response(200, &me::get(app, &p)?))
}

pub fn patch_me(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    ok(&me::update(app, ctx, &p, body(ctx, req)?)?)
}

pub fn delete_me(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    me::delete(app, ctx, &p)?;
    no_content()
}

pub fn export(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(json_response(200, &me::export(app, ctx, &p)?))
}

pub fn list_addresses(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(json_response(200, &json!({"items": addresses::list_mine(app, &p)?, "nextCursor": null})))
}

pub fn create_address(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    created(&addresses::create(app, &p, body(ctx, req)?)?)
}

pub fn update_address(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    ok(&addresses::update(app, &p, params.get("id"), body(ctx, req)?)?)
}

pub fn delete_address(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    addresses::delete(app, &p, params.get("id"))?;
    no_content()
}

pub fn register_device(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    created(&devices::register(app, &p, body(ctx, req)?)?)
}

pub fn forget_device(app: &App, _: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    devices::forget(app, &p, params.get("token"))?;
    no_content()
}

pub fn get_settings(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    private(json_response(200, &settings::get(app, &p)?))
}

pub fn put_settings(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    ok(&settings::put(app, &p, body(ctx, req)?)?)
}

fn admin(app: &App, req: &Request) -> std::result::Result<crate::web::auth::Principal, ApiError> {
    guard::require(app, req, &[Role::Admin])
}

/// `GET /admin/users?role=&q=&limit=&cursor=`, newest first; `q` matches name, phone or e-mail.
pub fn admin_list_users(app: &App, _: &Ctx, req: &Request, _: &Params) -> Result {
    admin(app, req)?;
    let page = PageRequest::from_query(req)?;
    ok(&admin_users::list(app, req.get_param("role").as_deref(), req.get_param("q").as_deref(), &page)?)
}

pub fn admin_get_user(app: &App, _: &Ctx, req: &Request, p: &Params) -> Result {
    admin(app, req)?;
    ok(&admin_users::get(app, p.get("id"))?)
}

pub fn admin_patch_user(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = admin(app, req)?;
    ok(&admin_users::update(app, ctx, &me, p.get("id"), body(ctx, req)?)?)
}

/// `GET /admin/users/{id}/sessions`: live and ended sessions, newest first (at most 100).
pub fn admin_user_sessions(app: &App, _: &Ctx, req: &Request, p: &Params) -> Result {
    admin(app, req)?;
    private(json_response(200, &json!({"items": admin_users::sessions(app, p.get("id"))?, "nextCursor": null})))
}

/// The most rows one CSV export holds (newest first).
pub const EXPORT_MAX_ROWS: u32 = 100_000;

/// `GET /admin/export/users.csv?role=`: every account as CSV.
pub fn admin_export_users(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let me = admin(app, req)?;
    let mut csv = crate::web::csv::CsvWriter::new(admin_users::CSV_HEADER);
    let role = req.get_param("role").filter(|r| !r.is_empty());
    admin_users::export(app, ctx, &me, role.as_deref(), EXPORT_MAX_ROWS, |row| {
        csv.row(row.iter().map(String::as_str))
    })?;
    Ok(csv.into_response("users.csv"))
}

pub fn admin_logout_user(app: &App, ctx: &Ctx, req: &Request, p: &Params) -> Result {
    let me = admin(app, req)?;
    admin_users::logout_all(app, ctx, &me, p.get("id"))?;
    no_content()
}
