//! The caller's saved addresses (at most five), used when booking.

use super::current_user;
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::Cached;
use crate::web::auth::Principal;
use crate::web::ctx::new_id;
use crate::web::ApiError;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

pub const MAX_ADDRESSES: i64 = 5;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub id: String,
    pub label: String,
    pub line: String,
    pub city: String,
    pub state: String,
    pub pincode: String,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, label, line, city, state, pincode, created_at, updated_at";

impl Address {
    fn from_row(r: &Row) -> rusqlite::Result<Address> {
        Ok(Address {
            id: r.get(0)?,
            label: r.get(1)?,
            line: r.get(2)?,
            city: r.get(3)?,
            state: r.get(4)?,
            pincode: r.get(5)?,
            created_at: rfc3339(r.get(6)?),
            updated_at: rfc3339(r.get(7)?),
        })
    }
}

/// The body of both POST (every field required) and PATCH (any subset). One struct, so a POST
/// missing several fields names all of them at once.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Fields {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub line: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub pincode: Option<String>,
}

impl Fields {
    fn is_empty(&self) -> bool {
        [&self.label, &self.line, &self.city, &self.state, &self.pincode].iter().all(|f| f.is_none())
    }
}

fn text(max: usize) -> impl Fn(&str) -> Result<String, String> {
    move |v| {
        let t = v.trim();
        if t.is_empty() {
            Err("is required".into())
        } else if t.chars().count() > max {
            Err(format!("must be at most {max} characters"))
        } else if t.chars().any(char::is_control) {
            Err("must not contain control characters".into())
        } else {
            Ok(t.to_string())
        }
    }
}

fn pincode(v: &str) -> Result<String, String> {
    let t = v.trim();
    if t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit()) {
        Ok(t.to_string())
    } else {
        Err("must be a 6-digit PIN code".into())
    }
}

/// Trims and checks every given field (and, unless `partial`, requires all); reports every bad one.
fn clean(f: &Fields, partial: bool) -> Result<Fields, ApiError> {
    let mut errs: Vec<(&str, String)> = Vec::new();
    let mut check = |name: &'static str, v: &Option<String>, ok: &dyn Fn(&str) -> Result<String, String>| match v {
        None if partial => None,
        None => {
            errs.push((name, "is required".into()));
            None
        }
        Some(v) => ok(v).map_err(|e| errs.push((name, e))).ok(),
    };
    let out = Fields {
        label: check("label", &f.label, &text(40)),
        line: check("line", &f.line, &text(200)),
        city: check("city", &f.city, &text(80)),
        state: check("state", &f.state, &text(80)),
        pincode: check("pincode", &f.pincode, &pincode),
    };
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::validation(errs))
    }
}

/// The user's addresses, newest first (rowid breaks ties within one millisecond).
/// `GET /me/addresses`: the caller's addresses.
pub fn list_mine(app: &App, p: &Principal) -> Result<Vec<Address>, ApiError> {
    app.db.read(|c| list(c, &p.user_id).map_err(ApiError::from))
}

pub fn list(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<Address>> {
    let mut st =
        c.prepare(&format!("SELECT {COLUMNS} FROM addresses WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC"))?;
    let rows = st.query_map([user_id], Address::from_row)?;
    rows.collect()
}

fn find(c: &Connection, user_id: &str, id: &str) -> rusqlite::Result<Option<Address>> {
    c.query_row_cached(
        &format!("SELECT {COLUMNS} FROM addresses WHERE id = ?1 AND user_id = ?2"),
        params![id, user_id],
        Address::from_row,
    )
    .optional()
}

/// `POST /me/addresses`: 409 `limit_reached` past five.
pub fn create(app: &App, p: &Principal, f: Fields) -> Result<Address, ApiError> {
    let v = clean(&f, false)?;
    let now = app.now_ms();
    app.db.write(|tx| {
        current_user(tx, &p.user_id)?;
        let n: i64 =
            tx.query_row_cached("SELECT COUNT(*) FROM addresses WHERE user_id = ?1", [&p.user_id], |r| r.get(0))?;
        if n >= MAX_ADDRESSES {
            return Err(ApiError::conflict("limit_reached", "You can keep at most 5 addresses; delete one first."));
        }
        let id = new_id("adr");
        tx.execute_cached(
            "INSERT INTO addresses (id, user_id, label, line, city, state, pincode, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![id, p.user_id, v.label, v.line, v.city, v.state, v.pincode, now],
        )?;
        find(tx, &p.user_id, &id)?.ok_or_else(|| ApiError::internal("inserted address not found"))
    })
}

/// `PATCH /me/addresses/{id}`: another user's address is 404, like a missing one.
pub fn update(app: &App, p: &Principal, id: &str, f: Fields) -> Result<Address, ApiError> {
    let v = clean(&f, true)?;
    let now = app.now_ms();
    app.db.write(|tx| {
        current_user(tx, &p.user_id)?;
        let a = find(tx, &p.user_id, id)?.ok_or_else(ApiError::not_found)?;
        if v.is_empty() {
            return Ok(a);
        }
        tx.execute_cached(
            "UPDATE addresses SET label = COALESCE(?3, label), line = COALESCE(?4, line), city = COALESCE(?5, city),
                 state = COALESCE(?6, state), pincode = COALESCE(?7, pincode), updated_at = ?8
             WHERE id = ?1 AND user_id = ?2",
            params![id, p.user_id, v.label, v.line, v.city, v.state, v.pincode, now],
        )?;
        find(tx, &p.user_id, id)?.ok_or_else(ApiError::not_found)
    })
}

/// `DELETE /me/addresses/{id}`.
pub fn delete(app: &App, p: &Principal, id: &str) -> Result<(), ApiError> {
    app.db.write(|tx| {
        let n = tx.execute_cached("DELETE FROM addresses WHERE id = ?1 AND user_id = ?2", params![id, p.user_id])?;
        if n == 0 {
            return Err(ApiError::not_found());
        }
        Ok(())
    })
}
