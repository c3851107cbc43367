//! `POST /payments`: the server prices the order from the catalogue (listing fee, pass) or the
//! booking's total, refuses a differing `expectedAmount`, keeps one open payment per (payer,
//! purpose, target), and opens the order at the active gateway.
//!
//! The gateway is called outside any transaction (the one writer is never held across the
//! network): the row is first written `creating` (holding the one-open slot), then the gateway
//! is asked, then the row becomes `pending` with its checkout. A gateway that is down or refuses
//! leaves no payment behind: the `creating` row is deleted and the client gets 503 (with
//! `Retry-After`) or 502. If the process dies between the two, the `creating` row expires with
//! the order TTL (the reconciliation job).

use super::gateway::{Gateway, GatewayError, OrderRequest};
use super::{gateways, read, risk, Purpose};
use crate::app::App;
use crate::bookings::{self, passes};
use crate::catalog::{self, money};
use crate::db::Cached;
use crate::db::Tx;
use crate::web::auth::{Principal, Role};
use crate::web::ctx::new_id;
use crate::web::ApiError;
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewPayment {
    pub purpose: String,
    #[serde(default)]
    pub listing_id: Option<String>,
    #[serde(default)]
    pub category_id: Option<String>,
    #[serde(default)]
    pub booking_id: Option<String>,
    #[serde(default)]
    pub expected_amount: Option<Value>,
}

/// What is being bought, priced.
struct Priced {
    target: String,
    days: Option<i64>,
    amount: i64,
    description: String,
}

fn not_payable(message: &str) -> ApiError {
    ApiError::conflict("not_payable", message.to_string())
}

fn target(v: &Option<String>, field: &str) -> Result<String, ApiError> {
    match v.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() && t.len() <= 100 => Ok(t.to_string()),
        _ => Err(ApiError::field(field, "is required")),
    }
}

/// Checks the body without the database: the purpose, who may buy it, and its one target.
fn check(p: &Principal, input: &NewPayment) -> Result<(Purpose, String), ApiError> {
    let purpose = Purpose::parse(&input.purpose)
        .ok_or_else(|| ApiError::field("purpose", "must be listing_fee, pass or booking"))?;
    let (role, field, value, others) = match purpose {
        Purpose::ListingFee => {
            (Role::Provider, "listingId", &input.listing_id, [&input.category_id, &input.booking_id])
        }
        Purpose::Pass => (Role::Customer, "categoryId", &input.category_id, [&input.listing_id, &input.booking_id]),
        Purpose::Booking => (Role::Customer, "bookingId", &input.booking_id, [&input.listing_id, &input.category_id]),
    };
    if p.role != role {
        return Err(ApiError::forbidden());
    }
    if others.iter().any(|o| o.is_some()) {
        return Err(ApiError::field(field, "give only the target of this purpose"));
    }
    Ok((purpose, target(value, field)?))
}

fn price(tx: &Tx, app: &App, p: &Principal, purpose: Purpose, id: &str) -> Result<Priced, ApiError> {
    match purpose {
        Purpose::ListingFee => {
            let listing = catalog::listings::find_own(tx, &p.user_id, id)?;
            let cat = catalog::categories::find(tx, &listing.category.id)?.ok_or_else(ApiError::not_found)?;
            if cat.listing_fee <= 0 {
                return Err(not_payable("This category has no listing fee."));
            }
            Ok(Priced {
                target: listing.id,
                days: Some(cat.listing_days),
                amount: cat.listing_fee,
                description: format!("Listing fee: {}, {} days", cat.name, cat.listing_days),
            })
        }
        Purpose::Pass => {
            let cat = catalog::categories::find(tx, id)?.filter(|c| c.active).ok_or_else(ApiError::not_found)?;
            match (cat.requires_pass, cat.pass_fee, cat.pass_days) {
                (true, Some(fee), Some(days)) if fee > 0 && days > 0 => Ok(Priced {
                    target: cat.id.clone(),
                    days: Some(days),
                    amount: fee,
                    description: format!("{} pass, {days} days", cat.name),
                }),
                _ => Err(not_payable("This category needs no pass.")),
            }
        }
        Purpose::Booking => {
            if !app.config.payments.booking_payments {
                return Err(ApiError::denied(
                    "booking_payments_disabled",
                    "Bookings are paid to the provider directly.",
                ));
            }
            let b = bookings::find(tx, id)?.filter(|b| b.customer_id == p.user_id).ok_or_else(ApiError::not_found)?;
            if !b.status.is_open() || b.total <= 0 {
                return Err(not_payable("Only an open booking with a total can be paid."));
            }
            if passes::paid_at(tx, &b.id)?.is_some() {
                return Err(ApiError::conflict("already_paid", "This booking is already paid."));
            }
            Ok(Priced { target: b.id, days: None, amount: b.total, description: "Booking payment".into() })
        }
    }
}

/// `POST /payments` for the caller, at the active gateway (`payments.gateway`).
pub fn create(app: &App, p: &Principal, input: NewPayment) -> Result<Value, ApiError> {
    let secret = gateways::sandbox_secret(app)?;
    let Some(gateway) = gateways::active(&app.config, &secret) else {
        // Checked after the body, so a bad request is still told what is wrong with it.
        check(p, &input)?;
        return Err(ApiError::unavailable("The payment gateway is not configured.", 60));
    };
    create_with(app, p, input, gateway.as_ref())
}

/// [`create`] at the given gateway (tests use a fake one).
pub fn create_with(app: &App, p: &Principal, input: NewPayment, gateway: &dyn Gateway) -> Result<Value, ApiError> {
    let (purpose, target_id) = check(p, &input)?;
    let currency = app.config.business.currency.clone();
    let expected = match &input.expected_amount {
        Some(v) => Some(money::parse(v, &currency, 1).map_err(|e| ApiError::field("expectedAmount", &e))?),
        None => None,
    };
    let now = app.now_ms();
    let expires_at = now + i64::from(app.config.payments.order_ttl_minutes) * 60_000;
    let id = new_id("pay");
    // 1. Price, refuse, and hold the one-open slot.
    let (priced, flags, payer) = app.db.write(|tx| {
        let priced = price(tx, app, p, purpose, &target_id)?;
        if let Some(e) = expected.filter(|e| *e != priced.amount) {
            return Err(ApiError::bad_request(
                "amount_mismatch",
                format!("The price is {}, not {e}.", super::display_amount(priced.amount, &currency)),
            )
            .with_extra("amount", json!({"amount": priced.amount, "currency": currency})));
        }
        let open: Option<String> = tx
            .query_row(
                "SELECT id FROM payments WHERE payer_id = ?1 AND purpose = ?2 AND target_id = ?3
                 AND status IN ('creating', 'pending')",
                params![p.user_id, purpose.as_str(), priced.target],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(existing) = open {
            return Err(ApiError::constraint("payments_one_open").with_extra("paymentId", json!(existing)));
        }
        let flags = risk::for_new_order(tx, &p.user_id, purpose.as_str(), priced.amount, now)?;
        let payer = crate::accounts::find_by_id(tx, &p.user_id)?.ok_or_else(ApiError::unauthenticated)?;
        tx.execute_cached(
            "INSERT INTO payments (id, payer_id, purpose, target_id, days, amount, currency, gateway, status,
                 expires_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'creating', ?9, ?10, ?10)",
            params![
                id,
                p.user_id,
                purpose.as_str(),
                priced.target,
                priced.days,
                priced.amount,
                currency,
                gateway.name(),
                expires_at,
                now
            ],
        )?;
        Ok::<_, ApiError>((priced, flags, payer))
    })?;
    // 2. Open the order at the gateway, holding nothing.
    let base = app.config.server.public_url.trim_end_matches('/').to_string();
    let order = OrderRequest {
        payment_id: &id,
        amount: priced.amount,
        currency: &currency,
        description: &priced.description,
        payer_id: &p.user_id,
        payer_phone: &payer.phone,
        payer_email: payer.email.as_deref(),
        success_url: format!("{base}/pay/return/{id}"),
        cancel_url: format!("{base}/pay/return/{id}?cancelled=1"),
        callback_url: format!("{base}/api/v1/webhooks/{}", gateway.name()),
        expires_at_ms: expires_at,
    };
    let answer = gateway.create_order(&app.outbound, &order);
    // 3. Pending with its checkout, or gone (the delete commits; the error is answered after).
    let opened = app.db.write(|tx| match answer {
        Ok(c) => {
            let expires = c.expires_at_ms.map_or(expires_at, |g| g.min(expires_at));
            tx.execute_cached(
                "UPDATE payments SET status = 'pending', gateway_ref = ?2, checkout = ?3, expires_at = ?4, updated_at = ?5
                 WHERE id = ?1 AND status = 'creating'",
                params![id, c.gateway_ref, c.checkout.to_string(), expires, app.now_ms()],
            )?;
            for (flag, detail) in &flags {
                risk::flag(tx, &id, flag, detail, now)?;
            }
            let row = super::find(tx, &id)?.ok_or_else(|| ApiError::internal("payment vanished"))?;
            Ok::<_, ApiError>(Ok(read::view(tx, &row)?))
        }
        Err(e) => {
            tx.execute_cached("DELETE FROM payments WHERE id = ?1 AND status = 'creating'", [&id])?;
            Ok(Err(e))
        }
    })?;
    opened.map_err(|e| match e {
        GatewayError::Unavailable { retry_after_secs } => {
            ApiError::unavailable("The payment gateway is not answering; try again.", retry_after_secs)
        }
        GatewayError::NotConfigured => ApiError::unavailable("The payment gateway is not configured.", 60),
        GatewayError::Rejected(why) => {
            log::warn!("payments: {} refused order {id}: {why}", gateway.name());
            ApiError::gateway_refused()
        }
    })
}
