//! The Payment shape (API.md "Payments") and the lists: the payer's own (`GET /payments`), one
//! payment (owner or admin), and the admin's filtered list and detail with the gateway events.

use super::{find, Payment, Purpose, Status, COLUMNS};
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::keyset;
use crate::web::auth::Principal;
use crate::web::page::{Page, PageRequest};
use crate::web::{ApiError, Ctx};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection};
use serde_json::{json, Value};

fn money(amount: i64, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency})
}

/// A refund's shape.
pub fn refund_view(r: &rusqlite::Row) -> rusqlite::Result<Value> {
    let currency: String = r.get(6)?;
    Ok(json!({
        "id": r.get::<_, String>(0)?,
        "status": r.get::<_, String>(1)?,
        "amount": money(r.get(2)?, &currency),
        "reason": r.get::<_, String>(3)?,
        "createdAt": rfc3339(r.get(4)?),
        "completedAt": r.get::<_, Option<i64>>(5)?.map(rfc3339),
    }))
}

pub fn refunds(c: &Connection, payment_id: &str) -> rusqlite::Result<Vec<Value>> {
    let mut st = c.prepare_cached(
        "SELECT r.id, r.status, r.amount, r.reason, r.created_at, r.completed_at, p.currency
         FROM payment_refunds r JOIN payments p ON p.id = r.payment_id
         WHERE r.payment_id = ?1 ORDER BY r.created_at, r.id",
    )?;
    let rows = st.query_map([payment_id], refund_view)?;
    rows.collect()
}

pub fn flags(c: &Connection, payment_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare_cached("SELECT flag FROM payment_flags WHERE payment_id = ?1 ORDER BY created_at, flag")?;
    let rows = st.query_map([payment_id], |r| r.get(0))?;
    rows.collect()
}

/// The Payment as its payer sees it: `checkout` only while it can still be paid.
pub fn view(c: &Connection, p: &Payment) -> rusqlite::Result<Value> {
    let target = match p.purpose {
        Purpose::ListingFee => json!({"listingId": p.target_id}),
        Purpose::Pass => json!({"categoryId": p.target_id}),
        Purpose::Booking => json!({"bookingId": p.target_id}),
    };
    let mut v = json!({
        "id": p.id,
        "purpose": p.purpose.as_str(),
        "status": p.status.public(),
        "amount": money(p.amount, &p.currency),
        "gateway": p.gateway,
        "gatewayRef": p.gateway_ref,
        "target": target,
        "createdAt": rfc3339(p.created_at),
        "completedAt": p.completed_at.map(rfc3339),
        "expiresAt": rfc3339(p.expires_at),
        "refunds": refunds(c, &p.id)?,
    });
    if p.status == Status::Pending {
        if let Some(checkout) = p.checkout.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()) {
            v["checkout"] = checkout;
        }
    }
    if let Some(days) = p.days {
        v["days"] = json!(days);
    }
    Ok(v)
}

/// The admin's shape: the Payment plus `payer` and `flags`.
pub fn admin_view(c: &Connection, p: &Payment) -> rusqlite::Result<Value> {
    let mut v = view(c, p)?;
    let payer = crate::accounts::find_by_id(c, &p.payer_id)?;
    v["payer"] = json!({
        "id": p.payer_id,
        "fullName": payer.as_ref().map(|u| u.full_name.clone()),
        "role": payer.as_ref().map(|u| u.role.as_str()),
    });
    v["flags"] = json!(flags(c, &p.id)?);
    Ok(v)
}

fn rows(c: &Connection, sql: &str, args: &[SqlValue]) -> rusqlite::Result<Vec<Payment>> {
    let mut st = c.prepare(sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args.iter()), Payment::from_row)?;
    rows.collect()
}

/// `GET /payments`: the caller's own payments, newest first.
pub fn mine(app: &App, p: &Principal, page: &PageRequest) -> Result<Page<Value>, ApiError> {
    app.db.read(|c| {
        let mut sql = format!("SELECT {COLUMNS} FROM payments WHERE payer_id = ?1");
        let mut args: Vec<SqlValue> = vec![p.user_id.clone().into()];
        if let Some((at, id)) = &page.after {
            keyset::push_before(&mut sql, &mut args, "created_at", "id", *at, id.clone());
        }
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.fetch()));
        let found = rows(c, &sql, &args)?;
        Ok(page.finish(found, |r| (r.created_at, &r.id)).try_map(|r| view(c, &r))?)
    })
}

/// `GET /payments/{id}`: its payer or an admin; anyone else 404.
pub fn get(app: &App, caller: &Principal, id: &str) -> Result<Value, ApiError> {
    app.db.read(|c| {
        let p = find(c, id)?.ok_or_else(ApiError::not_found)?;
        if caller.is_admin() {
            Ok(admin_view(c, &p)?)
        } else if p.payer_id == caller.user_id {
            Ok(view(c, &p)?)
        } else {
            Err(ApiError::not_found())
        }
    })
}

/// The admin list's filters (`?status=&purpose=&gateway=&userId=&flagged=&from=&to=`).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub status: Option<Status>,
    pub purpose: Option<Purpose>,
    pub gateway: Option<String>,
    pub user_id: Option<String>,
    pub flagged: Option<bool>,
    /// Created at or after / before (epoch ms).
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Appends the admin filters to a `SELECT … FROM payments WHERE 1 = 1`.
fn where_clause(f: &Filters, sql: &mut String, args: &mut Vec<SqlValue>) {
    let mut push = |sql: &mut String, clause: &str, v: SqlValue| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    match f.status {
        // `creating` is shown as pending.
        Some(Status::Pending) => sql.push_str(" AND status IN ('creating', 'pending')"),
        Some(s) => push(sql, " AND status = ?", s.as_str().to_string().into()),
        None => {}
    }
    if let Some(p) = f.purpose {
        push(sql, " AND purpose = ?", p.as_str().to_string().into());
    }
    if let Some(g) = &f.gateway {
        push(sql, " AND gateway = ?", g.clone().into());
    }
    if let Some(u) = &f.user_id {
        push(sql, " AND payer_id = ?", u.clone().into());
    }
    if let Some(from) = f.from {
        push(sql, " AND created_at >= ?", from.into());
    }
    if let Some(to) = f.to {
        push(sql, " AND created_at < ?", to.into());
    }
    match f.flagged {
        Some(true) => sql.push_str(" AND EXISTS (SELECT 1 FROM payment_flags g WHERE g.payment_id = payments.id)"),
        Some(false) => sql.push_str(" AND NOT EXISTS (SELECT 1 FROM payment_flags g WHERE g.payment_id = payments.id)"),
        None => {}
    }
}

/// `GET /admin/payments`.
pub fn admin_list(app: &App, f: &Filters, page: &PageRequest) -> Result<Page<Value>, ApiError> {
    app.db.read(|c| {
        let mut sql = format!("SELECT {COLUMNS} FROM payments WHERE 1 = 1");
        let mut args: Vec<SqlValue> = Vec::new();
        where_clause(f, &mut sql, &mut args);
        if let Some((at, id)) = &page.after {
            keyset::push_before(&mut sql, &mut args, "created_at", "id", *at, id.clone());
        }
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.fetch()));
        let found = rows(c, &sql, &args)?;
        Ok(page.finish(found, |r| (r.created_at, &r.id)).try_map(|r| admin_view(c, &r))?)
    })
}

/// The payments CSV's columns (the Payment shape, flattened; `refunded` in minor units).
pub const CSV_HEADER: &[&str] = &[
    "id",
    "purpose",
    "status",
    "amount",
    "currency",
    "gateway",
    "gatewayRef",
    "payerId",
    "targetId",
    "createdAt",
    "completedAt",
    "refunded",
    "flags",
];

/// `GET /admin/export/payments.csv`: the admin list's filters, newest first, at most `max` rows,
/// each handed to `each`; audited (`admin.payments_exported`).
pub fn export(
    app: &App,
    ctx: &Ctx,
    admin: &Principal,
    f: &Filters,
    max: u32,
    mut each: impl FnMut(Vec<String>),
) -> Result<(), ApiError> {
    let mut count = 0u64;
    app.db.read(|c| {
        let mut sql = format!(
            "SELECT {COLUMNS},
                (SELECT COALESCE(SUM(amount), 0) FROM payment_refunds r WHERE r.payment_id = payments.id AND r.status = 'succeeded'),
                (SELECT COALESCE(group_concat(flag, ' '), '') FROM payment_flags g WHERE g.payment_id = payments.id)
             FROM payments WHERE 1 = 1"
        );
        let mut args: Vec<SqlValue> = Vec::new();
        where_clause(f, &mut sql, &mut args);
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {max}"));
        let mut st = c.prepare(&sql)?;
        let mut q = st.query(rusqlite::params_from_iter(args.iter()))?;
        let extra = COLUMNS.split(',').count();
        while let Some(r) = q.next()? {
            let p = Payment::from_row(r)?;
            let refunded: i64 = r.get(extra)?;
            let flags: String = r.get(extra + 1)?;
            each(vec![
                p.id,
                p.purpose.as_str().to_string(),
                p.status.public().to_string(),
                p.amount.to_string(),
                p.currency,
                p.gateway,
                p.gateway_ref.unwrap_or_default(),
                p.payer_id,
                p.target_id,
                rfc3339(p.created_at),
                p.completed_at.map(rfc3339).unwrap_or_default(),
                refunded.to_string(),
                flags,
            ]);
            count += 1;
        }
        Ok::<_, ApiError>(())
    })?;
    app.db.write(|tx| {
        let details = json!({"rows": count});
        crate::audit::log(tx, app, ctx, Some((&admin.user_id, admin.role)), "admin.payments_exported", None, details)?;
        Ok(())
    })
}

/// `GET /admin/payments/{id}`: the admin shape plus every gateway event recorded for it.
pub fn admin_get(app: &App, id: &str) -> Result<Value, ApiError> {
    app.db.read(|c| {
        let p = find(c, id)?.ok_or_else(ApiError::not_found)?;
        let mut v = admin_view(c, &p)?;
        let mut st = c.prepare_cached(
            "SELECT event_id, type, received_at, outcome FROM payment_events
             WHERE payment_id = ?1 ORDER BY received_at, event_id",
        )?;
        let events = st
            .query_map(params![p.id], |r| {
                Ok(json!({
                    "eventId": r.get::<_, String>(0)?,
                    "type": r.get::<_, String>(1)?,
                    "receivedAt": rfc3339(r.get(2)?),
                    "outcome": r.get::<_, String>(3)?,
                }))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        v["events"] = json!(events);
        Ok(v)
    })
}
