//! Log setup: text or JSON lines on stderr; every line written while a request runs carries its
//! request id. Nothing here logs bodies, headers or secrets — call sites must not either.
//! Messages carry attacker-controlled text (paths, error details), so the formatter escapes it:
//! one record is always one line, and in text a message cannot pose as another `rid=`.

use crate::web::ctx::current_request_id;
use std::borrow::Cow;
use std::fmt::Write as _;
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
        let msg = rec.args().to_string();
        let line = if json {
            json_line(&ts, rec.level(), rec.target(), rid.as_deref(), &msg)
        } else {
            text_line(&ts, rec.level(), rec.target(), rid.as_deref(), &msg)
        };
        writeln!(f, "{line}")
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

/// Escapes control characters (C0, DEL, C1) and the Unicode line and paragraph separators as
/// `\n`, `\r`, `\t` or `\u{..}`, and doubles backslashes so the escaping is unambiguous.
pub fn escape(s: &str) -> Cow<'_, str> {
    let special = |c: char| c == '\\' || c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !s.chars().any(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if special(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `ts LEVEL target [rid=ID] message`. The request id is only ever the field before the message;
/// a `rid=` inside the message is written `rid\=` so grepping for an id finds only its own lines.
fn text_line(ts: &str, level: log::Level, target: &str, rid: Option<&str>, msg: &str) -> String {
    let msg = escape(msg).replace("rid=", "rid\\=");
    match rid {
        Some(id) => format!("{ts} {level:<5} {} rid={} {msg}", escape(target), escape(id)),
        None => format!("{ts} {level:<5} {} {msg}", escape(target)),
    }
}

/// One JSON object per line; serde escapes `\n` already, `escape` keeps the message readable
/// the same way as in text.
fn json_line(ts: &str, level: log::Level, target: &str, rid: Option<&str>, msg: &str) -> String {
    serde_json::json!({
        "ts": ts,
        "level": level.as_str(),
        "target": target,
        "requestId": rid,
        "msg": escape(msg),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level::Info;

    #[test]
    fn escape_makes_one_line_of_anything() {
        assert!(matches!(escape("GET /healthz 200"), Cow::Borrowed(_)));
        assert_eq!(escape("a\nb\r\nc\td"), "a\\nb\\r\\nc\\td");
        assert_eq!(escape("\u{1b}[31m\u{0}\u{7f}\u{85}\u{2028}"), "\\u{1b}[31m\\u{0}\\u{7f}\\u{85}\\u{2028}");
        assert_eq!(escape("a\\nb"), "a\\\\nb", "a literal backslash-n is not an escaped newline");
        assert_eq!(escape("ünïcödé ok"), "ünïcödé ok");
    }

    #[test]
    fn text_lines_cannot_be_forged() {
        let forged = "GET /x\n2026-01-01T00:00:00Z INFO  access rid=req_victim POST /admin 200";
        let line = text_line("T", Info, "access", Some("req_1"), forged);
        assert_eq!(line.lines().count(), 1);
        assert_eq!(line.matches("rid=").count(), 1, "{line}");
        assert!(line.starts_with("T INFO  access rid=req_1 GET /x\\n2026"), "{line}");
        let line = text_line("T", Info, "app", None, "rid=req_victim hello");
        assert_eq!(line, "T INFO  app rid\\=req_victim hello");
    }

    #[test]
    fn json_lines_are_one_line_with_the_message_escaped() {
        let line = json_line("T", Info, "access", Some("req_1"), "a\nb\u{2028}c");
        assert_eq!(line.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["msg"], "a\\nb\\u{2028}c");
        assert_eq!(v["requestId"], "req_1");
    }
}
