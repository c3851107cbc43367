//! Bookings' part of the operator's daily series (`GET /admin/stats`): per local day, bookings
//! created, completed and cancelled. One statement per figure for the whole range
//! (`db::series::per_day`), served by `bookings_created` and `booking_history_at`.

use crate::db::series::per_day;
use rusqlite::Connection;

/// One local day's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookingDay {
    pub created: i64,
    pub completed: i64,
    pub cancelled: i64,
}

/// `days` are `[start, end)` instants (ms) of consecutive local days; the answer has one entry
/// per day, in order: bookings created that day, and transitions to completed and to cancelled.
pub fn daily(c: &Connection, days: &[(i64, i64)]) -> rusqlite::Result<Vec<BookingDay>> {
    let created = per_day(
        c,
        "SELECT CAST(d.key AS INTEGER), COUNT(b.id) FROM json_each(?1) d
         JOIN bookings b ON b.created_at >= json_extract(d.value, '$[0]') AND b.created_at < json_extract(d.value, '$[1]')
         GROUP BY d.key",
        days,
        &[],
    )?;
    let moved = |status: &str| {
        per_day(
            c,
            "SELECT CAST(d.key AS INTEGER), COUNT(h.id) FROM json_each(?1) d
             JOIN booking_history h ON h.to_status = ?2
              AND h.at >= json_extract(d.value, '$[0]') AND h.at < json_extract(d.value, '$[1]')
             GROUP BY d.key",
            days,
            &[status],
        )
    };
    let completed = moved("completed")?;
    let cancelled = moved("cancelled")?;
    Ok((0..days.len())
        .map(|i| BookingDay { created: created[i], completed: completed[i], cancelled: cancelled[i] })
        .collect())
}
