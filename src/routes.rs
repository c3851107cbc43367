//! The one table of routes: method + path template → a feature's handler.

use crate::accounts::auth_routes as auth;
use crate::app::App;
use crate::system::routes as system;
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};

pub type Handler = fn(&App, &Ctx, &rouille::Request, &Params) -> Result<rouille::Response, ApiError>;

pub fn router() -> Router<Handler> {
    let mut r: Router<Handler> = Router::new();
    r.add("GET", "/healthz", system::healthz)
        .add("GET", "/readyz", system::readyz)
        .add("GET", "/metrics", system::metrics)
        .add("GET", "/api/v1/openapi.json", system::openapi)
        .add("GET", "/api/v1/meta", system::meta)
        .add("GET", "/admin", system::admin_redirect)
        .add("GET", "/admin/", system::admin_index)
        .add("GET", "/admin/{file}", system::admin_asset);
    r.add("POST", "/api/v1/auth/signup", auth::signup)
        .add("POST", "/api/v1/auth/verify", auth::verify)
        .add("POST", "/api/v1/auth/otp/resend", auth::resend)
        .add("POST", "/api/v1/auth/login", auth::login)
        .add("POST", "/api/v1/auth/refresh", auth::refresh)
        .add("POST", "/api/v1/auth/logout", auth::logout)
        .add("POST", "/api/v1/auth/logout-all", auth::logout_all)
        .add("GET", "/api/v1/auth/sessions", auth::list_sessions)
        .add("DELETE", "/api/v1/auth/sessions/{id}", auth::delete_session)
        .add("POST", "/api/v1/auth/password/forgot", auth::forgot)
        .add("POST", "/api/v1/auth/password/reset", auth::reset)
        .add("POST", "/api/v1/auth/password/change", auth::change_password);
    // /me routes (profile, export, addresses, devices, notification settings) — registered in me_routes.
    crate::accounts::me_routes::register(&mut r);
    crate::admin::users::register(&mut r);
    crate::catalog::routes::register(&mut r);
    r.add("GET", "/api/v1/events", crate::events::routes::poll);
    crate::notify::routes::register(&mut r);
    crate::notify::admin_routes::register(&mut r);
    crate::bookings::routes::register(&mut r);
    r
}
