//! The house's layering, checked from the source: the `crate::` paths each top-level module of
//! `src/` uses may only point to a lower layer. A cycle, an import of a higher layer, an import
//! across modules of one layer, or a new top-level module missing from [`LAYERS`] fails.
//! This table is the one place the layer order is written (README "Development" describes it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules of `src/`, top layer first. A module may use modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    // Entry and composition: the CLI, the server (binds, starts, stops), the route and job lists.
    &["cli"],
    &["server"],
    &["routes", "jobs"],
    // Features, each calling only the ones below it.
    &["admin"],
    &["payments", "calls"],
    &["bookings"],
    &["catalog"],
    &["accounts", "enquiries"],
    &["notify", "system"],
    &["events"],
    // Kit that needs the App: guard, audit, idempotency.
    &["guard", "audit", "idempotency"],
    &["app"],
    // Kit: HTTP, channels, infrastructure.
    &["channels", "logging", "assets"],
    &["web"],
    &["db", "net", "hub", "outbound", "passwords", "runner", "metrics", "secrets"],
    &["config"],
    &["clock", "tz", "files"],
];

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

/// `crate::x` references of one file, unit-test modules aside.
fn references(text: &str) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if rest.starts_with('{') {
            let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
            out.extend(group.split(',').filter_map(|p| p.trim().split("::").next()).map(str::to_string));
        } else {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            out.insert(name);
        }
    }
    out.retain(|n| n.starts_with(|c: char| c.is_ascii_lowercase()));
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// module → the modules it uses, with one file as evidence for each.
fn graph(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut g: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let tops: BTreeSet<String> = std::fs::read_dir(src)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            match name.strip_suffix(".rs") {
                Some(stem) => Some(stem.to_string()),
                None => e.path().is_dir().then_some(name),
            }
        })
        .filter(|m| m != "main" && m != "lib")
        .collect();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        let top = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if !tops.contains(&top) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let entry = g.entry(top.clone()).or_default();
        for r in references(&text) {
            if r != top && tops.contains(&r) {
                entry.entry(r).or_insert_with(|| rel.display().to_string());
            }
        }
    }
    for t in tops {
        g.entry(t).or_default();
    }
    g
}

#[test]
fn imports_point_down_only_and_every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    let mut problems = Vec::new();
    for (m, uses) in &g {
        let Some(lm) = layer_of(m) else {
            problems.push(format!("src/{m} has no layer: add it to LAYERS in tests/integration/layers.rs"));
            continue;
        };
        for (u, evidence) in uses {
            match layer_of(u) {
                Some(lu) if lu > lm => {}
                Some(lu) if lu == lm => problems.push(format!("{m} → {u} ({evidence}): same layer")),
                Some(_) => problems.push(format!("{m} → {u} ({evidence}): points up")),
                None => {}
            }
        }
    }
    assert!(problems.is_empty(), "layering broken:\n{}", problems.join("\n"));
}

#[test]
fn the_reference_reader_sees_grouped_and_plain_paths() {
    let r = references(
        "use crate::{app::App, web::{json, ApiError}};\nlet x = crate::db::Db::open();\n#[cfg(test)]\nuse crate::cli;",
    );
    assert_eq!(r.into_iter().collect::<Vec<_>>(), vec!["app", "db", "web"]);
}

/// Features name what went wrong (`ApiError::denied`, `missing`, `conflict`, `locked`, …); which
/// HTTP status that is, is the web kit's business (`src/web/error.rs`), in one place.
#[test]
fn features_never_pick_http_statuses_themselves() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let features = LAYERS[LAYERS.iter().position(|l| l.contains(&"bookings")).unwrap()..]
        .iter()
        .take_while(|l| !l.contains(&"guard"))
        .flat_map(|l| l.iter());
    let mut found = Vec::new();
    for f in features {
        let mut files = Vec::new();
        let dir = src.join(f);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(src.join(format!("{f}.rs")));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            if text.contains("ApiError::new(") {
                found.push(file.strip_prefix(&src).unwrap().display().to_string());
            }
        }
    }
    assert!(found.is_empty(), "ApiError::new with a status in feature code: {found:?}");
}
