//! Integration tests of the delivery channels against real local servers: an Expo double and a
//! webhook receiver over HTTP (rouille), and an SMTP sink over a plain TCP socket.

mod email;
#[path = "../common/fake_http.rs"]
mod fake;
mod push;
mod webhook;

use buildxpert::clock::SystemClock;
use buildxpert::outbound::Outbound;
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn outbound() -> Outbound {
    Outbound::new(Arc::new(SystemClock), Duration::from_secs(2), Duration::from_secs(5))
}

/// A loopback port with nothing listening on it (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

#[test]
fn send_error_is_shared_and_classifies() {
    use buildxpert::channels::SendError;
    let p: buildxpert::channels::sms::SendError = SendError::Permanent("bad number".into());
    assert!(p.is_permanent());
    assert_eq!(p.message(), "bad number");
    assert_eq!(p.to_string(), "permanent: bad number");
    let t = SendError::Transient("down".into());
    assert!(!t.is_permanent());
    assert_eq!(t.to_string(), "transient: down");
}
