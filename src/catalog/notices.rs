//! The notifications the catalogue sends a provider about their listing: activated (or renewed),
//! expiring in two days, expired. Facts: `listingId`, `category`, `activeUntil`.

use crate::notify::{Category, Facts, Kind, Texts};

/// Listing notices follow the provider's `bookingUpdates` preference.
const fn listing(name: &'static str, render: fn(&Facts) -> Texts) -> Kind {
    Kind { name, category: Category::BookingUpdates, render }
}

pub const ACTIVATED: Kind = listing("listing.activated", |f| {
    let (first, service, until) = (f.first_name(), f.get("category"), f.get("activeUntil"));
    Texts::new("Listing active", format!("Hi {first}, your {service} listing is live until {until}."))
});

pub const EXPIRING: Kind = listing("listing.expiring", |f| {
    let (first, service, until) = (f.first_name(), f.get("category"), f.get("activeUntil"));
    Texts::new(
        "Listing expires soon",
        format!("Hi {first}, your {service} listing expires on {until}. Renew to stay visible."),
    )
});

pub const EXPIRED: Kind = listing("listing.expired", |f| {
    let (first, service) = (f.first_name(), f.get("category"));
    Texts::new(
        "Listing expired",
        format!("Hi {first}, your {service} listing has expired. Renew to get bookings again."),
    )
});
