//! `listing_rank(listing_search, w…)`: the relevance of one FTS5 match, in time that does not
//! depend on how many listings match.
//!
//! It is FTS5's own bm25 without the inverse document frequency: for each phrase of the query the
//! column-weighted count of its hits in the row, saturated by the row's length against the average
//! (`k1 = 1.2`, `b = 0.75`, as bm25), summed over the phrases. bm25 first counts, for every phrase,
//! every row of the whole index that contains it (`xQueryPhrase`), so its cost grows with the
//! matches even when only a few rows are scored; this one reads only the scored row and the
//! index's totals (row count and column sizes, kept by FTS5). With one word it orders rows exactly
//! as bm25 does (the IDF is the same factor for every row); with several, each word weighs the
//! same instead of rarer words weighing more.
//!
//! FTS5 auxiliary functions are registered per connection through the `fts5_api` pointer
//! (`SELECT fts5(?1)` with a bound pointer, the documented way); [`register`] does it, and
//! [`prepare`] registers on first use on a connection.

use rusqlite::ffi;
use rusqlite::{CachedStatement, Connection};
use std::ffi::{c_int, c_void, CStr};
use std::ptr;

/// The function's SQL name.
pub const NAME: &str = "listing_rank";

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// `stmt` prepared (cached) on `c`, registering [`NAME`] first if this connection lacks it.
pub fn prepare<'c>(c: &'c Connection, sql: &str) -> rusqlite::Result<CachedStatement<'c>> {
    match c.prepare_cached(sql) {
        Err(e) if e.to_string().contains(NAME) => {
            register(c)?;
            c.prepare_cached(sql)
        }
        other => other,
    }
}

/// Registers [`NAME`] on `c` (once per connection: registering again adds a second copy).
pub fn register(c: &Connection) -> rusqlite::Result<()> {
    let mut api: *mut ffi::fts5_api = ptr::null_mut();
    // SAFETY: the statement is prepared, bound, stepped and finalized on this thread while `c`
    // is borrowed; the bound pointer is to a local that outlives the step (FTS5 writes the
    // `fts5_api` address into it), and the type string is a static C string, as the API requires.
    unsafe {
        let db = c.handle();
        let mut st: *mut ffi::sqlite3_stmt = ptr::null_mut();
        let sql = c"SELECT fts5(?1)";
        check(c, ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut st, ptr::null_mut()))?;
        let bound = ffi::sqlite3_bind_pointer(
            st,
            1,
            (&mut api as *mut *mut ffi::fts5_api).cast::<c_void>(),
            c"fts5_api_ptr".as_ptr(),
            None,
        );
        let stepped = if bound == ffi::SQLITE_OK { ffi::sqlite3_step(st) } else { bound };
        ffi::sqlite3_finalize(st);
        if stepped != ffi::SQLITE_ROW && stepped != ffi::SQLITE_DONE {
            return check(c, stepped);
        }
        let name = c"listing_rank";
        let create = match api.as_ref().and_then(|a| a.xCreateFunction) {
            Some(f) => f,
            None => return Err(rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_ERROR), None)),
        };
        check(c, create(api, name.as_ptr(), ptr::null_mut(), Some(rank), None))
    }
}

fn check(c: &Connection, rc: c_int) -> rusqlite::Result<()> {
    if rc == ffi::SQLITE_OK {
        return Ok(());
    }
    // SAFETY: `c.handle()` is the live connection the failing call was made on.
    let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(c.handle())) }.to_string_lossy().into_owned();
    Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some(msg)))
}

/// The FTS5 callback: `listing_rank(listing_search, w0, w1, …)`, one weight per column (missing
/// ones are 1.0), the result larger for a better match.
unsafe extern "C" fn rank(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    n_val: c_int,
    vals: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: FTS5 calls this with a valid API table and context for the current row, and
    // `vals[0..n_val]` valid for the call.
    unsafe {
        match score(&*api, fts, n_val, vals) {
            Ok(s) => ffi::sqlite3_result_double(ctx, s),
            Err(rc) => ffi::sqlite3_result_error_code(ctx, rc),
        }
    }
}

/// Columns and phrases scored at most (the search has 4 columns and at most 16 words).
const MAX: usize = 32;

unsafe fn score(
    a: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    n_val: c_int,
    vals: *mut *mut ffi::sqlite3_value,
) -> Result<f64, c_int> {
    let ok = |rc: c_int| if rc == ffi::SQLITE_OK { Ok(()) } else { Err(rc) };
    let (
        Some(col_count),
        Some(row_count),
        Some(total_size),
        Some(phrase_count),
        Some(inst_count),
        Some(inst),
        Some(col_size),
    ) = (a.xColumnCount, a.xRowCount, a.xColumnTotalSize, a.xPhraseCount, a.xInstCount, a.xInst, a.xColumnSize)
    else {
        return Err(ffi::SQLITE_ERROR);
    };
    // SAFETY (whole body): the callbacks are FTS5's own, called with the context it gave us.
    unsafe {
        let n_col = (col_count(fts).max(0) as usize).min(MAX);
        let n_phrase = (phrase_count(fts).max(0) as usize).min(MAX);
        let mut weight = [1.0f64; MAX];
        for (i, w) in weight.iter_mut().enumerate().take(n_col) {
            if (i as c_int) < n_val - 1 {
                *w = ffi::sqlite3_value_double(*vals.add(i + 1));
            }
        }
        let mut rows: i64 = 0;
        ok(row_count(fts, &mut rows))?;
        let mut total: i64 = 0;
        ok(total_size(fts, -1, &mut total))?;
        let mut len: c_int = 0;
        ok(col_size(fts, -1, &mut len))?;
        let avg = if rows > 0 { (total as f64 / rows as f64).max(1.0) } else { 1.0 };
        let mut freq = [0.0f64; MAX];
        let mut n_inst: c_int = 0;
        ok(inst_count(fts, &mut n_inst))?;
        for i in 0..n_inst {
            let (mut phrase, mut col, mut off) = (0, 0, 0);
            ok(inst(fts, i, &mut phrase, &mut col, &mut off))?;
            if let (Ok(p), Ok(c)) = (usize::try_from(phrase), usize::try_from(col)) {
                if p < n_phrase && c < n_col {
                    freq[p] += weight[c];
                }
            }
        }
        let norm = K1 * (1.0 - B + B * f64::from(len) / avg);
        Ok(freq.iter().take(n_phrase).map(|f| f * (K1 + 1.0) / (f + norm)).sum())
    }
}
