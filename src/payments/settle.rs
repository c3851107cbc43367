//! The one place a payment or a refund moves, inside the caller's `BEGIN IMMEDIATE` transaction:
//! the event id is recorded first-come (a duplicate finds its row and changes nothing), the amount
//! and currency are checked against ours, and a success commits together with what it pays for
//! (the listing activated, the pass granted, the booking marked paid), the payer's notification and
//! the `payment.updated` event. What is paid for always comes from our row, never from the notice.

use super::gateway::{Outcome, RefundStatus};
use super::{find, find_by_ref, notices, read, risk, Payment, Purpose, Status};
use crate::app::App;
use crate::bookings::passes;
use crate::db::Cached;
use crate::db::Tx;
use crate::notify::outbox;
use crate::web::ApiError;
use rusqlite::{params, OptionalExtension};
use serde_json::json;

/// A statement about a payment, from a verified notice or our own status query.
#[derive(Debug, Clone)]
pub struct Fact<'a> {
    pub gateway: &'a str,
    pub event_id: &'a str,
    /// What kind of statement it was (`webhook`, `status_query`, `expiry`), for the admin.
    pub source: &'a str,
    pub gateway_ref: Option<&'a str>,
    pub payment_id: Option<&'a str>,
    pub outcome: Outcome,
    pub amount: Option<i64>,
    pub currency: Option<&'a str>,
    pub gateway_payment_id: Option<&'a str>,
}

/// What a fact did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// This event id was seen before: nothing changed.
    Duplicate,
    /// No payment of ours at this gateway matches.
    Unknown,
    /// The payment moved to this status.
    Moved(Status),
    /// Recorded, nothing to do (still pending, already final, ...).
    Noted(&'static str),
    /// The paid amount or currency differs from ours: flagged, nothing activated.
    Mismatch,
}

impl Settled {
    pub fn outcome(&self) -> &'static str {
        match self {
            Settled::Duplicate => "duplicate",
            Settled::Unknown => "unknown_payment",
            Settled::Moved(s) => s.as_str(),
            Settled::Noted(why) => why,
            Settled::Mismatch => "amount_mismatch",
        }
    }
}

fn seen(tx: &Tx, gateway: &str, event_id: &str) -> rusqlite::Result<bool> {
    tx.query_row_cached(
        "SELECT 1 FROM payment_events WHERE gateway = ?1 AND event_id = ?2",
        [gateway, event_id],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

/// Records a delivery or status answer once (the caller checked [`seen`] in the same transaction).
pub fn record_event(
    tx: &Tx,
    gateway: &str,
    event_id: &str,
    payment_id: Option<&str>,
    kind: &str,
    outcome: &str,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute_cached(
        "INSERT OR IGNORE INTO payment_events (gateway, event_id, payment_id, type, outcome, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![gateway, event_id, payment_id, kind, outcome, now],
    )?;
    Ok(())
}

/// Publishes `payment.updated {payment}` to the payer.
pub fn publish(tx: &Tx, app: &App, payment_id: &str) -> Result<(), ApiError> {
    let p = find(tx, payment_id)?.ok_or_else(|| ApiError::internal("payment vanished"))?;
    let v = read::view(tx, &p)?;
    outbox::event(tx, app, &[&p.payer_id], "payment.updated", &json!({"payment": v}))
}

fn facts(p: &Payment, amount: i64) -> serde_json::Value {
    json!({"amount": super::display_amount(amount, &p.currency), "paymentId": p.id})
}

/// Applies `fact` (see the module doc). Call inside `app.db.write`.
pub fn payment(tx: &Tx, app: &App, fact: &Fact) -> Result<Settled, ApiError> {
    let now = app.now_ms();
    if seen(tx, fact.gateway, fact.event_id)? {
        return Ok(Settled::Duplicate);
    }
    let mut p = match fact.gateway_ref {
        Some(r) => find_by_ref(tx, fact.gateway, r)?,
        None => None,
    };
    if p.is_none() {
        if let Some(id) = fact.payment_id {
            p = find(tx, id)?.filter(|p| p.gateway == fact.gateway);
        }
    }
    let kind = format!("{}:{}", fact.source, outcome_name(fact.outcome));
    // "Still pending" is not recorded: a later delivery of the same event (or a retried callback
    // that is confirmed by query) must be able to settle it.
    if fact.outcome == Outcome::Pending {
        return Ok(if p.is_some() { Settled::Noted("still_pending") } else { Settled::Unknown });
    }
    let Some(p) = p else {
        record_event(tx, fact.gateway, fact.event_id, None, &kind, "unknown_payment", now)?;
        return Ok(Settled::Unknown);
    };
    let settled = apply(tx, app, &p, fact, now)?;
    record_event(tx, fact.gateway, fact.event_id, Some(&p.id), &kind, settled.outcome(), now)?;
    Ok(settled)
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Pending => "pending",
        Outcome::Succeeded => "succeeded",
        Outcome::Failed => "failed",
        Outcome::Expired => "expired",
    }
}

fn apply(tx: &Tx, app: &App, p: &Payment, fact: &Fact, now: i64) -> Result<Settled, ApiError> {
    match fact.outcome {
        Outcome::Pending => Ok(Settled::Noted("still_pending")),
        Outcome::Succeeded => {
            // A late success still counts (the money was taken): pending, expired or failed all
            // become succeeded. A success for a payment already succeeded or refunded is noted.
            if !matches!(p.status, Status::Creating | Status::Pending | Status::Expired | Status::Failed) {
                return Ok(Settled::Noted("already_final"));
            }
            let amount_ok = fact.amount.is_none_or(|a| a == p.amount);
            let currency_ok = fact.currency.is_none_or(|c| c.eq_ignore_ascii_case(&p.currency));
            if !amount_ok || !currency_ok {
                let detail = format!(
                    "paid {} {}, expected {} {}",
                    fact.amount.map(|a| a.to_string()).unwrap_or_default(),
                    fact.currency.unwrap_or(""),
                    p.amount,
                    p.currency
                );
                risk::flag(tx, &p.id, risk::AMOUNT_MISMATCH, &detail, now)?;
                return Ok(Settled::Mismatch);
            }
            tx.execute_cached(
                "UPDATE payments SET status = 'succeeded', completed_at = ?2, updated_at = ?2,
                     gateway_payment_id = COALESCE(?3, gateway_payment_id)
                 WHERE id = ?1",
                params![p.id, now, fact.gateway_payment_id],
            )?;
            if p.status == Status::Expired || p.status == Status::Failed {
                risk::flag(tx, &p.id, risk::LATE_SUCCESS, p.status.as_str(), now)?;
            }
            deliver(tx, app, p, now)?;
            outbox::notify(tx, app, &p.payer_id, notices::SUCCEEDED, facts(p, p.amount))?;
            publish(tx, app, &p.id)?;
            Ok(Settled::Moved(Status::Succeeded))
        }
        Outcome::Failed | Outcome::Expired => {
            if !p.status.is_open() {
                return Ok(Settled::Noted("already_final"));
            }
            let to = if fact.outcome == Outcome::Failed { Status::Failed } else { Status::Expired };
            tx.execute_cached(
                "UPDATE payments SET status = ?2, completed_at = ?3, updated_at = ?3 WHERE id = ?1",
                params![p.id, to.as_str(), now],
            )?;
            if to == Status::Failed {
                outbox::notify(tx, app, &p.payer_id, notices::FAILED, facts(p, p.amount))?;
                risk::after_failure(tx, &p.payer_id, &p.id, now)?;
            }
            publish(tx, app, &p.id)?;
            Ok(Settled::Moved(to))
        }
    }
}

/// What the payment buys, from our row: the listing's period, the pass, the booking's mark.
fn deliver(tx: &Tx, app: &App, p: &Payment, now: i64) -> Result<(), ApiError> {
    match p.purpose {
        Purpose::ListingFee => {
            let days = p.days.unwrap_or(0);
            match crate::catalog::activate_listing(tx, app, &p.target_id, days) {
                Ok(_) => {}
                // The listing was deleted while the payer paid: the money is kept for the admin
                // to refund, flagged, and the payment still succeeds (the gateway must stop retrying).
                Err(e) if e.status == 404 => risk::flag(tx, &p.id, risk::TARGET_GONE, "listing deleted", now)?,
                Err(e) => return Err(e),
            }
        }
        Purpose::Pass => {
            passes::grant(tx, &p.payer_id, &p.target_id, p.days.unwrap_or(0).max(1), &p.id, now)?;
        }
        Purpose::Booking => {
            if !passes::mark_paid(tx, &p.target_id, now)? {
                risk::flag(tx, &p.id, risk::TARGET_GONE, "booking already paid or gone", now)?;
            }
        }
    }
    Ok(())
}

/// A refund's final answer (from the gateway's reply or a later notice): the refund is closed,
/// and when it succeeded the payment becomes partially refunded or refunded, a full refund takes
/// back what the payment bought, and the payer is told. A refund already final is left alone.
pub fn refund_result(tx: &Tx, app: &App, refund_id: &str, status: RefundStatus) -> Result<bool, ApiError> {
    let now = app.now_ms();
    let row: Option<(String, i64, String)> = tx
        .query_row("SELECT payment_id, amount, status FROM payment_refunds WHERE id = ?1", [refund_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((payment_id, amount, current)) = row else { return Ok(false) };
    if current != "pending" || status == RefundStatus::Pending {
        return Ok(false);
    }
    let name = if status == RefundStatus::Succeeded { "succeeded" } else { "failed" };
    tx.execute_cached(
        "UPDATE payment_refunds SET status = ?2, completed_at = ?3, updated_at = ?3 WHERE id = ?1",
        params![refund_id, name, now],
    )?;
    let p = find(tx, &payment_id)?.ok_or_else(|| ApiError::internal("refund without payment"))?;
    if status == RefundStatus::Succeeded {
        let refunded: i64 = tx.query_row_cached(
            "SELECT COALESCE(SUM(amount), 0) FROM payment_refunds WHERE payment_id = ?1 AND status = 'succeeded'",
            [&payment_id],
            |r| r.get(0),
        )?;
        let full = refunded >= p.amount;
        let to = if full { Status::Refunded } else { Status::PartiallyRefunded };
        tx.execute_cached(
            "UPDATE payments SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![payment_id, to.as_str(), now],
        )?;
        if full && p.status != Status::Refunded {
            revoke(tx, app, &p, now)?;
        }
        outbox::notify(tx, app, &p.payer_id, notices::REFUNDED, facts(&p, amount))?;
    }
    publish(tx, app, &payment_id)?;
    Ok(true)
}

/// A full refund takes back what the payment bought: the listing's bought days come off its
/// period, the pass closes, the booking is no longer marked paid. (A partial refund is a
/// goodwill adjustment and leaves them in place.)
fn revoke(tx: &Tx, app: &App, p: &Payment, now: i64) -> Result<(), ApiError> {
    match p.purpose {
        Purpose::ListingFee => {
            crate::catalog::activation::revoke_listing_days(tx, app, &p.target_id, p.days.unwrap_or(0))?;
        }
        Purpose::Pass => {
            passes::revoke(tx, &p.id, now)?;
        }
        Purpose::Booking => passes::mark_unpaid(tx, &p.target_id)?,
    }
    Ok(())
}

/// A verified refund notice: finds our refund by the gateway's refund id (at this gateway) and
/// applies its result once (recorded as `<event id>#<refund id>`).
pub fn refund_notice(
    tx: &Tx,
    app: &App,
    gateway: &str,
    event_id: &str,
    refund_ref: &str,
    status: RefundStatus,
) -> Result<Settled, ApiError> {
    let now = app.now_ms();
    // One delivery may carry several refunds under one event id (Stripe `charge.refunded`):
    // each refund of it is recorded on its own.
    let event_id = &format!("{event_id}#{refund_ref}");
    if seen(tx, gateway, event_id)? {
        return Ok(Settled::Duplicate);
    }
    let found: Option<(String, String)> = tx
        .query_row(
            "SELECT r.id, r.payment_id FROM payment_refunds r JOIN payments p ON p.id = r.payment_id
             WHERE r.refund_ref = ?1 AND p.gateway = ?2",
            [refund_ref, gateway],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let kind = "webhook:refund";
    let Some((refund_id, payment_id)) = found else {
        record_event(tx, gateway, event_id, None, kind, "unknown_refund", now)?;
        return Ok(Settled::Unknown);
    };
    let moved = refund_result(tx, app, &refund_id, status)?;
    let outcome = if moved { "refund_updated" } else { "refund_already_final" };
    record_event(tx, gateway, event_id, Some(&payment_id), kind, outcome, now)?;
    Ok(Settled::Noted(if moved { "refund_updated" } else { "refund_already_final" }))
}
