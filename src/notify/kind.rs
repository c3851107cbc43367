//! What a notification kind is: its stored name, the preference category that decides whether it
//! leaves the app, and its texts. Each feature declares its kinds as constants next to the code
//! that sends them (`bookings/notices.rs`, `catalog/notices.rs`, `accounts/notices.rs`), so
//! `outbox::notify` only takes a kind that exists:
//!
//! ```ignore
//! pub const ACCEPTED: Kind = Kind {
//!     name: "booking.accepted",
//!     category: Category::BookingUpdates,
//!     render: |f| Texts::new("Booking accepted", format!("Hi {}, …", f.first_name())),
//! };
//! ```
//!
//! Templates see the facts only through [`Facts`], which makes every value one line of text.

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

#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// As stored and shown to clients (`booking.accepted`); never rename one.
    pub name: &'static str,
    pub category: Category,
    pub render: fn(&Facts) -> Texts,
}

impl Kind {
    /// The texts for `name` (the recipient's full name) and the notification's `data`.
    pub fn texts(&self, name: &str, data: &Value) -> Texts {
        (self.render)(&Facts { name: one_line(name), data })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    pub title: String,
    pub body: String,
}

impl Texts {
    pub fn new(title: impl Into<String>, body: String) -> Texts {
        Texts { title: title.into(), body }
    }
}

/// The recipient's name and the notification's data, as a template may use them.
pub struct Facts<'a> {
    name: String,
    data: &'a Value,
}

impl Facts<'_> {
    pub fn first_name(&self) -> &str {
        self.name.split(' ').next().unwrap_or("")
    }

    /// `data[key]` made safe to interpolate (every value may come from a user); "" when absent.
    pub fn get(&self, key: &str) -> String {
        one_line(self.data.get(key).and_then(Value::as_str).unwrap_or(""))
    }
}

/// For kinds whose sender writes the texts itself: `data.title` (default `BuildXpert`) and
/// `data.body` after the greeting.
pub fn from_data(f: &Facts) -> Texts {
    let title = f.get("title");
    let title = if title.is_empty() { "BuildXpert".to_string() } else { title };
    Texts::new(title, format!("Hi {}, {}", f.first_name(), f.get("body")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::notices as accounts;
    use crate::bookings::notices as bookings;
    use crate::notify::unowned;
    use serde_json::json;

    /// (title, body) of `kind`'s texts.
    fn render(kind: Kind, name: &str, data: &Value) -> (String, String) {
        let t = kind.texts(name, data);
        (t.title, t.body)
    }

    fn category(kind: Kind) -> Category {
        kind.category
    }

    #[test]
    fn texts_carry_the_name_and_booking_facts() {
        let d = json!({"category": "Plumber", "date": "2026-12-01", "time": "10:30", "otherName": "Ravi Kumar", "reason": "Out of town"});
        let (t, b) = render(bookings::REJECTED, "Asha Rao", &d);
        assert_eq!(t, "Booking declined");
        assert_eq!(
            b,
            "Hi Asha, Ravi Kumar could not take your Plumber booking on 2026-12-01 at 10:30. Reason: Out of town."
        );
        assert_eq!(
            render(bookings::TWO_HOURS, "Asha", &d).1,
            "Hi Asha, Plumber with Ravi Kumar starts on 2026-12-01 at 10:30."
        );
        assert_eq!(category(bookings::CREATED), Category::BookingUpdates);
        assert_eq!(category(bookings::DAY_BEFORE), Category::Reminders);
        assert_eq!(category(crate::calls::notices::CALL_MISSED), Category::Calls);
        assert_eq!(category(unowned::MARKETING_OFFER), Category::Marketing);
        assert_eq!(category(accounts::PASSWORD_CHANGED), Category::Security);
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
        let (t, b) = render(bookings::REJECTED, "Asha\nRao", &d);
        assert_eq!(t, "Booking declined");
        assert_eq!(b, "Hi Asha, Ravi Kumar could not take your Plumber booking. Reason: Busy Call +91 99999 to pay.");
        let (t, b) = render(accounts::PASSWORD_CHANGED, "\nAsha", &json!({"title": "A\nB", "body": "c\rd"}));
        assert_eq!((t.as_str(), b.as_str()), ("A B", "Hi Asha, c d"));
        assert!(!format!("{t}{b}").chars().any(char::is_control));
    }
}
