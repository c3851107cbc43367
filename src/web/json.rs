//! JSON in and out: bodies are read through a limit (413), the content type is checked (415),
//! malformed JSON is 400 `invalid_json`, and unknown shapes are 400 with the failing field.

use super::error::ApiError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Read;

pub const JSON: &str = "application/json; charset=utf-8";

pub fn json_response<T: Serialize + ?Sized>(status: u16, value: &T) -> rouille::Response {
    // Serialising our own types cannot fail; an empty object is a safe fallback.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    rouille::Response::from_data(JSON, body).with_status_code(status)
}

pub fn ok<T: Serialize + ?Sized>(value: &T) -> Result<rouille::Response, ApiError> {
    Ok(json_response(200, value))
}

pub fn created<T: Serialize + ?Sized>(value: &T) -> Result<rouille::Response, ApiError> {
    Ok(json_response(201, value))
}

pub fn no_content() -> Result<rouille::Response, ApiError> {
    Ok(rouille::Response::empty_204())
}

fn is_json(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Reads the raw body up to `limit` bytes (413 past it).
pub fn read_body(req: &rouille::Request, limit: u64) -> Result<Vec<u8>, ApiError> {
    let Some(data) = req.data() else { return Ok(Vec::new()) };
    let mut buf = Vec::new();
    data.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|_| ApiError::bad_request("invalid_body", "The request body could not be read."))?;
    if buf.len() as u64 > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    Ok(buf)
}

/// Reads and parses a JSON body into `T`.
pub fn read_json<T: DeserializeOwned>(req: &rouille::Request, limit: u64) -> Result<T, ApiError> {
    match req.header("Content-Type") {
        Some(ct) if is_json(ct) => {}
        _ => return Err(ApiError::unsupported_media_type()),
    }
    let body = read_body(req, limit)?;
    parse_json(&body)
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::invalid_json("The request body is empty; send a JSON object."));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_json(format!("The body is not valid JSON ({e}).")))?;
    serde_path_to_error::deserialize(value).map_err(|e| shape_error(&e.path().to_string(), &e.inner().to_string()))
}

/// Turns serde's message into a field error without echoing internal type names.
/// `path` is where deserialising stopped (`subServices[0].price`, or `.` at the top).
fn shape_error(path: &str, msg: &str) -> ApiError {
    let at_top = path.is_empty() || path == "." || path.starts_with('?') || path.starts_with('[');
    let named = msg.split('`').nth(1).filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    let missing_or_unknown = msg.starts_with("missing field") || msg.starts_with("unknown field");
    let field = match (named, missing_or_unknown, at_top) {
        // A missing field is reported at its parent object; an unknown one may be reported at itself.
        (Some(name), true, true) => name.to_string(),
        (Some(name), true, false) if !path.ends_with(name) => format!("{path}.{name}"),
        (_, _, false) => path.to_string(),
        _ => "body".to_string(),
    };
    let problem = if msg.starts_with("missing field") {
        "is required"
    } else if msg.starts_with("unknown field") {
        "is not a known field"
    } else if msg.starts_with("unknown variant") {
        "has an unsupported value"
    } else {
        "has the wrong type or format"
    };
    ApiError::validation([(field, problem)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        full_name: String,
        age: u8,
    }

    #[test]
    fn json_errors_are_specific() {
        assert_eq!(parse_json::<Body>(b"{").unwrap_err().code, "invalid_json");
        assert_eq!(parse_json::<Body>(b"").unwrap_err().code, "invalid_json");
        let e = parse_json::<Body>(br#"{"age": 3}"#).unwrap_err();
        assert_eq!((e.code, e.fields.unwrap()["fullName"].as_str()), ("validation_failed", "is required"));
        let e = parse_json::<Body>(br#"{"fullName":"a","age":3,"x":1}"#).unwrap_err();
        assert!(e.fields.unwrap().contains_key("x"));
        let e = parse_json::<Body>(br#"{"fullName":"a","age":300}"#).unwrap_err();
        assert_eq!(e.code, "validation_failed");
        assert!(parse_json::<Body>(br#"{"fullName":"a","age":30}"#).is_ok());
    }

    #[test]
    fn content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }

    #[test]
    fn body_limit() {
        let req = rouille::Request::fake_http(
            "POST",
            "/",
            vec![("Content-Type".into(), "application/json".into())],
            vec![b' '; 11],
        );
        assert_eq!(read_body(&req, 10).unwrap_err().status, 413);
        let req = rouille::Request::fake_http("POST", "/", vec![], vec![b' '; 10]);
        assert_eq!(read_body(&req, 10).unwrap().len(), 10);
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Item {
        id: String,
        price: u32,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Outer {
        sub_services: Vec<Item>,
    }

    #[test]
    fn nested_fields_are_named_by_path() {
        let e = parse_json::<Outer>(br#"{"subServices":[{"id":"a","price":"x"}]}"#).unwrap_err();
        assert!(e.fields.unwrap().contains_key("subServices[0].price"));
        let e = parse_json::<Outer>(br#"{"subServices":[{"id":"a"}]}"#).unwrap_err();
        assert!(e.fields.unwrap().contains_key("subServices[0].price"));
        let e = parse_json::<Outer>(br#"[1]"#).unwrap_err();
        assert!(e.fields.unwrap().contains_key("body"));
    }
}
