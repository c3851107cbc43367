//! One-time codes by SMS: the one message that does not go through the outbox (a code must never
//! be stored in clear, and delivery rows are plain text). [`send`] is the only way a code leaves:
//! in the request when the caller answers with the outcome (signup, resend), or through the
//! [`Queue`] when the answer must take the same time whether or not a code went out (password
//! reset). The queue is drained by one thread that the notifier starts and stops with the server.

use super::{Channel, Message, SendError, Senders, Sent};
use crate::outbound::Outbound;
use crate::web::ctx::RequestIdGuard;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

/// Codes waiting beyond this are dropped (and logged): a flood must not grow memory, and the
/// requests behind it are rate-limited per address and phone anyway.
const MAX_QUEUED: usize = 256;

/// Sends `text` to `phone` with the configured SMS sender and the App's outbound client.
pub fn send(senders: &Senders, out: &Outbound, phone: &str, text: &str) -> Result<Sent, SendError> {
    let sms = senders.get(Channel::Sms).ok_or_else(|| SendError::Permanent("SMS is not configured".into()))?;
    let to = [phone.to_string()];
    sms.send(out, &Message::text(&to, text))
}

struct Queued {
    phone: String,
    text: String,
    /// The request that asked for the code, for the log lines of its send.
    request_id: String,
}

#[derive(Default)]
struct State {
    items: VecDeque<Queued>,
    closed: bool,
}

/// Codes to send off the request thread, in order.
#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
    ready: Condvar,
}

impl Queue {
    /// Queues a code; returns at once.
    pub fn send_later(&self, phone: &str, text: &str, request_id: &str) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.closed || s.items.len() >= MAX_QUEUED {
            log::warn!("sms: code not queued ({})", if s.closed { "shutting down" } else { "queue full" });
            return;
        }
        s.items.push_back(Queued { phone: phone.into(), text: text.into(), request_id: request_id.into() });
        self.ready.notify_one();
    }

    /// Sends queued codes until [`Queue::close`]; the thread body.
    pub fn run(&self, senders: &Senders, out: &Outbound) {
        while let Some(q) = self.next() {
            let _g = RequestIdGuard::set(&q.request_id);
            if let Err(e) = send(senders, out, &q.phone, &q.text) {
                log::warn!("sms: message not sent: {e}");
            }
        }
    }

    fn next(&self) -> Option<Queued> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = self.ready.wait_while(s, |s| s.items.is_empty() && !s.closed).unwrap_or_else(|p| p.into_inner());
        if s.closed {
            return None;
        }
        s.items.pop_front()
    }

    /// Stops [`Queue::run`] after the code in progress. Codes still queued are dropped: shutdown
    /// must not wait on a slow provider, and the user can ask again.
    pub fn close(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.closed = true;
        if !s.items.is_empty() {
            log::warn!("sms: {} queued code(s) not sent: shutting down", s.items.len());
            s.items.clear();
        }
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_queue_stops_its_runner_and_takes_no_more() {
        let q = Queue::default();
        q.send_later("+15550001", "1", "r1");
        assert_eq!(q.state.lock().unwrap().items.len(), 1);
        q.close();
        assert!(q.next().is_none());
        q.send_later("+15550002", "2", "r2");
        assert!(q.state.lock().unwrap().items.is_empty());
    }
}
