//! Opaque keyset cursors: `(sort key, id)` of the last item, base64url-encoded. Clients never parse them.

use super::error::ApiError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

pub fn encode(key: i64, id: &str) -> String {
    B64.encode(format!("{key}:{id}"))
}

/// Decodes `?cursor=`; 400 for anything we did not issue.
pub fn decode(raw: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::field("cursor", "is not a valid cursor");
    let text = B64.decode(raw).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
    let (key, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((key.parse().map_err(|_| bad())?, id.to_string()))
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    #[test]
    fn round_trip_and_garbage() {
        let c = super::encode(1700, "usr_ab:c");
        assert_eq!(super::decode(&c).unwrap(), (1700, "usr_ab:c".to_string()));
        assert!(super::decode("!!").is_err());
        assert!(super::decode(&super::B64.encode("nokey")).is_err());
    }
}
