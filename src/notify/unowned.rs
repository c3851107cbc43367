//! Kinds whose feature is not built yet: payments (`payment.*`, facts: `amount`) and marketing
//! (`marketing.offer`); calls keep theirs in `calls/notices.rs`. Their texts
//! are ready; when the feature lands, move its kinds next to it as the other features keep theirs.

use super::{Category, Facts, Kind, Texts};

const fn payment(name: &'static str, render: fn(&Facts) -> Texts) -> Kind {
    Kind { name, category: Category::BookingUpdates, render }
}

pub const PAYMENT_SUCCEEDED: Kind = payment("payment.succeeded", |f| {
    Texts::new("Payment received", format!("Hi {}, we received your payment of {}.", f.first_name(), f.get("amount")))
});

pub const PAYMENT_FAILED: Kind = payment("payment.failed", |f| {
    Texts::new(
        "Payment failed",
        format!("Hi {}, your payment of {} did not go through.", f.first_name(), f.get("amount")),
    )
});

pub const PAYMENT_REFUNDED: Kind = payment("payment.refunded", |f| {
    Texts::new("Refund issued", format!("Hi {}, a refund of {} is on its way.", f.first_name(), f.get("amount")))
});

/// A marketing notice, texts in `data` (`title`, `body`); only for users who opted in.
pub const MARKETING_OFFER: Kind =
    Kind { name: "marketing.offer", category: Category::Marketing, render: super::kind::from_data };
