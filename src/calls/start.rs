//! `POST /calls {bookingId}`: a booking's customer or provider rings the other. Allowed while the
//! booking is pending, accepted or in progress, and for a customer only while its listing is live
//! (`catalog::search::live`, the one definition); otherwise 403 `not_callable`. Either party
//! already on a ringing or active call: 409 `busy`, decided by the database (`call_lines`).

use super::{Call, Status};
use crate::app::App;
use crate::bookings::{self, Party};
use crate::db::Cached;
use crate::notify::outbox;
use crate::web::auth::Principal;
use crate::web::ctx::new_id;
use crate::web::ApiError;
use rusqlite::params;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewCall {
    pub booking_id: String,
}

fn not_callable(why: &str) -> ApiError {
    ApiError::denied("not_callable", why.to_string())
}

/// Rings the other party of booking `bookingId`; the callee gets `call.incoming`.
pub fn start(app: &App, p: &Principal, n: NewCall) -> Result<super::CallView, ApiError> {
    let now = app.now_ms();
    app.db.write(|tx| {
        let b = bookings::find(tx, &n.booking_id)?.ok_or_else(|| ApiError::missing("No such booking."))?;
        let party = b.party(p);
        let (caller_role, callee_role) = match party {
            Party::Customer => ("customer", "provider"),
            Party::Provider => ("provider", "customer"),
            // Admins are not parties; strangers must not learn that the booking exists.
            _ => return Err(ApiError::missing("No such booking.")),
        };
        if !b.status.is_open() {
            return Err(not_callable("Calls are possible only while the booking is pending, accepted or in progress.")
                .with_extra("bookingStatus", json!(b.status.as_str())));
        }
        if party == Party::Customer && crate::catalog::search::live(tx, &b.listing_id, now)?.is_none() {
            return Err(not_callable("This listing is not active; its provider cannot be called."));
        }
        let callee = b.other(party).to_string();
        let id = new_id("call");
        tx.execute_cached(
            "INSERT INTO calls (id, booking_id, caller_id, caller_role, callee_id, callee_role, status, started_at,
                 caller_seen_at, callee_seen_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'ringing', ?7, ?7, ?7, ?7)",
            params![id, b.id, p.user_id, caller_role, callee, callee_role, now],
        )?;
        // The primary key of `call_lines` refuses a second open call for either party (409 `busy`).
        tx.execute_cached("INSERT INTO call_lines (user_id, call_id) VALUES (?1, ?2)", params![p.user_id, id])?;
        tx.execute_cached("INSERT INTO call_lines (user_id, call_id) VALUES (?1, ?2)", params![callee, id])?;
        let call: Call = super::find(tx, &id)?.ok_or_else(|| ApiError::internal("inserted call not found"))?;
        debug_assert_eq!(call.status, Status::Ringing);
        let view = call.view(now);
        outbox::event(tx, app, &[&callee], "call.incoming", &json!({"call": view}))?;
        Ok(view)
    })
}
