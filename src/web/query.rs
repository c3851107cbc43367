//! Query-string helpers with the API's list conventions (`limit` default 20, clamped to 100).

use super::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// `?limit=`: default 20, values above 100 clamped to 100, anything else invalid.
pub fn limit(req: &rouille::Request) -> Result<u32, ApiError> {
    match req.get_param("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<u32>() {
            Ok(0) | Err(_) => Err(ApiError::field("limit", "must be a whole number from 1 to 100")),
            Ok(n) => Ok(n.min(MAX_LIMIT)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let r = |q: &str| rouille::Request::fake_http("GET", format!("/x{q}"), vec![], vec![]);
        assert_eq!(limit(&r("")).unwrap(), 20);
        assert_eq!(limit(&r("?limit=5")).unwrap(), 5);
        assert_eq!(limit(&r("?limit=1000")).unwrap(), 100);
        assert!(limit(&r("?limit=0")).is_err());
        assert!(limit(&r("?limit=x")).is_err());
    }
}
