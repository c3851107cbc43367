//! `POST /webhooks/{gateway}`: the raw body is verified with that gateway's own scheme (its keys,
//! whatever `payments.gateway` says today), then each notice is settled in its own `BEGIN
//! IMMEDIATE` transaction (`settle.rs`). A gateway that only says "go and ask"
//! (`confirms_by_query`, Paytm) is confirmed by our own status query before anything moves.
//! Bad input is a 400 (`invalid_signature`, `invalid_payload`), never a 5xx; a verified delivery
//! is 200, duplicates and mismatches included.

use super::gateway::{Gateway, Notice, Outcome, WebhookError, WebhookRequest};
use super::settle::{self, Fact, Settled};
use super::{find, find_by_ref, gateways};
use crate::app::App;
use crate::web::{ApiError, Ctx};

/// What the sender gets back.
#[derive(Debug)]
pub enum Answer {
    /// `{"received": true, "results": [...]}`.
    Json(serde_json::Value),
    /// A small page for a browser posted back by the gateway (Paytm): the outcome in words.
    Html { title: &'static str, text: String },
}

/// The route's operation: the source allowlist, then [`process`].
pub fn receive(
    app: &App,
    ctx: &Ctx,
    gateway: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Answer, ApiError> {
    let allow = app.config.webhook_allowlist();
    if !allow.is_empty() && !allow.iter().any(|c| c.contains(ctx.client_ip)) {
        log::warn!("payments: webhook for {gateway} from {} refused by payments.webhook_ip_allowlist", ctx.client_ip);
        return Err(ApiError::forbidden());
    }
    let gw = gateways::for_app(app, gateway)?.ok_or_else(ApiError::not_found)?;
    process(app, gw.as_ref(), headers, body).map(|(answer, _)| answer)
}

/// Verifies and settles one delivery; also what the sandbox page calls with the notification it
/// signed. Returns the answer and what each notice did.
pub fn process(
    app: &App,
    gw: &dyn Gateway,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(Answer, Vec<Settled>), ApiError> {
    let req = WebhookRequest { headers, body, now_ms: app.now_ms() };
    let notices = gw.parse_webhook(&req).map_err(|e| match e {
        WebhookError::InvalidSignature(why) => {
            log::info!("payments: {} webhook refused: {why}", gw.name());
            ApiError::bad_request("invalid_signature", "The signature does not verify, or its timestamp is stale.")
        }
        WebhookError::Malformed(why) => {
            ApiError::bad_request("invalid_payload", format!("The notification is not understood: {why}."))
        }
    })?;
    let mut results = Vec::new();
    let mut last_status = None;
    for n in notices {
        let settled = match n {
            Notice::Payment(pn) => {
                let mut fact_outcome = pn.outcome;
                let mut amount = pn.amount;
                let mut currency = pn.currency.clone();
                let mut charge = pn.gateway_payment_id.clone();
                if gw.confirms_by_query() && pn.outcome != Outcome::Pending {
                    // Nothing moves on the callback's word: ask the gateway ourselves.
                    let ours = app.db.read(|c| {
                        let by_ref = find_by_ref(c, gw.name(), &pn.gateway_ref)?;
                        let by_id = match (&by_ref, &pn.payment_id) {
                            (None, Some(id)) => find(c, id)?.filter(|p| p.gateway == gw.name()),
                            _ => None,
                        };
                        Ok::<_, ApiError>(by_ref.or(by_id))
                    })?;
                    let Some(ours) = ours else {
                        results.push(Settled::Unknown);
                        continue;
                    };
                    let gref = ours.gateway_ref.clone().unwrap_or_else(|| pn.gateway_ref.clone());
                    match gw.query_status(&app.outbound, &gref, &ours.id) {
                        Ok(a) => {
                            fact_outcome = a.outcome;
                            amount = a.amount;
                            currency = a.currency;
                            charge = a.gateway_payment_id.or(charge);
                        }
                        Err(e) => {
                            log::warn!("payments: {} status query for {} failed: {e}", gw.name(), ours.id);
                            return Err(ApiError::unavailable("The gateway could not confirm it; send it again.", 30));
                        }
                    }
                }
                let fact = Fact {
                    gateway: gw.name(),
                    event_id: &pn.event_id,
                    source: "webhook",
                    gateway_ref: Some(&pn.gateway_ref),
                    payment_id: pn.payment_id.as_deref(),
                    outcome: fact_outcome,
                    amount,
                    currency: currency.as_deref(),
                    gateway_payment_id: charge.as_deref(),
                };
                let s = app.db.write(|tx| settle::payment(tx, app, &fact))?;
                last_status = Some(match (&s, fact_outcome) {
                    (Settled::Moved(st), _) => st.public(),
                    (_, Outcome::Succeeded) => "succeeded",
                    (_, Outcome::Failed) => "failed",
                    (_, Outcome::Expired) => "expired",
                    (_, Outcome::Pending) => "pending",
                });
                s
            }
            Notice::Refund(rn) => {
                app.db.write(|tx| settle::refund_notice(tx, app, gw.name(), &rn.event_id, &rn.refund_ref, rn.status))?
            }
            Notice::Ignored { event_id, kind } => app.db.write(|tx| {
                let now = app.now_ms();
                settle::record_event(tx, gw.name(), &event_id, None, &format!("webhook:{kind}"), "ignored", now)?;
                Ok::<_, ApiError>(Settled::Noted("ignored"))
            })?,
        };
        results.push(settled);
    }
    let answer = if gw.answers_browser() {
        let (title, text) = match last_status {
            Some("succeeded") => ("Payment received", "Thank you: your payment was received."),
            Some("failed") => ("Payment failed", "The payment did not go through; nothing was charged."),
            Some("pending") => ("Payment pending", "The payment is still being confirmed; you will be notified."),
            _ => ("Payment", "The payment's status was updated."),
        };
        Answer::Html { title, text: text.to_string() }
    } else {
        let out: Vec<&str> = results.iter().map(Settled::outcome).collect();
        Answer::Json(serde_json::json!({"received": true, "results": out}))
    };
    Ok((answer, results))
}
