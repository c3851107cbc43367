//! `execute` and `query_row` through the connection's prepared-statement cache. rusqlite's own
//! `Connection::execute` / `query_row` parse and plan their SQL on every call (~11 % of a booking
//! write in `perf`); a cached statement is parsed once per connection.

use rusqlite::{Connection, Params, Row};

/// Statements each connection keeps prepared: more than the distinct statements of any feature's
/// hot path, so a request never evicts another's (rusqlite's default is 16).
pub const STATEMENT_CACHE: usize = 256;

pub trait Cached {
    /// [`Connection::execute`], with the statement from the cache.
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    /// [`Connection::query_row`], with the statement from the cache.
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
