//! The call state machine (API.md "Calls"): `ringing → active | rejected | missed | cancelled`;
//! `active → ended`. The callee accepts or rejects a ringing call, the caller cancels it, either
//! party ends an active one; missed (ring timeout) and lost (stale) are the system's
//! (`timeouts.rs`). Each move is one transaction guarded by the expected from-status, with both
//! parties' event: `call.accepted`, `call.rejected`, `call.ended` (cancelled and ended calls).

use super::{Call, CallView, Side, Status};
use crate::app::App;
use crate::db::Cached;
use crate::web::auth::Principal;
use crate::web::ApiError;
use rusqlite::params;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
    Cancel,
    End,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Reject => "reject",
            Action::Cancel => "cancel",
            Action::End => "end",
        }
    }
}

/// What `side` may do with `action`: (from, to, end reason, event). None: not this side's move.
pub fn rule(action: Action, side: Side) -> Option<(Status, Status, Option<&'static str>, &'static str)> {
    use Status::*;
    match (action, side) {
        (Action::Accept, Side::Callee) => Some((Ringing, Active, None, "call.accepted")),
        (Action::Reject, Side::Callee) => Some((Ringing, Rejected, Some("rejected"), "call.rejected")),
        (Action::Cancel, Side::Caller) => Some((Ringing, Cancelled, Some("cancelled"), "call.ended")),
        (Action::End, Side::Caller | Side::Callee) => Some((Active, Ended, Some("hangup"), "call.ended")),
        _ => None,
    }
}

pub fn invalid_transition(call: &Call, action: Action, side: Side) -> ApiError {
    let who = if side == Side::Caller { "the caller" } else { "the callee" };
    ApiError::conflict(
        "invalid_transition",
        format!("As {who} you cannot {} a call that is {}.", action.verb(), call.status.as_str()),
    )
    .with_extra("status", json!(call.status.as_str()))
}

/// Applies `action` by the caller of the request to call `id`.
pub fn apply(app: &App, p: &Principal, id: &str, action: Action) -> Result<CallView, ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        let (call, side) = super::for_party(tx, id, p)?;
        let Some((from, to, reason, event)) = rule(action, side) else {
            return Err(invalid_transition(&call, action, side));
        };
        if call.status != from {
            return Err(invalid_transition(&call, action, side));
        }
        let after = match reason {
            // Accepting keeps the lines; the answer time starts the talk.
            None => {
                let changed = tx.execute_cached(
                    "UPDATE calls SET status = 'active', answered_at = ?2, callee_seen_at = ?2, caller_seen_at = ?2,
                         updated_at = ?2
                     WHERE id = ?1 AND status = 'ringing'",
                    params![call.id, now],
                )?;
                if changed == 0 {
                    return Err(invalid_transition(&call, action, side));
                }
                super::find(tx, &call.id)?
            }
            Some(r) => super::close(tx, &call, from, to, r, Some(&p.user_id), now)?,
        };
        let after = after.ok_or_else(|| invalid_transition(&call, action, side))?;
        super::tell_both(tx, app, &after, event, now)?;
        Ok(after.view(now))
    })
}

/// `GET /calls/{id}`: one call, to its parties (admins read it too); anyone else 404.
pub fn get(app: &App, p: &Principal, id: &str) -> Result<CallView, ApiError> {
    let now = app.now_ms();
    app.db.read(|c| {
        let call = super::find(c, id)?.ok_or_else(|| ApiError::missing("No such call."))?;
        match call.side(p) {
            Side::Stranger => Err(ApiError::missing("No such call.")),
            _ => Ok(call.view(now)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_the_contract() {
        use Status::*;
        assert_eq!(rule(Action::Accept, Side::Callee).map(|r| (r.0, r.1)), Some((Ringing, Active)));
        assert_eq!(rule(Action::Reject, Side::Callee).map(|r| (r.0, r.1)), Some((Ringing, Rejected)));
        assert_eq!(rule(Action::Cancel, Side::Caller).map(|r| (r.0, r.1)), Some((Ringing, Cancelled)));
        for s in [Side::Caller, Side::Callee] {
            assert_eq!(rule(Action::End, s).map(|r| (r.0, r.1)), Some((Active, Ended)));
        }
        assert!(rule(Action::Accept, Side::Caller).is_none(), "a caller cannot answer their own call");
        assert!(rule(Action::Reject, Side::Caller).is_none());
        assert!(rule(Action::Cancel, Side::Callee).is_none());
        for a in [Action::Accept, Action::Reject, Action::Cancel, Action::End] {
            assert!(rule(a, Side::Admin).is_none() && rule(a, Side::Stranger).is_none());
        }
    }
}
