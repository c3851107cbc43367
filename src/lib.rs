//! BuildXpert: a self-hosted marketplace appliance — one binary, embedded SQLite.
//! `main.rs` is only the CLI; everything else is here so integration tests can build the real app.

pub mod accounts;
pub mod admin;
pub mod app;
pub mod assets;
pub mod audit;
pub mod bookings;
pub mod calls;
pub mod catalog;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod enquiries;
pub mod events;
pub mod files;
pub mod guard;
pub mod hub;
pub mod idempotency;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod outbound;
pub mod passwords;
pub mod payments;
pub mod routes;
pub mod runner;
pub mod secrets;
pub mod server;
pub mod system;
pub mod tz;
pub mod web;
