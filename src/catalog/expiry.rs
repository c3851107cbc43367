//! The `listings-expire` job: warns providers 2 days before a listing's period ends (once per
//! period: `expiry_warned_at`) and marks lapsed listings `expired`. Driven by `app.now_ms()`, so
//! tests move the clock and run the job. Each step works in small batches, one transaction each,
//! so the single writer is never held long; a crash between batches loses nothing.

use crate::app::App;
use crate::clock::{rfc3339, DAY_MS};
use crate::db::Cached;
use crate::db::Tx;
use crate::notify::outbox;
use crate::web::ApiError;
use rusqlite::params;
use serde_json::json;

/// How far ahead providers are warned.
pub const WARN_AHEAD_MS: i64 = 2 * DAY_MS;
const BATCH: i64 = 200;

/// (listing id, provider id, category name, active_until, deleted)
type Due = (String, String, String, i64, bool);

fn due(tx: &Tx, sql: &str, args: impl rusqlite::Params) -> rusqlite::Result<Vec<Due>> {
    let mut st = tx.prepare(sql)?;
    let rows = st
        .query_map(args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, Option<i64>>(4)?.is_some())))?;
    rows.collect()
}

/// Marks active listings whose period has ended `expired` and notifies their providers
/// (`listing.expired`; not for listings the provider deleted). Returns how many expired.
pub fn expire(app: &App) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        let now = app.now_ms();
        let n = app.db.write(|tx| {
            let rows = due(
                tx,
                "SELECT l.id, l.provider_id, c.name, l.active_until, l.deleted_at
                 FROM listings l JOIN categories c ON c.id = l.category_id
                 WHERE l.status = 'active' AND l.active_until <= ?1 LIMIT ?2",
                params![now, BATCH],
            )?;
            for (id, provider, category, until, deleted) in &rows {
                tx.execute_cached(
                    "UPDATE listings SET status = 'expired', updated_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
                if !deleted {
                    let data = json!({"listingId": id, "category": category, "activeUntil": rfc3339(*until)});
                    outbox::notify(tx, app, provider, super::notices::EXPIRED, data)?;
                }
            }
            Ok::<_, ApiError>(rows.len())
        })?;
        total += n;
        if (n as i64) < BATCH {
            return Ok(total);
        }
    }
}

/// Warns providers whose active listing ends within [`WARN_AHEAD_MS`] (`listing.expiring`), once
/// per period. Returns how many were warned.
pub fn warn(app: &App) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        let now = app.now_ms();
        let n = app.db.write(|tx| {
            let rows = due(
                tx,
                "SELECT l.id, l.provider_id, c.name, l.active_until, l.deleted_at
                 FROM listings l JOIN categories c ON c.id = l.category_id
                 WHERE l.status = 'active' AND l.active_until > ?1 AND l.active_until <= ?1 + ?2
                   AND l.expiry_warned_at IS NULL AND l.deleted_at IS NULL LIMIT ?3",
                params![now, WARN_AHEAD_MS, BATCH],
            )?;
            for (id, provider, category, until, _) in &rows {
                tx.execute_cached(
                    "UPDATE listings SET expiry_warned_at = ?2 WHERE id = ?1 AND expiry_warned_at IS NULL",
                    params![id, now],
                )?;
                let data = json!({"listingId": id, "category": category, "activeUntil": rfc3339(*until)});
                outbox::notify(tx, app, provider, super::notices::EXPIRING, data)?;
            }
            Ok::<_, ApiError>(rows.len())
        })?;
        total += n;
        if (n as i64) < BATCH {
            return Ok(total);
        }
    }
}

/// The job body: expire first (a lapsed listing needs no warning), then warn.
pub fn run(app: &App) -> Result<(), ApiError> {
    expire(app)?;
    warn(app)?;
    Ok(())
}
