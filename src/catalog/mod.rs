//! The catalogue and listings: categories with their sub-services (seeded by
//! `schema/0005_catalog_seed.sql`, edited by admins), providers' listings with their own price per
//! sub-service, activation and renewal ([`activate_listing`], called by payments), admin
//! moderation, the public search and the expiry job.

pub mod activation;
pub mod admin_categories;
pub mod admin_listings;
pub mod categories;
pub mod expiry;
pub mod fields;
pub mod listings;
pub mod money;
pub mod notices;
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
