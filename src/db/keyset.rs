//! Keyset pagination: "rows older than the cursor" for lists ordered `(at DESC, id DESC)`.

use rusqlite::types::Value;

/// Appends ` AND (<at>, <id>) < (?a, ?b)` and binds the cursor's values.
///
/// The row value, not the equivalent `<at> < ?a OR (<at> = ?a AND <id> < ?b)`: with an index on
/// `(..., at, id)` SQLite seeks straight to the cursor's `(at, id)`, where the OR form seeks to
/// `at` only and filters every row sharing the cursor's instant (all of them, for rows created
/// together). Both columns are NOT NULL, so the two forms select the same rows.
pub fn push_before(sql: &mut String, args: &mut Vec<Value>, at_col: &str, id_col: &str, at: i64, id: String) {
    args.push(at.into());
    let a = args.len();
    args.push(id.into());
    let b = args.len();
    sql.push_str(&format!(" AND ({at_col}, {id_col}) < (?{a}, ?{b})"));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ties on `at` are ordered by `id`, and the page after the cursor starts right below it.
    #[test]
    fn pages_below_the_cursor_through_ties() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE t (k TEXT NOT NULL, at INTEGER NOT NULL, id TEXT NOT NULL);
             CREATE INDEX t_k ON t (k, at, id);
             INSERT INTO t VALUES ('x', 1, 'a'), ('x', 1, 'b'), ('x', 1, 'c'), ('x', 0, 'z'), ('x', 2, 'q'), ('y', 1, 'a');",
        )
        .unwrap();
        let mut sql = "SELECT id FROM t WHERE k = ?1".to_string();
        let mut args: Vec<Value> = vec!["x".to_string().into()];
        push_before(&mut sql, &mut args, "at", "id", 1, "c".into());
        let mut st = c.prepare(&format!("{sql} ORDER BY at DESC, id DESC")).unwrap();
        let ids: Vec<String> =
            st.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        assert_eq!(ids, ["b", "a", "z"]);
        let plan: String = c
            .query_row(
                &format!("EXPLAIN QUERY PLAN {sql} ORDER BY at DESC, id DESC"),
                rusqlite::params_from_iter(args.iter()),
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("USING COVERING INDEX t_k (k=? AND (at,id)<(?,?))"), "{plan}");
    }
}
