//! One integration crate: the real server on port 0 with a temp data dir, real HTTP clients.

mod support;

mod admin_users;
mod attack_access;
mod attack_accounts;
mod auth_cli;
mod auth_login;
mod auth_signup;
mod auth_tokens;
mod authz_matrix;
mod backup;
mod bookings;
mod bookings_jobs;
mod bookings_rules;
mod bounded;
mod browser_smoke;
mod catalog;
mod cli;
mod compression;
mod connections;
mod dispatch;
mod enquiries;
mod events;
mod file_modes;
mod idempotency;
mod layers;
mod listings;
mod log_hygiene;
mod me;
mod messages;
mod notify;
mod notify_crash;
mod openapi;
mod payments;
mod strict_json;
mod system;
