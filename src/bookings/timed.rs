//! Time-driven booking work, registered by `bookings::jobs()` on the one runner:
//! - `bookings-expire`: a pending booking whose time has come becomes `expired` (history by the
//!   system, the customer notified, both parties get `booking.updated`);
//! - `booking-reminders`: the customer of an accepted booking is reminded the day before and
//!   2 hours before, each once: the send is recorded in `reminded_*_at` in the same transaction as
//!   the notification, so a restart never repeats one. A booking accepted less than 2 hours ahead
//!   only gets the 2-hour reminder.

use super::{notices, views, Booking, Status, COLUMNS};
use crate::app::App;
use crate::clock::HOUR_MS;
use crate::db::Cached;
use crate::notify::{outbox, Kind};
use crate::web::ApiError;
use rusqlite::params;
use serde_json::json;

/// Bookings handled per transaction (the job loops until none are left).
const BATCH: i64 = 100;

/// Expires due pending bookings; returns how many.
pub fn expire(app: &App) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        let now = app.now_ms();
        let n = app.db.write(|tx| {
            let due = views::list(
                tx,
                &format!(
                    "SELECT {COLUMNS} FROM bookings WHERE status = 'pending' AND starts_at <= ?1 ORDER BY starts_at LIMIT ?2"
                ),
                &[now.into(), BATCH.into()],
            )?;
            for b in &due {
                let changed = tx.execute_cached(
                    "UPDATE bookings SET status = 'expired', updated_at = ?2 WHERE id = ?1 AND status = 'pending'",
                    params![b.id, now],
                )?;
                if changed == 0 {
                    continue;
                }
                super::record_history(tx, &b.id, Some(Status::Pending), Status::Expired, now, None, None)?;
                let after = super::find(tx, &b.id)?.ok_or_else(ApiError::not_found)?;
                let view = views::view(tx, &after)?;
                let facts = super::facts(tx, &after, &b.provider_id, None)?;
                outbox::notify(tx, app, &b.customer_id, notices::EXPIRED, facts)?;
                outbox::event(tx, app, &[&b.customer_id, &b.provider_id], "booking.updated", &json!({"booking": view}))?;
            }
            Ok::<_, ApiError>(due.len())
        })?;
        total += n;
        if (n as i64) < BATCH {
            return Ok(total);
        }
    }
}

fn due_reminders(app: &App, now: i64, which: Reminder) -> Result<Vec<Booking>, ApiError> {
    let (column, lead) = which.column_and_lead();
    app.db.read(|c| {
        Ok(views::list(
            c,
            &format!(
                "SELECT {COLUMNS} FROM bookings
                 WHERE status = 'accepted' AND starts_at > ?1 AND starts_at <= ?1 + ?2 AND {column} IS NULL
                 ORDER BY starts_at LIMIT ?3"
            ),
            &[now.into(), lead.into(), BATCH.into()],
        )?)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reminder {
    DayBefore,
    TwoHours,
}

impl Reminder {
    fn column_and_lead(self) -> (&'static str, i64) {
        match self {
            Reminder::DayBefore => ("reminded_day_before_at", 24 * HOUR_MS),
            Reminder::TwoHours => ("reminded_two_hours_at", 2 * HOUR_MS),
        }
    }

    fn kind(self) -> Kind {
        match self {
            Reminder::DayBefore => notices::DAY_BEFORE,
            Reminder::TwoHours => notices::TWO_HOURS,
        }
    }
}

/// Sends due reminders; returns how many were sent.
pub fn remind(app: &App) -> Result<usize, ApiError> {
    let mut sent = 0;
    // The 2-hour reminder first: a booking inside both windows gets only that one.
    for which in [Reminder::TwoHours, Reminder::DayBefore] {
        loop {
            let now = app.now_ms();
            let due = due_reminders(app, now, which)?;
            let (column, _) = which.column_and_lead();
            let n = app.db.write(|tx| {
                let mut n = 0;
                for b in &due {
                    // Guarded: another run (or a state change) since the read wins.
                    let claimed = if which == Reminder::TwoHours {
                        tx.execute_cached(
                            "UPDATE bookings SET reminded_two_hours_at = ?2,
                                 reminded_day_before_at = COALESCE(reminded_day_before_at, ?2)
                             WHERE id = ?1 AND status = 'accepted' AND reminded_two_hours_at IS NULL",
                            params![b.id, now],
                        )?
                    } else {
                        tx.execute_cached(
                            &format!(
                                "UPDATE bookings SET {column} = ?2 WHERE id = ?1 AND status = 'accepted' AND {column} IS NULL"
                            ),
                            params![b.id, now],
                        )?
                    };
                    if claimed == 0 {
                        continue;
                    }
                    let facts = super::facts(tx, b, &b.provider_id, None)?;
                    outbox::notify(tx, app, &b.customer_id, which.kind(), facts)?;
                    n += 1;
                }
                Ok::<_, ApiError>(n)
            })?;
            sent += n;
            if (due.len() as i64) < BATCH {
                break;
            }
        }
    }
    Ok(sent)
}
