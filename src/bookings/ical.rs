//! The provider's bookings as an iCalendar document (RFC 5545): events, TEXT escaping, line
//! folding. Pure rendering; `calendar.rs` reads the bookings and serves the feed.

use crate::clock::{rfc3339, HOUR_MS};

/// A booking's assumed length in the feed (bookings have a start, not an end).
pub const EVENT_MS: i64 = HOUR_MS;

/// One booking as a VEVENT.
pub struct Event {
    pub id: String,
    pub starts_at: i64,
    pub updated_at: i64,
    pub summary: String,
    pub location: String,
    pub description: String,
}

/// `YYYYMMDDTHHMMSSZ`.
pub fn ical_utc(ms: i64) -> String {
    rfc3339(ms).replace(['-', ':'], "")
}

/// TEXT value escaping (RFC 5545 3.3.11).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets (continuations start with one space), never inside a
/// UTF-8 sequence, and ends every physical line with CRLF.
pub fn fold(line: &str, out: &mut String) {
    let mut used = 0;
    for ch in line.chars() {
        let n = ch.len_utf8();
        if used + n > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(ch);
        used += n;
    }
    out.push_str("\r\n");
}

/// The whole VCALENDAR.
pub fn render(events: &[Event], now: i64, host: &str) -> String {
    let mut out = String::new();
    let mut line = |s: &str| fold(s, &mut out);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//BuildXpert//Bookings//EN");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line("X-WR-CALNAME:BuildXpert bookings");
    for e in events {
        line("BEGIN:VEVENT");
        line(&format!("UID:{}@{}", e.id, host));
        line(&format!("DTSTAMP:{}", ical_utc(now)));
        line(&format!("LAST-MODIFIED:{}", ical_utc(e.updated_at)));
        line(&format!("DTSTART:{}", ical_utc(e.starts_at)));
        line(&format!("DTEND:{}", ical_utc(e.starts_at + EVENT_MS)));
        line(&format!("SUMMARY:{}", escape(&e.summary)));
        line(&format!("LOCATION:{}", escape(&e.location)));
        line(&format!("DESCRIPTION:{}", escape(&e.description)));
        line("STATUS:CONFIRMED");
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_counts_octets_and_keeps_characters_whole() {
        let mut out = String::new();
        let long = format!("SUMMARY:{}", "é".repeat(60));
        fold(&long, &mut out);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
        }
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, long);
        assert_eq!(ical_utc(crate::clock::parse_rfc3339("2026-12-01T05:00:00Z").unwrap()), "20261201T050000Z");
        assert_eq!(escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
