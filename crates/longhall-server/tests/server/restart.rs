//! A restart keeps everything: directory, categories, rooms and their lists, messages,
//! follows, invitations, configuration, tokens; sequence numbers continue without reuse.

use serde_json::{Value, json};

use super::harness::*;

/// Everything a user or administrator can read about the deployment.
async fn snapshot(s: &TestServer, user: &str, rooms: &[i64]) -> Value {
    let admin = s.admin_token();
    let mut room_views = Vec::new();
    let mut histories = Vec::new();
    for r in rooms {
        room_views.push(s.get(admin, &format!("/api/v1/rooms/{r}")).await.ok());
        histories.push(s.get(user, &format!("/api/v1/rooms/{r}/messages?after=0&limit=500")).await.ok());
    }
    let mut categories = Vec::new();
    for c in s.get(admin, "/api/v1/categories").await.ok().as_array().unwrap() {
        categories.push(s.get(admin, &format!("/api/v1/admin/categories/{}", id_of(c))).await.ok());
    }
    json!({
        "users": s.get(admin, "/api/v1/admin/users?limit=500").await.ok(),
        "groups": s.get(admin, "/api/v1/admin/groups?limit=500").await.ok(),
        "categories": categories,
        "addins": s.get(admin, "/api/v1/addins").await.ok(),
        "policies": s.get(admin, "/api/v1/admin/policies").await.ok(),
        "config": s.get(admin, "/api/v1/admin/config").await.ok(),
        "rooms": room_views,
        "directory": s.get(user, "/api/v1/rooms?limit=500").await.ok(),
        "histories": histories,
        "followed": s.get(user, "/api/v1/followed").await.ok(),
        "invitations": s.get(user, "/api/v1/invitations?after=0").await.ok(),
        "me": s.get(user, "/api/v1/me").await.ok(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_everything_and_numbering_continues() {
    let mut s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    s.create_user("keeper@example.org", json!({ "display_name": "Keeper", "site": "oslo", "email": "k@example.org" }))
        .await;
    let keeper = s.sign_in("keeper@example.org").await;
    let other = s.user("other@example.org").await;
    s.group("keepers", &["user:keeper@example.org"]).await;
    s.group("all-keepers", &["group:keepers", "user:other@example.org"]).await;
    s.post(&admin, "/api/v1/admin/addins", json!({ "name": "Quotes", "url": "https://quotes.example.org/" }))
        .await
        .ok();
    s.set_config(json!({ "default_chat_history": 7, "participant_update_limit": 50 })).await;
    s.put(&admin, "/api/v1/admin/policies/site:oslo", json!({ "enable_persistent_chat": true, "description": "Oslo" }))
        .await
        .ok();
    let cat = s
        .category(json!({
            "name": "Archive", "description": "kept", "invitations": true, "file_upload": true,
            "allowed_members": ["group:all-keepers", "domain:example.org"], "denied_members": ["user:admin@example.org"],
            "creators": ["group:keepers"],
        }))
        .await;
    let room = s
        .room(
            &keeper,
            json!({
                "name": "Vault", "category": cat.to_string(), "description": "the vault", "privacy": "secret",
                "type": "auditorium", "addin": "Quotes",
                "members": ["group:all-keepers"], "presenters": ["user:keeper@example.org"],
                "managers": ["user:other@example.org"],
            }),
        )
        .await;
    let open = s.room(&keeper, json!({ "name": "Porch", "category": cat.to_string(), "privacy": "open" })).await;
    for i in 1..=9 {
        s.say(&keeper, room, &format!("vault entry {i}")).await;
    }
    s.say(&other, open, "on the porch").await;
    s.put_empty(&other, &format!("/api/v1/rooms/{room}/follow")).await.ok();
    s.put(&other, &format!("/api/v1/rooms/{room}/read"), json!({ "seq": 4 })).await.ok();
    let before = snapshot(&s, &other, &[room, open]).await;
    assert_eq!(before["followed"][0]["unread"], 5);
    assert_eq!(before["invitations"].as_array().unwrap().len(), 1, "{}", before["invitations"]);

    s.restart().await;

    // Tokens issued before still work; everything reads the same.
    let after = snapshot(&s, &other, &[room, open]).await;
    for key in before.as_object().unwrap().keys() {
        assert_eq!(before[key], after[key], "{key} changed across the restart");
    }
    // Numbering continues where it stopped.
    let next = s.say(&keeper, room, "after the restart").await;
    assert_eq!(next["seq"], 10);
    let mut ws = s.ws(&other).await;
    let joined = ws.join_ok(room).await;
    assert_eq!(seqs(&joined["messages"]), (4..=10).collect::<Vec<_>>(), "backchat of 7 after the restart");
    assert_eq!(s.say(&other, open, "porch again").await["seq"], 2);
    // Invitations continue their numbering too.
    s.patch(&keeper, &format!("/api/v1/rooms/{open}"), json!({ "members": { "add": ["user:other@example.org"] } }))
        .await
        .ok();
    let inv = ws.next_event("invitation").await;
    assert!(id_of(&inv) > id_of(&before["invitations"][0]), "a new invitation id, never reused");

    // A second restart with a live connection: the client is told and its PART is recorded.
    s.restart().await;
    let rest = ws.closed().await;
    assert!(rest.iter().any(|f| f["type"] == "closing" && f["code"] == "shutting_down"), "{rest:?}");
    let events = s.compliance_events().await;
    assert!(
        events.iter().any(|e| e["kind"] == "PART"
            && e["user"] == "other@example.org"
            && e["detail"]["reason"] == "server stopping"),
        "PART on shutdown"
    );
    assert_eq!(s.say(&keeper, room, "third life").await["seq"], 11);
}
