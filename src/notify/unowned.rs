//! Kinds whose feature is not built yet: call signalling (`call.missed`, facts: `otherName`)
//! and marketing (`marketing.offer`). Their texts are ready; when the feature lands, move its kinds next to it as the other features keep theirs.

use super::{Category, Kind, Texts};

pub const CALL_MISSED: Kind = Kind {
    name: "call.missed",
    category: Category::Calls,
    render: |f| {
        Texts::new("Missed call", format!("Hi {}, you missed a call from {}.", f.first_name(), f.get("otherName")))
    },
};

/// A marketing notice, texts in `data` (`title`, `body`); only for users who opted in.
pub const MARKETING_OFFER: Kind =
    Kind { name: "marketing.offer", category: Category::Marketing, render: super::kind::from_data };
