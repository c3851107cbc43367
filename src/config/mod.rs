//! One typed configuration: built-in defaults < config file < `BUILDXPERT_*` env < flags.
//!
//! The defaults *are* the documented `buildxpert.toml` (embedded), so the file operators read and
//! the values the binary uses cannot drift apart. Layers are merged as TOML trees checked against
//! the defaults' shape (unknown keys and wrong types are named), then deserialised and validated.

mod layers;
mod types;

pub use types::*;

use std::path::{Path, PathBuf};

/// The documented default configuration, embedded.
pub const DEFAULT_TOML: &str = include_str!("../../buildxpert.toml");

/// Keys whose values are masked when the configuration is printed.
pub const SECRET_KEYS: &[&str] = &[
    "auth.jwt_secret",
    "sms.twilio.auth_token",
    "push.expo.access_token",
    "email.smtp.password",
    "payments.sandbox.secret",
    "payments.stripe.secret_key",
    "payments.stripe.webhook_secret",
    "payments.razorpay.key_secret",
    "payments.razorpay.webhook_secret",
    "payments.paytm.merchant_key",
    "calls.turn_secret",
    "metrics.token",
    "alerts.webhook_secret",
];

/// A configuration error; the message names the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Values given on the command line; they override every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads the effective configuration from the process environment and `overrides`.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(overrides, &env)
    }

    /// Like [`Config::load`] with an explicit environment (tests).
    pub fn load_from(overrides: &Overrides, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let tree = Self::effective_tree(overrides, env)?;
        let cfg: Config = tree
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError(format!("invalid configuration: {}", e.message())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Built-in defaults only (tests and tools start from here).
    pub fn defaults() -> Config {
        // The embedded defaults are checked by a unit test; failing here is a build defect.
        Self::load_from(&Overrides::default(), &[]).expect("embedded default configuration is valid")
    }

    /// The merged TOML tree before typing: used by `config check` to print what is in force.
    pub fn effective_tree(overrides: &Overrides, env: &[(String, String)]) -> Result<toml::Table, ConfigError> {
        let mut tree = layers::defaults_tree()?;
        let schema = tree.clone();
        let file = match &overrides.config_file {
            Some(path) => Some(read_file(path)?),
            None => {
                let implicit = Path::new("buildxpert.toml");
                if implicit.is_file() {
                    Some(read_file(implicit)?)
                } else {
                    None
                }
            }
        };
        if let Some(file) = file {
            layers::merge(&mut tree, &schema, file, "")?;
        }
        layers::apply_env(&mut tree, &schema, env)?;
        if let Some(listen) = &overrides.listen {
            layers::set(&mut tree, &["server", "listen"], toml::Value::String(listen.clone()));
        }
        if let Some(dir) = &overrides.data_dir {
            let dir = dir.to_string_lossy().into_owned();
            layers::set(&mut tree, &["server", "data_dir"], toml::Value::String(dir));
        }
        Ok(tree)
    }

    /// The effective configuration as TOML with secrets masked.
    pub fn masked_toml(tree: &toml::Table) -> String {
        let mut tree = tree.clone();
        for key in SECRET_KEYS {
            let path: Vec<&str> = key.split('.').collect();
            if let Some(toml::Value::String(s)) = layers::get(&tree, &path) {
                if !s.is_empty() {
                    layers::set(&mut tree, &path, toml::Value::String("********".into()));
                }
            }
        }
        if let Some(toml::Value::Array(hooks)) = tree.get_mut("webhooks") {
            for hook in hooks.iter_mut() {
                if let Some(t) = hook.as_table_mut() {
                    t.insert("secret".into(), toml::Value::String("********".into()));
                }
            }
        }
        toml::to_string(&tree).unwrap_or_default()
    }

    /// Where the database lives.
    pub fn database_path(&self) -> PathBuf {
        if self.database.path.is_empty() {
            self.server.data_dir.join("buildxpert.db")
        } else {
            PathBuf::from(&self.database.path)
        }
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError(format!("config file {} is not valid TOML: {}", path.display(), e.message())))
}

#[cfg(test)]
mod tests;
