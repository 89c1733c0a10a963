//! The audit log: every administrative route leaves exactly one record with the right before
//! and after; a refused change leaves none; records survive a restart.

use serde_json::{Value, json};

use super::harness::*;

/// Every audit record after `after`, oldest first.
async fn records_after(s: &TestServer, after: i64) -> Vec<Value> {
    let page = s.get(s.admin_token(), &format!("/api/v1/admin/audit?after={after}&limit=500")).await.ok();
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn last_id(s: &TestServer) -> i64 {
    records_after(s, 0).await.last().map_or(0, |r| r["id"].as_i64().unwrap())
}

/// One administrative call and the record it must leave.
struct Step {
    method: &'static str,
    path: String,
    body: Value,
    noun: &'static str,
    object: &'static str,
    operation: &'static str,
    /// A field of `before` and `after` and the values it must have (`Null`: absent view).
    field: &'static str,
    before: Value,
    after: Value,
}

fn step(
    method: &'static str,
    path: &str,
    body: Value,
    (noun, object, operation): (&'static str, &'static str, &'static str),
    field: &'static str,
    (before, after): (Value, Value),
) -> Step {
    Step { method, path: path.to_owned(), body, noun, object, operation, field, before, after }
}

async fn call(s: &TestServer, token: &str, method: &str, path: &str, body: Value) -> Resp {
    match method {
        "POST" => s.post(token, path, body).await,
        "PATCH" => s.patch(token, path, body).await,
        "PUT" => s.put(token, path, body).await,
        "DELETE" => s.delete(token, path).await,
        m => panic!("no such method {m}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_leaves_exactly_one_record_with_before_and_after() {
    let mut s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    // The scene the table needs, before counting.
    s.create_user("target@example.org", json!({})).await;
    let n = Value::Null;
    let mut steps = vec![
        step(
            "POST",
            "/api/v1/admin/users",
            json!({ "login": "carol@example.org", "password": PASSWORD, "display_name": "Carol" }),
            ("user", "carol@example.org", "create"),
            "display_name",
            (n.clone(), json!("Carol")),
        ),
        step(
            "PATCH",
            "/api/v1/admin/users/carol@example.org",
            json!({ "display_name": "Carol King" }),
            ("user", "carol@example.org", "update"),
            "display_name",
            (json!("Carol"), json!("Carol King")),
        ),
        step(
            "POST",
            "/api/v1/admin/groups",
            json!({ "name": "traders", "members": ["carol@example.org"] }),
            ("group", "traders", "create"),
            "members",
            (n.clone(), json!(["user:carol@example.org"])),
        ),
        step(
            "PATCH",
            "/api/v1/admin/groups/traders",
            json!({ "members": { "add": ["target@example.org"] } }),
            ("group", "traders", "update"),
            "members",
            (json!(["user:carol@example.org"]), json!(["user:carol@example.org", "user:target@example.org"])),
        ),
        step(
            "POST",
            "/api/v1/admin/categories",
            json!({ "name": "Desk", "allowed_members": ["everyone"], "creators": ["group:traders"] }),
            ("category", "Desk", "create"),
            "creators",
            (n.clone(), json!(["group:traders"])),
        ),
        step(
            "PATCH",
            "/api/v1/admin/categories/Desk",
            json!({ "file_upload": true }),
            ("category", "Desk", "update"),
            "file_upload",
            (json!(false), json!(true)),
        ),
        step(
            "POST",
            "/api/v1/admin/addins",
            json!({ "name": "Quotes", "url": "https://quotes.example.org/" }),
            ("addin", "Quotes", "create"),
            "url",
            (n.clone(), json!("https://quotes.example.org/")),
        ),
        step(
            "PATCH",
            "/api/v1/admin/addins/Quotes",
            json!({ "url": "https://prices.example.org/" }),
            ("addin", "Quotes", "update"),
            "url",
            (json!("https://quotes.example.org/"), json!("https://prices.example.org/")),
        ),
        step(
            "POST",
            "/api/v1/rooms",
            json!({ "name": "Bonds", "category": "Desk", "members": ["target@example.org"] }),
            ("room", "Bonds", "create"),
            "members",
            (n.clone(), json!(["user:target@example.org"])),
        ),
        step(
            "PUT",
            "/api/v1/admin/policies/site:paris",
            json!({ "enable_persistent_chat": false }),
            ("policy", "site:paris", "create"),
            "enable_persistent_chat",
            (n.clone(), json!(false)),
        ),
        step(
            "PUT",
            "/api/v1/admin/policies/site:paris",
            json!({ "enable_persistent_chat": true }),
            ("policy", "site:paris", "update"),
            "enable_persistent_chat",
            (json!(false), json!(true)),
        ),
        step(
            "PUT",
            "/api/v1/admin/config/site:paris",
            json!({ "max_file_size_kb": 2048 }),
            ("chat_config", "site:paris", "create"),
            "max_file_size_kb",
            (n.clone(), json!(2048)),
        ),
        step(
            "PUT",
            "/api/v1/admin/compliance/config",
            json!({ "adapter": "jsonl" }),
            ("compliance_config", "global", "update"),
            "adapter",
            (json!("xml"), json!("jsonl")),
        ),
        step(
            "POST",
            "/api/v1/tokens",
            json!({ "label": "bot", "login": "target@example.org" }),
            ("token", "bot", "create"),
            "login",
            (n.clone(), json!("target@example.org")),
        ),
    ];
    let mut token_id = 0;
    let mut room_id = 0;
    for st in steps.drain(..) {
        let path = st.path.clone();
        let answer = run(&s, st, &admin).await;
        if path == "/api/v1/tokens" {
            token_id = answer["id"].as_i64().unwrap();
        }
        if path == "/api/v1/rooms" {
            room_id = id_of(&answer);
        }
    }
    // The deletes and what needs an id from above.
    let more = vec![
        step(
            "PATCH",
            &format!("/api/v1/rooms/{room_id}"),
            json!({ "addin": "Quotes", "description": "Gilts and more" }),
            ("room", "Bonds", "update"),
            "addin",
            (n.clone(), json!("Quotes")),
        ),
        step(
            "DELETE",
            &format!("/api/v1/tokens/{token_id}"),
            n.clone(),
            ("token", "bot", "delete"),
            "label",
            (json!("bot"), n.clone()),
        ),
        step(
            "DELETE",
            &format!("/api/v1/rooms/{room_id}"),
            n.clone(),
            ("room", "Bonds", "delete"),
            "name",
            (json!("Bonds"), n.clone()),
        ),
        step(
            "DELETE",
            "/api/v1/admin/addins/Quotes",
            n.clone(),
            ("addin", "Quotes", "delete"),
            "name",
            (json!("Quotes"), n.clone()),
        ),
        step(
            "DELETE",
            "/api/v1/admin/categories/Desk",
            n.clone(),
            ("category", "Desk", "delete"),
            "name",
            (json!("Desk"), n.clone()),
        ),
        step(
            "DELETE",
            "/api/v1/admin/groups/traders",
            n.clone(),
            ("group", "traders", "delete"),
            "name",
            (json!("traders"), n.clone()),
        ),
        step(
            "DELETE",
            "/api/v1/admin/policies/site:paris",
            n.clone(),
            ("policy", "site:paris", "delete"),
            "scope",
            (json!("site:paris"), n.clone()),
        ),
        step(
            "DELETE",
            "/api/v1/admin/config/site:paris",
            n.clone(),
            ("chat_config", "site:paris", "delete"),
            "scope",
            (json!("site:paris"), n.clone()),
        ),
        step(
            "DELETE",
            "/api/v1/admin/users/carol@example.org",
            n.clone(),
            ("user", "carol@example.org", "delete"),
            "login",
            (json!("carol@example.org"), n.clone()),
        ),
    ];
    for st in more {
        run(&s, st, &admin).await;
    }

    // A password reset is recorded as such, never the password or its hash.
    let before = last_id(&s).await;
    s.patch(&admin, "/api/v1/admin/users/target@example.org", json!({ "password": "another-long-passphrase" }))
        .await
        .ok();
    let recs = records_after(&s, before).await;
    assert_eq!(recs.len(), 1, "one record for a password reset (its ended sessions are part of it)");
    assert_eq!(recs[0]["note"], "password changed; sign-in sessions ended");
    assert_eq!(recs[0]["before"], recs[0]["after"], "the views hold no password");

    // Refused changes leave nothing: a taken name, a non-empty category, an out-of-range
    // value, a missing object, and a user trying an administrator's operation.
    s.category(json!({ "name": "Full", "allowed_members": ["everyone"] })).await;
    s.room(&admin, json!({ "name": "Inside", "category": "Full" })).await;
    let user = s.user("plain@example.org").await;
    let before = last_id(&s).await;
    s.post(&admin, "/api/v1/admin/users", json!({ "login": "target@example.org" })).await.err(409, "name_taken");
    s.delete(&admin, "/api/v1/admin/categories/Full").await.err(409, "category_not_empty");
    s.put(&admin, "/api/v1/admin/config/global", json!({ "max_file_size_kb": 0 })).await.err(422, "invalid_value");
    s.delete(&admin, "/api/v1/admin/users/ghost@example.org").await.err(404, "user_not_found");
    s.post(&user, "/api/v1/admin/groups", json!({ "name": "mine" })).await.err(403, "admin_required");
    s.delete(&admin, &format!("/api/v1/admin/users/{ADMIN}")).await.err(422, "invalid_value");
    assert_eq!(records_after(&s, before).await, Vec::<Value>::new(), "refused changes are not recorded");
    s.get(&user, "/api/v1/admin/audit").await.err(403, "admin_required");

    // The log survives a restart.
    let all = records_after(&s, 0).await;
    assert!(all.len() >= 26, "{} records", all.len());
    s.restart().await;
    let admin = s.sign_in(ADMIN).await;
    let page = s.get(&admin, "/api/v1/admin/audit?after=0&limit=500").await.ok();
    assert_eq!(page["items"].as_array().unwrap()[..all.len()], all[..], "every record after a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_queried_by_actor_object_and_time_and_paged() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    s.create_user("second@example.org", json!({ "admin": true })).await;
    let second = s.sign_in("second@example.org").await;
    s.post(&second, "/api/v1/admin/groups", json!({ "name": "ops" })).await.ok();
    s.patch(&admin, "/api/v1/admin/groups/ops", json!({ "name": "operations" })).await.ok();
    s.put(&second, "/api/v1/admin/policies/site:oslo", json!({ "enable_persistent_chat": true })).await.ok();

    let items = |v: Value| v["items"].as_array().cloned().unwrap();
    let by_second = items(s.get(&admin, "/api/v1/admin/audit?actor=SECOND@example.org").await.ok());
    let objects: Vec<&str> = by_second.iter().map(|r| r["object"].as_str().unwrap()).collect();
    assert_eq!(objects, ["ops", "site:oslo"], "by actor, in order");
    let group_id = by_second[0]["object_id"].as_i64().unwrap();
    let by_object = items(s.get(&admin, &format!("/api/v1/admin/audit?object=group:{group_id}")).await.ok());
    assert_eq!(by_object.len(), 2, "by id: the group's create and its rename");
    assert_eq!(by_object[1]["before"]["name"], "ops");
    assert_eq!(by_object[1]["after"]["name"], "operations");
    let by_name = items(s.get(&admin, "/api/v1/admin/audit?object=site:oslo").await.ok());
    assert_eq!(by_name.len(), 1);

    let ts = by_object[1]["ts"].as_i64().unwrap();
    let from = items(s.get(&admin, &format!("/api/v1/admin/audit?since={ts}")).await.ok());
    assert!(from.iter().all(|r| r["ts"].as_i64().unwrap() >= ts) && from.len() >= 2);
    let until = items(s.get(&admin, &format!("/api/v1/admin/audit?until={}", ts - 1)).await.ok());
    assert!(until.iter().all(|r| r["ts"].as_i64().unwrap() < ts));
    s.get(&admin, "/api/v1/admin/audit?since=10&until=5").await.err(422, "invalid_value");
    s.get(&admin, "/api/v1/admin/audit?limit=0").await.err(422, "invalid_value");

    let first = s.get(&admin, "/api/v1/admin/audit?limit=2").await.ok();
    assert_eq!(items(first.clone()).len(), 2);
    let next = first["next"].as_i64().expect("a cursor when more remain");
    let rest = items(s.get(&admin, &format!("/api/v1/admin/audit?after={next}&limit=500")).await.ok());
    assert!(rest[0]["id"].as_i64().unwrap() > next);
}

/// Makes the call of `st` and checks the one record it left; returns the call's answer.
async fn run(s: &TestServer, st: Step, admin: &str) -> Value {
    let before = last_id(s).await;
    let answer = call(s, admin, st.method, &st.path, st.body.clone()).await.ok();
    let recs = records_after(s, before).await;
    assert_eq!(recs.len(), 1, "{} {} leaves exactly one record: {recs:#?}", st.method, st.path);
    let r = &recs[0];
    let what = format!("{} {}", st.method, st.path);
    assert_eq!(r["actor"], ADMIN, "{what}: who");
    assert_eq!(r["source"], "127.0.0.1", "{what}: from where");
    assert!(r["token_id"].as_i64().is_some(), "{what}: with which token");
    assert!(r["ts"].as_i64().unwrap() > 1_700_000_000_000, "{what}: when");
    assert_eq!((r["noun"].as_str(), r["object"].as_str()), (Some(st.noun), Some(st.object)), "{what}: what");
    assert_eq!(r["operation"], st.operation, "{what}: operation");
    let side = |v: &Value| if v.is_null() { Value::Null } else { v[st.field].clone() };
    assert_eq!(side(&r["before"]), st.before, "{what}: before");
    assert_eq!(side(&r["after"]), st.after, "{what}: after");
    if st.operation == "create" && r["after"].get("id").is_some() {
        assert_eq!(r["after"]["id"], r["object_id"], "{what}: the new id is recorded");
        assert!(r["object_id"].as_i64().unwrap() > 0, "{what}: a real id");
    }
    let text = r.to_string();
    assert!(!text.contains("argon2") && !text.contains(PASSWORD), "{what}: no secret recorded");
    answer
}
