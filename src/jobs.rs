//! The appliance's periodic jobs. Features add theirs here (expiry, reminders, outbox, ...).

use crate::app::App;
use crate::runner::Job;
use std::time::Duration;

/// The longest rate-limit window in use; idle buckets older than this carry no information.
const LONGEST_WINDOW_SECS: u32 = 3600;

pub fn all(_app: &App) -> Vec<Job<App>> {
    vec![
        Job::new("ratelimit-prune", Duration::from_secs(60), |app: &App| {
            app.limiter.prune(LONGEST_WINDOW_SECS);
            Ok(())
        }),
        Job::new("db-optimize", Duration::from_secs(3600), |app: &App| {
            app.db
                .write(|tx| tx.execute_batch("PRAGMA optimize;").map_err(crate::db::DbError::from))
                .map_err(|e| e.to_string())
        }),
    ]
}
