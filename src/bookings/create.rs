//! `POST /bookings`: a customer requests a slot on an active listing. The server prices it from
//! the listing's own prices; the booking, its items, its first history row, the provider's
//! notification and both parties' events commit together.

use super::views::{self, BookingView};
use super::{Status, MAX_DAYS_AHEAD};
use crate::app::App;
use crate::catalog;
use crate::clock::DAY_MS;
use crate::db::Cached;
use crate::notify::outbox;
use crate::web::auth::Principal;
use crate::web::ctx::new_id;
use crate::web::ApiError;
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::json;

pub const MAX_ITEMS: usize = 20;
pub const MAX_ADDRESS: usize = 300;
pub const MAX_NOTES: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewBooking {
    pub listing_id: String,
    pub sub_service_ids: Vec<String>,
    pub date: String,
    pub time: String,
    pub address: String,
    #[serde(default)]
    pub notes: Option<String>,
}

struct Clean {
    starts_at: i64,
    address: String,
    notes: String,
}

/// Checks the body without the database; every bad field is reported at once.
fn clean(app: &App, b: &NewBooking, now: i64) -> Result<Clean, ApiError> {
    let mut errs: Vec<(&str, String)> = Vec::new();
    let mut starts_at = 0;
    match app.tz.local_to_utc(&b.date, &b.time) {
        Err("date") => errs.push(("date", "must be a date as YYYY-MM-DD".into())),
        Err(_) => errs.push(("time", "must be a time as HH:MM (24 h) that exists on that date".into())),
        Ok(t) if t <= now => errs.push(("time", "must be in the future".into())),
        Ok(t) if t > now + MAX_DAYS_AHEAD * DAY_MS => {
            errs.push(("date", format!("must be at most {MAX_DAYS_AHEAD} days ahead")))
        }
        Ok(t) => starts_at = t,
    }
    if b.sub_service_ids.is_empty() {
        errs.push(("subServiceIds", "must name at least one sub-service".into()));
    } else if b.sub_service_ids.len() > MAX_ITEMS {
        errs.push(("subServiceIds", format!("must name at most {MAX_ITEMS} sub-services")));
    } else if (1..b.sub_service_ids.len()).any(|i| b.sub_service_ids[..i].contains(&b.sub_service_ids[i])) {
        errs.push(("subServiceIds", "must not repeat a sub-service".into()));
    }
    let address = super::required_text(&b.address, MAX_ADDRESS).map_err(|e| errs.push(("address", e))).ok();
    let notes = super::optional_text(b.notes.as_deref(), MAX_NOTES).map_err(|e| errs.push(("notes", e))).ok();
    if b.listing_id.trim().is_empty() {
        errs.push(("listingId", "is required".into()));
    }
    if !errs.is_empty() {
        return Err(ApiError::validation(errs));
    }
    Ok(Clean { starts_at, address: address.unwrap_or_default(), notes: notes.flatten().unwrap_or_default() })
}

/// The listing as booking needs it.
pub fn create(app: &App, p: &Principal, b: NewBooking) -> Result<BookingView, ApiError> {
    let now = app.now_ms();
    let v = clean(app, &b, now)?;
    let (date, time) = (b.date.clone(), b.time.clone());
    let currency = app.config.business.currency.clone();
    app.db.write(|tx| {
        let customer = crate::accounts::current_user(tx, &p.user_id)?;
        let listing = catalog::search::live(tx, &b.listing_id, now)?
            .ok_or_else(|| ApiError::missing("That listing does not exist or is not active."))?;
        // One person may hold a customer and a provider account on the same phone: still their own.
        if listing.provider_id == customer.id || listing.provider_phone == customer.phone {
            return Err(ApiError::denied("forbidden", "You cannot book your own listing."));
        }
        let mut items: Vec<(String, String, i64)> = Vec::with_capacity(b.sub_service_ids.len());
        for id in &b.sub_service_ids {
            let Some((name, price)) = catalog::listings::offered(tx, &b.listing_id, id)? else {
                return Err(ApiError::field("subServiceIds", &format!("{id} is not offered on this listing")));
            };
            items.push((id.clone(), name, price));
        }
        let total: i64 = items.iter().map(|i| i.2).sum();
        if listing.requires_pass {
            let has_pass = tx
                .query_row(
                    "SELECT 1 FROM passes WHERE user_id = ?1 AND category_id = ?2 AND valid_from <= ?3 AND valid_until > ?3 LIMIT 1",
                    params![customer.id, listing.category_id, now],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !has_pass {
                return Err(ApiError::denied("pass_required", "This category needs a valid pass; buy one first.")
                    .with_extra("categoryId", json!(listing.category_id)));
            }
        }
        let taken = tx
            .query_row(
                "SELECT 1 FROM bookings WHERE provider_id = ?1 AND starts_at = ?2 AND status IN ('accepted', 'in_progress')",
                params![listing.provider_id, v.starts_at],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if taken {
            // Pending requests may share a slot; the index only guards accepted ones, so the
            // rule is checked here, with the index's answer.
            return Err(ApiError::constraint("bookings_one_taken_per_slot"));
        }
        let id = new_id("bkg");
        // `bookings_one_open_per_customer` refuses a second open request for the same slot.
        tx.execute_cached(
            "INSERT INTO bookings (id, listing_id, customer_id, provider_id, category_id, status, local_date, local_time,
                 starts_at, address, notes, total, currency, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
            params![
                id,
                b.listing_id,
                customer.id,
                listing.provider_id,
                listing.category_id,
                date,
                time,
                v.starts_at,
                v.address,
                v.notes,
                total,
                currency,
                now
            ],
        )?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO booking_items (booking_id, sub_service_id, name, price) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (sid, name, price) in &items {
                st.execute(params![id, sid, name, price])?;
            }
        }
        super::record_history(tx, &id, None, Status::Pending, now, Some((&customer.id, "customer")), None)?;
        let booking = super::find(tx, &id)?.ok_or_else(|| ApiError::internal("inserted booking not found"))?;
        let view = views::view(tx, &booking)?;
        let facts = super::facts(tx, &booking, &customer.id, None)?;
        outbox::notify(tx, app, &booking.provider_id, super::notices::CREATED, facts)?;
        outbox::event(
            tx,
            app,
            &[&booking.customer_id, &booking.provider_id],
            "booking.created",
            &json!({"booking": view}),
        )?;
        Ok(view)
    })
}
