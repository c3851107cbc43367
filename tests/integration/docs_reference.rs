//! The repository documents itself: `docs/API.md` is rendered from `assets/openapi.json` (the
//! document the server serves) and `docs/CONFIG.md` from `buildxpert.toml` (the embedded defaults)
//! and the CLI's own definition. This test fails when either is stale; regenerate with
//! `BLESS=1 cargo test --test integration docs_reference`.

use serde_json::Value;
use std::fmt::Write;
use std::path::Path;

const METHODS: &[&str] = &["get", "put", "post", "patch", "delete"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `rendered` with the committed file; with BLESS=1 writes it instead.
fn check(rel: &str, rendered: &str) {
    let path = root().join(rel);
    if std::env::var("BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, rendered).expect("write reference");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "{rel} is stale: regenerate it with `BLESS=1 cargo test --test integration docs_reference` and commit it"
    );
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut cur = v;
    for _ in 0..8 {
        let Some(r) = cur.get("$ref").and_then(Value::as_str) else { return cur };
        let mut target = doc;
        for part in r.trim_start_matches("#/").split('/') {
            target = &target[part];
        }
        cur = target;
    }
    cur
}

fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next())
}

/// A short type label: `string`, `integer`, `Money`, `array of Booking`, `"a" | "b"`.
fn type_label(v: &Value) -> String {
    if let Some(name) = ref_name(v) {
        return format!("`{name}`");
    }
    if let Some(e) = v.get("enum").and_then(Value::as_array) {
        return e.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(" \\| ");
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = v.get(key).and_then(Value::as_array) {
            return alts.iter().map(type_label).collect::<Vec<_>>().join(" or ");
        }
    }
    let ty = match v.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" \\| "),
        _ => "any".into(),
    };
    if ty.starts_with("array") {
        if let Some(items) = v.get("items") {
            return format!("array of {}", type_label(items));
        }
    }
    match v.get("format").and_then(Value::as_str) {
        Some(f) => format!("{ty} ({f})"),
        None => ty,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// A table of an object schema's fields.
fn fields_table(doc: &Value, schema: &Value, out: &mut String) {
    let schema = resolve(doc, schema);
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        let _ = writeln!(out, "Type: {}\n", type_label(schema));
        return;
    };
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    out.push_str("| field | type | required | notes |\n|---|---|---|---|\n");
    for (name, p) in props {
        let note = p.get("description").and_then(Value::as_str).map(one_line).unwrap_or_default();
        let req = if required.contains(&name.as_str()) { "yes" } else { "" };
        let _ = writeln!(out, "| `{name}` | {} | {req} | {note} |", type_label(p));
    }
    out.push('\n');
}

fn render_api(doc: &Value) -> String {
    let mut out = String::new();
    let info = &doc["info"];
    let _ = writeln!(
        out,
        "# {} — HTTP API reference (v{})\n",
        info["title"].as_str().unwrap_or("API"),
        info["version"].as_str().unwrap_or("")
    );
    out.push_str("Generated from [`assets/openapi.json`](../assets/openapi.json), the document the server serves at\n`/api/v1/openapi.json`; do not edit by hand (see `tests/integration/docs_reference.rs`).\n\n");
    if let Some(d) = info.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{d}\n");
    }
    // Operations grouped by their first tag, in the document's tag order.
    let tags: Vec<(String, String)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (t["name"].as_str().unwrap_or("").to_string(), t["description"].as_str().unwrap_or("").to_string()))
        .collect();
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops: Vec<(String, &str, &str, &Value)> = Vec::new();
    for (path, item) in paths {
        for m in METHODS {
            if let Some(op) = item.get(*m) {
                let tag = op["tags"][0].as_str().unwrap_or("other").to_string();
                ops.push((tag, m, path.as_str(), op));
            }
        }
    }
    out.push_str("## Contents\n\n");
    for (tag, _) in &tags {
        let _ = writeln!(out, "- [{tag}](#{tag})");
    }
    out.push('\n');
    for (tag, desc) in &tags {
        let _ = writeln!(out, "## {tag}\n\n{}\n", one_line(desc));
        out.push_str("| method | path | summary |\n|---|---|---|\n");
        let mine: Vec<_> = ops.iter().filter(|o| &o.0 == tag).collect();
        for (_, m, path, op) in &mine {
            let _ = writeln!(
                out,
                "| {} | `{path}` | {} |",
                m.to_uppercase(),
                one_line(op["summary"].as_str().unwrap_or(""))
            );
        }
        out.push('\n');
        for (_, m, path, op) in &mine {
            let _ = writeln!(out, "### {} {path}\n", m.to_uppercase());
            if let Some(s) = op.get("summary").and_then(Value::as_str) {
                let _ = writeln!(out, "{}\n", one_line(s));
            }
            if let Some(d) = op.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "{d}\n");
            }
            let auth = match op.get("security").and_then(Value::as_array) {
                Some(s) if s.iter().any(|x| x.as_object().is_some_and(|o| !o.is_empty())) => {
                    s.iter().filter_map(Value::as_object).flat_map(|o| o.keys().cloned()).collect::<Vec<_>>().join(", ")
                }
                _ => "none".into(),
            };
            let _ = writeln!(out, "Auth: {auth}\n");
            let params: Vec<&Value> =
                op.get("parameters").and_then(Value::as_array).into_iter().flatten().map(|p| resolve(doc, p)).collect();
            if !params.is_empty() {
                out.push_str("| parameter | in | type | required | notes |\n|---|---|---|---|---|\n");
                for p in params {
                    let ty = p.get("schema").map(type_label).unwrap_or_default();
                    let req = if p["required"].as_bool() == Some(true) { "yes" } else { "" };
                    let note = p.get("description").and_then(Value::as_str).map(one_line).unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | {ty} | {req} | {note} |",
                        p["name"].as_str().unwrap_or(""),
                        p["in"].as_str().unwrap_or("")
                    );
                }
                out.push('\n');
            }
            if let Some(body) = op.get("requestBody").map(|b| resolve(doc, b)) {
                if let Some(content) = body.get("content").and_then(Value::as_object) {
                    for (ct, c) in content {
                        let name = c.get("schema").and_then(ref_name).map(|n| format!(" (`{n}`)")).unwrap_or_default();
                        let _ = writeln!(out, "Request body, `{ct}`{name}:\n");
                        if let Some(s) = c.get("schema") {
                            fields_table(doc, s, &mut out);
                        }
                    }
                }
            }
            out.push_str("| status | meaning |\n|---|---|\n");
            for (code, r) in op["responses"].as_object().into_iter().flatten() {
                let desc = r.get("description").or_else(|| resolve(doc, r).get("description")).and_then(Value::as_str);
                let schema = resolve(doc, r)
                    .get("content")
                    .and_then(Value::as_object)
                    .and_then(|c| c.values().next())
                    .and_then(|c| c.get("schema"))
                    .map(|s| format!(" → {}", type_label(s)))
                    .unwrap_or_default();
                let _ = writeln!(out, "| {code} | {}{schema} |", one_line(desc.unwrap_or("")));
            }
            out.push('\n');
        }
    }
    out.push_str("## Schemas\n\n");
    for (name, s) in doc["components"]["schemas"].as_object().into_iter().flatten() {
        let _ = writeln!(out, "### {name}\n");
        if let Some(d) = s.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", one_line(d));
        }
        fields_table(doc, s, &mut out);
    }
    out
}

/// `buildxpert.toml` → one table per section: key, default, what it means.
fn render_config(toml_text: &str) -> String {
    let mut out = String::from(
        "# BuildXpert — configuration and command-line reference\n\n\
         Generated from [`buildxpert.toml`](../buildxpert.toml) (the documented defaults embedded in the binary) and the\n\
         command line's own definition; do not edit by hand (see `tests/integration/docs_reference.rs`).\n\n\
         Precedence: built-in defaults < `buildxpert.toml` in the working directory (or `--config FILE`) <\n\
         environment `BUILDXPERT_<SECTION>__<KEY>` (nested sections too: `BUILDXPERT_SMS__TWILIO__FROM`) <\n\
         command-line flags. Unknown keys and invalid values stop start-up with a message naming the key.\n\
         Array values from the environment may be comma-separated (`a,b`) or a TOML array (`[\"a\",\"b\"]`).\n\
         `buildxpert config check` prints the effective configuration with every secret masked.\n\n",
    );
    out.push_str("## Command line\n\n");
    out.push_str(&render_cli());
    out.push_str("## Keys\n\n");
    let mut section = String::new();
    let mut pending_comment: Vec<String> = Vec::new();
    let mut header_done = false;
    for line in toml_text.lines() {
        let t = line.trim();
        if t.starts_with('[') && !t.starts_with("[[") {
            let (head, comment) = split_comment(t);
            section = head.trim_matches(|c| c == '[' || c == ']').to_string();
            if header_done {
                out.push('\n');
            }
            let _ = writeln!(out, "### `[{section}]`\n");
            if !comment.is_empty() {
                let _ = writeln!(out, "{comment}\n");
            }
            out.push_str("| key | environment | default | meaning |\n|---|---|---|---|\n");
            pending_comment.clear();
            header_done = true;
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            if header_done {
                pending_comment.push(c.trim().to_string());
            }
            continue;
        }
        if t.is_empty() {
            pending_comment.clear();
            continue;
        }
        if let Some((key, rest)) = t.split_once('=') {
            if !header_done {
                // Top-level keys (`webhooks = []`): the `[[webhooks]]` note below covers them.
                continue;
            }
            let key = key.trim();
            let (value, comment) = split_comment(rest.trim());
            let mut meaning = pending_comment.join(" ");
            if !comment.is_empty() {
                if !meaning.is_empty() {
                    meaning.push(' ');
                }
                meaning.push_str(&comment);
            }
            pending_comment.clear();
            let full = if section.is_empty() { key.to_string() } else { format!("{section}.{key}") };
            let env = format!("BUILDXPERT_{}", full.replace('.', "__").to_uppercase());
            let _ = writeln!(
                out,
                "| `{full}` | `{env}` | `{}` | {} |",
                value.replace('|', "\\|"),
                meaning.replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
            );
        }
    }
    out.push_str("\nOutgoing operator webhooks are `[[webhooks]]` tables with `url`, `secret` (`whsec_…`, Standard Webhooks) and\n`events` (glob patterns such as `booking.*`).\n");
    out
}

/// `value   # comment` → (value, comment), minding `#` inside quoted strings.
fn split_comment(s: &str) -> (String, String) {
    let mut in_str = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '#' if !in_str => return (s[..i].trim().to_string(), s[i + 1..].trim().to_string()),
            _ => {}
        }
    }
    (s.trim().to_string(), String::new())
}

fn render_cli() -> String {
    use clap::CommandFactory;
    let mut cmd = buildxpert::cli::Cli::command();
    let mut out = String::new();
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut String) {
        let name = if prefix.is_empty() { cmd.get_name().to_string() } else { format!("{prefix} {}", cmd.get_name()) };
        let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| c.get_name() != "help").collect();
        if subs.is_empty() {
            let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
            let _ = writeln!(out, "### `{name}`\n\n{}\n", one_line(&about));
            let args: Vec<&clap::Arg> =
                cmd.get_arguments().filter(|a| a.get_id() != "help" && a.get_id() != "version").collect();
            if !args.is_empty() {
                out.push_str("| option | meaning |\n|---|---|\n");
                for a in args {
                    let flag = match (a.get_long(), a.get_value_names()) {
                        (Some(l), Some(v)) => {
                            format!("--{l} {}", v.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "))
                        }
                        (Some(l), None) => format!("--{l}"),
                        (None, _) => a.get_id().to_string(),
                    };
                    let req = if a.is_required_set() { " (required)" } else { "" };
                    let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                    let _ = writeln!(out, "| `{flag}`{req} | {} |", one_line(&help));
                }
                out.push('\n');
            }
        }
        for s in subs {
            walk(s, &name, out);
        }
    }
    cmd.build();
    walk(&cmd, "", &mut out);
    out
}

#[test]
fn docs_reference_matches_the_openapi_document_and_the_default_config() {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("assets/openapi.json")).expect("openapi"))
            .expect("json");
    check("docs/API.md", &render_api(&doc));
    let toml_text = std::fs::read_to_string(root().join("buildxpert.toml")).expect("toml");
    check("docs/CONFIG.md", &render_config(&toml_text));
}
