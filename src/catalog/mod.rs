//! The catalogue and listings: categories with their sub-services (seeded by
//! `schema/0005_catalog_seed.sql`, edited by admins), providers' listings with their own price per
//! sub-service, activation and renewal ([`activate_listing`], called by payments), admin
//! moderation, the public search and the expiry job.
//!
//! House rules (the same words open every feature's `mod.rs`):
//! - `routes.rs` has `register()` with all of the feature's routes, its admin routes included,
//!   and thin handlers: parse the request (`web::json::{body, optional_body, private}`,
//!   `web::page::PageRequest::from_query`), check the caller (`guard::{principal, require}`), call
//!   ONE operation, shape the response. No SQL and no `app.db` in route files.
//! - An operation is `pub fn op(app: &App, [ctx: &Ctx,] [caller: &Principal,] input) ->
//!   Result<Out, ApiError>` (`ctx` when it audits, `caller` unless the route is public or admin
//!   and nothing depends on who asks) and opens its own transaction: `app.db.read`, or
//!   `app.db.write` (`BEGIN IMMEDIATE`). Building blocks that other operations, or other
//!   features, call inside their transaction take `&Tx` / `&Connection`.
//! - Failures are named (`ApiError::{missing, denied, refused, conflict, locked, field, …}`); the
//!   web kit owns the statuses. A violated unique constraint becomes its answer in one table,
//!   `web::error::CONSTRAINTS`; operations let the database refuse and return the error (`?`).
//! - Lists page with the kit: take a `&PageRequest`, add `db::keyset::push_before` for its
//!   cursor, fetch `page.fetch()` rows newest first, return `page.finish(rows, key)` (a `Page`,
//!   shaped with `Page::map`/`try_map`).
//! - One owner per table. accounts: users, signups, one-time codes, sessions, refresh tokens,
//!   lockouts, trusted addresses, addresses. notify: notifications, deliveries, devices,
//!   notification_settings. events: events. enquiries: enquiries. catalog: categories, sub_services, listings,
//!   listing_prices. bookings: bookings, booking_items, booking_history, ratings, reports,
//!   passes, calendar_tokens, messages and the reminder marks. Another owner's rows are read through a
//!   function it exports when it is below the reader (bookings → catalog → accounts → notify →
//!   events), and through a view it exports (`schema/0008_views.sql`) when they join into the
//!   reader's own statement or the reader may not import it (catalog never imports bookings).
//! - Periodic work is the feature's `jobs()`, listed in `src/jobs.rs`; notification kinds are
//!   constants in the feature's `notices.rs`.
//! - Spans of time are `clock::{HOUR_MS, DAY_MS}`.

pub mod activation;
pub mod admin_categories;
pub mod admin_listings;
pub mod categories;
pub mod expiry;
pub mod fields;
pub mod listing_input;
pub mod listings;
pub mod money;
pub mod notices;
pub mod provider_listings;
pub mod rank;
pub mod routes;
pub mod search;

pub use activation::activate_listing;
pub use listings::Listing;

/// The catalogue's periodic work, on the one runner (src/jobs.rs lists every feature's).
pub fn jobs() -> Vec<crate::runner::Job<crate::app::App>> {
    use crate::runner::Job;
    // Lapsed listings expire; providers are warned 2 days ahead (DOMAIN.md "Listings").
    vec![Job::new("listings-expire", std::time::Duration::from_secs(300), expiry::run)]
}
