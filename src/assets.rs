//! Files baked into the binary: the admin dashboard and the OpenAPI document.

use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The admin dashboard's policy: nothing inline, nothing from elsewhere, no framing.
pub const CSP_ADMIN: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The Content-Security-Policy of an embedded page, by its path prefix (`None`: the web kit's
/// default for HTML applies).
pub fn csp(path: &str) -> Option<&'static str> {
    path.starts_with("admin/").then_some(CSP_ADMIN)
}

/// An embedded file as a response, with a strong validator (from its embedded SHA-256) and
/// `no-cache`, so browsers revalidate cheaply (`web::cache`: a matching `If-None-Match` is 304).
pub fn response(path: &str, req: &rouille::Request) -> Option<rouille::Response> {
    let file = Assets::get(path)?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mut resp =
        rouille::Response::from_data(content_type(path), file.data.into_owned()).with_unique_header("ETag", etag);
    if let Some(policy) = csp(path).filter(|_| path.ends_with(".html")) {
        resp = resp.with_unique_header("Content-Security-Policy", policy);
    }
    Some(crate::web::cache::cacheable(req, resp, crate::web::cache::REVALIDATE))
}
