//! Losing access disconnects at once: removal from a member list, a narrowed category scope,
//! a disabled room, a deleted room.

use serde_json::json;

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_members_and_narrowed_scope_are_kicked_at_once() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["mgr@example.org", "kim@example.org", "lee@example.org", "max@example.org"]).await;
    let (mgr, kim, lee, max) = (&t[0], &t[1], &t[2], &t[3]);
    s.group("floor", &["user:mgr@example.org", "user:kim@example.org", "user:max@example.org"]).await;
    s.group("night", &["user:lee@example.org"]).await;
    let cat = s.category(json!({ "name": "Floor", "allowed_members": ["group:floor", "group:night"] })).await;
    let room = s
        .room(
            &admin,
            json!({
                "name": "Desk", "category": cat.to_string(),
                "members": ["user:kim@example.org", "user:lee@example.org", "user:max@example.org"],
                "managers": ["user:mgr@example.org"],
            }),
        )
        .await;
    let mut k = s.ws(kim).await;
    let mut l = s.ws(lee).await;
    let mut m = s.ws(max).await;
    for ws in [&mut k, &mut l, &mut m] {
        ws.join_ok(room).await;
    }

    // The manager removes kim: kim is told at once and can no longer post.
    s.patch(mgr, &format!("/api/v1/rooms/{room}"), json!({ "members": { "remove": ["user:kim@example.org"] } }))
        .await
        .ok();
    let kicked = k.next_event("kicked").await;
    assert_eq!(kicked["room"], room);
    let e = k.post(room, "still here?").await;
    assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some("not_joined")), "{e}");
    s.post(kim, &format!("/api/v1/rooms/{room}/messages"), json!({ "text": "via http" })).await.err(403, "not_member");
    assert_eq!(k.join_fails(room).await, "not_member");
    // The others stay, and see kim leave.
    let left = m.next_event("participant_left").await;
    assert_eq!(left["participant"]["login"], "kim@example.org");
    let seq = m.post_ok(room, "kim is gone").await;
    assert_eq!(l.next_event("message").await["seq"], seq);
    k.assert_none("message", "a kicked connection gets no more messages").await;

    // The administrator narrows the category's scope: lee (group night) loses access.
    s.patch(
        &admin,
        &format!("/api/v1/admin/categories/{cat}"),
        json!({ "allowed_members": { "remove": ["group:night"] } }),
    )
    .await
    .ok();
    assert_eq!(l.next_event("kicked").await["room"], room);
    // Out of scope, the room no longer exists for lee.
    assert_eq!(l.post(room, "hello?").await["code"], "room_not_found");
    // max stays joined and still receives.
    s.say(max, room, "max still here").await;
    assert_eq!(m.next_event("message").await["text"], "kim is gone");
    assert_eq!(m.next_event("message").await["text"], "max still here");
    // Removing max from a group that gives scope kicks too (group change, no room edit).
    s.patch(&admin, "/api/v1/admin/groups/floor", json!({ "members": { "remove": ["user:max@example.org"] } }))
        .await
        .ok();
    assert_eq!(m.next_event("kicked").await["room"], room);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_and_deleting_a_room_sends_everyone_out() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["owner@example.org", "ida@example.org"]).await;
    let cat = s.category(json!({ "name": "Projects", "allowed_members": ["domain:example.org"] })).await;
    let doomed = s
        .room(&admin, json!({ "name": "Project Doom", "category": cat.to_string(), "privacy": "open", "managers": ["user:owner@example.org"] }))
        .await;
    let gone = s.room(&admin, json!({ "name": "Project Gone", "category": cat.to_string(), "privacy": "open" })).await;
    s.say(&t[1], doomed, "doom message").await;
    let mut ws = s.ws(&t[1]).await;
    ws.join_ok(doomed).await;
    ws.join_ok(gone).await;

    // A manager disables: joined users are sent out; the room leaves the directory and search.
    s.patch(&t[0], &format!("/api/v1/rooms/{doomed}"), json!({ "disabled": true })).await.ok();
    assert_eq!(ws.next_event("room_disabled").await["room"], doomed);
    assert_eq!(ws.post(doomed, "anyone?").await["code"], "room_not_found");
    let found = s.get(&t[1], "/api/v1/rooms?q=Project").await.ok();
    let ids: Vec<i64> = found["items"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(ids, [gone], "the disabled room is not found");
    s.get(&t[1], &format!("/api/v1/rooms/{doomed}")).await.err(404, "room_not_found");
    assert_eq!(ws.join_fails(doomed).await, "room_not_found");
    let search = s.get(&t[1], "/api/v1/search/messages?q=doom").await.ok();
    assert_eq!(search["messages"], json!([]), "a disabled room's content is left out of search");
    s.post(&t[1], &format!("/api/v1/rooms/{doomed}/messages"), json!({ "text": "hello?" }))
        .await
        .err(404, "room_not_found");
    // Its manager still sees it, disabled, but can't join; its history is kept for later.
    assert_eq!(s.get(&t[0], &format!("/api/v1/rooms/{doomed}")).await.ok()["disabled"], true);
    let mut owner = s.ws(&t[0]).await;
    assert_eq!(owner.join_fails(doomed).await, "room_disabled");
    s.patch(&admin, &format!("/api/v1/rooms/{doomed}"), json!({ "disabled": false })).await.ok();
    let back = ws.join_ok(doomed).await;
    assert_eq!(texts(&back["messages"]), ["doom message"]);
    assert_eq!(s.get(&t[1], "/api/v1/search/messages?q=doom").await.ok()["messages"].as_array().unwrap().len(), 1);

    // The administrator deletes: joined users are told; the room is gone for everyone.
    s.delete(&admin, &format!("/api/v1/rooms/{gone}")).await.ok();
    assert_eq!(ws.next_event("room_deleted").await["room"], gone);
    s.get(&admin, &format!("/api/v1/rooms/{gone}")).await.err(404, "room_not_found");
    assert_eq!(ws.post(gone, "hello?").await["code"], "room_not_found");
    // The connection itself is fine.
    ws.post_ok(doomed, "still connected").await;
}
