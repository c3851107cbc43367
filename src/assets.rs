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

/// An embedded file as a response, with a validator so browsers revalidate cheaply.
pub fn response(path: &str, req: &rouille::Request) -> Option<rouille::Response> {
    let file = Assets::get(path)?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..8]));
    if req.header("If-None-Match") == Some(etag.as_str()) {
        return Some(rouille::Response::text("").with_status_code(304).with_unique_header("ETag", etag));
    }
    Some(
        rouille::Response::from_data(content_type(path), file.data.into_owned())
            .with_unique_header("ETag", etag)
            .with_unique_header("Cache-Control", "no-cache"),
    )
}
