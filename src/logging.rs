//! Log setup: text or JSON lines on stderr; every line written while a request runs carries its
//! request id. Nothing here logs bodies, headers or secrets — call sites must not either.

use crate::web::ctx::current_request_id;
use std::io::Write;

pub fn init(level: &str, format: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_string());
    let json = format == "json";
    let mut b = env_logger::Builder::new();
    b.parse_filters(&filter);
    // HTTP and TLS libraries log request bodies and headers (codes, tokens, credentials) at
    // debug/trace: they are capped whatever RUST_LOG says. Set after parsing, so these win.
    for noisy in ["ureq", "ureq_proto", "rustls", "r2d2", "mio", "tiny_http", "rouille"] {
        b.filter_module(noisy, log::LevelFilter::Warn);
    }
    b.format(move |f, rec| {
        let ts = crate::clock::rfc3339(crate::clock::Clock::now_ms(&crate::clock::SystemClock));
        let rid = current_request_id();
        if json {
            let line = serde_json::json!({
                "ts": ts,
                "level": rec.level().as_str(),
                "target": rec.target(),
                "requestId": rid,
                "msg": rec.args().to_string(),
            });
            writeln!(f, "{line}")
        } else {
            match rid {
                Some(id) => writeln!(f, "{ts} {:<5} {} rid={id} {}", rec.level(), rec.target(), rec.args()),
                None => writeln!(f, "{ts} {:<5} {} {}", rec.level(), rec.target(), rec.args()),
            }
        }
    });
    let _ = b.try_init();
    // Panics are logged through the same path (with the request id), not printed raw.
    std::panic::set_hook(Box::new(|info| {
        let loc = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        log::error!("panic at {loc}: {msg}");
    }));
}
