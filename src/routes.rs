//! The one table of routes: method + path template → a feature's handler.

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
    r
}
