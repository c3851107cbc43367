//! `GET /api/v1/events?after=<cursor>&wait=<0..30>`: the long-poll. Answers at once when the caller
//! has events after the cursor; otherwise holds (`events::wait`) until one commits or `wait`
//! passes.

use super::wait::{Look, Looked};
use crate::app::{App, Handler};
use crate::guard;
use crate::web::json::json_response;
use crate::web::router::Router;
use crate::web::{ApiError, Ctx, Params};
use rouille::{Request, Response};
use serde_json::json;
use std::time::Duration;

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
    // A poll is a sign of life (calls end a call whose party stopped polling).
    super::touch(&p.user_id, app.now_ms());
    let Some(cursor) = cursor else {
        // No cursor: start from now.
        return Ok(answer(Vec::new(), super::current_cursor(app)?));
    };
    let user = p.user_id.clone();
    let look: Look = Box::new(move |app: &App| {
        let (events, last) = super::page_after(app, &user, cursor)?;
        Ok(if events.is_empty() { Looked::Nothing(answer(events, last)) } else { Looked::News(answer(events, last)) })
    });
    super::wait::wait(app, ctx, &p, Duration::from_secs(wait), look)
}
