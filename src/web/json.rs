//! JSON in and out: bodies are read through a limit (413), the content type is checked (415),
//! malformed JSON is 400 `invalid_json`, and unknown shapes, repeated keys and arrays sent for
//! objects are 400 `validation_failed` with the failing field.

use super::error::ApiError;
use super::strict_json::{self, ParseError};
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

/// The route helpers every feature uses.
///
/// The request's JSON body as `T`, read through the configured limit.
pub fn body<T: DeserializeOwned>(ctx: &super::Ctx, req: &rouille::Request) -> Result<T, ApiError> {
    read_json(req, ctx.body_limit)
}

/// A body that may be absent (`{reason?}` actions): no body, or only whitespace, is `T::default()`.
pub fn optional_body<T: DeserializeOwned + Default>(ctx: &super::Ctx, req: &rouille::Request) -> Result<T, ApiError> {
    let raw = read_body(req, ctx.body_limit)?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    match req.header("Content-Type") {
        Some(ct) if is_json(ct) => parse_json(&raw),
        _ => Err(ApiError::unsupported_media_type()),
    }
}

/// Personal data must not linger in shared or browser caches.
pub fn private(r: rouille::Response) -> Result<rouille::Response, ApiError> {
    Ok(r.with_unique_header("Cache-Control", "no-store"))
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

/// The one way request bodies become values: strict (no repeated keys, no arrays standing in for
/// objects, see `strict_json`), with errors naming the failing field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::invalid_json("The request body is empty; send a JSON object."));
    }
    let value = strict_json::parse(body).map_err(|e| match e {
        ParseError::Syntax(e) => ApiError::invalid_json(format!("The body is not valid JSON ({e}).")),
        ParseError::Duplicate(path) => ApiError::validation([(path, "appears more than once")]),
    })?;
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
    } else if msg.starts_with("expected an object") {
        "must be a JSON object"
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

#[cfg(test)]
mod strict_tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Login {
        phone: String,
        password: String,
        role: Option<Role>,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Role {
        Admin,
        Customer,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Item {
        id: String,
        price: u32,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Outer {
        sub_services: Vec<Item>,
        tags: Option<Vec<String>>,
    }

    fn field(e: ApiError) -> (String, String) {
        assert_eq!((e.status, e.code), (400, "validation_failed"));
        let f = e.fields.expect("fields");
        let (k, v) = f.iter().next().expect("one field");
        (k.clone(), v.clone())
    }

    #[test]
    fn an_array_never_fills_a_struct() {
        let e = parse_json::<Login>(br#"["+919876500001","pw","admin"]"#).unwrap_err();
        assert_eq!(field(e), ("body".into(), "must be a JSON object".into()));
        let e = parse_json::<Outer>(br#"{"subServices":[["a",1]]}"#).unwrap_err();
        assert_eq!(field(e), ("subServices[0]".into(), "must be a JSON object".into()));
        // Arrays where the type wants a sequence are fine.
        let ok = parse_json::<Outer>(br#"{"subServices":[{"id":"a","price":1}],"tags":["x"]}"#).unwrap();
        assert_eq!(ok.sub_services, vec![Item { id: "a".into(), price: 1 }]);
        assert_eq!(ok.tags, Some(vec!["x".to_string()]));
    }

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        let e = parse_json::<Login>(br#"{"phone":"1","phone":"2","password":"p"}"#).unwrap_err();
        assert_eq!(field(e), ("phone".into(), "appears more than once".into()));
        let e = parse_json::<Outer>(br#"{"subServices":[{"id":"a","price":1},{"id":"b","id":"c","price":2}]}"#)
            .unwrap_err();
        assert_eq!(field(e).0, "subServices[1].id");
        let e = parse_json::<serde_json::Value>(br#"{"a":{"b":[{"c":1,"c":1}]}}"#).unwrap_err();
        assert_eq!(field(e).0, "a.b[0].c");
        // The same key in sibling objects is not a repeat.
        assert!(parse_json::<serde_json::Value>(br#"[{"a":1},{"a":2}]"#).is_ok());
    }

    #[test]
    fn ordinary_shapes_still_parse() {
        let l = parse_json::<Login>(br#"{"phone":"1","password":"p","role":"admin"}"#).unwrap();
        assert_eq!(l.role, Some(Role::Admin));
        let l = parse_json::<Login>(br#"{"phone":"1","password":"p","role":null}"#).unwrap();
        assert_eq!(l.role, None);
        let e = parse_json::<Login>(br#"{"phone":"1","password":"p","role":"root"}"#).unwrap_err();
        assert_eq!(field(e), ("role".into(), "has an unsupported value".into()));
        let _ = Role::Customer;
        let v = parse_json::<serde_json::Value>(br#"{"n":-1,"f":1.5,"u":7,"s":"x","b":true,"z":null}"#).unwrap();
        assert_eq!(v, serde_json::json!({"n":-1,"f":1.5,"u":7,"s":"x","b":true,"z":null}));
        assert_eq!(parse_json::<Login>(br#"{"phone":"1","password":"p"} x"#).unwrap_err().code, "invalid_json");
        assert_eq!(parse_json::<Login>(br#"{"phone":"1","#).unwrap_err().code, "invalid_json");
    }
}
