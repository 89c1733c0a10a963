//! The OpenAPI document: served, equal to the committed `docs/openapi.json`, describing only
//! routes that exist; and every error code seen by this suite is in the documented table.

use std::path::PathBuf;

use longhall_types::ErrorCode;
use reqwest::Method;
use serde_json::{Value, json};

use super::harness::*;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_is_the_committed_one() {
    let s = TestServer::start().await;
    let served = s.call(Method::GET, "/api/v1/openapi.json", None, Body::None).await;
    assert_eq!(served.status, 200);
    let doc = served.body;
    assert!(doc["openapi"].as_str().unwrap_or_default().starts_with("3."), "an OpenAPI 3 document");
    let path = committed_path();
    let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var("LONGHALL_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &pretty).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run `LONGHALL_UPDATE_OPENAPI=1 cargo test -p longhall-server --test server openapi` to write it",
            path.display()
        )
    });
    let committed: Value = serde_json::from_str(&committed).expect("docs/openapi.json is JSON");
    if committed != doc {
        let mut differences = Vec::new();
        diff("", &committed, &doc, &mut differences);
        panic!(
            "the served OpenAPI document differs from {} at {:?}; if the change is intended, run \
             `LONGHALL_UPDATE_OPENAPI=1 cargo test -p longhall-server --test server openapi` and commit the file",
            path.display(),
            &differences[..differences.len().min(10)]
        );
    }
}

/// The JSON pointers where two documents differ (the first level that differs).
fn diff(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff(&here, p, q, out),
                    (Some(_), None) => out.push(format!("{here} (only committed)")),
                    (None, _) => out.push(format!("{here} (only served)")),
                }
            }
        }
        _ if a != b => out.push(at.to_owned()),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let doc = s.call(Method::GET, "/api/v1/openapi.json", None, Body::None).await.body;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() > 20, "the document lists the API: {} paths", paths.len());
    let mut operations = Vec::new();
    for (template, item) in paths {
        let path: String = {
            let mut out = String::new();
            let mut in_param = false;
            for c in template.chars() {
                match c {
                    '{' => in_param = true,
                    '}' => {
                        in_param = false;
                        out.push('1');
                    }
                    _ if in_param => {}
                    _ => out.push(c),
                }
            }
            out
        };
        for method in item.as_object().unwrap().keys() {
            let m = match method.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                _ => continue,
            };
            operations.push((m, path.clone()));
        }
    }
    // Signing out revokes the token used: do it last.
    operations.sort_by_key(|(_, p)| p.ends_with("/sign-out"));
    assert!(operations.len() >= 40, "{} operations", operations.len());
    for (method, path) in operations {
        let body = if [Method::POST, Method::PUT, Method::PATCH].contains(&method) {
            Body::Json(json!({}))
        } else {
            Body::None
        };
        let r = s.call(method.clone(), &path, Some(&admin), body).await;
        assert!(
            !["route_not_found", "method_not_allowed"].contains(&r.code()),
            "{method} {path} is documented but answers {} {}",
            r.status,
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_code_seen_is_documented() {
    // Each answer is checked as it arrives (harness); this test provokes a spread of codes of
    // its own so the check holds even when run alone, then checks everything seen so far.
    let s = TestServer::start().await;
    let t = s.user("probe@example.org").await;
    s.get(&t, "/api/v1/rooms/424242").await.err(404, "room_not_found");
    s.get(&t, "/api/v1/admin/users").await.err(403, "admin_required");
    s.get(&t, "/api/v1/nope").await.err(404, "route_not_found");
    s.call(Method::GET, "/api/v1/me", None, Body::None).await.err(401, "unauthenticated");
    s.get(s.admin_token(), "/api/v1/admin/users/nobody@example.org").await.err(404, "user_not_found");
    s.get(s.admin_token(), "/api/v1/admin/categories/Nope").await.err(404, "category_not_found");
    s.post(s.admin_token(), "/api/v1/admin/categories", json!({ "name": "General" })).await.err(409, "name_taken");
    let seen = seen_codes();
    assert!(seen.len() >= 7, "{seen:?}");
    let documented: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    for code in &seen {
        assert!(documented.contains(&code.as_str()), "{code} is returned but not in ErrorCode::ALL");
    }
}
