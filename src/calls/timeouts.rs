//! The system's moves, run by jobs from the database (a restart loses nothing: a call that rang
//! out while the server was down is missed at the first run after it starts):
//! - ring timeout: a call still ringing `calls.ring_timeout_seconds` after it started becomes
//!   `missed` (`endReason` `no_answer`); the callee gets the `call.missed` notification through
//!   the outbox, both parties a `call.ended` event;
//! - stale: an active call where either party has shown no sign of life — no poll of
//!   `GET /events` (`events::last_poll`, in memory), no signal, no quality report (stored in the
//!   call's row) — for `calls.stale_after_seconds` becomes `ended` (`endReason` `lost`), with both
//!   parties' `call.ended`. A client in a call keeps its event long-poll open (the longest hold,
//!   `events.max_wait_seconds`, is shorter than the window) and the call page also reports quality
//!   every 3 s; a closed tab or a dead network stops both. The job first copies the parties' last
//!   poll times into the row, so after a restart (which forgets them) a party is judged by its
//!   last stored sign of life and its next poll.

use super::{notices, Call, Status, COLUMNS};
use crate::app::App;
use crate::db::Cached;
use crate::db::Tx;
use crate::notify::outbox;
use crate::web::ApiError;
use rusqlite::params;
use serde_json::json;

/// Calls handled per run and transaction (the next run takes the rest).
const BATCH: i64 = 100;

fn open_calls(tx: &Tx, sql_where: &str, cutoff: i64) -> rusqlite::Result<Vec<Call>> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM calls WHERE {sql_where} ORDER BY started_at, id LIMIT {BATCH}"
    ))?;
    let rows = st.query_map([cutoff], Call::from_row)?;
    rows.collect()
}

/// Whether any open call matches (a read, so an idle run never takes the writer).
fn any_due(app: &App, sql_where: &str, cutoff: i64) -> Result<bool, ApiError> {
    app.db.read(|c| {
        Ok(c.prepare_cached(&format!("SELECT EXISTS (SELECT 1 FROM calls WHERE {sql_where})"))?
            .query_row([cutoff], |r| r.get(0))?)
    })
}

const RINGING_DUE: &str = "status = 'ringing' AND started_at <= ?1";
const ACTIVE_DUE: &str = "status = 'active' AND MIN(caller_seen_at, callee_seen_at) <= ?1";

/// Ringing calls past the ring timeout → missed. Returns how many.
pub fn ring_timeout(app: &App) -> Result<usize, ApiError> {
    let now = app.now_ms();
    let cutoff = now - i64::from(app.config.calls.ring_timeout_seconds) * 1000;
    if !any_due(app, RINGING_DUE, cutoff)? {
        return Ok(0);
    }
    app.db.write(|tx| {
        let due = open_calls(tx, RINGING_DUE, cutoff)?;
        let mut n = 0;
        for call in due {
            let Some(after) = super::close(tx, &call, Status::Ringing, Status::Missed, "no_answer", None, now)? else {
                continue;
            };
            let caller_name =
                crate::accounts::find_by_id(tx, &after.caller_id)?.map(|u| u.full_name).unwrap_or_default();
            outbox::notify(
                tx,
                app,
                &after.callee_id,
                notices::CALL_MISSED,
                json!({"otherName": caller_name, "callId": after.id, "bookingId": after.booking_id}),
            )?;
            super::tell_both(tx, app, &after, "call.ended", now)?;
            n += 1;
        }
        Ok(n)
    })
}

/// Active calls with a silent party → ended (`lost`); a call kept alive by polls alone gets its
/// row's times refreshed instead. Returns how many ended.
pub fn close_stale(app: &App) -> Result<usize, ApiError> {
    let now = app.now_ms();
    let cutoff = now - i64::from(app.config.calls.stale_after_seconds) * 1000;
    if !any_due(app, ACTIVE_DUE, cutoff)? {
        return Ok(0);
    }
    app.db.write(|tx| {
        let due = open_calls(tx, ACTIVE_DUE, cutoff)?;
        let mut n = 0;
        for call in due {
            // Polls since the row's last sign of life count too.
            let polled = |user: &str, seen: i64| crate::events::last_poll(user).map_or(seen, |p| p.max(seen));
            let (caller, callee) =
                (polled(&call.caller_id, call.caller_seen_at), polled(&call.callee_id, call.callee_seen_at));
            if caller.min(callee) > cutoff {
                tx.execute_cached(
                    "UPDATE calls SET caller_seen_at = ?2, callee_seen_at = ?3 WHERE id = ?1",
                    params![call.id, caller, callee],
                )?;
                continue;
            }
            if let Some(after) = super::close(tx, &call, Status::Active, Status::Ended, "lost", None, now)? {
                super::tell_both(tx, app, &after, "call.ended", now)?;
                n += 1;
            }
        }
        Ok(n)
    })
}

/// Marks `user` as alive on `call` (a signal or a quality report came from them).
pub fn seen(tx: &Tx, call: &Call, user: &str, now: i64) -> rusqlite::Result<()> {
    let col = if user == call.caller_id { "caller_seen_at" } else { "callee_seen_at" };
    tx.execute_cached(&format!("UPDATE calls SET {col} = MAX({col}, ?2) WHERE id = ?1"), params![call.id, now])?;
    Ok(())
}
