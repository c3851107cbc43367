//! HTTP handlers for /api/v1/auth/*: parse, check the caller, call the operation, shape the answer.

use super::{guard, login, sessions, signup};
use crate::app::App;
use crate::web::json::{created, json_response, no_content, ok, read_json};
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;

type Result = std::result::Result<Response, ApiError>;

fn body<T: serde::de::DeserializeOwned>(app: &App, req: &Request) -> std::result::Result<T, ApiError> {
    read_json(req, app.config.server.body_limit_bytes)
}

fn device(req: &Request) -> String {
    req.header("User-Agent").unwrap_or("").chars().take(200).collect()
}

pub fn signup(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    signup::signup(app, ctx, body(app, req)?)?;
    Ok(json_response(202, &json!({"otpSent": true, "expiresInSeconds": super::otp::CODE_TTL_MS / 1000})))
}

pub fn verify(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    created(&signup::verify(app, ctx, body(app, req)?, &device(req))?)
}

pub fn resend(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    signup::resend(app, ctx, body(app, req)?)?;
    Ok(json_response(202, &json!({"otpSent": true, "expiresInSeconds": super::otp::CODE_TTL_MS / 1000})))
}

pub fn login(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    ok(&login::login(app, ctx, body(app, req)?, &device(req))?)
}

pub fn refresh(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    ok(&login::refresh(app, ctx, body(app, req)?)?)
}

pub fn logout(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    // The body is optional: an empty one means "just this session".
    let b = if req.header("Content-Length").is_some_and(|l| l != "0") { body(app, req)? } else { Default::default() };
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
    let items = app.db.read(|c| sessions::list(c, &p, app.now_ms()).map_err(ApiError::from))?;
    ok(&json!({"items": items, "nextCursor": null}))
}

pub fn delete_session(app: &App, ctx: &Ctx, req: &Request, params: &Params) -> Result {
    let p = guard::principal(app, req)?;
    login::end_session(app, ctx, &p, params.get("id"))?;
    no_content()
}

pub fn forgot(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    login::forgot(app, ctx, body(app, req)?)?;
    Ok(json_response(202, &json!({"otpSent": true, "expiresInSeconds": super::otp::CODE_TTL_MS / 1000})))
}

pub fn reset(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    login::reset(app, ctx, body(app, req)?)?;
    no_content()
}

pub fn change_password(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    login::change(app, ctx, &p, body(app, req)?)?;
    no_content()
}
