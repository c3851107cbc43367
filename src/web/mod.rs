//! The web kit every feature uses: the error envelope, JSON with limits, request context,
//! routing, security and CORS headers, rate limits, paging, validators (ETag → 304) and gzip. It knows HTTP, never SQL, but for
//! the table that turns violated unique constraints into answers (`error::CONSTRAINTS`).

pub mod auth;
pub mod cache;
pub mod compress;
pub mod csv;
pub mod ctx;
pub mod cursor;
pub mod error;
pub mod headers;
pub mod json;
pub mod page;
pub mod query;
pub mod ratelimit;
pub mod router;
pub mod strict_json;

pub use ctx::Ctx;
pub use error::ApiError;
pub use router::Params;
