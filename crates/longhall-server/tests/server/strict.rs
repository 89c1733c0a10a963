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
        // A misspelt parameter is refused, naming it, rather than silently ignored.
        let body = s.get(token, &format!("{route}limt=10")).await.err(400, "invalid_request");
        assert!(body["message"].as_str().unwrap().contains("limt"), "{route}: {body}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_changes_are_all_or_nothing_and_report_each_purged_principal_once() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let _ = s.users(&["wide@example.org", "keeper@example.org"]).await;
    let open = s.category(json!({ "name": "Open floor", "allowed_members": ["domain:example.org"] })).await;
    let narrow = s.category(json!({ "name": "Narrow", "allowed_members": ["user:keeper@example.org"] })).await;
    let both = ["user:wide@example.org", "user:keeper@example.org"];
    let room = s
        .room(
            &admin,
            json!({
                "name": "Stage", "category": open.to_string(), "type": "auditorium",
                "members": both, "managers": ["user:wide@example.org"], "presenters": both,
            }),
        )
        .await;
    let path = format!("/api/v1/rooms/{room}");

    // One bad field refuses the whole change: the name and description stay as they were.
    s.patch(
        &admin,
        &path,
        json!({ "name": "Renamed", "description": "changed", "members": { "add": ["user:ghost@example.org"] } }),
    )
    .await
    .err(422, "unknown_principal");
    s.patch(&admin, &path, json!({ "name": "Renamed", "type": "normal", "presenters": { "add": both } }))
        .await
        .err(422, "invalid_presenter");
    let view = s.get(&admin, &path).await.ok();
    assert_eq!(
        (view["name"].as_str(), view["description"].as_str(), view["type"].as_str()),
        (Some("Stage"), Some(""), Some("auditorium"))
    );
    assert_eq!(view["presenters"], json!(both));

    // Made a normal room, it has no presenters, and making it an auditorium again gives none back.
    let changed = s.patch(&admin, &path, json!({ "type": "normal" })).await.ok();
    assert_eq!(changed["room"]["presenters"], json!([]));
    let changed = s.patch(&admin, &path, json!({ "type": "auditorium" })).await.ok();
    assert_eq!(changed["room"]["presenters"], json!([]));

    // Moved where only the keeper is in scope: "wide" leaves both lists and is reported once.
    let moved = s.patch(&admin, &path, json!({ "category": narrow.to_string() })).await.ok();
    assert_eq!(moved["purged"], json!(["user:wide@example.org"]));
    assert_eq!(
        (moved["room"]["members"].clone(), moved["room"]["managers"].clone()),
        (json!(["user:keeper@example.org"]), json!([]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posting_unjoined_answers_not_joined_before_not_member_and_hides_secret_rooms() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.user("visitor@example.org").await;
    let cat = s.category(json!({ "name": "Floors", "allowed_members": ["domain:example.org"] })).await;
    let closed = s.room(&admin, json!({ "name": "Closed door", "category": cat.to_string() })).await;
    let secret = s.room(&admin, json!({ "name": "Hidden", "category": cat.to_string(), "privacy": "secret" })).await;
    let mut ws = s.ws(&t).await;
    let post = |room: i64| json!({ "type": "post", "room": room, "text": "hello" });
    assert_eq!(ws.request(post(closed)).await["code"], "not_joined");
    assert_eq!(ws.join_fails(closed).await, "not_member");
    assert_eq!(ws.request(post(secret)).await["code"], "room_not_found");
    // Over HTTP (no joining) the right to post decides.
    s.post(&t, &format!("/api/v1/rooms/{closed}/messages"), json!({ "text": "hello" })).await.err(403, "not_member");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_frame_that_is_not_an_object_is_refused_and_does_nothing() {
    let s = TestServer::start().await;
    let t = s.user("framer@example.org").await;
    let lobby = id_of(&s.get(&t, "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    let mut ws = s.ws(&t).await;
    ws.join_ok(lobby).await;
    ws.send(json!(["post", "p1", lobby, "by position"])).await;
    let error = ws.next_event("error").await;
    assert_eq!(error["code"], "invalid_request", "{error}");
    ws.send(json!(["ping", "p2"])).await;
    assert_eq!(ws.next_event("error").await["code"], "invalid_request");
    ws.assert_none("posted", "nothing was posted").await;
    let history = s.get(&t, &format!("/api/v1/rooms/{lobby}/messages")).await.ok();
    assert!(texts(&history["messages"]).is_empty(), "{history}");
}
