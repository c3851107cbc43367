//! The application value: built once from a Config, passed by reference to every handler and job.

use crate::clock::Clock;
use crate::config::{Cidr, Config};
use crate::db::{Applied, Db};
use crate::metrics::Metrics;
use crate::net::NetStats;
use crate::outbound::Outbound;
use crate::runner::JobHealth;
use crate::web::ratelimit::RateLimiter;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

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
}

impl App {
    /// Opens the database (applying migrations) and builds every shared service.
    pub fn build(config: Config, clock: Arc<dyn Clock>) -> Result<(App, Vec<Applied>), String> {
        let readers = config.server.workers.clamp(4, 32);
        let (db, applied) = Db::open(&config.database_path(), readers).map_err(|e| e.to_string())?;
        let outbound = Outbound::new(clock.clone(), Duration::from_secs(5), Duration::from_secs(15));
        let app = App {
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

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
