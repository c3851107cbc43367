//! The auth guard every protected route calls: verify the bearer JWT (HS256, issuer, expiry with
//! 5 s leeway) and check the in-memory revocation set — no database read on the hot path.
//! Revocations are written to SQLite by the accounts feature and mirrored here (also on start).

use super::error::ApiError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::RwLock;

/// Leeway on `exp` (API.md: at most 5 s).
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Provider,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Provider => "provider",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "customer" => Some(Role::Customer),
            "provider" => Some(Role::Provider),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The access token's claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub jti: String,
    /// The session (refresh-token family) this token was issued from.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub role: Role,
    pub session_id: String,
    pub jti: String,
    pub expires_at: i64,
}

impl Principal {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<&Principal, ApiError> {
        if roles.contains(&self.role) {
            Ok(self)
        } else {
            Err(ApiError::forbidden())
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub issuer: String,
    pub access_ttl_secs: i64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, access_ttl_secs: i64) -> TokenKeys {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.to_string(),
            access_ttl_secs,
        }
    }

    pub fn mint(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding).map_err(ApiError::internal)
    }

    /// Verifies signature, algorithm, issuer and expiry; `now_secs` comes from the app clock.
    pub fn verify(&self, token: &str, now_secs: i64) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[&self.issuer]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        // Expiry is checked below against the injectable clock, not the wall clock.
        v.validate_exp = false;
        v.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).ok()?;
        let c = data.claims;
        (now_secs <= c.exp + LEEWAY_SECS as i64).then_some(c)
    }
}

/// Revoked sessions and individual access tokens, held in memory.
#[derive(Default)]
pub struct Revocations {
    sessions: RwLock<HashSet<String>>,
    tokens: RwLock<HashSet<String>>,
}

impl Revocations {
    pub fn revoke_session(&self, sid: &str) {
        self.sessions.write().unwrap_or_else(|p| p.into_inner()).insert(sid.to_string());
    }

    pub fn revoke_token(&self, jti: &str) {
        self.tokens.write().unwrap_or_else(|p| p.into_inner()).insert(jti.to_string());
    }

    pub fn is_revoked(&self, sid: &str, jti: &str) -> bool {
        self.sessions.read().unwrap_or_else(|p| p.into_inner()).contains(sid)
            || self.tokens.read().unwrap_or_else(|p| p.into_inner()).contains(jti)
    }

    pub fn len(&self) -> usize {
        self.sessions.read().map(|s| s.len()).unwrap_or(0) + self.tokens.read().map(|s| s.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the sets (start-up load and periodic pruning of expired entries).
    pub fn replace(&self, sessions: HashSet<String>, tokens: HashSet<String>) {
        *self.sessions.write().unwrap_or_else(|p| p.into_inner()) = sessions;
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = tokens;
    }
}

/// The bearer token of a request, if any.
pub fn bearer(req: &rouille::Request) -> Option<&str> {
    let h = req.header("Authorization")?;
    let (scheme, token) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Authenticates a request: 401 `unauthenticated` for a missing, invalid, expired or revoked token.
pub fn authenticate(
    req: &rouille::Request,
    keys: &TokenKeys,
    revoked: &Revocations,
    now_secs: i64,
) -> Result<Principal, ApiError> {
    let token = bearer(req).ok_or_else(ApiError::unauthenticated)?;
    let c = keys.verify(token, now_secs).ok_or_else(ApiError::unauthenticated)?;
    if revoked.is_revoked(&c.sid, &c.jti) {
        return Err(ApiError::unauthenticated());
    }
    Ok(Principal { user_id: c.sub, role: c.role, session_id: c.sid, jti: c.jti, expires_at: c.exp })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "usr_1".into(),
            role: Role::Customer,
            jti: "j1".into(),
            sid: "s1".into(),
            iat: exp - 900,
            exp,
            iss: "http://x".into(),
        }
    }

    #[test]
    fn tokens_verify_expire_with_leeway_and_reject_tampering() {
        let k = TokenKeys::new(&[7u8; 32], "http://x", 900);
        let t = k.mint(&claims(1000)).unwrap();
        assert_eq!(k.verify(&t, 1000).unwrap().sub, "usr_1");
        assert!(k.verify(&t, 1005).is_some(), "5 s leeway");
        assert!(k.verify(&t, 1006).is_none(), "expired");
        let other = TokenKeys::new(&[8u8; 32], "http://x", 900);
        assert!(other.verify(&t, 1000).is_none(), "wrong key");
        let wrong_iss = TokenKeys::new(&[7u8; 32], "http://y", 900);
        assert!(wrong_iss.verify(&t, 1000).is_none(), "wrong issuer");
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged_payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&Claims { role: Role::Admin, ..claims(1000) }).unwrap(),
        );
        parts[1] = &forged_payload;
        assert!(k.verify(&parts.join("."), 1000).is_none(), "payload tampering");
        // alg=none is never accepted.
        let none = format!(
            "{}.{}.",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, br#"{"alg":"none","typ":"JWT"}"#),
            forged_payload
        );
        assert!(k.verify(&none, 1000).is_none());
    }

    #[test]
    fn revocations() {
        let r = Revocations::default();
        assert!(!r.is_revoked("s1", "j1"));
        r.revoke_session("s1");
        assert!(r.is_revoked("s1", "other"));
        r.revoke_token("j2");
        assert!(r.is_revoked("s9", "j2"));
        assert_eq!(r.len(), 2);
    }
}
