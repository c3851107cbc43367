//! Payments: orders priced by the server, paid through a gateway, settled only by a verified
//! gateway notice or our own status query, refunded through the gateway.
//!
//! - `orders.rs`: `POST /payments` (listing fee, pass, booking), one open payment per target.
//! - `webhooks.rs`: `POST /webhooks/{gateway}`: verify, then settle (`settle.rs`).
//! - `settle.rs`: the one place a payment or refund moves, in the caller's `BEGIN IMMEDIATE`
//!   transaction, with the event id recorded so a duplicate changes nothing.
//! - `refunds.rs`: admin refunds through the gateway. `reconcile.rs`: the job that asks gateways
//!   about stuck payments and expires unpaid orders. `risk.rs`: flags for the admin.
//! - `read.rs`: the Payment shape and the lists. `stats.rs`: figures for the admin dashboard.
//! - `sandbox_page.rs`: the built-in sandbox's pay page (`/pay/sandbox/{id}`).
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
//! - One owner per table. payments: payments, payment_refunds, payment_events, payment_flags.
//!   accounts: users, signups, one-time codes, sessions, refresh tokens,
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

pub mod gateway;
pub mod gateways;
pub mod notices;
pub mod orders;
pub mod read;
pub mod reconcile;
pub mod refunds;
pub mod risk;
pub mod routes;
pub mod sandbox_page;
pub mod settle;
pub mod stats;
pub mod webhooks;

use rusqlite::{Connection, OptionalExtension, Row};

/// Where a payment stands (API.md "Payments"). `Creating` is ours alone: the order is being
/// opened at the gateway; it is shown as `pending` (without `checkout`) and expires if we die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Pending,
    Succeeded,
    Failed,
    Expired,
    PartiallyRefunded,
    Refunded,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Creating,
        Status::Pending,
        Status::Succeeded,
        Status::Failed,
        Status::Expired,
        Status::PartiallyRefunded,
        Status::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Pending => "pending",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Expired => "expired",
            Status::PartiallyRefunded => "partially_refunded",
            Status::Refunded => "refunded",
        }
    }

    /// The public name (`creating` is `pending` to clients).
    pub fn public(self) -> &'static str {
        if self == Status::Creating {
            "pending"
        } else {
            self.as_str()
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        matches!(self, Status::Creating | Status::Pending)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    ListingFee,
    Pass,
    Booking,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::ListingFee => "listing_fee",
            Purpose::Pass => "pass",
            Purpose::Booking => "booking",
        }
    }

    pub fn parse(s: &str) -> Option<Purpose> {
        [Purpose::ListingFee, Purpose::Pass, Purpose::Booking].into_iter().find(|p| p.as_str() == s)
    }
}

/// A payment row, as stored.
#[derive(Debug, Clone)]
pub struct Payment {
    pub id: String,
    pub payer_id: String,
    pub purpose: Purpose,
    pub target_id: String,
    pub days: Option<i64>,
    pub amount: i64,
    pub currency: String,
    pub gateway: String,
    pub gateway_ref: Option<String>,
    pub gateway_payment_id: Option<String>,
    pub checkout: Option<String>,
    pub status: Status,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

pub const COLUMNS: &str = "id, payer_id, purpose, target_id, days, amount, currency, gateway, gateway_ref, \
     gateway_payment_id, checkout, status, expires_at, created_at, updated_at, completed_at";

fn bad(i: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, format!("unknown {what}").into())
}

impl Payment {
    pub fn from_row(r: &Row) -> rusqlite::Result<Payment> {
        let purpose: String = r.get(2)?;
        let status: String = r.get(11)?;
        Ok(Payment {
            id: r.get(0)?,
            payer_id: r.get(1)?,
            purpose: Purpose::parse(&purpose).ok_or_else(|| bad(2, "purpose"))?,
            target_id: r.get(3)?,
            days: r.get(4)?,
            amount: r.get(5)?,
            currency: r.get(6)?,
            gateway: r.get(7)?,
            gateway_ref: r.get(8)?,
            gateway_payment_id: r.get(9)?,
            checkout: r.get(10)?,
            status: Status::parse(&status).ok_or_else(|| bad(11, "status"))?,
            expires_at: r.get(12)?,
            created_at: r.get(13)?,
            updated_at: r.get(14)?,
            completed_at: r.get(15)?,
        })
    }
}

pub fn find(c: &Connection, id: &str) -> rusqlite::Result<Option<Payment>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM payments WHERE id = ?1"))?
        .query_row([id], Payment::from_row)
        .optional()
}

/// The payment a gateway's order reference names, at that gateway.
pub fn find_by_ref(c: &Connection, gateway: &str, gateway_ref: &str) -> rusqlite::Result<Option<Payment>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM payments WHERE gateway = ?1 AND gateway_ref = ?2"))?
        .query_row([gateway, gateway_ref], Payment::from_row)
        .optional()
}

/// `amount` minor units for people: `₹99.00`, `USD 12.50`.
pub fn display_amount(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs();
    let whole = format!("{}.{:02}", a / 100, a % 100);
    if currency.eq_ignore_ascii_case("INR") {
        format!("{sign}₹{whole}")
    } else {
        format!("{sign}{currency} {whole}")
    }
}

/// Payments' periodic work, on the one runner (src/jobs.rs lists every feature's).
pub fn jobs() -> Vec<crate::runner::Job<crate::app::App>> {
    use crate::runner::Job;
    // Stuck payments are asked about at their gateway; unpaid orders expire (API.md "Payments").
    vec![Job::new("payments-reconcile", std::time::Duration::from_secs(60), reconcile::run)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_amounts_read_well() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::Creating.public(), "pending");
        assert_eq!(Purpose::parse("pass"), Some(Purpose::Pass));
        assert_eq!(display_amount(9900, "INR"), "₹99.00");
        assert_eq!(display_amount(1205, "USD"), "USD 12.05");
    }
}
