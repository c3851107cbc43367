//! The guard every protected route calls: authenticate the bearer token (no database read), then
//! apply the per-user API rate limit (`limits.api_per_user_per_minute`). Kit below every feature.

use crate::app::App;
use crate::web::auth::{authenticate, Principal, Role};
use crate::web::ratelimit::Limit;
use crate::web::ApiError;

pub fn principal(app: &App, req: &rouille::Request) -> Result<Principal, ApiError> {
    let p = authenticate(req, &app.keys, &app.revoked, app.clock.now_secs())?;
    app.limiter
        .hit(&format!("api:{}", p.user_id), Limit::per_minute(app.config.limits.api_per_user_per_minute))
        .check()?;
    // Admins (the dashboard) have a tighter limit of their own on top.
    if p.role == Role::Admin {
        app.limiter
            .hit(&format!("admin:{}", p.user_id), Limit::per_minute(app.config.limits.admin_per_user_per_minute))
            .check()?;
    }
    Ok(p)
}

/// Authenticated and holding one of `roles` (403 otherwise).
pub fn require(app: &App, req: &rouille::Request, roles: &[Role]) -> Result<Principal, ApiError> {
    let p = principal(app, req)?;
    p.require(roles)?;
    Ok(p)
}
