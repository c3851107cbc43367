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

/// An embedded file as a response, with a strong validator (from its embedded SHA-256) and
/// `no-cache`, so browsers revalidate cheaply (`web::cache`: a matching `If-None-Match` is 304).
pub fn response(path: &str, req: &rouille::Request) -> Option<rouille::Response> {
    let file = Assets::get(path)?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let resp =
        rouille::Response::from_data(content_type(path), file.data.into_owned()).with_unique_header("ETag", etag);
    Some(crate::web::cache::cacheable(req, resp, crate::web::cache::REVALIDATE))
}
