//! Calls (API.md "Calls (WebRTC signalling)", DOMAIN.md "Calls"): a booking's customer and
//! provider ring each other, and the server relays their WebRTC signalling, hands out STUN and
//! short-lived TURN credentials, and records each call and the quality its parties report. Only a
//! booking's two parties ever see one of its calls: to anyone else every call route answers 404.
//!
//! State machine (`transitions.rs`): `ringing → active | rejected | missed | cancelled`;
//! `active → ended`. A ringing call is `missed` after `calls.ring_timeout_seconds`, an active
//! call whose party has gone quiet for `calls.stale_after_seconds` is `ended` with `endReason`
//! `lost` (`timeouts.rs`, jobs working from the database, so a restart loses nothing). A user has
//! at most one ringing or active call: the `call_lines` table (one row per party of an open call,
//! the user id its key) makes the database refuse a second (409 `busy`).
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
//!   passes, calendar_tokens, messages and the reminder marks. calls: calls, call_lines,
//!   call_quality. Another owner's rows are read through a
//!   function it exports when it is below the reader (calls → bookings → catalog → accounts → notify →
//!   events), and through a view it exports (`schema/0008_views.sql`) when they join into the
//!   reader's own statement or the reader may not import it (catalog never imports bookings).
//! - Periodic work is the feature's `jobs()`, listed in `src/jobs.rs`; notification kinds are
//!   constants in the feature's `notices.rs`.
//! - Spans of time are `clock::{HOUR_MS, DAY_MS}`.

pub mod history;
pub mod ice;
pub mod notices;
pub mod quality;
pub mod routes;
pub mod signal;
pub mod start;
pub mod stats;
pub mod timeouts;
pub mod transitions;

use crate::app::App;
use crate::clock::rfc3339;
use crate::db::Cached;
use crate::db::Tx;
use crate::notify::outbox;
use crate::web::auth::{Principal, Role};
use crate::web::ApiError;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ringing,
    Active,
    Rejected,
    Missed,
    Cancelled,
    Ended,
}

impl Status {
    pub const ALL: [Status; 6] =
        [Status::Ringing, Status::Active, Status::Rejected, Status::Missed, Status::Cancelled, Status::Ended];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ringing => "ringing",
            Status::Active => "active",
            Status::Rejected => "rejected",
            Status::Missed => "missed",
            Status::Cancelled => "cancelled",
            Status::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Ringing or active: the call holds both parties' lines.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Ringing | Status::Active)
    }
}

/// A call row, as stored.
#[derive(Debug, Clone)]
pub struct Call {
    pub id: String,
    pub booking_id: String,
    pub caller_id: String,
    pub caller_role: String,
    pub callee_id: String,
    pub callee_role: String,
    pub status: Status,
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub caller_seen_at: i64,
    pub callee_seen_at: i64,
    pub signals: i64,
    pub mos_sum: f64,
    pub mos_count: i64,
}

pub const COLUMNS: &str = "id, booking_id, caller_id, caller_role, callee_id, callee_role, status, started_at, \
     answered_at, ended_at, end_reason, caller_seen_at, callee_seen_at, signals, mos_sum, mos_count";

impl Call {
    pub fn from_row(r: &Row) -> rusqlite::Result<Call> {
        let status: String = r.get(6)?;
        Ok(Call {
            id: r.get(0)?,
            booking_id: r.get(1)?,
            caller_id: r.get(2)?,
            caller_role: r.get(3)?,
            callee_id: r.get(4)?,
            callee_role: r.get(5)?,
            status: Status::parse(&status).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, "unknown status".into())
            })?,
            started_at: r.get(7)?,
            answered_at: r.get(8)?,
            ended_at: r.get(9)?,
            end_reason: r.get(10)?,
            caller_seen_at: r.get(11)?,
            callee_seen_at: r.get(12)?,
            signals: r.get(13)?,
            mos_sum: r.get(14)?,
            mos_count: r.get(15)?,
        })
    }

    /// How `p` stands to this call (an admin is never a side, even of their own booking).
    pub fn side(&self, p: &Principal) -> Side {
        if p.role == Role::Admin {
            Side::Admin
        } else if p.user_id == self.caller_id && p.role.as_str() == self.caller_role {
            Side::Caller
        } else if p.user_id == self.callee_id && p.role.as_str() == self.callee_role {
            Side::Callee
        } else {
            Side::Stranger
        }
    }

    /// The other party's user id.
    pub fn other(&self, side: Side) -> &str {
        if side == Side::Callee {
            &self.caller_id
        } else {
            &self.callee_id
        }
    }

    /// The mean of the quality reports' MOS estimates, two decimals.
    pub fn mos(&self) -> Option<f64> {
        (self.mos_count > 0).then(|| (self.mos_sum / self.mos_count as f64 * 100.0).round() / 100.0)
    }

    /// Whole seconds talked: answer to end (or to `now` while active); 0 when never answered.
    pub fn duration_seconds(&self, now: i64) -> i64 {
        match self.answered_at {
            Some(a) => (self.ended_at.unwrap_or(now) - a).max(0) / 1000,
            None => 0,
        }
    }

    pub fn view(&self, now: i64) -> CallView {
        CallView {
            id: self.id.clone(),
            booking_id: self.booking_id.clone(),
            status: self.status.as_str(),
            caller: PartyRef { id: self.caller_id.clone(), role: self.caller_role.clone() },
            callee: PartyRef { id: self.callee_id.clone(), role: self.callee_role.clone() },
            started_at: rfc3339(self.started_at),
            answered_at: self.answered_at.map(rfc3339),
            ended_at: self.ended_at.map(rfc3339),
            duration_seconds: self.duration_seconds(now),
            end_reason: self.end_reason.clone(),
            mos: self.mos(),
            quality_reports: self.mos_count,
            started_ms: self.started_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Caller,
    Callee,
    Admin,
    Stranger,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartyRef {
    pub id: String,
    pub role: String,
}

/// A Call as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    pub id: String,
    pub booking_id: String,
    pub status: &'static str,
    pub caller: PartyRef,
    pub callee: PartyRef,
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_seconds: i64,
    pub end_reason: Option<String>,
    pub mos: Option<f64>,
    pub quality_reports: i64,
    #[serde(skip)]
    pub started_ms: i64,
}

pub fn find(c: &Connection, id: &str) -> rusqlite::Result<Option<Call>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM calls WHERE id = ?1"))?.query_row([id], Call::from_row).optional()
}

/// The call as one of its parties acts on it: 404 for anyone else, admins included (an admin
/// reads calls through `GET /calls` and `GET /admin/calls`, never acts on one).
pub fn for_party(c: &Connection, id: &str, p: &Principal) -> Result<(Call, Side), ApiError> {
    let call = find(c, id)?.ok_or_else(|| ApiError::missing("No such call."))?;
    match call.side(p) {
        s @ (Side::Caller | Side::Callee) => Ok((call, s)),
        _ => Err(ApiError::missing("No such call.")),
    }
}

/// Closes an open call: its new status, end time and reason, and both lines freed. Returns the
/// call as it is now, or None when it was no longer in `from` (someone else moved it first).
pub fn close(
    tx: &Tx,
    call: &Call,
    from: Status,
    to: Status,
    reason: &str,
    by: Option<&str>,
    now: i64,
) -> rusqlite::Result<Option<Call>> {
    let changed = tx.execute_cached(
        "UPDATE calls SET status = ?3, ended_at = ?4, end_reason = ?5, ended_by = ?6, updated_at = ?4
         WHERE id = ?1 AND status = ?2",
        params![call.id, from.as_str(), to.as_str(), now, reason, by],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    tx.execute_cached("DELETE FROM call_lines WHERE call_id = ?1", [&call.id])?;
    find(tx, &call.id)
}

/// `call.<kind>` with `{call}` to both parties (every state change is told to both, so a party's
/// other devices follow too; `call.incoming` alone goes to the callee only).
pub fn tell_both(tx: &Tx, app: &App, call: &Call, kind: &str, now: i64) -> Result<(), ApiError> {
    outbox::event(tx, app, &[&call.caller_id, &call.callee_id], kind, &json!({"call": call.view(now)}))
}

/// Calls' periodic work, on the one runner (src/jobs.rs lists every feature's).
pub fn jobs() -> Vec<crate::runner::Job<crate::app::App>> {
    use crate::runner::Job;
    use std::time::Duration;
    vec![
        // Ringing past `calls.ring_timeout_seconds` → missed, with the callee's notification.
        Job::new("calls-ring-timeout", Duration::from_secs(2), timeouts::ring_timeout),
        // Active with a party silent past `calls.stale_after_seconds` → ended (`lost`).
        Job::new("calls-stale", Duration::from_secs(5), timeouts::close_stale),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_only_two_are_open() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        let open: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(open, vec![Status::Ringing, Status::Active]);
        assert_eq!(Status::parse("busy"), None);
    }
}
