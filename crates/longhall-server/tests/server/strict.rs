//! Strict input: a body is a JSON object and nothing else, a page size outside its range is
//! refused rather than quietly changed, and a refused change changes nothing.

use reqwest::Method;
use serde_json::json;

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_a_json_object_is_refused_and_does_nothing() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.user("poster@example.org").await;
    let lobby = id_of(&s.get(&t, "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    let raw = |b: &str| Body::Raw(b.as_bytes().to_vec(), "application/json");
    // Arrays that serde would read field by field, in order.
    let post = s.call(Method::POST, &format!("/api/v1/rooms/{lobby}/messages"), Some(&t), raw(r#"["hello"]"#)).await;
    let body = post.err(400, "invalid_request");
    assert!(body["message"].as_str().unwrap().contains("JSON object"), "{body}");
    let category = s.call(Method::POST, "/api/v1/admin/categories", Some(&admin), raw(r#" ["Arrays"]"#)).await;
    category.err(400, "invalid_request");
    for bare in ["\"text\"", "42", "null", "true"] {
        s.call(Method::POST, &format!("/api/v1/rooms/{lobby}/messages"), Some(&t), raw(bare))
            .await
            .err(400, "invalid_request");
    }
    // Nothing was posted or created.
    let history = s.get(&t, &format!("/api/v1/rooms/{lobby}/messages")).await.ok();
    assert!(texts(&history["messages"]).is_empty(), "{history}");
    s.get(&admin, "/api/v1/admin/categories/Arrays").await.err(404, "category_not_found");
    // An object still works, with or without leading white space.
    s.call(Method::POST, &format!("/api/v1/rooms/{lobby}/messages"), Some(&t), raw("\n {\"text\": \"hi\"}")).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_size_outside_1_to_500_is_refused_on_every_list_route() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.user("lister@example.org").await;
    let lobby = id_of(&s.get(&t, "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    let routes = [
        (&t, "/api/v1/rooms?".to_owned()),
        (&t, "/api/v1/invitations?".to_owned()),
        (&admin, format!("/api/v1/rooms/{lobby}/eligible?")),
        (&admin, "/api/v1/admin/users?".to_owned()),
        (&admin, "/api/v1/admin/groups?".to_owned()),
        (&admin, "/api/v1/admin/categories/General/eligible?".to_owned()),
        (&admin, "/api/v1/admin/compliance/events?".to_owned()),
        (&admin, "/api/v1/admin/compliance/runs?".to_owned()),
    ];
    for (token, route) in &routes {
        for limit in [0, 501, 100_000] {
            let body = s.get(token, &format!("{route}limit={limit}")).await.err(422, "invalid_value");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains("between 1 and 500"), "{route}: {message}");
        }
        s.get(token, &format!("{route}limit=500")).await.ok();
        s.get(token, &format!("{route}limit=1")).await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_states_the_limits_the_server_enforces() {
    use longhall_types::limits::*;
    let s = TestServer::start().await;
    let doc = s.call(Method::GET, "/api/v1/openapi.json", None, Body::None).await.body;
    let schemas = &doc["components"]["schemas"];
    let name = &schemas["NewRoom"]["properties"]["name"];
    assert_eq!((name["minLength"].as_u64(), name["maxLength"].as_u64()), (Some(1), Some(MAX_NAME_CHARS as u64)));
    assert!(name["pattern"].is_string(), "no leading or trailing spaces: {name}");
    assert_eq!(schemas["NewRoom"]["properties"]["description"]["maxLength"], MAX_DESCRIPTION_CHARS);
    assert_eq!(schemas["NewAddin"]["properties"]["name"]["maxLength"], MAX_ADDIN_NAME_CHARS);
    assert_eq!(schemas["ListEdit"]["properties"]["add"]["maxItems"], MAX_LIST_ITEMS);
    let password = &schemas["NewUser"]["properties"]["password"];
    assert_eq!(
        (password["minLength"].as_u64(), password["maxLength"].as_u64()),
        (Some(MIN_PASSWORD_CHARS as u64), Some(MAX_PASSWORD_CHARS as u64))
    );
    let required = schemas["NewUser"]["required"].as_array().cloned().unwrap_or_default();
    assert!(!required.contains(&json!("password")), "a password is optional: {required:?}");
    assert_eq!(schemas["ConfigPut"]["properties"]["default_chat_history"]["maximum"], 500);
    // Every page size parameter says its range.
    let mut limits = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["name"] == "limit") {
                let max = if path.contains("search") { MAX_SEARCH_RESULTS } else { MAX_PAGE };
                assert_eq!(
                    (p["schema"]["minimum"].as_u64(), p["schema"]["maximum"].as_u64()),
                    (Some(1), Some(max as u64)),
                    "{path}"
                );
                limits += 1;
            }
        }
    }
    assert!(limits >= 10, "{limits} limit parameters");
}
