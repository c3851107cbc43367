//! The notifications bookings send: the other party hears of each move, the customer of an
//! expired request and of the coming appointment. Facts come from `bookings::facts`
//! (`category`, `date`, `time`, `otherName`, `reason`).

use crate::notify::{Category, Facts, Kind, Texts};

/// The facts every booking text uses.
struct Booking {
    first: String,
    other: String,
    service: String,
    /// ` on {date} at {time}`, or as much of it as is known.
    when: String,
    /// ` Reason: {reason}.` when one was given.
    reason: String,
}

fn booking(f: &Facts) -> Booking {
    let when = match (f.get("date"), f.get("time")) {
        (d, _) if d.is_empty() => String::new(),
        (d, t) if t.is_empty() => format!(" on {d}"),
        (d, t) => format!(" on {d} at {t}"),
    };
    let reason = match f.get("reason") {
        r if r.is_empty() => String::new(),
        r => format!(" Reason: {r}."),
    };
    Booking { first: f.first_name().to_string(), other: f.get("otherName"), service: f.get("category"), when, reason }
}

const fn booking_update(name: &'static str, render: fn(&Facts) -> Texts) -> Kind {
    Kind { name, category: Category::BookingUpdates, render }
}

const fn reminder(name: &'static str, render: fn(&Facts) -> Texts) -> Kind {
    Kind { name, category: Category::Reminders, render }
}

pub const CREATED: Kind = booking_update("booking.created", |f| {
    let Booking { first, other, service, when, .. } = booking(f);
    Texts::new("New booking request", format!("Hi {first}, {other} requested {service}{when}."))
});

pub const ACCEPTED: Kind = booking_update("booking.accepted", |f| {
    let Booking { first, other, service, when, .. } = booking(f);
    Texts::new("Booking accepted", format!("Hi {first}, {other} accepted your {service} booking{when}."))
});

pub const REJECTED: Kind = booking_update("booking.rejected", |f| {
    let Booking { first, other, service, when, reason } = booking(f);
    Texts::new("Booking declined", format!("Hi {first}, {other} could not take your {service} booking{when}.{reason}"))
});

pub const STARTED: Kind = booking_update("booking.started", |f| {
    let Booking { first, other, service, .. } = booking(f);
    Texts::new("Work started", format!("Hi {first}, {other} has started your {service} job."))
});

pub const COMPLETED: Kind = booking_update("booking.completed", |f| {
    let Booking { first, other, service, .. } = booking(f);
    Texts::new("Booking completed", format!("Hi {first}, your {service} booking is complete. Rate {other}!"))
});

pub const CANCELLED: Kind = booking_update("booking.cancelled", |f| {
    let Booking { first, service, when, reason, .. } = booking(f);
    Texts::new("Booking cancelled", format!("Hi {first}, the {service} booking{when} was cancelled.{reason}"))
});

pub const EXPIRED: Kind = booking_update("booking.expired", |f| {
    let Booking { first, service, when, .. } = booking(f);
    Texts::new("Booking expired", format!("Hi {first}, the {service} request{when} expired without an answer."))
});

pub const DAY_BEFORE: Kind = reminder("reminder.day_before", |f| {
    let Booking { first, other, service, when, .. } = booking(f);
    Texts::new("Booking tomorrow", format!("Hi {first}, reminder: {service} with {other}{when}."))
});

pub const TWO_HOURS: Kind = reminder("reminder.two_hours", |f| {
    let Booking { first, other, service, when, .. } = booking(f);
    Texts::new("Booking in 2 hours", format!("Hi {first}, {service} with {other} starts{when}."))
});

/// Longest preview of a message's text in its notification: one line (`Facts::get`), cut here,
/// so an SMS or a push never carries the conversation itself.
pub const PREVIEW_CHARS: usize = 60;

/// `text` (already one line) cut to [`PREVIEW_CHARS`], with an ellipsis when it was longer.
pub fn preview(text: &str) -> String {
    if text.chars().count() <= PREVIEW_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(PREVIEW_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// The other party wrote in the booking's chat (facts plus `preview`, the message's text).
pub const MESSAGE_RECEIVED: Kind = booking_update("message.received", |f| {
    let Booking { first, other, service, .. } = booking(f);
    let preview = preview(&f.get("preview"));
    Texts::new(
        format!("New message from {other}"),
        format!("Hi {first}, {other} wrote about your {service} booking: \"{preview}\""),
    )
});

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_notice_carries_only_a_short_one_line_preview() {
        let long = format!("Call me\non 98450 12345\r\n{}", "x".repeat(200));
        let d = json!({"category": "Plumber", "otherName": "Ravi\nKumar", "preview": long});
        let t = MESSAGE_RECEIVED.texts("Asha Rao", &d);
        assert_eq!(t.title, "New message from Ravi Kumar");
        assert!(t
            .body
            .starts_with("Hi Asha, Ravi Kumar wrote about your Plumber booking: \"Call me on 98450 12345 xx"));
        assert!(!t.body.contains('\n') && !t.body.contains('\r'));
        assert!(t.body.ends_with("…\""), "{}", t.body);
        assert!(t.body.chars().count() < 140, "{}", t.body);
        assert_eq!(preview("short"), "short");
    }
}
