//! The booking state machine (API.md "Bookings"):
//! `pending → accepted | rejected | cancelled | expired`; `accepted → in_progress | completed | cancelled`;
//! `in_progress → completed`. The provider accepts, rejects (with a reason), starts and completes;
//! the customer cancels while pending or accepted; the provider may cancel an accepted booking with
//! a reason. Expiry is the system's (see `jobs.rs`).
//!
//! Each move is one transaction: the status update guarded by the expected from-status, the
//! history row, the other party's notification and both parties' `booking.updated` events. The
//! partial unique index `bookings_one_taken_per_slot` decides between concurrent accepts.

use super::views::{self, BookingView};
use super::{notices, Booking, Party, Status, MAX_REASON};
use crate::app::App;
use crate::db::Cached;
use crate::notify::{outbox, Kind};
use crate::web::auth::Principal;
use crate::web::ApiError;
use rusqlite::params;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
    Start,
    Complete,
    Cancel,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    #[serde(default)]
    pub reason: Option<String>,
}

/// What `party` may do with `action`: the states it may start from, where it ends, whether a
/// reason is required, and the notification kind the other party gets. None: not this party's move.
pub struct Rule {
    pub from: &'static [Status],
    pub to: Status,
    pub reason_required: bool,
    pub kind: Kind,
}

pub fn rule(action: Action, party: Party) -> Option<Rule> {
    use Status::*;
    let r = |from: &'static [Status], to, reason_required, kind| Some(Rule { from, to, reason_required, kind });
    match (action, party) {
        (Action::Accept, Party::Provider) => r(&[Pending], Accepted, false, notices::ACCEPTED),
        (Action::Reject, Party::Provider) => r(&[Pending], Rejected, true, notices::REJECTED),
        (Action::Start, Party::Provider) => r(&[Accepted], InProgress, false, notices::STARTED),
        (Action::Complete, Party::Provider) => r(&[Accepted, InProgress], Completed, false, notices::COMPLETED),
        (Action::Cancel, Party::Customer) => r(&[Pending, Accepted], Cancelled, false, notices::CANCELLED),
        (Action::Cancel, Party::Provider) => r(&[Accepted], Cancelled, true, notices::CANCELLED),
        _ => None,
    }
}

pub fn invalid_transition(b: &Booking, action: Action) -> ApiError {
    let verb = match action {
        Action::Accept => "accept",
        Action::Reject => "reject",
        Action::Start => "start",
        Action::Complete => "complete",
        Action::Cancel => "cancel",
    };
    ApiError::conflict("invalid_transition", format!("You cannot {verb} a booking that is {}.", b.status.as_str()))
        .with_extra("status", json!(b.status.as_str()))
}

/// Applies `action` by the caller to booking `id`.
pub fn apply(app: &App, p: &Principal, id: &str, action: Action, body: Body) -> Result<BookingView, ApiError> {
    let reason = super::optional_text(body.reason.as_deref(), MAX_REASON).map_err(|e| ApiError::field("reason", &e))?;
    let now = app.now_ms();
    app.db.write(|tx| {
        let (b, party) = super::for_party(tx, id, p)?;
        let rule = rule(action, party).ok_or_else(ApiError::forbidden)?;
        if !rule.from.contains(&b.status) {
            return Err(invalid_transition(&b, action));
        }
        // A pending request whose time has passed is as good as expired (the job may not have run yet).
        if action == Action::Accept && b.starts_at <= now {
            return Err(ApiError::conflict("invalid_transition", "The time of this booking has passed.")
                .with_extra("status", json!("expired")));
        }
        if rule.reason_required && reason.is_none() {
            return Err(ApiError::field("reason", "is required"));
        }
        // A concurrent accept of another booking in the slot makes `bookings_one_taken_per_slot`
        // refuse this one (`slot_unavailable`, by `?`).
        let changed = tx.execute_cached(
            "UPDATE bookings SET status = ?3, updated_at = ?4,
                 completed_at = CASE WHEN ?3 = 'completed' THEN ?4 ELSE completed_at END
             WHERE id = ?1 AND status = ?2",
            params![b.id, b.status.as_str(), rule.to.as_str(), now],
        )?;
        if changed == 0 {
            return Err(invalid_transition(&b, action));
        }
        super::record_history(
            tx,
            &b.id,
            Some(b.status),
            rule.to,
            now,
            Some((&p.user_id, party.role())),
            reason.as_deref(),
        )?;
        let after = super::find(tx, &b.id)?.ok_or_else(ApiError::not_found)?;
        let view = views::view(tx, &after)?;
        let other = b.other(party).to_string();
        let facts = super::facts(tx, &after, &p.user_id, reason.as_deref())?;
        outbox::notify(tx, app, &other, rule.kind, facts)?;
        outbox::event(tx, app, &[&b.customer_id, &b.provider_id], "booking.updated", &json!({"booking": view}))?;
        Ok(view)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_the_contract() {
        use Status::*;
        let all = Status::ALL;
        let moves = |a: Action, p: Party| -> Vec<Status> {
            rule(a, p).map(|r| all.into_iter().filter(|s| r.from.contains(s)).collect()).unwrap_or_default()
        };
        assert_eq!(moves(Action::Accept, Party::Provider), vec![Pending]);
        assert_eq!(moves(Action::Complete, Party::Provider), vec![Accepted, InProgress]);
        assert_eq!(moves(Action::Cancel, Party::Customer), vec![Pending, Accepted]);
        assert_eq!(moves(Action::Cancel, Party::Provider), vec![Accepted]);
        for a in [Action::Accept, Action::Reject, Action::Start, Action::Complete] {
            assert!(rule(a, Party::Customer).is_none(), "{a:?} is the provider's");
        }
        for p in [Party::Admin, Party::Stranger] {
            assert!(rule(Action::Cancel, p).is_none());
        }
        // Final states have no way out.
        for a in [Action::Accept, Action::Reject, Action::Start, Action::Complete, Action::Cancel] {
            for p in [Party::Customer, Party::Provider] {
                if let Some(r) = rule(a, p) {
                    for s in [Rejected, Cancelled, Completed, Expired] {
                        assert!(!r.from.contains(&s));
                    }
                }
            }
        }
    }
}
