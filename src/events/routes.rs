//! `GET /api/v1/events?after=<cursor>&wait=<0..30>`: the long-poll. Answers at once when the caller
//! has events after the cursor; otherwise holds until one commits or `wait` passes. Admission is
//! capped globally (`events.max_waiters`) and per user so ordinary requests always have workers;
//! beyond the cap the answer is immediate, empty, with `Retry-After`.

use super::{after, head, PAGE};
use crate::app::{App, Handler};
use crate::guard;
use crate::net::{self, Parked};
use crate::web::json::json_response;
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Result = std::result::Result<Response, ApiError>;

pub fn register(r: &mut Router<Handler>) {
    r.add("GET", "/api/v1/events", poll);
}

fn parse_cursor(req: &Request) -> std::result::Result<Option<i64>, ApiError> {
    match req.get_param("after") {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .map(Some)
            .ok_or_else(|| ApiError::field("after", "is not a valid cursor")),
    }
}

fn parse_wait(app: &App, req: &Request) -> std::result::Result<u64, ApiError> {
    let max = u64::from(app.config.events.max_wait_seconds);
    match req.get_param("wait") {
        None => Ok(0),
        Some(s) => match s.parse::<u64>() {
            Ok(w) => Ok(w.min(max)),
            Err(_) => Err(ApiError::field("wait", &format!("must be a whole number of seconds from 0 to {max}"))),
        },
    }
}

fn answer(events: Vec<super::EventView>, cursor: i64) -> Response {
    json_response(200, &json!({"events": events, "cursor": cursor.to_string()}))
        .with_unique_header("Cache-Control", "no-store")
}

pub fn poll(app: &App, ctx: &Ctx, req: &Request, _: &Params) -> Result {
    let p = guard::principal(app, req)?;
    let cursor = parse_cursor(req)?;
    let wait = parse_wait(app, req)?;
    let Some(cursor) = cursor else {
        // No cursor: start from now.
        let h = app.db.read(|c| head(c).map_err(ApiError::from))?;
        return Ok(answer(Vec::new(), h));
    };
    let read = |app: &App| app.db.read(|c| after(c, &p.user_id, cursor, PAGE).map_err(ApiError::from));
    let (events, last) = read(app)?;
    if !events.is_empty() || wait == 0 {
        return Ok(answer(events, last));
    }
    let ev = &app.config.events;
    if app.hub.waiting() >= ev.max_waiters as usize
        || app.hub.waiting_for(&p.user_id) >= ev.max_waiters_per_user as usize
    {
        return Ok(answer(Vec::new(), cursor).with_unique_header("Retry-After", "1"));
    }
    let Some(shared) = app.arc() else {
        // Not serving (an App used directly): nothing can wake us, so do not wait.
        return Ok(answer(events, last));
    };
    // Park the request: no thread waits. The hub wakes it when the user's event commits; the
    // connection layer resumes it then, or at the deadline, on a worker.
    let (user, rid) = (p.user_id.clone(), ctx.request_id.clone());
    let (sid, jti) = (p.session_id.clone(), p.jti.clone());
    let slot: Arc<Mutex<Option<u64>>> = Arc::default();
    let guard = WaiterGuard { hub: app.hub.clone(), user: user.clone(), id: slot.clone() };
    let deadline = Instant::now() + Duration::from_secs(wait);
    let resume = move |_timed_out: bool| {
        drop(guard); // leaves the hub (a no-op when the wake already removed it)
                     // Ending a session wakes its user's waiters: a revoked one gets 401, not more events.
        if shared.revoked.is_revoked(&sid, &jti) {
            return ApiError::unauthenticated().into_response(&rid);
        }
        match shared.db.read(|c| after(c, &user, cursor, PAGE).map_err(ApiError::from)) {
            Ok((events, last)) => answer(events, last),
            Err(e) => e.into_response(&rid),
        }
    };
    let (wake, placeholder) = net::park(Parked { deadline, resume: Box::new(resume) });
    if !wake.is_pending() {
        return Ok(placeholder); // resumed already (outside the connection layer)
    }
    let w = wake.clone();
    let id = app.hub.register(&p.user_id, Box::new(move || w.wake()));
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
    // Look again after registering: an event committed in between is not missed.
    let (events, _) = read(app)?;
    if !events.is_empty() {
        wake.wake();
    }
    Ok(placeholder)
}

/// Removes a long-poll's hub registration when its park resumes or is dropped (client gone).
struct WaiterGuard {
    hub: Arc<crate::hub::Hub>,
    user: String,
    id: Arc<Mutex<Option<u64>>>,
}

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.hub.unregister(&self.user, id);
        }
    }
}
