//! Kinds whose feature is not built yet: marketing (`marketing.offer`). Its texts are ready; when
//! the feature lands, move its kinds next to it as the other features keep theirs (payments keep
//! theirs in `payments/notices.rs`, calls in `calls/notices.rs`).

use super::{Category, Kind};

/// A marketing notice, texts in `data` (`title`, `body`); only for users who opted in.
pub const MARKETING_OFFER: Kind =
    Kind { name: "marketing.offer", category: Category::Marketing, render: super::kind::from_data };
