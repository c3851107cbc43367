//! The append-only audit log. Each row's hash covers its content and the previous row's hash, so
//! editing or deleting a row breaks the chain (`buildxpert audit verify`). Triggers refuse
//! UPDATE and DELETE; the chain catches what bypasses them. Kit below every feature: each feature
//! records its own security and admin actions through [`log`].

use crate::db::Cached;
use crate::db::Tx;
use crate::web::auth::Role;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    pub actor_id: Option<&'a str>,
    pub actor_role: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub details: serde_json::Value,
}

#[allow(clippy::too_many_arguments)]
fn digest(
    prev: &str,
    id: i64,
    at: i64,
    actor_id: &str,
    actor_role: &str,
    action: &str,
    target: &str,
    ip: &str,
    request_id: &str,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [prev, &id.to_string(), &at.to_string(), actor_id, actor_role, action, target, ip, request_id, details]
    {
        // Length-prefixed, so field boundaries cannot be shifted to forge a match.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Records a security or admin event by `ctx`'s caller in the caller's transaction (every feature
/// calls this; the row commits with the change it describes).
pub fn log(
    tx: &Tx,
    app: &crate::app::App,
    ctx: &crate::web::Ctx,
    actor: Option<(&str, Role)>,
    action: &str,
    target: Option<&str>,
    details: serde_json::Value,
) -> rusqlite::Result<()> {
    let ip = ctx.client_ip.to_string();
    record(
        tx,
        app.now_ms(),
        &Entry {
            actor_id: actor.map(|a| a.0),
            actor_role: actor.map(|a| a.1.as_str()),
            action,
            target,
            ip: Some(&ip),
            request_id: Some(&ctx.request_id),
            details,
        },
    )
}

/// Appends inside the caller's transaction (so the event and its record commit together).
pub fn record(tx: &Tx, at_ms: i64, e: &Entry) -> rusqlite::Result<()> {
    let prev: String = tx
        .query_row("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let next_id: i64 = tx.query_row_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log", [], |r| r.get(0))?;
    let details = if e.details.is_null() { "{}".to_string() } else { e.details.to_string() };
    let s = |o: Option<&str>| o.unwrap_or("").to_string();
    let hash = digest(
        &prev,
        next_id,
        at_ms,
        &s(e.actor_id),
        &s(e.actor_role),
        e.action,
        &s(e.target),
        &s(e.ip),
        &s(e.request_id),
        &details,
    );
    tx.execute_cached(
        "INSERT INTO audit_log (id, at, actor_id, actor_role, action, target, ip, request_id, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![next_id, at_ms, e.actor_id, e.actor_role, e.action, e.target, e.ip, e.request_id, details, prev, hash],
    )?;
    Ok(())
}

/// One row of the log as the operator reads it (`GET /admin/audit-log`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub id: i64,
    pub at: String,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

/// Filters of the listing; each optional. `action` matches exactly, or as a prefix when it ends
/// in `.` (`admin.` = every admin action).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor_id: Option<String>,
    pub target: Option<String>,
    pub action: Option<String>,
}

/// Newest first: rows with an id below `before` (the cursor), at most `limit`.
pub fn list(c: &Connection, f: &Filter, before: Option<i64>, limit: u32) -> rusqlite::Result<Vec<Row>> {
    let mut sql =
        "SELECT id, at, actor_id, actor_role, action, target, ip, request_id, details FROM audit_log WHERE 1 = 1"
            .to_string();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(a) = &f.actor_id {
        args.push(a.clone().into());
        sql.push_str(&format!(" AND actor_id = ?{}", args.len()));
    }
    if let Some(t) = &f.target {
        args.push(t.clone().into());
        sql.push_str(&format!(" AND target = ?{}", args.len()));
    }
    if let Some(a) = &f.action {
        if let Some(prefix) = a.strip_suffix('.') {
            args.push(format!("{prefix}.").into());
            let n = args.len();
            sql.push_str(&format!(" AND substr(action, 1, length(?{n})) = ?{n}"));
        } else {
            args.push(a.clone().into());
            sql.push_str(&format!(" AND action = ?{}", args.len()));
        }
    }
    if let Some(b) = before {
        args.push(b.into());
        sql.push_str(&format!(" AND id < ?{}", args.len()));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
        let details: String = r.get(8)?;
        Ok(Row {
            id: r.get(0)?,
            at: crate::clock::rfc3339(r.get(1)?),
            actor_id: r.get(2)?,
            actor_role: r.get(3)?,
            action: r.get(4)?,
            target: r.get(5)?,
            ip: r.get(6)?,
            request_id: r.get(7)?,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        })
    })?;
    rows.collect()
}

/// Walks the chain; Ok(row count) or Err(the first broken row's id and why).
pub fn verify(conn: &Connection) -> Result<u64, String> {
    let mut st = conn
        .prepare(
            "SELECT id, at, actor_id, actor_role, action, target, ip, request_id, details, prev_hash, hash
             FROM audit_log ORDER BY id",
        )
        .map_err(|e| e.to_string())?;
    let mut rows = st.query([]).map_err(|e| e.to_string())?;
    let mut prev = GENESIS.to_string();
    let mut n = 0u64;
    let mut last_id = 0i64;
    while let Some(r) = rows.next().map_err(|e| e.to_string())? {
        let g = |i: usize| -> String { r.get::<_, Option<String>>(i).ok().flatten().unwrap_or_default() };
        let id: i64 = r.get(0).map_err(|e| e.to_string())?;
        let at: i64 = r.get(1).map_err(|e| e.to_string())?;
        if id != last_id + 1 {
            return Err(format!("row {} is missing (found {id} after {last_id})", last_id + 1));
        }
        if g(9) != prev {
            return Err(format!("row {id} does not link to the row before it"));
        }
        let expect = digest(&prev, id, at, &g(2), &g(3), &g(4), &g(5), &g(6), &g(7), &g(8));
        if g(10) != expect {
            return Err(format!("row {id} was altered (hash mismatch)"));
        }
        prev = expect;
        last_id = id;
        n += 1;
    }
    Ok(n)
}
