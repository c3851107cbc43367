//! Notification texts per kind, with the recipient's name and the facts in `data`, and the
//! preference category each kind belongs to (which decides whether it leaves the app).

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    BookingUpdates,
    Reminders,
    Calls,
    Marketing,
    /// Account security: always delivered.
    Security,
}

pub fn category(kind: &str) -> Category {
    match kind.split('.').next().unwrap_or("") {
        "booking" | "payment" | "listing" | "rating" | "report" => Category::BookingUpdates,
        "reminder" => Category::Reminders,
        "call" => Category::Calls,
        "marketing" => Category::Marketing,
        _ => Category::Security,
    }
}

/// User text on one line: every run of control characters (newlines included), Unicode line
/// separators and whitespace becomes one space. SMS, e-mail subjects and push titles are single
/// lines, and a newline in a rejection reason must not let a user lay out a fake message.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_control() || c.is_whitespace()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A fact from `data`, made safe to interpolate (every value may come from a user).
fn s(data: &Value, key: &str) -> String {
    one_line(data.get(key).and_then(Value::as_str).unwrap_or(""))
}

/// (title, body) for a notification of `kind` to `name`.
pub fn render(kind: &str, name: &str, data: &Value) -> (String, String) {
    let name = one_line(name);
    let first = name.split(' ').next().unwrap_or("");
    let service = s(data, "category");
    let when = match (s(data, "date"), s(data, "time")) {
        (d, _) if d.is_empty() => String::new(),
        (d, t) if t.is_empty() => format!(" on {d}"),
        (d, t) => format!(" on {d} at {t}"),
    };
    let other = s(data, "otherName");
    let reason = match s(data, "reason") {
        r if r.is_empty() => String::new(),
        r => format!(" Reason: {r}."),
    };
    let (title, body) = match kind {
        "booking.created" => {
            ("New booking request".to_string(), format!("Hi {first}, {other} requested {service}{when}."))
        }
        "booking.accepted" => {
            ("Booking accepted".into(), format!("Hi {first}, {other} accepted your {service} booking{when}."))
        }
        "booking.rejected" => (
            "Booking declined".into(),
            format!("Hi {first}, {other} could not take your {service} booking{when}.{reason}"),
        ),
        "booking.started" => ("Work started".into(), format!("Hi {first}, {other} has started your {service} job.")),
        "booking.completed" => {
            ("Booking completed".into(), format!("Hi {first}, your {service} booking is complete. Rate {other}!"))
        }
        "booking.cancelled" => {
            ("Booking cancelled".into(), format!("Hi {first}, the {service} booking{when} was cancelled.{reason}"))
        }
        "booking.expired" => {
            ("Booking expired".into(), format!("Hi {first}, the {service} request{when} expired without an answer."))
        }
        "reminder.day_before" => {
            ("Booking tomorrow".into(), format!("Hi {first}, reminder: {service} with {other}{when}."))
        }
        "reminder.two_hours" => {
            ("Booking in 2 hours".into(), format!("Hi {first}, {service} with {other} starts{when}."))
        }
        "payment.succeeded" => {
            ("Payment received".into(), format!("Hi {first}, we received your payment of {}.", s(data, "amount")))
        }
        "payment.failed" => {
            ("Payment failed".into(), format!("Hi {first}, your payment of {} did not go through.", s(data, "amount")))
        }
        "payment.refunded" => {
            ("Refund issued".into(), format!("Hi {first}, a refund of {} is on its way.", s(data, "amount")))
        }
        "listing.activated" => (
            "Listing active".into(),
            format!("Hi {first}, your {service} listing is live until {}.", s(data, "activeUntil")),
        ),
        "listing.expiring" => (
            "Listing expires soon".into(),
            format!("Hi {first}, your {service} listing expires on {}. Renew to stay visible.", s(data, "activeUntil")),
        ),
        "listing.expired" => (
            "Listing expired".into(),
            format!("Hi {first}, your {service} listing has expired. Renew to get bookings again."),
        ),
        "call.missed" => ("Missed call".into(), format!("Hi {first}, you missed a call from {other}.")),
        _ => {
            let title = s(data, "title");
            let body = s(data, "body");
            (if title.is_empty() { "BuildXpert".to_string() } else { title }, format!("Hi {first}, {body}"))
        }
    };
    (title, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn texts_carry_the_name_and_booking_facts() {
        let d = json!({"category": "Plumber", "date": "2026-12-01", "time": "10:30", "otherName": "Ravi Kumar", "reason": "Out of town"});
        let (t, b) = render("booking.rejected", "Asha Rao", &d);
        assert_eq!(t, "Booking declined");
        assert_eq!(
            b,
            "Hi Asha, Ravi Kumar could not take your Plumber booking on 2026-12-01 at 10:30. Reason: Out of town."
        );
        assert_eq!(
            render("reminder.two_hours", "Asha", &d).1,
            "Hi Asha, Plumber with Ravi Kumar starts on 2026-12-01 at 10:30."
        );
        assert_eq!(category("booking.created"), Category::BookingUpdates);
        assert_eq!(category("reminder.day_before"), Category::Reminders);
        assert_eq!(category("call.missed"), Category::Calls);
        assert_eq!(category("marketing.offer"), Category::Marketing);
        assert_eq!(category("account.password_changed"), Category::Security);
    }

    #[test]
    fn user_text_is_one_line() {
        assert_eq!(
            one_line("  Out of\ntown\r\n\r\nSMS: reply STOP\t \u{1b}[2J\u{2028}x "),
            "Out of town SMS: reply STOP [2J x"
        );
        assert_eq!(one_line("plain"), "plain");
        assert_eq!(one_line("\n\n"), "");
        let d = json!({"category": "Plumber\n", "otherName": "Ravi\nKumar", "reason": "Busy\n\nCall +91 99999 to pay"});
        let (t, b) = render("booking.rejected", "Asha\nRao", &d);
        assert_eq!(t, "Booking declined");
        assert_eq!(b, "Hi Asha, Ravi Kumar could not take your Plumber booking. Reason: Busy Call +91 99999 to pay.");
        let (t, b) = render("custom.notice", "\nAsha", &json!({"title": "A\nB", "body": "c\rd"}));
        assert_eq!((t.as_str(), b.as_str()), ("A B", "Hi Asha, c d"));
        assert!(!format!("{t}{b}").chars().any(char::is_control));
    }
}
