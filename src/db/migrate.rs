//! Embedded, numbered migrations (`schema/NNNN_name.sql`), applied in order in one transaction and
//! recorded with a SHA-256 checksum. An applied migration that changed, or a database that knows a
//! migration this binary does not, stops start-up: running on the wrong schema corrupts data.

use rusqlite::{Connection, TransactionBehavior};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

#[derive(RustEmbed)]
#[folder = "schema/"]
struct SchemaDir;

#[derive(Debug, Clone)]
pub struct Migration {
    pub version: i64,
    pub name: String,
    pub sql: String,
    pub checksum: String,
}

/// Applied by this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    pub name: String,
}

#[derive(Debug)]
pub enum MigrationError {
    Sqlite(rusqlite::Error),
    Changed { version: i64, name: String },
    Newer { version: i64, known: i64 },
    Failed { version: i64, name: String, error: rusqlite::Error },
}

impl std::fmt::Display for MigrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrationError::Sqlite(e) => write!(f, "migration bookkeeping failed: {e}"),
            MigrationError::Changed { version, name } => write!(
                f,
                "migration {version:04}_{name} was changed after it was applied; restore the original file (never edit an applied migration)"
            ),
            MigrationError::Newer { version, known } => write!(
                f,
                "the database has migration {version:04}, newer than this binary knows (up to {known:04}); run a newer buildxpert"
            ),
            MigrationError::Failed { version, name, error } => {
                write!(f, "migration {version:04}_{name} failed: {error}")
            }
        }
    }
}

impl std::error::Error for MigrationError {}

impl From<rusqlite::Error> for MigrationError {
    fn from(e: rusqlite::Error) -> Self {
        MigrationError::Sqlite(e)
    }
}

fn load() -> Vec<Migration> {
    let mut out: Vec<Migration> = SchemaDir::iter()
        .filter_map(|file| {
            let (num, rest) = file.split_once('_')?;
            let version = num.parse::<i64>().ok()?;
            let name = rest.strip_suffix(".sql")?.to_string();
            let data = SchemaDir::get(&file)?.data;
            let sql = String::from_utf8_lossy(&data).into_owned();
            let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
            Some(Migration { version, name, sql, checksum })
        })
        .collect();
    out.sort_by_key(|m| m.version);
    out
}

/// Every migration embedded in this binary, in order.
pub static MIGRATIONS: LazyLock<Vec<Migration>> = LazyLock::new(load);

/// Applies pending migrations in one `BEGIN IMMEDIATE` transaction; returns what ran.
pub fn migrate(conn: &mut Connection) -> Result<Vec<Applied>, MigrationError> {
    apply(conn, &MIGRATIONS)
}

pub fn apply(conn: &mut Connection, migrations: &[Migration]) -> Result<Vec<Applied>, MigrationError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL
        ) STRICT;",
    )?;
    let recorded: Vec<(i64, String, String)> = {
        let mut st = tx.prepare("SELECT version, name, checksum FROM schema_migrations ORDER BY version")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let known = migrations.last().map_or(0, |m| m.version);
    for (version, name, checksum) in &recorded {
        match migrations.iter().find(|m| m.version == *version) {
            None => return Err(MigrationError::Newer { version: *version, known }),
            Some(m) if &m.checksum != checksum => {
                return Err(MigrationError::Changed { version: *version, name: name.clone() })
            }
            Some(_) => {}
        }
    }
    let mut applied = Vec::new();
    for m in migrations.iter().filter(|m| !recorded.iter().any(|r| r.0 == m.version)) {
        tx.execute_batch(&m.sql).map_err(|error| MigrationError::Failed {
            version: m.version,
            name: m.name.clone(),
            error,
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at)
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            rusqlite::params![m.version, m.name, m.checksum],
        )?;
        applied.push(Applied { version: m.version, name: m.name.clone() });
    }
    tx.commit()?;
    Ok(applied)
}

/// True when every embedded migration is recorded (readiness check).
pub fn is_current(conn: &Connection) -> Result<bool, rusqlite::Error> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?;
    Ok(n as usize == MIGRATIONS.len())
}
