//! Daily series in one statement: consecutive days' `[start, end)` bounds go in as one JSON
//! array (`json_each(?1)`: `key` is the day's index, `value` its bounds) and the rows are grouped
//! by the day they fall in, so a year of days is still one query, not 366.

use rusqlite::Connection;

/// `[[start, end], ...]` for `json_each`.
pub fn bounds_json(days: &[(i64, i64)]) -> String {
    serde_json::to_string(days).unwrap_or_else(|_| "[]".into())
}

/// Runs a `SELECT <day index>, <count> ... GROUP BY d.key` statement whose `?1` is the bounds
/// array and `?2...` are `extra`; answers one count per day (0 where no row matched).
pub fn per_day(c: &Connection, sql: &str, days: &[(i64, i64)], extra: &[&str]) -> rusqlite::Result<Vec<i64>> {
    let bounds = bounds_json(days);
    let mut st = c.prepare_cached(sql)?;
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&bounds];
    for e in extra {
        args.push(e);
    }
    let rows = st.query_map(args.as_slice(), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = vec![0i64; days.len()];
    for row in rows {
        let (i, count) = row?;
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            *slot = count;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_rows_per_day_with_zero_filled_gaps() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE t (at INTEGER NOT NULL, k TEXT); INSERT INTO t VALUES (1,'a'),(5,'a'),(6,'b'),(25,'a');",
        )
        .unwrap();
        let days = [(0, 10), (10, 20), (20, 30)];
        let sql = "SELECT CAST(d.key AS INTEGER), COUNT(*) FROM json_each(?1) d
                   JOIN t ON t.at >= json_extract(d.value, '$[0]') AND t.at < json_extract(d.value, '$[1]') AND t.k = ?2
                   GROUP BY d.key";
        assert_eq!(super::per_day(&c, sql, &days, &["a"]).unwrap(), vec![2, 0, 1]);
    }
}
