//! Headers every response gets (security) and CORS from `server.cors_origins`.

use rouille::Response;

const CSP_HTML: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

fn has(r: &Response, name: &str) -> bool {
    r.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// Adds the security headers; HSTS only when the public URL is https (it is ignored over http).
pub fn apply_security(r: &mut Response, https: bool) {
    let mut add = |k: &'static str, v: &'static str| {
        if !has(r, k) {
            r.headers.push((k.into(), v.into()));
        }
    };
    add("X-Content-Type-Options", "nosniff");
    add("X-Frame-Options", "DENY");
    add("Referrer-Policy", "no-referrer");
    if https {
        add("Strict-Transport-Security", "max-age=63072000; includeSubDomains");
    }
    let html = r
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("Content-Type") && v.to_ascii_lowercase().starts_with("text/html"));
    if html && !has(r, "Content-Security-Policy") {
        r.headers.push(("Content-Security-Policy".into(), CSP_HTML.into()));
    }
}

/// The origin to allow, if the request's Origin is in the configured list.
pub fn allowed_origin<'a>(origin: Option<&'a str>, allowed: &[String]) -> Option<&'a str> {
    let origin = origin?;
    allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)).then_some(origin)
}

pub fn apply_cors(r: &mut Response, origin: &str) {
    r.headers.push(("Access-Control-Allow-Origin".into(), origin.to_string().into()));
    r.headers.push(("Vary".into(), "Origin".into()));
    r.headers.push((
        "Access-Control-Expose-Headers".into(),
        "X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Idempotent-Replayed"
            .into(),
    ));
}

/// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
pub fn preflight(origin: &str, allow_methods: &[&str]) -> Response {
    let mut r = Response::empty_204();
    apply_cors(&mut r, origin);
    r.headers.push(("Access-Control-Allow-Methods".into(), allow_methods.join(", ").into()));
    r.headers.push((
        "Access-Control-Allow-Headers".into(),
        "Authorization, Content-Type, Idempotency-Key, X-Request-Id".into(),
    ));
    r.headers.push(("Access-Control-Max-Age".into(), "600".into()));
    r
}
