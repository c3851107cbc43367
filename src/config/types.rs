//! The typed configuration and its semantic checks (each failure names its key).

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub webhooks: Vec<WebhookTarget>,
    pub server: Server,
    pub database: Database,
    pub auth: Auth,
    pub business: Business,
    pub sms: Sms,
    pub push: Push,
    pub email: Email,
    pub payments: Payments,
    pub calls: Calls,
    pub events: Events,
    pub notify: Notify,
    pub metrics: Metrics,
    pub limits: Limits,
    pub alerts: Alerts,
    pub log: Log,
    pub backup: Backup,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: String,
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub listen: String,
    pub data_dir: PathBuf,
    pub workers: u32,
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
    pub request_timeout_ms: u64,
    pub header_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub write_timeout_ms: u64,
    pub max_header_bytes: u32,
    pub shutdown_grace_ms: u64,
    pub body_limit_bytes: u64,
    pub max_body_memory_bytes: u64,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    pub public_url: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub path: String,
    pub min_free_disk_mb: u64,
    /// Bound on each `Db::read` / `Db::write` call's statements; 0: none.
    pub statement_timeout_ms: u64,
    /// The writer's automatic PASSIVE checkpoint runs once the WAL holds this many pages; 0: off.
    pub wal_checkpoint_pages: u32,
    /// The WAL's bound: truncated to this after checkpoints, and a commit past it tries a TRUNCATE
    /// checkpoint; 0: no bound.
    pub wal_max_bytes: u64,
    /// Each connection's SQLite page cache, KiB.
    pub cache_size_kib: u32,
    /// Memory-mapped reads of the database file, MiB; 0: off.
    pub mmap_size_mb: u32,
    /// `normal` or `full` (SQLite's `synchronous` in WAL mode).
    pub synchronous: String,
    /// Write requests one commit may hold (group commit); 1: each commits alone.
    pub group_commit_max: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub jwt_secret: String,
    pub access_ttl_seconds: u32,
    pub refresh_ttl_days: u32,
    /// Requests that may wait for a password-hash slot; past it 503 `unavailable` at once.
    pub max_hash_queue: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Business {
    pub timezone: String,
    pub currency: String,
    pub default_country: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sms {
    pub provider: String,
    pub twilio: Twilio,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Twilio {
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    pub base_url: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Push {
    pub provider: String,
    pub expo: Expo,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expo {
    pub base_url: String,
    pub access_token: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    pub provider: String,
    pub from: String,
    /// Where enquiries from the contact form are mailed; empty: the admin dashboard only.
    pub operator: String,
    pub smtp: Smtp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub tls: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Payments {
    pub gateway: String,
    pub webhook_ip_allowlist: Vec<String>,
    /// Customers may pay a booking's total through the platform (`POST /payments {purpose: booking}`).
    pub booking_payments: bool,
    /// An order nobody paid expires after this (unless the gateway says earlier).
    pub order_ttl_minutes: u32,
    /// Payments pending longer than this are asked about at their gateway by the reconciliation job.
    pub reconcile_after_minutes: u32,
    pub sandbox: Sandbox,
    pub stripe: Stripe,
    pub razorpay: Razorpay,
    pub paytm: Paytm,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sandbox {
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stripe {
    pub secret_key: String,
    pub webhook_secret: String,
    pub api_base: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Razorpay {
    pub key_id: String,
    pub key_secret: String,
    pub webhook_secret: String,
    pub api_base: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Paytm {
    pub mid: String,
    pub merchant_key: String,
    pub website: String,
    pub api_base: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Calls {
    pub ring_timeout_seconds: u32,
    pub stun_urls: Vec<String>,
    pub turn_urls: Vec<String>,
    pub turn_secret: String,
    pub turn_ttl_seconds: u32,
    pub stale_after_seconds: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Events {
    pub retention_hours: u32,
    pub max_wait_seconds: u32,
    pub max_waiters: u32,
    pub max_waiters_per_user: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    pub max_attempts: u32,
    pub backoff_base_seconds: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub token: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub login_per_ip_per_minute: u32,
    pub signup_per_ip_per_hour: u32,
    pub otp_per_phone_per_hour: u32,
    pub bookings_per_user_per_hour: u32,
    pub payments_per_user_per_hour: u32,
    pub calls_per_user_per_minute: u32,
    pub call_signals_per_minute: u32,
    pub contact_per_ip_per_hour: u32,
    pub messages_per_user_per_minute: u32,
    pub api_per_user_per_minute: u32,
    pub admin_per_user_per_minute: u32,
}

/// `[alerts]`: the operator's alerts (payment failures, 5xx, dead letters, free disk).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    pub check_interval_seconds: u32,
    pub window_minutes: u32,
    pub min_samples: u32,
    pub payment_failure_rate: f64,
    pub server_error_rate: f64,
    pub dead_letters: u32,
    pub min_free_disk_mb: u64,
    pub email: bool,
    pub webhook_url: String,
    pub webhook_secret: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub level: String,
    pub format: String,
}

/// Scheduled snapshots (`src/system/backups.rs`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    /// Daily local time `HH:MM` in `business.timezone`; empty: no scheduled backups.
    pub schedule: String,
    /// Snapshots kept; older ones are deleted after each new one.
    pub keep: u32,
    /// Empty: `<data_dir>/backups`.
    pub dir: PathBuf,
}

fn one_of(key: &str, value: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError(format!("`{key}` must be one of {}, not {value:?}", allowed.join(", "))))
    }
}

fn positive(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError(format!("`{key}` must be greater than 0")));
    }
    Ok(())
}

fn http_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(ConfigError(format!("`{key}` must be an http:// or https:// URL, not {value:?}")))
    }
}

/// An IP network (`10.0.0.0/8`, `::1/128`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.trim().parse::<IpAddr>().ok()?, Some(p.trim().parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        s.listen
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError(format!("`server.listen` must be ADDR:PORT, not {:?}", s.listen)))?;
        if s.data_dir.as_os_str().is_empty() {
            return Err(ConfigError("`server.data_dir` must not be empty".into()));
        }
        positive("server.workers", s.workers.into())?;
        positive("server.max_connections", s.max_connections.into())?;
        positive("server.request_timeout_ms", s.request_timeout_ms)?;
        positive("server.header_timeout_ms", s.header_timeout_ms)?;
        positive("server.idle_timeout_ms", s.idle_timeout_ms)?;
        positive("server.write_timeout_ms", s.write_timeout_ms)?;
        if s.max_header_bytes < 1024 {
            return Err(ConfigError("`server.max_header_bytes` must be at least 1024".into()));
        }
        positive("server.body_limit_bytes", s.body_limit_bytes)?;
        if s.max_body_memory_bytes < s.body_limit_bytes {
            // A body within the limit must always fit in the budget, or it would wait forever.
            return Err(ConfigError(format!(
                "`server.max_body_memory_bytes` must be at least `server.body_limit_bytes` ({})",
                s.body_limit_bytes
            )));
        }
        for (i, origin) in s.cors_origins.iter().enumerate() {
            if origin != "*" {
                http_url(&format!("server.cors_origins[{i}]"), origin)?;
            }
        }
        for (i, p) in s.trusted_proxies.iter().enumerate() {
            if Cidr::parse(p).is_none() {
                return Err(ConfigError(format!("`server.trusted_proxies[{i}]` is not an IP or CIDR: {p:?}")));
            }
        }
        http_url("server.public_url", &s.public_url)?;
        if self.database.cache_size_kib < 64 || self.database.cache_size_kib > 4 * 1024 * 1024 {
            return Err(ConfigError("`database.cache_size_kib` must be between 64 and 4194304".into()));
        }
        if !matches!(self.database.synchronous.as_str(), "normal" | "full") {
            return Err(ConfigError("`database.synchronous` must be \"normal\" or \"full\"".into()));
        }
        if self.database.group_commit_max == 0 || self.database.group_commit_max > 1024 {
            return Err(ConfigError("`database.group_commit_max` must be between 1 and 1024".into()));
        }
        if self.database.mmap_size_mb > 65_536 {
            return Err(ConfigError("`database.mmap_size_mb` must be at most 65536; 0 disables it".into()));
        }
        if self.database.wal_max_bytes != 0 && self.database.wal_max_bytes < 64 * 1024 {
            return Err(ConfigError(
                "`database.wal_max_bytes` must be at least 65536; 0 leaves the WAL unbounded".into(),
            ));
        }
        if self.database.statement_timeout_ms > 600_000 {
            return Err(ConfigError(
                "`database.statement_timeout_ms` must be at most 600000 (10 minutes); 0 disables it".into(),
            ));
        }
        positive("auth.access_ttl_seconds", self.auth.access_ttl_seconds.into())?;
        positive("auth.refresh_ttl_days", self.auth.refresh_ttl_days.into())?;
        if !self.auth.jwt_secret.is_empty() && self.auth.jwt_secret.len() < 32 {
            return Err(ConfigError("`auth.jwt_secret` must be at least 32 characters".into()));
        }
        let b = &self.business;
        if crate::tz::BusinessTz::parse(&b.timezone).is_none() {
            return Err(ConfigError(format!("`business.timezone` must be an IANA zone name, not {:?}", b.timezone)));
        }
        if b.currency.len() != 3 || !b.currency.bytes().all(|c| c.is_ascii_uppercase()) {
            return Err(ConfigError(format!("`business.currency` must be an ISO 4217 code, not {:?}", b.currency)));
        }
        if b.default_country.len() != 2 || !b.default_country.bytes().all(|c| c.is_ascii_uppercase()) {
            return Err(ConfigError(format!(
                "`business.default_country` must be an ISO 3166 alpha-2 code, not {:?}",
                b.default_country
            )));
        }
        one_of("sms.provider", &self.sms.provider, &["console", "twilio"])?;
        http_url("sms.twilio.base_url", &self.sms.twilio.base_url)?;
        one_of("push.provider", &self.push.provider, &["none", "expo"])?;
        http_url("push.expo.base_url", &self.push.expo.base_url)?;
        one_of("email.provider", &self.email.provider, &["none", "smtp"])?;
        one_of("email.smtp.tls", &self.email.smtp.tls, &["none", "starttls", "tls"])?;
        let op = &self.email.operator;
        if !op.is_empty() && (op.matches('@').count() != 1 || op.starts_with('@') || op.ends_with('@')) {
            return Err(ConfigError(format!("`email.operator` must be an e-mail address or empty, not {op:?}")));
        }
        if self.email.provider == "smtp" && self.email.smtp.host.is_empty() {
            return Err(ConfigError("`email.smtp.host` is required when `email.provider` is smtp".into()));
        }
        if self.sms.provider == "twilio" {
            let t = &self.sms.twilio;
            for (k, v) in [("account_sid", &t.account_sid), ("auth_token", &t.auth_token), ("from", &t.from)] {
                if v.is_empty() {
                    return Err(ConfigError(format!("`sms.twilio.{k}` is required when `sms.provider` is twilio")));
                }
            }
        }
        let p = &self.payments;
        one_of("payments.gateway", &p.gateway, &["sandbox", "stripe", "razorpay", "paytm"])?;
        http_url("payments.stripe.api_base", &p.stripe.api_base)?;
        http_url("payments.razorpay.api_base", &p.razorpay.api_base)?;
        http_url("payments.paytm.api_base", &p.paytm.api_base)?;
        for (i, c) in p.webhook_ip_allowlist.iter().enumerate() {
            if Cidr::parse(c).is_none() {
                return Err(ConfigError(format!("`payments.webhook_ip_allowlist[{i}]` is not a CIDR: {c:?}")));
            }
        }
        positive("payments.order_ttl_minutes", p.order_ttl_minutes.into())?;
        positive("payments.reconcile_after_minutes", p.reconcile_after_minutes.into())?;
        positive("calls.ring_timeout_seconds", self.calls.ring_timeout_seconds.into())?;
        positive("calls.turn_ttl_seconds", self.calls.turn_ttl_seconds.into())?;
        positive("calls.stale_after_seconds", self.calls.stale_after_seconds.into())?;
        if !self.calls.turn_urls.is_empty() && self.calls.turn_secret.is_empty() {
            return Err(ConfigError("`calls.turn_secret` is required when `calls.turn_urls` is set".into()));
        }
        positive("events.retention_hours", self.events.retention_hours.into())?;
        if self.events.max_wait_seconds > 300 {
            return Err(ConfigError("`events.max_wait_seconds` must be at most 300".into()));
        }
        positive("notify.max_attempts", self.notify.max_attempts.into())?;
        positive("notify.backoff_base_seconds", self.notify.backoff_base_seconds.into())?;
        one_of("log.level", &self.log.level, &["error", "warn", "info", "debug", "trace", "off"])?;
        one_of("log.format", &self.log.format, &["text", "json"])?;
        let schedule = self.backup.schedule.trim();
        if !schedule.is_empty() && crate::tz::parse_time(schedule).is_none() {
            return Err(ConfigError(format!("`backup.schedule` must be empty or HH:MM (24 h), not {schedule:?}")));
        }
        positive("backup.keep", self.backup.keep.into())?;
        for (i, hook) in self.webhooks.iter().enumerate() {
            http_url(&format!("webhooks[{i}].url"), &hook.url)?;
            if !hook.secret.starts_with("whsec_") {
                return Err(ConfigError(format!("`webhooks[{i}].secret` must start with whsec_")));
            }
        }
        let a = &self.alerts;
        positive("alerts.check_interval_seconds", a.check_interval_seconds.into())?;
        positive("alerts.window_minutes", a.window_minutes.into())?;
        for (key, v) in
            [("alerts.payment_failure_rate", a.payment_failure_rate), ("alerts.server_error_rate", a.server_error_rate)]
        {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError(format!("`{key}` must be between 0 and 1 (0 disables it)")));
            }
        }
        if !a.webhook_url.is_empty() {
            http_url("alerts.webhook_url", &a.webhook_url)?;
            if !a.webhook_secret.starts_with("whsec_") {
                return Err(ConfigError(
                    "`alerts.webhook_secret` must start with whsec_ when `alerts.webhook_url` is set".into(),
                ));
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> SocketAddr {
        // validate() guarantees it parses.
        self.server.listen.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// `payments.webhook_ip_allowlist`, parsed (validated at load); empty = any source.
    pub fn webhook_allowlist(&self) -> Vec<Cidr> {
        self.payments.webhook_ip_allowlist.iter().filter_map(|c| Cidr::parse(c)).collect()
    }

    pub fn trusted_proxies(&self) -> Vec<Cidr> {
        self.server.trusted_proxies.iter().filter_map(|c| Cidr::parse(c)).collect()
    }
}
