//! The one list of periodic jobs, all on the one runner: the kit's own here, then each feature's
//! `jobs()` (a feature registers the work it owns; tests run any job by name with [`run`]).

use crate::app::App;
use crate::runner::Job;
use std::time::Duration;

/// The longest rate-limit window in use; idle buckets older than this carry no information.
const LONGEST_WINDOW_SECS: u32 = 3600;

pub fn all(app: &App) -> Vec<Job<App>> {
    let mut jobs = vec![
        Job::new("ratelimit-prune", Duration::from_secs(60), |app: &App| {
            app.limiter.prune(LONGEST_WINDOW_SECS);
            Ok::<_, String>(())
        }),
        // Argon2 memory (~19 MiB a slot) goes back to the OS once no password was hashed for a minute.
        Job::new("hasher-trim", Duration::from_secs(60), |app: &App| {
            app.hasher.trim(Duration::from_secs(60));
            Ok::<_, String>(())
        }),
        Job::new("idempotency-prune", Duration::from_secs(3600), crate::idempotency::prune),
        // The writer's own checkpoints run on commits; this one covers an idle writer and a WAL
        // left large by readers (it never waits for them).
        Job::new("db-checkpoint", Duration::from_secs(30), |app: &App| app.db.checkpoint_passive().map(|_| ())),
        Job::new("db-optimize", Duration::from_secs(3600), |app: &App| {
            // Maintenance: exempt from `database.statement_timeout_ms`.
            app.db.write_unbounded(|tx| tx.execute_batch("PRAGMA optimize;").map_err(crate::db::DbError::from))
        }),
    ];
    jobs.extend(crate::accounts::jobs());
    jobs.extend(crate::catalog::jobs());
    jobs.extend(crate::bookings::jobs());
    jobs.extend(crate::payments::jobs());
    jobs.extend(crate::calls::jobs());
    jobs.extend(crate::events::jobs());
    jobs.extend(crate::system::jobs());
    jobs.extend(crate::admin::jobs(app));
    jobs
}

/// Runs the named job now (tests drive time-based work this way, with the manual clock).
pub fn run(app: &App, name: &str) -> Result<(), String> {
    let jobs = all(app);
    let job = jobs.iter().find(|j| j.name == name).ok_or_else(|| format!("no job named {name}"))?;
    crate::runner::run_job(app, job, &app.jobs)
}
