//! `GET /calls/ice-servers`: the STUN URLs (`calls.stun_urls`) and, when `calls.turn_urls` and
//! `calls.turn_secret` are set, TURN credentials by the TURN REST scheme
//! (draft-uberti-behave-turn-rest, coturn `use-auth-secret`): username `"{expiry}:{userId}"` with
//! `expiry` the Unix time the credential stops working (now + `calls.turn_ttl_seconds`), and
//! password `base64(HMAC-SHA1(turn_secret, username))`. The TURN server checks the HMAC with the
//! same shared secret and refuses an expired timestamp; nothing is stored here.

use crate::app::App;
use crate::web::auth::Principal;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IceServers {
    pub ice_servers: Vec<IceServer>,
    pub ttl_seconds: u32,
}

/// The TURN REST password of `username` under `secret`.
pub fn turn_password(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The ICE servers for `p` at the clock's now.
pub fn servers(app: &App, p: &Principal) -> IceServers {
    let c = &app.config.calls;
    let mut out = Vec::new();
    if !c.stun_urls.is_empty() {
        out.push(IceServer { urls: c.stun_urls.clone(), username: None, credential: None });
    }
    if !c.turn_urls.is_empty() && !c.turn_secret.is_empty() {
        let expiry = app.now_ms() / 1000 + i64::from(c.turn_ttl_seconds);
        let username = format!("{expiry}:{}", p.user_id);
        let credential = turn_password(&c.turn_secret, &username);
        out.push(IceServer { urls: c.turn_urls.clone(), username: Some(username), credential: Some(credential) });
    }
    IceServers { ice_servers: out, ttl_seconds: c.turn_ttl_seconds }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector both openssl and coturn 4.6.1 agree on (`openssl dgst -sha1 -hmac s3cret -binary | base64`).
    #[test]
    fn the_password_matches_the_coturn_vector() {
        assert_eq!(turn_password("s3cret", "1700086400:alice"), "HJX0XIkrCiQCuU88Z0oeXj+QW60=");
    }
}
