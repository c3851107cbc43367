//! The application value: built once from a Config, passed by reference to every handler and job.

use crate::channels::{codes, Senders};
use crate::clock::Clock;
use crate::config::{Cidr, Config};
use crate::db::{Applied, Db};
use crate::metrics::Metrics;
use crate::net::NetStats;
use crate::outbound::Outbound;
use crate::passwords::Hasher;
use crate::runner::JobHealth;
use crate::web::auth::{Revocations, TokenKeys};
use crate::web::ratelimit::RateLimiter;
use crate::web::{ApiError, Ctx, Params};
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// What every route handler is: the app, the request's context, the request and its path
/// parameters in; a response or an error envelope out. Features register these in their
/// `routes::register`.
pub type Handler = fn(&App, &Ctx, &rouille::Request, &Params) -> Result<rouille::Response, ApiError>;

pub struct App {
    pub config: Config,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    pub limiter: RateLimiter,
    pub outbound: Outbound,
    pub jobs: Arc<JobHealth>,
    /// Connection-layer counters, known once the server is bound.
    pub net: OnceLock<Arc<NetStats>>,
    pub started: Instant,
    pub trusted_proxies: Vec<Cidr>,
    /// `server.public_url` is https: send HSTS.
    pub https: bool,
    pub hasher: Hasher,
    pub keys: TokenKeys,
    pub revoked: Revocations,
    /// Key for hashing one-time codes (derived from the JWT secret).
    pub otp_key: Vec<u8>,
    /// One sender per configured channel and webhook; all send through `outbound`.
    pub senders: Senders,
    /// One-time codes to send off the request thread (see `channels::codes`).
    pub codes: codes::Queue,
    /// Wakes long-poll waiters and the delivery worker after commits.
    pub hub: Arc<crate::hub::Hub>,
    /// Set once the App is shared, so work that outlives a handler (a parked long-poll's resume)
    /// can hold it.
    me: OnceLock<std::sync::Weak<App>>,
    /// `business.timezone`, parsed (validated at config load).
    pub tz: crate::tz::BusinessTz,
}

impl App {
    /// Opens the database (applying migrations) and builds every shared service.
    pub fn build(config: Config, clock: Arc<dyn Clock>) -> Result<(App, Vec<Applied>), String> {
        let readers = config.server.workers.clamp(4, 32);
        let d = &config.database;
        let options = crate::db::DbOptions {
            readers,
            statement_timeout: Duration::from_millis(d.statement_timeout_ms),
            wal_checkpoint_pages: d.wal_checkpoint_pages,
            wal_max_bytes: d.wal_max_bytes,
            cache_size_kib: d.cache_size_kib,
            mmap_size_mb: d.mmap_size_mb,
            synchronous: if d.synchronous == "full" {
                crate::db::Synchronous::Full
            } else {
                crate::db::Synchronous::Normal
            },
            group_commit_max: d.group_commit_max,
        };
        let (db, applied) = Db::open_with(&config.database_path(), options).map_err(|e| e.to_string())?;
        let outbound = Outbound::new(clock.clone(), Duration::from_secs(5), Duration::from_secs(15));
        let secret = crate::secrets::load_or_create(&config.auth.jwt_secret, &config.server.data_dir, "jwt_secret")?;
        let keys =
            TokenKeys::new(secret.as_bytes(), &config.server.public_url, i64::from(config.auth.access_ttl_seconds));
        let otp_key = Sha256::digest(format!("buildxpert-otp\n{secret}").as_bytes()).to_vec();
        // Filled from the database by the composition root (`server::start`) before serving.
        let revoked = Revocations::default();
        let hub = Arc::new(crate::hub::Hub::new());
        let h = hub.clone();
        db.set_after_commit(Box::new(move |committed| h.after_commit(committed)));
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let app = App {
            hasher: Hasher::with_queue(cores, config.auth.max_hash_queue as usize),
            keys,
            revoked,
            otp_key,
            hub,
            me: OnceLock::new(),
            tz: crate::tz::BusinessTz::parse(&config.business.timezone)
                .ok_or("business.timezone is not a known zone")?,
            senders: Senders::from_config(&config, clock.clone())?,
            codes: codes::Queue::default(),
            trusted_proxies: config.trusted_proxies(),
            https: config.server.public_url.starts_with("https://"),
            db,
            metrics: Metrics::new(),
            limiter: RateLimiter::new(clock.clone()),
            outbound,
            jobs: Arc::new(JobHealth::default()),
            net: OnceLock::new(),
            started: Instant::now(),
            clock,
            config,
        };
        Ok((app, applied))
    }

    /// Shares the app (call once, right after wrapping it in an Arc).
    pub fn into_shared(self) -> Arc<App> {
        let arc = Arc::new(self);
        let _ = arc.me.set(Arc::downgrade(&arc));
        arc
    }

    /// The shared handle, if the app was shared with [`App::into_shared`].
    pub fn arc(&self) -> Option<Arc<App>> {
        self.me.get().and_then(std::sync::Weak::upgrade)
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
