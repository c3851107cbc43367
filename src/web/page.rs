//! The one way to page a list (API.md "Lists"): `?limit=&cursor=` in → the keyset clause
//! (`db::keyset::push_before`, newest first by `(at, id)`) and `limit + 1` rows fetched → trimmed to
//! `limit` → `{"items": [...], "nextCursor": ...}` out.
//!
//! ```ignore
//! let page = PageRequest::from_query(req)?;                 // in the route
//! if let Some((at, id)) = &page.after { keyset::push_before(&mut sql, &mut args, "created_at", "id", *at, id.clone()) }
//! sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.fetch()));
//! let rows = ...;                                           // in the operation
//! Ok(page.finish(rows, |r| (r.created_at, &r.id)))          // Page<Row>, serialises as the envelope
//! ```

use super::error::ApiError;
use super::{cursor, query};
use serde::Serialize;

/// What the client asked for.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u32,
    /// `(sort key, id)` of the last item of the previous page.
    pub after: Option<(i64, String)>,
}

impl PageRequest {
    /// `?limit=` (default 20, clamped to 100) and `?cursor=` (400 for one we did not issue).
    pub fn from_query(req: &rouille::Request) -> Result<PageRequest, ApiError> {
        let limit = query::limit(req)?;
        let after = req.get_param("cursor").map(|c| cursor::decode(&c)).transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// Rows to fetch: one more than asked, to know whether another page exists.
    pub fn fetch(&self) -> u32 {
        self.limit + 1
    }

    /// Trims `rows` (fetched newest first, at most [`Self::fetch`]) to the page, with the next
    /// cursor when more exist.
    pub fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> (i64, &str)) -> Page<T> {
        let mut next_cursor = None;
        if rows.len() > self.limit as usize {
            rows.truncate(self.limit as usize);
            next_cursor = rows.last().map(|r| {
                let (at, id) = key(r);
                cursor::encode(at, id)
            });
        }
        Page { items: rows, next_cursor }
    }
}

/// One page of a collection, serialised as API.md's list envelope.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The same page with each item turned into its public shape.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }

    /// As [`Self::map`], for shaping that can fail (a lookup per item).
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page { items: self.items.into_iter().map(f).collect::<Result<_, _>>()?, next_cursor: self.next_cursor })
    }
}

/// A `LIKE` pattern matching `q` anywhere, with `%`, `_` and `\` escaped (use `ESCAPE '\'`).
pub fn like_pattern(q: &str) -> String {
    format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_to_the_limit_and_points_at_the_last_kept_row() {
        let req = PageRequest { limit: 2, after: None };
        assert_eq!(req.fetch(), 3);
        let full = req.finish(vec![(3, "c"), (2, "b"), (1, "a")], |r| (r.0, r.1));
        assert_eq!(full.items.len(), 2);
        assert_eq!(full.next_cursor.as_deref().map(cursor::decode).and_then(Result::ok), Some((2, "b".into())));
        let last = req.finish(vec![(1, "a")], |r| (r.0, r.1));
        assert!(last.next_cursor.is_none());
        assert_eq!(
            serde_json::to_value(last.map(|r| r.1)).unwrap(),
            serde_json::json!({"items": ["a"], "nextCursor": null})
        );
        assert_eq!(like_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
