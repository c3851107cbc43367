//! The OpenAPI document is served, is OpenAPI 3.1, documents exactly the routes that exist, and
//! every reference in it resolves.

use crate::support::spawn_app;
use serde_json::Value;

fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    let ptr = r.strip_prefix('#')?;
    doc.pointer(ptr)
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_string());
                    }
                }
                refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn openapi_documents_every_route_and_nothing_else() {
    let app = spawn_app();
    let r = app.get("/api/v1/openapi.json");
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");

    let router = buildxpert::routes::router();
    let mut routed = Vec::new();
    for route in router.routes() {
        let op = &paths.get(route.path).unwrap_or_else(|| panic!("{} is not documented", route.path))
            [route.method.to_lowercase()];
        assert!(op.is_object(), "{} {} is not documented", route.method, route.path);
        routed.push((route.method.to_lowercase(), route.path.to_string()));
    }
    let mut op_ids = std::collections::HashSet::new();
    for (path, item) in paths {
        let declared: Vec<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        for (method, op) in item.as_object().unwrap() {
            assert!(routed.contains(&(method.clone(), path.clone())), "{method} {path} is documented but not routed");
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(op_ids.insert(id.to_string()), "duplicate operationId {id}");
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path} has no responses"));
            assert!(!responses.is_empty());
            for name in &declared {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                assert!(
                    params.iter().any(|p| p["name"] == *name && p["in"] == "path" && p["required"] == true),
                    "{method} {path}: path parameter {name} not declared"
                );
            }
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        assert!(resolve(&doc, &r).is_some(), "unresolved $ref {r}");
    }
}
