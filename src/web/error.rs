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

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        // Unique-constraint violations are the client's conflict, not our failure.
        if let crate::db::DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) = &e {
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            {
                return ApiError::conflict("already_exists", "That already exists.");
            }
            if f.code == rusqlite::ErrorCode::DatabaseBusy {
                return ApiError::unavailable("The database is busy; try again.", 1);
            }
        }
        ApiError::internal(e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::from(crate::db::DbError::from(e))
    }
}
