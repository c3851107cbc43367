//! Keyset pagination: "rows older than the cursor" for lists ordered `(at DESC, id DESC)`.

use rusqlite::types::Value;

/// Appends ` AND (<at> < ?a OR (<at> = ?a AND <id> < ?b))` and binds the cursor's values.
pub fn push_before(sql: &mut String, args: &mut Vec<Value>, at_col: &str, id_col: &str, at: i64, id: String) {
    args.push(at.into());
    let a = args.len();
    args.push(id.into());
    let b = args.len();
    sql.push_str(&format!(" AND ({at_col} < ?{a} OR ({at_col} = ?{a} AND {id_col} < ?{b}))"));
}
