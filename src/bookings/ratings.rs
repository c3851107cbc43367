//! `POST /bookings/{id}/rating`: each party rates the other once, after completion. A customer's
//! rating also moves the listing's aggregate (sum and count) in the same transaction.

use super::{Party, Status};
use crate::app::App;
use crate::clock::rfc3339;
use crate::db::Cached;
use crate::web::auth::Principal;
use crate::web::ApiError;
use rusqlite::params;
use serde::{Deserialize, Serialize};

pub const MAX_REVIEW: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRating {
    pub stars: i64,
    #[serde(default)]
    pub review: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RatingView {
    pub booking_id: String,
    pub rater: super::views::Actor,
    pub ratee_id: String,
    pub listing_id: String,
    pub stars: i64,
    pub review: String,
    pub created_at: String,
}

pub fn rate(app: &App, p: &Principal, booking_id: &str, r: NewRating) -> Result<RatingView, ApiError> {
    let mut errs: Vec<(&str, String)> = Vec::new();
    if !(1..=5).contains(&r.stars) {
        errs.push(("stars", "must be a whole number from 1 to 5".into()));
    }
    let review = super::optional_text(r.review.as_deref(), MAX_REVIEW).map_err(|e| errs.push(("review", e))).ok();
    if !errs.is_empty() {
        return Err(ApiError::validation(errs));
    }
    let review = review.flatten().unwrap_or_default();
    let now = app.now_ms();
    app.db.write(|tx| {
        let (b, party) = super::for_party(tx, booking_id, p)?;
        if b.status != Status::Completed {
            return Err(ApiError::conflict("not_completed", "Only a completed booking can be rated."));
        }
        let ratee = b.other(party).to_string();
        // Once per party: the key (booking_id, rater_id) refuses a second rating.
        tx.execute_cached(
            "INSERT INTO ratings (booking_id, rater_id, rater_role, ratee_id, listing_id, stars, review, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![b.id, p.user_id, party.role(), ratee, b.listing_id, r.stars, review, now],
        )?;
        if party == Party::Customer {
            crate::catalog::listings::add_rating(tx, &b.listing_id, r.stars)?;
        }
        Ok(RatingView {
            booking_id: b.id.clone(),
            rater: super::views::Actor { id: Some(p.user_id.clone()), role: party.role().to_string() },
            ratee_id: ratee,
            listing_id: b.listing_id.clone(),
            stars: r.stars,
            review,
            created_at: rfc3339(now),
        })
    })
}
