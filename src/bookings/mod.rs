//! Bookings: a customer asks a provider's listing for a slot; the provider accepts, rejects,
//! starts and completes it; either side cancels within the rules; unanswered requests expire.
//! Every move is one transaction with its history row, the other party's notification and both
//! parties' real-time events. Also the parties' chat (`messages.rs`), ratings, reports, provider
//! earnings, reminders and the provider's iCalendar feed.
//!
//! This file holds the domain types and the building blocks shared by the submodules.
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
//!   passes, calendar_tokens, messages and the reminder marks. Another owner's rows are read through a
//!   function it exports when it is below the reader (bookings → catalog → accounts → notify →
//!   events), and through a view it exports (`schema/0008_views.sql`) when they join into the
//!   reader's own statement or the reader may not import it (catalog never imports bookings).
//! - Periodic work is the feature's `jobs()`, listed in `src/jobs.rs`; notification kinds are
//!   constants in the feature's `notices.rs`.
//! - Spans of time are `clock::{HOUR_MS, DAY_MS}`.

pub mod admin;
pub mod calendar;
pub mod create;
pub mod earnings;
pub mod ical;
pub mod messages;
pub mod notices;
pub mod passes;
pub mod ratings;
pub mod read;
pub mod reports;
pub mod routes;
pub mod stats;
pub mod timed;
pub mod transitions;
pub mod views;

use crate::db::Cached;
use crate::db::Tx;
use crate::web::auth::{Principal, Role};
use crate::web::ApiError;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

/// How far ahead an appointment may be booked.
pub const MAX_DAYS_AHEAD: i64 = 90;
/// Longest `reason` on a transition.
pub const MAX_REASON: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Accepted,
    Rejected,
    Cancelled,
    InProgress,
    Completed,
    Expired,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::Accepted,
        Status::Rejected,
        Status::Cancelled,
        Status::InProgress,
        Status::Completed,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::Cancelled => "cancelled",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Pending, accepted or in progress: the booking still holds its slot for the customer.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Pending | Status::Accepted | Status::InProgress)
    }
}

/// A booking row, as stored.
#[derive(Debug, Clone)]
pub struct Booking {
    pub id: String,
    pub listing_id: String,
    pub customer_id: String,
    pub provider_id: String,
    pub category_id: String,
    pub status: Status,
    pub local_date: String,
    pub local_time: String,
    pub starts_at: i64,
    pub address: String,
    pub notes: String,
    pub total: i64,
    pub currency: String,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const COLUMNS: &str = "id, listing_id, customer_id, provider_id, category_id, status, local_date, local_time, \
     starts_at, address, notes, total, currency, completed_at, created_at, updated_at";

impl Booking {
    pub fn from_row(r: &Row) -> rusqlite::Result<Booking> {
        let status: String = r.get(5)?;
        Ok(Booking {
            id: r.get(0)?,
            listing_id: r.get(1)?,
            customer_id: r.get(2)?,
            provider_id: r.get(3)?,
            category_id: r.get(4)?,
            status: Status::parse(&status).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, "unknown status".into())
            })?,
            local_date: r.get(6)?,
            local_time: r.get(7)?,
            starts_at: r.get(8)?,
            address: r.get(9)?,
            notes: r.get(10)?,
            total: r.get(11)?,
            currency: r.get(12)?,
            completed_at: r.get(13)?,
            created_at: r.get(14)?,
            updated_at: r.get(15)?,
        })
    }

    /// How the caller stands to this booking.
    pub fn party(&self, p: &Principal) -> Party {
        if p.role == Role::Customer && p.user_id == self.customer_id {
            Party::Customer
        } else if p.role == Role::Provider && p.user_id == self.provider_id {
            Party::Provider
        } else if p.role == Role::Admin {
            Party::Admin
        } else {
            Party::Stranger
        }
    }

    /// The other party's user id.
    pub fn other(&self, party: Party) -> &str {
        if party == Party::Provider {
            &self.customer_id
        } else {
            &self.provider_id
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Customer,
    Provider,
    Admin,
    Stranger,
}

impl Party {
    pub fn role(self) -> &'static str {
        match self {
            Party::Customer => "customer",
            Party::Provider => "provider",
            Party::Admin => "admin",
            Party::Stranger => "stranger",
        }
    }
}

pub fn find(c: &Connection, id: &str) -> rusqlite::Result<Option<Booking>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM bookings WHERE id = ?1"))?
        .query_row([id], Booking::from_row)
        .optional()
}

/// The booking as one of its parties acts on it: 404 for anyone else (existence is not revealed),
/// 403 for an admin (who may see it but is not a party).
pub fn for_party(c: &Connection, id: &str, p: &Principal) -> Result<(Booking, Party), ApiError> {
    let b = find(c, id)?.ok_or_else(ApiError::not_found)?;
    match b.party(p) {
        Party::Stranger => Err(ApiError::not_found()),
        Party::Admin => Err(ApiError::forbidden()),
        party => Ok((b, party)),
    }
}

/// Appends a history entry (`actor` None = the system).
pub fn record_history(
    tx: &Tx,
    booking_id: &str,
    from: Option<Status>,
    to: Status,
    at: i64,
    actor: Option<(&str, &str)>,
    reason: Option<&str>,
) -> rusqlite::Result<()> {
    tx.execute_cached(
        "INSERT INTO booking_history (booking_id, from_status, to_status, at, actor_id, actor_role, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            booking_id,
            from.map(Status::as_str),
            to.as_str(),
            at,
            actor.map(|a| a.0),
            actor.map_or("system", |a| a.1),
            reason
        ],
    )?;
    Ok(())
}

/// The facts a booking notification's template uses (`category`, `date`, `time`, `otherName`,
/// `reason`), plus `bookingId` for clients to open it. The names come from their owners,
/// catalog and accounts.
pub fn facts(c: &Connection, b: &Booking, other_id: &str, reason: Option<&str>) -> rusqlite::Result<Value> {
    let category = crate::catalog::categories::find(c, &b.category_id)?.map(|cat| cat.name).unwrap_or_default();
    let other = crate::accounts::find_by_id(c, other_id)?.map(|u| u.full_name).unwrap_or_default();
    let mut v = json!({
        "bookingId": b.id,
        "category": category,
        "date": b.local_date,
        "time": b.local_time,
        "otherName": other,
    });
    if let Some(r) = reason {
        v["reason"] = json!(r);
    }
    Ok(v)
}

/// Trims an optional free-text field; empty means absent. Err is the problem.
pub fn optional_text(v: Option<&str>, max: usize) -> Result<Option<String>, String> {
    let Some(t) = v.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if t.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must not contain control characters".into());
    }
    Ok(Some(t.to_string()))
}

/// A required free-text field, 1..=max characters after trimming.
pub fn required_text(v: &str, max: usize) -> Result<String, String> {
    optional_text(Some(v), max)?.ok_or_else(|| "is required".to_string())
}

/// Bookings' periodic work, on the one runner (src/jobs.rs lists every feature's).
pub fn jobs() -> Vec<crate::runner::Job<crate::app::App>> {
    use crate::runner::Job;
    use std::time::Duration;
    vec![
        // A pending booking whose time has come expires (API.md "Bookings").
        Job::new("bookings-expire", Duration::from_secs(60), timed::expire),
        // Day-before and 2-hour reminders for accepted bookings, each sent once.
        Job::new("booking-reminders", Duration::from_secs(60), timed::remind),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each booking index answers with its own error (`web::error::CONSTRAINTS`).
    #[test]
    fn unique_violations_are_told_apart_by_index() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut c).unwrap();
        // Only the booking indexes are under test here, not the references.
        c.pragma_update(None, "foreign_keys", "OFF").unwrap();
        let insert = |c: &Connection, id: &str, customer: &str, status: &str| {
            c.execute_cached(
                "INSERT INTO bookings (id, listing_id, customer_id, provider_id, category_id, status, local_date, local_time,
                     starts_at, address, total, currency, created_at, updated_at)
                 VALUES (?1, 'l', ?2, 'p', 'c', ?3, 'd', 't', 1000, 'a', 1, 'INR', 0, 0)",
                params![id, customer, status],
            )
        };
        let code = |e: rusqlite::Error| ApiError::from(e).code;
        insert(&c, "b1", "c1", "accepted").unwrap();
        let e = insert(&c, "b2", "c1", "pending").unwrap_err();
        assert_eq!(code(e), "duplicate_booking");
        let e = insert(&c, "b3", "c2", "accepted").unwrap_err();
        assert_eq!(code(e), "slot_unavailable");
        insert(&c, "b4", "c2", "pending").unwrap();
        insert(&c, "b5", "c1", "cancelled").unwrap();
    }

    #[test]
    fn free_text_is_trimmed_and_bounded() {
        assert_eq!(optional_text(Some("  hi "), 5), Ok(Some("hi".into())));
        assert_eq!(optional_text(Some("   "), 5), Ok(None));
        assert!(optional_text(Some("toolong"), 5).is_err());
        assert!(optional_text(Some("a\u{7}b"), 5).is_err());
        assert_eq!(optional_text(Some("a\nb"), 5), Ok(Some("a\nb".into())));
        assert!(required_text(" ", 5).is_err());
    }
}
