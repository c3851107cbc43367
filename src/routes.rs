//! The one table of routes: each feature registers its own (its admin endpoints included).

use crate::app::Handler;
use crate::web::router::Router;

pub fn router() -> Router<Handler> {
    let mut r: Router<Handler> = Router::new();
    crate::system::routes::register(&mut r);
    crate::accounts::routes::register(&mut r);
    crate::enquiries::routes::register(&mut r);
    crate::catalog::routes::register(&mut r);
    crate::bookings::routes::register(&mut r);
    crate::payments::routes::register(&mut r);
    crate::calls::routes::register(&mut r);
    crate::notify::routes::register(&mut r);
    crate::events::routes::register(&mut r);
    crate::admin::routes::register(&mut r);
    r
}
