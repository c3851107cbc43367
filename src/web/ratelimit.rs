//! A keyed token-bucket rate limiter. Each key (e.g. `login:203.0.113.9`) has a bucket of
//! `limit` tokens refilled evenly over `window`; a request takes one. Buckets live in memory,
//! sharded to keep lock contention low, and full (idle) buckets are pruned by a job.

use super::error::ApiError;
use crate::clock::Clock;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

const SHARDS: usize = 16;

thread_local! {
    /// The most restrictive decision checked while serving the current request; the dispatcher
    /// puts its `X-RateLimit-*` headers on whatever response goes out (success or error).
    static NOTED: std::cell::RefCell<Option<Decision>> = const { std::cell::RefCell::new(None) };
}

/// Takes (and clears) the decision noted for the current request.
pub fn take_noted() -> Option<Decision> {
    NOTED.with(|n| n.borrow_mut().take())
}

fn note(d: Decision) {
    NOTED.with(|n| {
        let mut n = n.borrow_mut();
        if n.is_none_or(|old| d.remaining < old.remaining || !d.allowed) {
            *n = Some(d);
        }
    });
}
/// Hard cap on tracked keys per shard, so a flood of distinct keys cannot grow memory unbounded.
const MAX_KEYS_PER_SHARD: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed per window (0 disables the limit).
    pub limit: u32,
    pub window_secs: u32,
}

impl Limit {
    pub fn per_minute(limit: u32) -> Limit {
        Limit { limit, window_secs: 60 }
    }
    pub fn per_hour(limit: u32) -> Limit {
        Limit { limit, window_secs: 3600 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: i64,
}

/// The outcome of one check, with what the `X-RateLimit-*` headers should say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds until one more request is allowed (0 when allowed).
    pub retry_after_secs: u64,
    pub enforced: bool,
}

impl Decision {
    pub fn headers(&self) -> Vec<(String, String)> {
        if !self.enforced {
            return Vec::new();
        }
        vec![
            ("X-RateLimit-Limit".into(), self.limit.to_string()),
            ("X-RateLimit-Remaining".into(), self.remaining.to_string()),
            ("X-RateLimit-Reset".into(), self.reset_secs.to_string()),
        ]
    }

    pub fn apply(&self, r: &mut rouille::Response) {
        for (k, v) in self.headers() {
            r.headers.push((k.into(), v.into()));
        }
    }

    /// Ok when allowed; otherwise 429 `rate_limited` with `Retry-After` and the limit headers.
    /// Either way the decision is noted, so the response carries `X-RateLimit-*`.
    pub fn check(self) -> Result<Decision, ApiError> {
        if self.enforced {
            note(self);
        }
        if self.allowed {
            return Ok(self);
        }
        let mut e = ApiError::rate_limited(self.retry_after_secs);
        e.headers.extend(self.headers());
        Err(e)
    }
}

pub struct RateLimiter {
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> RateLimiter {
        RateLimiter { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), clock }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Bucket>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// Takes one token from `key`'s bucket if it has one.
    pub fn hit(&self, key: &str, limit: Limit) -> Decision {
        self.take(key, limit, 1.0)
    }

    /// Looks without taking.
    pub fn peek(&self, key: &str, limit: Limit) -> Decision {
        self.take(key, limit, 0.0)
    }

    fn take(&self, key: &str, limit: Limit, cost: f64) -> Decision {
        if limit.limit == 0 || limit.window_secs == 0 {
            return Decision {
                allowed: true,
                limit: 0,
                remaining: 0,
                reset_secs: 0,
                retry_after_secs: 0,
                enforced: false,
            };
        }
        let cap = f64::from(limit.limit);
        let rate_per_ms = cap / (f64::from(limit.window_secs) * 1000.0);
        let now = self.clock.now_ms();
        let mut map = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS_PER_SHARD && !map.contains_key(key) {
            prune_map(&mut map, now, rate_per_ms, cap);
        }
        let b = map.entry(key.to_string()).or_insert(Bucket { tokens: cap, updated_ms: now });
        let elapsed = (now - b.updated_ms).max(0) as f64;
        b.tokens = (b.tokens + elapsed * rate_per_ms).min(cap);
        b.updated_ms = now;
        let allowed = b.tokens >= cost.max(1.0) || cost == 0.0 && b.tokens >= 1.0;
        if allowed {
            b.tokens -= cost;
        }
        let reset_secs = ((cap - b.tokens) / rate_per_ms / 1000.0).ceil().max(0.0) as u64;
        let retry_after_secs =
            if b.tokens >= 1.0 { 0 } else { ((1.0 - b.tokens) / rate_per_ms / 1000.0).ceil().max(1.0) as u64 };
        Decision {
            allowed,
            limit: limit.limit,
            remaining: b.tokens.max(0.0).floor() as u32,
            reset_secs,
            retry_after_secs,
            enforced: true,
        }
    }

    /// Forgets a key (e.g. a successful login clears its failure budget).
    pub fn reset(&self, key: &str) {
        self.shard(key).lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Drops buckets that have refilled completely (they carry no information).
    pub fn prune(&self, longest_window_secs: u32) {
        let now = self.clock.now_ms();
        for s in &self.shards {
            let mut map = s.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, b| now - b.updated_ms < i64::from(longest_window_secs) * 1000);
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map(|m| m.len()).unwrap_or(0)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn prune_map(map: &mut HashMap<String, Bucket>, now: i64, rate_per_ms: f64, cap: f64) {
    map.retain(|_, b| b.tokens + (now - b.updated_ms).max(0) as f64 * rate_per_ms < cap);
    if map.len() >= MAX_KEYS_PER_SHARD {
        // Still full of live keys: forget the stalest half rather than grow without bound.
        let mut ages: Vec<i64> = map.values().map(|b| b.updated_ms).collect();
        ages.sort_unstable();
        let cutoff = ages[ages.len() / 2];
        map.retain(|_, b| b.updated_ms > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn bucket_empties_refills_and_reports() {
        let clock = Arc::new(ManualClock::at(0));
        let rl = RateLimiter::new(clock.clone());
        let lim = Limit::per_minute(3);
        let d = rl.hit("k", lim);
        assert!(d.allowed && d.remaining == 2 && d.limit == 3);
        assert!(rl.hit("k", lim).allowed);
        let d = rl.hit("k", lim);
        assert!(d.allowed && d.remaining == 0);
        let d = rl.hit("k", lim);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 20, "one token per 20 s");
        assert_eq!(d.reset_secs, 60);
        let err = d.check().unwrap_err();
        assert_eq!(err.status, 429);
        assert!(err.headers.iter().any(|(k, v)| k == "Retry-After" && v == "20"));
        assert!(err.headers.iter().any(|(k, v)| k == "X-RateLimit-Remaining" && v == "0"));
        assert!(rl.hit("other", lim).allowed, "keys are independent");
        clock.advance_secs(20);
        assert!(rl.hit("k", lim).allowed, "refilled one token");
        assert!(!rl.hit("k", lim).allowed);
        clock.advance_secs(600);
        assert_eq!(rl.peek("k", lim).remaining, 3, "never above capacity");
    }

    #[test]
    fn zero_disables_and_prune_forgets_idle_keys() {
        let clock = Arc::new(ManualClock::at(0));
        let rl = RateLimiter::new(clock.clone());
        for _ in 0..100 {
            assert!(rl.hit("k", Limit::per_minute(0)).allowed);
        }
        assert!(rl.hit("k", Limit::per_minute(0)).headers().is_empty());
        rl.hit("a", Limit::per_hour(5));
        rl.hit("b", Limit::per_hour(5));
        assert_eq!(rl.len(), 2);
        clock.advance_secs(3601);
        rl.prune(3600);
        assert!(rl.is_empty());
        rl.hit("c", Limit::per_hour(5));
        rl.reset("c");
        assert!(rl.is_empty());
    }

    #[test]
    fn concurrent_hits_never_exceed_the_limit() {
        let rl = Arc::new(RateLimiter::new(Arc::new(ManualClock::at(0))));
        let lim = Limit::per_hour(50);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let rl = rl.clone();
                std::thread::spawn(move || (0..20).filter(|_| rl.hit("shared", lim).allowed).count())
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 50);
    }
}
