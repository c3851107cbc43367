//! The delivery worker: claims due deliveries under a lease, sends them outside any transaction,
//! and records the outcome — sent; retry later with exponential backoff and jitter; or, after a
//! permanent error or `notify.max_attempts` failures, fall back to the user's next channel and
//! finally the dead-letter state. A crash mid-send loses nothing: the claim's lease runs out (and
//! at start-up every claim is released), so the row is sent again.

use super::outbox::next_channel;
use super::Channel;
use crate::app::App;
use crate::db::Cached;
use crate::db::DbError;
use rusqlite::params;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a claim is held before another worker may take the row again.
pub const LEASE_MS: i64 = 120_000;
const BATCH: i64 = 20;
const MAX_BACKOFF_MS: i64 = 6 * 3600 * 1000;

/// A delivery this worker holds the lease on.
#[derive(Debug, Clone)]
pub(super) struct Claimed {
    pub id: String,
    pub notification_id: Option<String>,
    pub user_id: Option<String>,
    pub channel: Channel,
    /// A webhook's URL or the operator's e-mail address; empty for a user's channel.
    pub target: String,
    /// A webhook's signed body, an operator e-mail's `{subject, text}`; `{}` for a user's channel.
    pub payload: String,
    attempts: i64,
}

#[derive(Debug)]
pub(super) enum Outcome {
    Sent(String),
    Transient(String),
    Permanent(String),
}

/// Delay before attempt `attempts + 1`: base × 2^(attempts-1), ±20 % jitter, capped.
pub fn backoff_ms(base_secs: u32, attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    let raw = i64::from(base_secs).saturating_mul(1000).saturating_mul(1i64 << exp).min(MAX_BACKOFF_MS);
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let jitter = 0.8 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) * 0.4;
    ((raw as f64) * jitter) as i64
}

/// Releases every claim (at start-up: no worker of this single process can still hold one).
pub fn release_claims(app: &App) -> Result<usize, DbError> {
    app.db.write(|tx| {
        Ok(tx.execute_cached(
            "UPDATE deliveries SET status = 'pending', claimed_until = NULL WHERE status = 'sending'",
            [],
        )?)
    })
}

fn claim(app: &App, now: i64) -> Result<Vec<Claimed>, DbError> {
    app.db.write(|tx| {
        let rows: Vec<Claimed> = {
            let mut st = tx.prepare(
                "SELECT id, notification_id, user_id, channel, target, payload, attempts FROM deliveries
                 WHERE (status = 'pending' AND next_attempt_at <= ?1) OR (status = 'sending' AND claimed_until <= ?1)
                 ORDER BY next_attempt_at LIMIT ?2",
            )?;
            let r = st.query_map(params![now, BATCH], |r| {
                let ch: String = r.get(3)?;
                Ok(Claimed {
                    id: r.get(0)?,
                    notification_id: r.get(1)?,
                    user_id: r.get(2)?,
                    channel: Channel::parse(&ch).unwrap_or(Channel::Sms),
                    target: r.get(4)?,
                    payload: r.get(5)?,
                    attempts: r.get::<_, i64>(6)? + 1,
                })
            })?;
            r.collect::<Result<_, _>>()?
        };
        for c in &rows {
            tx.execute_cached(
                "UPDATE deliveries SET status = 'sending', claimed_until = ?2, attempts = ?3, updated_at = ?4 WHERE id = ?1",
                params![c.id, now + LEASE_MS, c.attempts, now],
            )?;
        }
        Ok(rows)
    })
}

fn record(app: &App, d: &Claimed, outcome: Outcome) -> Result<(), DbError> {
    let now = app.now_ms();
    let max = i64::from(app.config.notify.max_attempts);
    app.db.write(|tx| {
        let (error, permanent) = match outcome {
            Outcome::Sent(r) => {
                tx.execute_cached(
                    "UPDATE deliveries SET status = 'sent', sent_at = ?2, provider_ref = ?3, last_error = NULL,
                     claimed_until = NULL, updated_at = ?2 WHERE id = ?1",
                    params![d.id, now, r],
                )?;
                return Ok(());
            }
            Outcome::Transient(e) => (e, false),
            Outcome::Permanent(e) => (e, true),
        };
        if !permanent && d.attempts < max {
            let next = now + backoff_ms(app.config.notify.backoff_base_seconds, d.attempts);
            tx.execute_cached(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = ?2, last_error = ?3, claimed_until = NULL,
                 updated_at = ?4 WHERE id = ?1",
                params![d.id, next, error, now],
            )?;
            return Ok(());
        }
        // This channel is done: fall back to the next one, or dead-letter.
        let user = match &d.user_id {
            Some(u) => super::recipient(tx, u)?,
            None => None,
        };
        let next = match (&user, d.channel) {
            (Some(u), c) if c != Channel::Webhook => next_channel(tx, app, u, Some(c))?,
            _ => None,
        };
        let status = if next.is_some() { "failed" } else { "dead" };
        tx.execute_cached(
            "UPDATE deliveries SET status = ?2, last_error = ?3, claimed_until = NULL, updated_at = ?4 WHERE id = ?1",
            params![d.id, status, error, now],
        )?;
        if let Some(c) = next {
            super::outbox::queue(tx, d.notification_id.as_deref(), d.user_id.as_deref(), c, "", "{}", now)?;
        } else {
            log::warn!("delivery {} is dead after {} attempt(s) on {}", d.id, d.attempts, d.channel.as_str());
        }
        Ok(())
    })
}

/// Claims and processes every due delivery once; returns how many were handled.
pub fn run_once(app: &App) -> usize {
    let mut handled = 0;
    loop {
        let batch = match claim(app, app.now_ms()) {
            Ok(b) => b,
            Err(e) => {
                log::error!("delivery worker: cannot claim: {e}");
                return handled;
            }
        };
        if batch.is_empty() {
            return handled;
        }
        for d in &batch {
            let outcome = super::dispatch::send(app, d);
            if let Err(e) = record(app, d, outcome) {
                log::error!("delivery worker: cannot record {}: {e}", d.id);
            }
            handled += 1;
        }
    }
}

pub struct Worker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    app: Arc<App>,
}

impl Worker {
    /// Starts the worker thread: it runs when kicked after a commit, and at least every second.
    pub fn start(app: Arc<App>) -> Worker {
        if let Err(e) = release_claims(&app) {
            log::error!("delivery worker: cannot release old claims: {e}");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (s, a) = (stop.clone(), app.clone());
        let handle = std::thread::Builder::new()
            .name("deliveries".into())
            .spawn(move || {
                while !s.load(Ordering::SeqCst) {
                    run_once(&a);
                    a.hub.worker_wait(Duration::from_secs(1));
                }
            })
            .ok();
        Worker { stop, handle, app }
    }

    /// Stops after the delivery in progress (unsent claims are released at the next start).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.app.hub.kick_worker();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for (attempts, base) in [(1, 30_000.0), (2, 60_000.0), (3, 120_000.0)] {
            let b = super::backoff_ms(30, attempts) as f64;
            assert!(b >= base * 0.8 && b <= base * 1.2, "{attempts}: {b}");
        }
        assert!(super::backoff_ms(30, 40) <= super::MAX_BACKOFF_MS * 12 / 10);
    }
}
