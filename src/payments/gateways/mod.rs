//! The gateway registry: which [`Gateway`] serves a name. A payment remembers its gateway, so a
//! webhook for `/webhooks/{gateway}` and a refund are handled with that gateway's keys, whatever
//! `payments.gateway` says today. The real gateways each speak their provider's REST API through
//! `outbound::Outbound` (base URL from config) and verify the provider's own webhook signature
//! scheme; the sandbox is built in. Operator setup: docs/gateways.md.

pub mod paytm;
pub mod paytm_checksum;
pub mod razorpay;
pub mod sandbox;
pub mod stripe;
pub mod wire;

use super::gateway::Gateway;
use crate::app::App;
use crate::config::Config;
use crate::web::ApiError;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// Every gateway name the appliance knows.
pub const NAMES: [&str; 4] = ["sandbox", "stripe", "razorpay", "paytm"];

/// The gateway called `name`, built from its config; `None` when it is unknown or its keys are
/// not configured.
pub fn by_name(config: &Config, sandbox_secret: &str, name: &str) -> Option<Box<dyn Gateway>> {
    match name {
        "sandbox" => Some(Box::new(sandbox::Sandbox::new(&config.server.public_url, sandbox_secret))),
        // The real gateways, each `None` while its keys are empty.
        "stripe" => stripe::Stripe::from_config(&config.payments.stripe).map(|g| Box::new(g) as Box<dyn Gateway>),
        "razorpay" => {
            razorpay::Razorpay::from_config(&config.payments.razorpay).map(|g| Box::new(g) as Box<dyn Gateway>)
        }
        "paytm" => paytm::Paytm::from_config(&config.payments.paytm).map(|g| Box::new(g) as Box<dyn Gateway>),
        _ => None,
    }
}

/// The gateway new orders go to (`payments.gateway`).
pub fn active(config: &Config, sandbox_secret: &str) -> Option<Box<dyn Gateway>> {
    by_name(config, sandbox_secret, &config.payments.gateway)
}

/// Generated secrets already read, per data directory (one process may run several apps in tests).
static SECRETS: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

/// `payments.sandbox.secret`, or the one generated once and kept in `<data_dir>/sandbox_secret`.
pub fn sandbox_secret(app: &App) -> Result<String, ApiError> {
    let configured = &app.config.payments.sandbox.secret;
    if !configured.is_empty() {
        return Ok(configured.clone());
    }
    let dir = &app.config.server.data_dir;
    let mut guard = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(s) = map.get(dir) {
        return Ok(s.clone());
    }
    let s = crate::secrets::load_or_create("", dir, "sandbox_secret").map_err(ApiError::internal)?;
    map.insert(dir.clone(), s.clone());
    Ok(s)
}

/// The gateway `name` for this app (its sandbox secret loaded).
pub fn for_app(app: &App, name: &str) -> Result<Option<Box<dyn Gateway>>, ApiError> {
    Ok(by_name(&app.config, &sandbox_secret(app)?, name))
}
