//! The reusable long-poll: answer at once when there is news, otherwise park the request — no
//! thread waits — until the user's next committed event or the deadline, then look again on a
//! worker. Every stream built on the per-user event log (events, call signalling, chat) is
//! `wait(app, ctx, principal, seconds, look)` with its own `look`.
//!
//! It owns the whole sequence: admission caps (`events.max_waiters`, `events.max_waiters_per_user`;
//! beyond them the empty answer comes at once with `Retry-After: 1`), parking in the connection
//! layer, the hub registration (and its removal when the client goes), a second look after
//! registering so an event committed in between is not missed, and a 401 for a session revoked
//! while it waited.

use crate::app::App;
use crate::net::{self, Parked};
use crate::web::auth::Principal;
use crate::web::{ApiError, Ctx};
use rouille::Response;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one look found: news to answer with now, or the answer to give if nothing comes.
pub enum Looked {
    News(Response),
    Nothing(Response),
}

/// Looks (again) for the caller's news; runs on a worker, at first and on every wake.
pub type Look = Box<dyn Fn(&App) -> Result<Looked, ApiError> + Send + Sync>;

/// Answers `look`'s news, or holds the request up to `wait` for it.
pub fn wait(app: &App, ctx: &Ctx, p: &Principal, wait: Duration, look: Look) -> Result<Response, ApiError> {
    let idle = match look(app)? {
        Looked::News(r) => return Ok(r),
        Looked::Nothing(r) if wait.is_zero() => return Ok(r),
        Looked::Nothing(r) => r,
    };
    let ev = &app.config.events;
    if app.hub.waiting() >= ev.max_waiters as usize
        || app.hub.waiting_for(&p.user_id) >= ev.max_waiters_per_user as usize
    {
        return Ok(idle.with_unique_header("Retry-After", "1"));
    }
    let Some(shared) = app.arc() else {
        // Not serving (an App used directly): nothing can wake us, so do not wait.
        return Ok(idle);
    };
    let look = Arc::new(look);
    let (sid, jti, rid) = (p.session_id.clone(), p.jti.clone(), ctx.request_id.clone());
    let slot: Arc<Mutex<Option<u64>>> = Arc::default();
    let registration = Registration { hub: app.hub.clone(), user: p.user_id.clone(), id: slot.clone() };
    let again = look.clone();
    let resume = move |_timed_out: bool| {
        drop(registration); // leaves the hub (a no-op when the wake already removed it)
                            // Ending a session wakes its user's waiters: a revoked one gets 401, not more news.
        if shared.revoked.is_revoked(&sid, &jti) {
            return ApiError::unauthenticated().into_response(&rid);
        }
        match again(&shared) {
            Ok(Looked::News(r) | Looked::Nothing(r)) => r,
            Err(e) => e.into_response(&rid),
        }
    };
    let (wake, placeholder) = net::park(Parked { deadline: Instant::now() + wait, resume: Box::new(resume) });
    if !wake.is_pending() {
        return Ok(placeholder); // resumed already (outside the connection layer)
    }
    let w = wake.clone();
    let id = app.hub.register(&p.user_id, Box::new(move || w.wake()));
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
    // Look again after registering: news committed in between is not missed.
    if let Looked::News(_) = look(app)? {
        wake.wake();
    }
    Ok(placeholder)
}

/// Removes a waiter's hub registration when its park resumes or is dropped (client gone).
struct Registration {
    hub: Arc<crate::hub::Hub>,
    user: String,
    id: Arc<Mutex<Option<u64>>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(id) = self.id.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.hub.unregister(&self.user, id);
        }
    }
}
