//! Merging configuration layers as TOML trees, checked against the shape of the defaults.

use super::{ConfigError, DEFAULT_TOML};
use toml::{Table, Value};

pub fn defaults_tree() -> Result<Table, ConfigError> {
    DEFAULT_TOML
        .parse::<Table>()
        .map_err(|e| ConfigError(format!("built-in defaults are not valid TOML: {}", e.message())))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean (true/false)",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Merges `layer` into `tree`; every key must exist in `schema` with the same kind of value.
pub fn merge(tree: &mut Table, schema: &Table, layer: Table, prefix: &str) -> Result<(), ConfigError> {
    for (key, value) in layer {
        let name = join(prefix, &key);
        let Some(expected) = schema.get(&key) else {
            return Err(ConfigError(format!("unknown configuration key `{name}`")));
        };
        match (expected, value) {
            (Value::Table(sub_schema), Value::Table(sub)) => {
                let entry = tree.entry(key).or_insert_with(|| Value::Table(Table::new()));
                if let Value::Table(target) = entry {
                    merge(target, sub_schema, sub, &name)?;
                }
            }
            (Value::Array(_), Value::Array(items)) if name == "webhooks" => {
                for (i, item) in items.iter().enumerate() {
                    check_webhook(item, i)?;
                }
                tree.insert(key, Value::Array(items));
            }
            (expected, value) if std::mem::discriminant(expected) == std::mem::discriminant(&value) => {
                if let (Value::Array(_), Value::Array(items)) = (expected, &value) {
                    if items.iter().any(|i| !i.is_str()) {
                        return Err(ConfigError(format!("`{name}` must be an array of strings")));
                    }
                }
                tree.insert(key, value);
            }
            (expected, value) => {
                return Err(ConfigError(format!("`{name}` must be {}, not {}", kind(expected), kind(&value))))
            }
        }
    }
    Ok(())
}

fn check_webhook(item: &Value, i: usize) -> Result<(), ConfigError> {
    let Some(t) = item.as_table() else {
        return Err(ConfigError(format!("`webhooks[{i}]` must be a table with url, secret, events")));
    };
    for (k, v) in t {
        let ok = match k.as_str() {
            "url" | "secret" => v.is_str(),
            "events" => v.as_array().is_some_and(|a| a.iter().all(Value::is_str)),
            _ => return Err(ConfigError(format!("unknown configuration key `webhooks[{i}].{k}`"))),
        };
        if !ok {
            return Err(ConfigError(format!("`webhooks[{i}].{k}` has the wrong type")));
        }
    }
    for k in ["url", "secret"] {
        if !t.contains_key(k) {
            return Err(ConfigError(format!("`webhooks[{i}].{k}` is required")));
        }
    }
    Ok(())
}

/// Applies `BUILDXPERT_<SECTION>__<KEY>` variables. The value is read as the type the default has.
pub fn apply_env(tree: &mut Table, schema: &Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("BUILDXPERT_") else { continue };
        if !rest.contains("__") {
            continue; // not a config variable (e.g. BUILDXPERT_LOG for tools)
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let Some(expected) = get(schema, &refs) else {
            return Err(ConfigError(format!("unknown configuration key `{}` (from {var})", path.join("."))));
        };
        let name = path.join(".");
        let value = coerce(expected, raw).map_err(|why| ConfigError(format!("`{name}` (from {var}) {why}")))?;
        set(tree, &refs, value);
    }
    Ok(())
}

fn coerce(expected: &Value, raw: &str) -> Result<Value, String> {
    match expected {
        Value::String(_) => Ok(Value::String(raw.to_string())),
        Value::Integer(_) => raw.trim().parse::<i64>().map(Value::Integer).map_err(|_| "must be an integer".into()),
        Value::Boolean(_) => match raw.trim() {
            "true" | "1" => Ok(Value::Boolean(true)),
            "false" | "0" => Ok(Value::Boolean(false)),
            _ => Err("must be true or false".into()),
        },
        Value::Array(_) => {
            let t = raw.trim();
            if t.starts_with('[') {
                let parsed: Table = format!("v = {t}").parse().map_err(|_| "must be a TOML array of strings")?;
                match parsed.get("v") {
                    Some(Value::Array(a)) if a.iter().all(Value::is_str) => Ok(Value::Array(a.clone())),
                    _ => Err("must be an array of strings".into()),
                }
            } else {
                // Comma-separated is friendlier in unit files and shells.
                Ok(Value::Array(
                    t.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.to_string()))
                        .collect(),
                ))
            }
        }
        _ => Err("cannot be set from the environment".into()),
    }
}

pub fn get<'a>(tree: &'a Table, path: &[&str]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut t = tree;
    for p in parents {
        t = t.get(*p)?.as_table()?;
    }
    t.get(*last)
}

pub fn set(tree: &mut Table, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut t = tree;
    for p in parents {
        let entry = t.entry(p.to_string()).or_insert_with(|| Value::Table(Table::new()));
        let Value::Table(next) = entry else { return };
        t = next;
    }
    t.insert(last.to_string(), value);
}
