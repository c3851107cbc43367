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

fn s<'a>(data: &'a Value, key: &str) -> &'a str {
    data.get(key).and_then(Value::as_str).unwrap_or("")
}

/// (title, body) for a notification of `kind` to `name`.
pub fn render(kind: &str, name: &str, data: &Value) -> (String, String) {
    let first = name.split_whitespace().next().unwrap_or(name);
    let service = s(data, "category");
    let when = match (s(data, "date"), s(data, "time")) {
        ("", _) => String::new(),
        (d, "") => format!(" on {d}"),
        (d, t) => format!(" on {d} at {t}"),
    };
    let other = s(data, "otherName");
    let reason = match s(data, "reason") {
        "" => String::new(),
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
            (if title.is_empty() { "BuildXpert".to_string() } else { title.to_string() }, format!("Hi {first}, {body}"))
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
}
