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
