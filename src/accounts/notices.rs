//! The notifications accounts send: security notices, always delivered.

use crate::notify::{kind::from_data, Category, Kind};

/// The password was changed or reset. The caller puts the texts in `data` (`title`, `body`).
pub const PASSWORD_CHANGED: Kind =
    Kind { name: "account.password_changed", category: Category::Security, render: from_data };
