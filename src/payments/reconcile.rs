//! The reconciliation job: payments pending longer than `payments.reconcile_after_minutes`, or
//! past their expiry, are asked about at their own gateway and settled through the same code as
//! a webhook (`settle::payment`, one transaction each, audited). An order nobody paid expires once
//! its gateway has nothing better to say, after it is closed at the gateway (`cancel_order`) so it
//! cannot be paid after we called it expired. A gateway that is down (its outbound circuit breaker
//! open, or an `Unavailable` answer) is skipped for the rest of the run: its payments wait for the
//! breaker to close, and none of them is expired while we cannot know. Gateway-agnostic: it only
//! speaks the `Gateway` trait.
//!
//! Refunds left `pending` longer than `reconcile_after_minutes` are asked about the same way
//! (`Gateway::query_refund`; Paytm answers every refund "pending" and sends no notice we read) and
//! closed through `settle::refund_result`, audited; a gateway without such a query is left to its
//! notices.

use super::gateway::{Gateway, GatewayError, Outcome, RefundQuery, RefundStatus};
use super::settle::{self, Fact};
use super::{gateways, Payment, COLUMNS};
use crate::app::App;
use crate::audit::{self, Entry};
use crate::web::ApiError;
use serde_json::json;
use std::collections::HashSet;

/// Most payments looked at per run (the job runs every minute).
pub const BATCH: u32 = 100;

/// What one run did (for tests and logs).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub settled: u32,
    pub expired: u32,
    pub skipped_gateways: Vec<String>,
    /// Pending refunds a status answer closed.
    pub refunds_settled: u32,
}

pub fn run(app: &App) -> Result<(), String> {
    reconcile(app).map(|_| ()).map_err(|e| e.message)
}

fn settle_audited(app: &App, p: &Payment, fact: &Fact) -> Result<settle::Settled, ApiError> {
    app.db.write(|tx| {
        let s = settle::payment(tx, app, fact)?;
        if s != settle::Settled::Duplicate {
            audit::record(
                tx,
                app.now_ms(),
                &Entry {
                    action: "payment.reconciled",
                    target: Some(&p.id),
                    details: json!({"gateway": p.gateway, "source": fact.source, "outcome": s.outcome()}),
                    ..Entry::default()
                },
            )?;
        }
        Ok(s)
    })
}

pub fn reconcile(app: &App) -> Result<Report, ApiError> {
    reconcile_with(app, &|name| gateways::for_app(app, name))
}

/// Which gateway serves a name (the registry in production; tests pass fakes).
pub type Resolve<'a> = dyn Fn(&str) -> Result<Option<Box<dyn Gateway>>, ApiError> + 'a;

/// [`reconcile`] with the gateways `resolve` names.
pub fn reconcile_with(app: &App, resolve: &Resolve) -> Result<Report, ApiError> {
    let now = app.now_ms();
    let stuck_before = now - i64::from(app.config.payments.reconcile_after_minutes) * 60_000;
    let due: Vec<Payment> = app.db.read(|c| {
        let mut st = c.prepare(&format!(
            "SELECT {COLUMNS} FROM payments
             WHERE status IN ('creating', 'pending') AND (created_at <= ?1 OR expires_at <= ?2)
             ORDER BY created_at LIMIT {BATCH}"
        ))?;
        let rows = st.query_map([stuck_before, now], Payment::from_row)?;
        Ok::<_, ApiError>(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })?;
    let mut report = Report::default();
    let mut down: HashSet<String> = HashSet::new();
    for p in due {
        let expired = p.expires_at <= now;
        let expire = |app: &App| {
            let event = format!("expiry-{}", p.id);
            let fact = Fact {
                gateway: &p.gateway,
                event_id: &event,
                source: "expiry",
                gateway_ref: p.gateway_ref.as_deref(),
                payment_id: Some(&p.id),
                outcome: Outcome::Expired,
                amount: None,
                currency: None,
                gateway_payment_id: None,
            };
            settle_audited(app, &p, &fact)
        };
        // Never opened at the gateway (we died in between): nothing to ask.
        if p.gateway_ref.is_none() {
            if expired {
                expire(app)?;
                report.expired += 1;
            }
            continue;
        }
        if down.contains(&p.gateway) {
            continue;
        }
        if app.outbound.is_open(&p.gateway) {
            down.insert(p.gateway.clone());
            report.skipped_gateways.push(p.gateway.clone());
            continue;
        }
        let Some(gw) = resolve(&p.gateway)? else {
            // Its keys were removed: nobody can ask, and nobody can pay it any more.
            if expired {
                expire(app)?;
                report.expired += 1;
            }
            continue;
        };
        let gateway_ref = p.gateway_ref.clone().unwrap_or_default();
        match gw.query_status(&app.outbound, &gateway_ref, &p.id) {
            Ok(a) if a.outcome != Outcome::Pending => {
                let fact = Fact {
                    gateway: &p.gateway,
                    event_id: &a.event_id,
                    source: "status_query",
                    gateway_ref: Some(&gateway_ref),
                    payment_id: Some(&p.id),
                    outcome: a.outcome,
                    amount: a.amount,
                    currency: a.currency.as_deref(),
                    gateway_payment_id: a.gateway_payment_id.as_deref(),
                };
                match settle_audited(app, &p, &fact)? {
                    settle::Settled::Moved(_) => report.settled += 1,
                    // The same answer again, or one we refused (a flagged amount mismatch): it
                    // must not keep the order open forever.
                    _ if expired => {
                        expire(app)?;
                        report.expired += 1;
                    }
                    _ => {}
                }
            }
            Ok(_) if expired => {
                // Still open at the gateway: close it there first, so an order we call expired
                // cannot be paid any more (a Stripe session outlives a short order TTL).
                match gw.cancel_order(&app.outbound, &gateway_ref) {
                    Ok(()) => {
                        expire(app)?;
                        report.expired += 1;
                    }
                    Err(GatewayError::Unavailable { .. }) => {
                        log::warn!("payments: {} is unavailable; reconciliation backs off", p.gateway);
                        down.insert(p.gateway.clone());
                        report.skipped_gateways.push(p.gateway.clone());
                    }
                    // Refused: no longer open there (perhaps just paid); the next run asks again.
                    Err(e) => log::warn!("payments: closing {} at {}: {e}", p.id, p.gateway),
                }
            }
            Ok(_) => {}
            Err(GatewayError::Unavailable { .. }) => {
                log::warn!("payments: {} is unavailable; reconciliation backs off", p.gateway);
                down.insert(p.gateway.clone());
                report.skipped_gateways.push(p.gateway.clone());
            }
            Err(e) => {
                log::warn!("payments: status of {} at {}: {e}", p.id, p.gateway);
                if expired {
                    expire(app)?;
                    report.expired += 1;
                }
            }
        }
    }
    refunds(app, resolve, stuck_before, &mut down, &mut report)?;
    Ok(report)
}

/// A refund still pending at its gateway.
struct PendingRefund {
    id: String,
    payment_id: String,
    refund_ref: String,
    gateway: String,
    gateway_ref: String,
}

/// Asks about refunds pending since before `stuck_before` (see the module doc).
fn refunds(
    app: &App,
    resolve: &Resolve,
    stuck_before: i64,
    down: &mut HashSet<String>,
    report: &mut Report,
) -> Result<(), ApiError> {
    let due: Vec<PendingRefund> = app.db.read(|c| {
        let mut st = c.prepare(&format!(
            "SELECT r.id, r.payment_id, r.refund_ref, p.gateway, COALESCE(p.gateway_ref, '')
             FROM payment_refunds r JOIN payments p ON p.id = r.payment_id
             WHERE r.status = 'pending' AND r.refund_ref IS NOT NULL AND r.created_at <= ?1
             ORDER BY r.created_at LIMIT {BATCH}"
        ))?;
        let rows = st.query_map([stuck_before], |r| {
            Ok(PendingRefund {
                id: r.get(0)?,
                payment_id: r.get(1)?,
                refund_ref: r.get(2)?,
                gateway: r.get(3)?,
                gateway_ref: r.get(4)?,
            })
        })?;
        Ok::<_, ApiError>(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })?;
    for r in due {
        if down.contains(&r.gateway) {
            continue;
        }
        if app.outbound.is_open(&r.gateway) {
            down.insert(r.gateway.clone());
            report.skipped_gateways.push(r.gateway.clone());
            continue;
        }
        let Some(gw) = resolve(&r.gateway)? else { continue };
        let q = RefundQuery {
            refund_id: &r.id,
            payment_id: &r.payment_id,
            gateway_ref: &r.gateway_ref,
            refund_ref: &r.refund_ref,
        };
        let status = match gw.query_refund(&app.outbound, &q) {
            Ok(Some(s)) if s != RefundStatus::Pending => s,
            Ok(_) => continue,
            Err(GatewayError::Unavailable { .. }) => {
                log::warn!("payments: {} is unavailable; refund reconciliation backs off", r.gateway);
                down.insert(r.gateway.clone());
                report.skipped_gateways.push(r.gateway.clone());
                continue;
            }
            Err(e) => {
                log::warn!("payments: status of refund {} at {}: {e}", r.id, r.gateway);
                continue;
            }
        };
        let moved = app.db.write(|tx| {
            let moved = settle::refund_result(tx, app, &r.id, status)?;
            if moved {
                audit::record(
                    tx,
                    app.now_ms(),
                    &Entry {
                        action: "payment.reconciled",
                        target: Some(&r.payment_id),
                        details: json!({
                            "gateway": r.gateway, "source": "refund_status_query", "refundId": r.id,
                            "outcome": if status == RefundStatus::Succeeded { "refund_succeeded" } else { "refund_failed" },
                        }),
                        ..Entry::default()
                    },
                )?;
            }
            Ok::<_, ApiError>(moved)
        })?;
        if moved {
            report.refunds_settled += 1;
        }
    }
    Ok(())
}
