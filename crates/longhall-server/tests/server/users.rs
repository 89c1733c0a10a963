//! User removal and the effective policy and configuration of a user.

use serde_json::json;

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_user_ends_its_access_and_keeps_what_it_posted() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    s.create_user("bob@example.org", json!({ "display_name": "Bob Byrne" })).await;
    let witness = s.user("witness@example.org").await;
    s.group("desk", &["bob@example.org", "witness@example.org"]).await;
    s.category(json!({ "name": "Trading", "allowed_members": ["everyone"], "creators": ["bob@example.org"] })).await;
    let room = s
        .room(&admin, json!({ "name": "Rates", "category": "Trading", "members": ["bob@example.org", "witness@example.org"], "privacy": "closed" }))
        .await;
    let bob = s.sign_in("bob@example.org").await;
    let bot = s.post(&admin, "/api/v1/tokens", json!({ "label": "bob's bot", "login": "bob@example.org" })).await.ok();
    let bot = bot["token"].as_str().unwrap().to_owned();
    let mut ws = s.ws(&bob).await;
    ws.join_ok(room).await;
    let mut seen = s.ws(&witness).await;
    seen.join_ok(room).await;
    ws.post_ok(room, "the last word").await;

    let removed = s.delete(&admin, "/api/v1/admin/users/bob@example.org").await.ok();
    assert_eq!(removed["login"], "bob@example.org");
    assert_eq!(removed["tokens_revoked"], 2, "its session and its bot's token");
    assert_eq!(
        removed["purged"],
        json!(["group desk: members", "category Trading: creators", "room Rates: members"]),
        "the lists that named it are reported"
    );

    // Its connection ends, its tokens stop working, it can't sign in.
    let rest = ws.closed().await;
    assert!(rest.iter().any(|f| f["type"] == "closing" && f["code"] == "unauthenticated"), "{rest:?}");
    assert_eq!(seen.next_event("participant_left").await["participant"]["login"], "bob@example.org");
    s.get(&bob, "/api/v1/me").await.err(401, "unauthenticated");
    s.get(&bot, "/api/v1/me").await.err(401, "unauthenticated");
    s.try_sign_in("bob@example.org").await.err(401, "invalid_credentials");
    s.get(&admin, "/api/v1/admin/users/bob@example.org").await.err(404, "user_not_found");

    // The lists no longer name it.
    assert_eq!(s.get(&admin, "/api/v1/admin/groups/desk").await.ok()["members"], json!(["user:witness@example.org"]));
    assert_eq!(
        s.get(&admin, &format!("/api/v1/rooms/{room}")).await.ok()["members"],
        json!(["user:witness@example.org"])
    );

    // What it posted stays, attributed; its compliance record stays.
    let history = s.get(&witness, &format!("/api/v1/rooms/{room}/messages")).await.ok();
    let last = history["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["text"].as_str(), last["author"].as_str()), (Some("the last word"), Some("bob@example.org")));
    assert_eq!(last["author_name"], "Bob Byrne");
    s.wait_for_event("bob's CHAT record", |e| e["kind"] == "CHAT" && e["user"] == "bob@example.org").await;

    // The login is free for a new account, and the old messages keep their author.
    s.create_user("bob@example.org", json!({ "display_name": "Another Bob" })).await;
    let history = s.get(&witness, &format!("/api/v1/rooms/{room}/messages")).await.ok();
    let last = history["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["author_name"], "Bob Byrne", "the new account does not take over the old posts");

    // Refusals.
    s.delete(&admin, "/api/v1/admin/users/nobody@example.org").await.err(404, "user_not_found");
    s.delete(&witness, "/api/v1/admin/users/bob@example.org").await.err(403, "admin_required");
    s.delete(&admin, &format!("/api/v1/admin/users/{ADMIN}")).await.err(422, "invalid_value");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effective_settings_name_the_scope_that_gave_each_value() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    s.create_user("bob@example.org", json!({ "site": "paris" })).await;
    let effective = |login: &'static str| {
        let s = &s;
        let admin = admin.clone();
        async move { s.get(&admin, &format!("/api/v1/admin/users/{login}/effective")).await.ok() }
    };
    let setting = |v: &serde_json::Value, name: &str| {
        let found = v["settings"].as_array().unwrap().iter().find(|x| x["name"] == name).cloned();
        found.unwrap_or_else(|| panic!("no {name} in {v}"))
    };

    // First start turned the global policy on; no configuration is set: the defaults.
    let e = effective("bob@example.org").await;
    assert_eq!(e["can_chat"], true);
    assert_eq!(
        setting(&e, "enable_persistent_chat"),
        json!({ "name": "enable_persistent_chat", "value": true, "source": "global" })
    );
    assert_eq!(setting(&e, "max_file_size_kb")["source"], "default");

    // Why can't Bob chat? His site's policy.
    s.put(&admin, "/api/v1/admin/policies/site:paris", json!({ "enable_persistent_chat": false })).await.ok();
    s.put(&admin, "/api/v1/admin/config/site:paris", json!({ "max_file_size_kb": 512 })).await.ok();
    s.put(&admin, "/api/v1/admin/config/global", json!({ "default_chat_history": 10 })).await.ok();
    let e = effective("bob@example.org").await;
    assert_eq!(e["can_chat"], false);
    assert_eq!(e["reason"], "The site:paris policy turns persistent chat off.");
    assert_eq!(setting(&e, "enable_persistent_chat")["source"], "site:paris");
    assert_eq!(
        setting(&e, "max_file_size_kb"),
        json!({ "name": "max_file_size_kb", "value": 512, "source": "site:paris" })
    );

    // A granted tag policy wins over the site's.
    s.put(&admin, "/api/v1/admin/policies/tag:exempt", json!({ "enable_persistent_chat": true })).await.ok();
    s.patch(&admin, "/api/v1/admin/users/bob@example.org", json!({ "policy": "exempt" })).await.ok();
    let e = effective("bob@example.org").await;
    assert_eq!((e["can_chat"].clone(), e["granted_policy"].clone()), (json!(true), json!("exempt")));
    assert_eq!(setting(&e, "enable_persistent_chat")["source"], "tag:exempt");

    // A user without a site takes the global configuration.
    s.create_user("ann@example.org", json!({})).await;
    let e = effective("ann@example.org").await;
    assert_eq!(
        setting(&e, "default_chat_history"),
        json!({ "name": "default_chat_history", "value": 10, "source": "global" })
    );

    // A disabled account can't chat whatever its policy.
    s.patch(&admin, "/api/v1/admin/users/ann@example.org", json!({ "disabled": true })).await.ok();
    let e = effective("ann@example.org").await;
    assert_eq!((e["can_chat"].clone(), e["disabled"].clone()), (json!(false), json!(true)));

    let user = s.user("plain@example.org").await;
    s.get(&user, "/api/v1/admin/users/plain@example.org/effective").await.err(403, "admin_required");
    s.get(&admin, "/api/v1/admin/users/ghost@example.org/effective").await.err(404, "user_not_found");
}
