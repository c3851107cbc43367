//! The appliance's periodic jobs. Features add theirs here (expiry, reminders, outbox, ...).

use crate::app::App;
use crate::runner::Job;
use std::time::Duration;

/// The longest rate-limit window in use; idle buckets older than this carry no information.
const LONGEST_WINDOW_SECS: u32 = 3600;

/// The job list; tests run a job by name with [`run`].
pub fn all(_app: &App) -> Vec<Job<App>> {
    vec![
        Job::new("ratelimit-prune", Duration::from_secs(60), |app: &App| {
            app.limiter.prune(LONGEST_WINDOW_SECS);
            Ok(())
        }),
        Job::new("revocations-prune", Duration::from_secs(600), crate::accounts::sessions::reload_revocations),
        // Events are kept at least `events.retention_hours` for clients to catch up.
        Job::new("events-prune", Duration::from_secs(600), |app: &App| {
            let cutoff = app.now_ms() - i64::from(app.config.events.retention_hours) * 3_600_000;
            app.db
                .write(|tx| crate::events::prune(tx, cutoff).map_err(crate::db::DbError::from))
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
        // Failed-login and wrong-code counters, and pending signups, past their use.
        Job::new("lockouts-prune", Duration::from_secs(3600), |app: &App| {
            let now = app.now_ms();
            app.db
                .write(|tx| {
                    crate::accounts::lockout::prune(tx, now)?;
                    tx.execute(
                        "DELETE FROM signups WHERE created_at <= ?1",
                        [now - crate::accounts::signup::PENDING_TTL_MS],
                    )?;
                    Ok::<_, crate::db::DbError>(())
                })
                .map_err(|e| e.to_string())
        }),
        Job::new("idempotency-prune", Duration::from_secs(3600), |app: &App| {
            crate::idempotency::prune(app).map(|_| ()).map_err(|e| e.to_string())
        }),
        // A pending booking whose time has come expires (API.md "Bookings").
        Job::new("bookings-expire", Duration::from_secs(60), |app: &App| {
            crate::bookings::jobs::expire(app).map(|_| ()).map_err(|e| e.message)
        }),
        // Day-before and 2-hour reminders for accepted bookings, each sent once.
        Job::new("booking-reminders", Duration::from_secs(60), |app: &App| {
            crate::bookings::jobs::remind(app).map(|_| ()).map_err(|e| e.message)
        }),
        // Lapsed listings expire; providers are warned 2 days ahead (DOMAIN.md "Listings").
        Job::new("listings-expire", Duration::from_secs(300), crate::catalog::expiry::run),
        Job::new("db-optimize", Duration::from_secs(3600), |app: &App| {
            app.db
                .write(|tx| tx.execute_batch("PRAGMA optimize;").map_err(crate::db::DbError::from))
                .map_err(|e| e.to_string())
        }),
    ]
}

/// Runs the named job now (tests drive time-based work this way, with the manual clock).
pub fn run(app: &App, name: &str) -> Result<(), String> {
    let jobs = all(app);
    let job = jobs.iter().find(|j| j.name == name).ok_or_else(|| format!("no job named {name}"))?;
    crate::runner::run_job(app, job, &app.jobs)
}
