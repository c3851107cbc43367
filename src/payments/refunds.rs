//! `POST /payments/{id}/refunds` (admin): full (default: all that remains) or partial refunds
//! through the payment's own gateway, never above what was paid minus refunds not failed.
//! The refund is written `pending` (holding its share of the refundable amount) and audited, the
//! gateway is asked outside any transaction, and its answer (or a later notice) closes it:
//! `succeeded` moves the payment to partially_refunded / refunded and, for a full refund, takes
//! back what it bought (`settle::refund_result`); `failed` frees the amount again. A gateway that
//! is down or refuses fails the refund at once (503 / 502), so nothing stays pending forever.

use super::gateway::{GatewayError, RefundRequest, RefundStatus};
use super::{find, gateways, settle, Status};
use crate::app::App;
use crate::audit;
use crate::catalog::money;
use crate::db::Cached;
use crate::web::auth::Principal;
use crate::web::ctx::new_id;
use crate::web::{ApiError, Ctx};
use rusqlite::params;
use serde::Deserialize;
use serde_json::{json, Value};

pub const MAX_REASON: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewRefund {
    #[serde(default)]
    pub amount: Option<Value>,
    #[serde(default)]
    pub reason: String,
}

fn view(app: &App, id: &str) -> Result<Value, ApiError> {
    app.db.read(|c| {
        let mut st = c.prepare_cached(
            "SELECT r.id, r.status, r.amount, r.reason, r.created_at, r.completed_at, p.currency
             FROM payment_refunds r JOIN payments p ON p.id = r.payment_id WHERE r.id = ?1",
        )?;
        Ok(st.query_row([id], super::read::refund_view)?)
    })
}

pub fn create(app: &App, ctx: &Ctx, admin: &Principal, payment_id: &str, input: NewRefund) -> Result<Value, ApiError> {
    let reason =
        crate::bookings::required_text(&input.reason, MAX_REASON).map_err(|e| ApiError::field("reason", &e))?;
    let currency = app.config.business.currency.clone();
    let asked = match &input.amount {
        Some(v) => Some(money::parse(v, &currency, 1).map_err(|e| ApiError::field("amount", &e))?),
        None => None,
    };
    let refund_id = new_id("rfd");
    let now = app.now_ms();
    let (payment, amount) = app.db.write(|tx| {
        let p = find(tx, payment_id)?.ok_or_else(ApiError::not_found)?;
        if !matches!(p.status, Status::Succeeded | Status::PartiallyRefunded) {
            return Err(ApiError::conflict("not_refundable", "Only a succeeded payment can be refunded."));
        }
        let held: i64 = tx.query_row_cached(
            "SELECT COALESCE(SUM(amount), 0) FROM payment_refunds WHERE payment_id = ?1 AND status != 'failed'",
            [&p.id],
            |r| r.get(0),
        )?;
        let refundable = p.amount - held;
        let amount = asked.unwrap_or(refundable);
        if refundable <= 0 || amount > refundable {
            return Err(ApiError::bad_request(
                "amount_exceeds_refundable",
                format!("At most {} can still be refunded.", super::display_amount(refundable.max(0), &p.currency)),
            )
            .with_extra("refundable", json!({"amount": refundable.max(0), "currency": p.currency})));
        }
        tx.execute_cached(
            "INSERT INTO payment_refunds (id, payment_id, amount, reason, status, actor_id, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?6)",
            params![refund_id, p.id, amount, reason, admin.user_id, now],
        )?;
        audit::log(
            tx,
            app,
            ctx,
            Some((&admin.user_id, admin.role)),
            "payment.refund",
            Some(&p.id),
            json!({"refundId": refund_id, "amount": amount, "currency": p.currency, "reason": reason}),
        )?;
        settle::publish(tx, app, &p.id)?;
        Ok::<_, ApiError>((p, amount))
    })?;
    let gw = gateways::for_app(app, &payment.gateway)?;
    let answer = match &gw {
        Some(gw) => gw.refund(
            &app.outbound,
            &RefundRequest {
                refund_id: &refund_id,
                payment_id: &payment.id,
                gateway_ref: payment.gateway_ref.as_deref().unwrap_or(""),
                gateway_payment_id: payment.gateway_payment_id.as_deref(),
                amount,
                currency: &payment.currency,
                reason: &reason,
            },
        ),
        None => Err(GatewayError::NotConfigured),
    };
    let failure = app.db.write(|tx| match &answer {
        Ok(a) => {
            tx.execute_cached(
                "UPDATE payment_refunds SET refund_ref = ?2, updated_at = ?3 WHERE id = ?1",
                params![refund_id, a.refund_ref, app.now_ms()],
            )?;
            settle::refund_result(tx, app, &refund_id, a.status)?;
            Ok::<_, ApiError>(None)
        }
        Err(e) => {
            settle::refund_result(tx, app, &refund_id, RefundStatus::Failed)?;
            Ok(Some(e.clone()))
        }
    })?;
    match failure {
        None => view(app, &refund_id),
        Some(GatewayError::Unavailable { retry_after_secs }) => Err(ApiError::unavailable(
            "The payment gateway is not answering; the refund failed, try again.",
            retry_after_secs,
        )),
        Some(GatewayError::NotConfigured) => {
            Err(ApiError::unavailable("The payment's gateway is no longer configured; the refund failed.", 60))
        }
        Some(GatewayError::Rejected(why)) => {
            log::warn!("payments: {} refused refund {refund_id}: {why}", payment.gateway);
            Err(ApiError::gateway_refused())
        }
    }
}
