//! The notifications payments send to the payer (facts: `amount`, already formatted, and
//! `paymentId`).

use crate::notify::{Category, Facts, Kind, Texts};

const fn payment(name: &'static str, render: fn(&Facts) -> Texts) -> Kind {
    Kind { name, category: Category::BookingUpdates, render }
}

pub const SUCCEEDED: Kind = payment("payment.succeeded", |f| {
    Texts::new("Payment received", format!("Hi {}, we received your payment of {}.", f.first_name(), f.get("amount")))
});

pub const FAILED: Kind = payment("payment.failed", |f| {
    Texts::new(
        "Payment failed",
        format!("Hi {}, your payment of {} did not go through.", f.first_name(), f.get("amount")),
    )
});

pub const REFUNDED: Kind = payment("payment.refunded", |f| {
    Texts::new("Refund issued", format!("Hi {}, a refund of {} is on its way.", f.first_name(), f.get("amount")))
});
