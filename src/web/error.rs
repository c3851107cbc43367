//! The one error type every handler returns, mapped to status + envelope in one place:
//! `{"error": {"code", "message", "fields"?}, "requestId"}`. Internal details are logged, never sent.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Boxed: errors travel in every handler's Result, so the common case stays small.
    pub fields: Option<Box<BTreeMap<String, String>>>,
    /// Extra members of the `error` object (e.g. `paymentId`).
    pub extra: Option<Box<Map<String, Value>>>,
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), fields: None, extra: None, headers: Vec::new() }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> ApiError {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn with_extra(mut self, key: &str, value: Value) -> ApiError {
        self.extra.get_or_insert_with(Default::default).insert(key.to_string(), value);
        self
    }

    /// 400 `validation_failed` with per-field messages.
    pub fn validation<K: Into<String>, V: Into<String>>(fields: impl IntoIterator<Item = (K, V)>) -> ApiError {
        let fields: BTreeMap<String, String> = fields.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let mut e = ApiError::new(400, "validation_failed", "Some fields are invalid.");
        e.fields = Some(Box::new(fields));
        e
    }

    pub fn field(name: &str, problem: &str) -> ApiError {
        ApiError::validation([(name, problem)])
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(400, code, message)
    }

    pub fn invalid_json(detail: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_json", detail)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(401, "unauthenticated", "Sign in to continue.").with_header("WWW-Authenticate", "Bearer")
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(403, "forbidden", "You are not allowed to do this.")
    }

    pub fn not_found() -> ApiError {
        ApiError::new(404, "not_found", "Nothing is here.")
    }

    pub fn method_not_allowed(allow: &[&str]) -> ApiError {
        ApiError::new(405, "method_not_allowed", "This method is not allowed here.")
            .with_header("Allow", allow.join(", "))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(409, code, message)
    }

    /// Signed in but not allowed to do this, with a specific code (`pass_required`, …).
    pub fn denied(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(403, code, message)
    }

    /// Not there, or not visible to the caller, in the feature's words.
    pub fn missing(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", message)
    }

    /// Credentials presented but refused (`invalid_credentials`, `refresh_token_reused`, …).
    pub fn refused(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(401, code, message)
    }

    /// Too many attempts: come back in `retry_after_secs` (`account_locked`, `otp_locked`, …).
    pub fn locked(code: &'static str, message: impl Into<String>, retry_after_secs: i64) -> ApiError {
        ApiError::new(429, code, message).with_header("Retry-After", retry_after_secs.max(1).to_string())
    }

    pub fn payload_too_large(limit: u64) -> ApiError {
        ApiError::new(413, "payload_too_large", format!("The request body is larger than {limit} bytes."))
    }

    pub fn unsupported_media_type() -> ApiError {
        ApiError::new(415, "unsupported_media_type", "Send the body as application/json.")
    }

    pub fn rate_limited(retry_after_secs: u64) -> ApiError {
        ApiError::new(429, "rate_limited", "Too many requests; try again later.")
            .with_header("Retry-After", retry_after_secs.max(1).to_string())
    }

    pub fn unavailable(message: impl Into<String>, retry_after_secs: u64) -> ApiError {
        ApiError::new(503, "unavailable", message).with_header("Retry-After", retry_after_secs.max(1).to_string())
    }

    /// 502: a payment gateway answered and refused the request (the details are logged).
    pub fn gateway_refused() -> ApiError {
        ApiError::new(502, "gateway_refused", "The payment gateway refused the request; try again later.")
    }

    /// 500; the cause goes to the log (with the request id), never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        log::error!("internal error: {cause}");
        ApiError::new(500, "internal", "Something went wrong on our side; it has been logged.")
    }

    pub fn body(&self, request_id: &str) -> Value {
        let mut err = Map::new();
        err.insert("code".into(), json!(self.code));
        err.insert("message".into(), json!(self.message));
        if let Some(f) = &self.fields {
            err.insert("fields".into(), json!(f));
        }
        for (k, v) in self.extra.iter().flat_map(|m| m.iter()) {
            err.insert(k.clone(), v.clone());
        }
        json!({ "error": err, "requestId": request_id })
    }

    pub fn into_response(self, request_id: &str) -> rouille::Response {
        let mut r = super::json::json_response(self.status, &self.body(request_id));
        for (k, v) in self.headers {
            r.headers.push((k.into(), v.into()));
        }
        r
    }
}

/// A unique index or key a client can run into, and the answer it gives.
pub struct Constraint {
    /// The index it belongs to, as `sqlite_master` names it (a key or `UNIQUE` clause without a
    /// name of its own is `sqlite_autoindex_<table>_<n>`); [`ApiError::constraint`] looks it up.
    pub name: &'static str,
    /// How SQLite names it in the error: `UNIQUE constraint failed: <columns>` (an index on plain
    /// columns is named by its columns, never by its own name).
    pub columns: &'static str,
    pub status: u16,
    pub code: &'static str,
    pub message: &'static str,
}

/// Every constraint whose violation is the client's to fix, with its answer: the one place a
/// feature's constraint becomes an HTTP error. Any other unique violation is the generic 409
/// `already_exists`; every other database error is a 500 (or 503 when busy).
pub const CONSTRAINTS: &[Constraint] = &[
    Constraint {
        name: "bookings_one_taken_per_slot",
        columns: "bookings.provider_id, bookings.starts_at",
        status: 409,
        code: "slot_unavailable",
        message: "The provider already has a booking at that time.",
    },
    Constraint {
        name: "bookings_one_open_per_customer",
        columns: "bookings.customer_id, bookings.listing_id, bookings.starts_at",
        status: 409,
        code: "duplicate_booking",
        message: "You already have an open booking for this listing at that time.",
    },
    Constraint {
        name: "sqlite_autoindex_call_lines_1", // PRIMARY KEY (user_id): one open call per user
        columns: "call_lines.user_id",
        status: 409,
        code: "busy",
        message: "You or the other party are already on a call.",
    },
    Constraint {
        name: "sqlite_autoindex_ratings_1", // PRIMARY KEY (booking_id, rater_id)
        columns: "ratings.booking_id, ratings.rater_id",
        status: 409,
        code: "already_exists",
        message: "You have already rated this booking.",
    },
    Constraint {
        name: "sqlite_autoindex_reports_2", // UNIQUE (booking_id, reporter_id)
        columns: "reports.booking_id, reports.reporter_id",
        status: 409,
        code: "already_exists",
        message: "You have already reported this booking.",
    },
    Constraint {
        name: "payments_one_open",
        columns: "payments.payer_id, payments.purpose, payments.target_id",
        status: 409,
        code: "payment_in_progress",
        message: "A payment for this is already open; pay or wait for it to expire.",
    },
];

impl Constraint {
    fn error(&self) -> ApiError {
        ApiError::new(self.status, self.code, self.message)
    }
}

impl ApiError {
    /// The answer of constraint `name` of [`CONSTRAINTS`], for an operation that checks the rule
    /// itself before the database would refuse.
    pub fn constraint(name: &str) -> ApiError {
        match CONSTRAINTS.iter().find(|c| c.name == name) {
            Some(c) => c.error(),
            None => ApiError::internal(format!("no constraint named {name}")),
        }
    }
}

/// The [`CONSTRAINTS`] row a unique violation's message names.
fn violated(message: Option<&str>) -> Option<&'static Constraint> {
    let columns = message?.strip_prefix("UNIQUE constraint failed: ")?;
    CONSTRAINTS.iter().find(|c| c.columns == columns)
}

/// Every password-hash slot is taken and `auth.max_hash_queue` requests already wait: 503
/// `unavailable` at once, instead of holding one more worker thread.
impl From<crate::passwords::Busy> for ApiError {
    fn from(_: crate::passwords::Busy) -> Self {
        ApiError::unavailable("Too many sign-ins are being checked right now; try again in a moment.", 1)
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        // Unique-constraint violations are the client's conflict, not our failure.
        if let crate::db::DbError::Sqlite(rusqlite::Error::SqliteFailure(f, message)) = &e {
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            {
                return match violated(message.as_deref()) {
                    Some(c) => c.error(),
                    None => ApiError::conflict("already_exists", "That already exists."),
                };
            }
            if f.code == rusqlite::ErrorCode::DatabaseBusy {
                return ApiError::unavailable("The database is busy; try again.", 1);
            }
            // `database.statement_timeout_ms` cut a statement off (the request loop logs it, with
            // the route, and `/metrics` counts it): the client may try again shortly.
            if f.code == rusqlite::ErrorCode::OperationInterrupted {
                return ApiError::unavailable("The request took too long in the database; try again.", 2);
            }
        }
        // Group commit: the transaction this request shared was lost whole; nothing of it was kept.
        if let crate::db::DbError::Batch = e {
            return ApiError::unavailable("The write could not be saved; try again.", 1);
        }
        ApiError::internal(e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::from(crate::db::DbError::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row names a unique index of the schema by its real name and its real columns.
    #[test]
    fn constraints_name_real_unique_indexes() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut c).unwrap();
        for row in CONSTRAINTS {
            let (table, unique): (String, i64) = c
                .query_row(
                    "SELECT m.tbl_name, l.\"unique\" FROM sqlite_master m, pragma_index_list(m.tbl_name) l
                     WHERE m.type = 'index' AND m.name = ?1 AND l.name = m.name",
                    [row.name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", row.name));
            assert_eq!(unique, 1, "{}", row.name);
            let mut st = c.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno").unwrap();
            let cols: Vec<String> = st.query_map([row.name], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            let named = cols.iter().map(|col| format!("{table}.{col}")).collect::<Vec<_>>().join(", ");
            assert_eq!(named, row.columns, "{}", row.name);
            let e = ApiError::constraint(row.name);
            assert_eq!((e.status, e.code, e.message.as_str()), (row.status, row.code, row.message));
        }
        assert_eq!(ApiError::constraint("nope").status, 500);
    }

    #[test]
    fn violations_map_by_their_columns() {
        let fail = |code: i32, msg: &str| {
            let f = rusqlite::ffi::Error { code: rusqlite::ErrorCode::ConstraintViolation, extended_code: code };
            ApiError::from(rusqlite::Error::SqliteFailure(f, Some(msg.to_string())))
        };
        let unique = rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE;
        let e = fail(unique, "UNIQUE constraint failed: bookings.provider_id, bookings.starts_at");
        assert_eq!((e.status, e.code), (409, "slot_unavailable"));
        let e = fail(
            rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
            "UNIQUE constraint failed: ratings.booking_id, ratings.rater_id",
        );
        assert_eq!((e.code, e.message.as_str()), ("already_exists", "You have already rated this booking."));
        let e = fail(unique, "UNIQUE constraint failed: categories.slug");
        assert_eq!((e.status, e.code, e.message.as_str()), (409, "already_exists", "That already exists."));
        let e = fail(rusqlite::ffi::SQLITE_CONSTRAINT_CHECK, "CHECK constraint failed: stars");
        assert_eq!(e.status, 500);
    }

    #[test]
    fn interrupted_statements_are_503_with_retry_after() {
        let f = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERRUPT);
        let e = ApiError::from(rusqlite::Error::SqliteFailure(f, Some("interrupted".into())));
        assert_eq!((e.status, e.code), (503, "unavailable"));
        assert!(e.headers.iter().any(|(k, v)| k == "Retry-After" && v == "2"));
    }
}
