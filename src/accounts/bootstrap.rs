//! Admin accounts are created only from the command line (`buildxpert admin create`), which
//! works on a stopped server's data dir and next to a running one (writes wait on SQLite's lock).

use super::phone::Phone;
use crate::app::App;
use crate::audit;
use crate::db::Cached;
use crate::db::{Db, DbError};
use crate::passwords::{check_policy, Hasher};
use crate::web::ctx::new_id;
use rusqlite::{params, OptionalExtension};
use serde_json::json;

/// Creates a verified admin; returns its id. Errors are one-line reasons for the CLI.
pub fn create_in(
    db: &Db,
    hasher: &Hasher,
    country: &str,
    now: i64,
    phone: &str,
    password: &str,
    name: &str,
) -> Result<String, String> {
    let phone = Phone::parse(phone, country).ok_or("--phone is not a valid mobile number")?;
    check_policy(password).map_err(|m| format!("--password {m}"))?;
    let name = super::check_name(name).map_err(|m| format!("--name {m}"))?;
    let hash = hasher.hash(password);
    let id = new_id("usr");
    db.write(|tx| {
        let exists = tx
            .query_row("SELECT 1 FROM users WHERE phone = ?1 AND role = 'admin'", [phone.as_str()], |_| Ok(()))
            .optional()?;
        if exists.is_some() {
            return Ok(Err(format!("an admin with phone {} already exists", phone.as_str())));
        }
        tx.execute_cached(
            "INSERT INTO users (id, role, phone, full_name, password_hash, verified, created_at, updated_at)
             VALUES (?1, 'admin', ?2, ?3, ?4, 1, ?5, ?5)",
            params![id, phone.as_str(), name, hash, now],
        )?;
        crate::notify::settings::create_defaults(tx, &id, now)?;
        audit::record(
            tx,
            now,
            &audit::Entry {
                action: "admin.created",
                target: Some(&id),
                details: json!({"via": "cli"}),
                ..Default::default()
            },
        )?;
        Ok::<_, DbError>(Ok(id.clone()))
    })
    .map_err(|e| e.to_string())?
}

/// The same, inside a running app (tests, future admin tooling).
pub fn create(app: &App, phone: &str, password: &str, name: &str) -> Result<String, String> {
    create_in(&app.db, &app.hasher, &app.config.business.default_country, app.now_ms(), phone, password, name)
}
