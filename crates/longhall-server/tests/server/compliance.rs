//! The compliance record: every join, read, post, leave, file transfer and administrator's
//! content action is recorded for the right user and room, originals included.

use reqwest::Method;
use serde_json::{Value, json};

use super::harness::*;

fn find<'a>(events: &'a [Value], kind: &str, user: &str, room: i64) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind && e["user"] == user && e["room"] == room).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_is_recorded_for_the_right_user_and_room() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["alice@example.org", "bob@example.org"]).await;
    let (alice, bob) = (&t[0], &t[1]);
    let cat = s
        .category(json!({ "name": "Regulated", "file_upload": true, "allowed_members": ["domain:example.org"] }))
        .await;
    let members = json!(["user:alice@example.org", "user:bob@example.org"]);
    let room = s.room(&admin, json!({ "name": "Trading", "category": cat.to_string(), "members": members })).await;
    let other = s.room(&admin, json!({ "name": "Other desk", "category": cat.to_string(), "members": members })).await;
    let first = s.say(bob, room, "buy 100 ACME at 12").await["seq"].as_i64().unwrap();
    let second = s.say(bob, room, "sell 50 INITECH").await["seq"].as_i64().unwrap();

    // alice: join (with backchat), scroll back, search, post, upload, download, leave.
    let mut ws = s.ws(alice).await;
    let joined = ws.join_ok(room).await;
    assert_eq!(seqs(&joined["messages"]), [first, second]);
    s.get(alice, &format!("/api/v1/rooms/{room}/messages?before={second}")).await.ok();
    let found = s.get(alice, "/api/v1/search/messages?q=ACME").await.ok();
    assert_eq!(found["messages"].as_array().unwrap().len(), 1);
    let mine = ws.post_ok(room, "confirmed, filled at 12").await;
    let file = s
        .call(
            Method::POST,
            &format!("/api/v1/rooms/{room}/files?name=ticket.txt"),
            Some(alice),
            Body::Raw(b"ticket 42".to_vec(), "text/plain"),
        )
        .await
        .ok();
    let got = s.get(bob, &format!("/api/v1/files/{}", id_of(&file))).await;
    assert_eq!(got.bytes, b"ticket 42");
    assert_eq!(ws.leave(room).await["rooms"], json!([room]));
    // Then joins another room and disconnects without leaving.
    ws.join_ok(other).await;
    ws.close().await;

    // Nobody but an administrator touches content; authors can't remove their own messages.
    let remove = format!("/api/v1/admin/rooms/{room}/remove-messages");
    s.post(alice, &remove, json!({ "seqs": [mine] })).await.err(403, "admin_required");
    s.post(bob, &remove, json!({ "seqs": [first] })).await.err(403, "admin_required");
    s.post(alice, &format!("/api/v1/admin/rooms/{room}/clear"), json!({ "up_to": i64::MAX / 2 }))
        .await
        .err(403, "admin_required");
    s.get(alice, "/api/v1/admin/compliance/events").await.err(403, "admin_required");
    // The administrator replaces one and removes another; users see the change.
    let n = s.post(&admin, &remove, json!({ "seqs": [first], "replacement": "[redacted by compliance]" })).await.ok();
    assert_eq!(n["count"], 1);
    s.post(&admin, &remove, json!({ "seqs": [second] })).await.ok();
    let page = s.get(bob, &format!("/api/v1/rooms/{room}/messages")).await.ok();
    let msgs = page["messages"].as_array().unwrap();
    assert_eq!(
        (msgs[0]["text"].as_str(), msgs[0]["replaced"].as_bool()),
        (Some("[redacted by compliance]"), Some(true))
    );
    assert_eq!(msgs[1]["replaced"], true);
    assert_ne!(msgs[1]["text"], "sell 50 INITECH");
    assert_eq!(msgs[2]["text"], "confirmed, filled at 12");
    s.post(&admin, &remove, json!({ "seqs": [9999] })).await.err(404, "message_not_found");
    // A new joiner's backchat shows the replacement too.
    let mut bws = s.ws(bob).await;
    let j = bws.join_ok(room).await;
    assert_eq!(j["messages"][0]["text"], "[redacted by compliance]");
    bws.leave(room).await;
    // Clearing the room deletes its content up to a time.
    let cleared =
        s.post(&admin, &format!("/api/v1/admin/rooms/{room}/clear"), json!({ "up_to": i64::MAX / 2 })).await.ok();
    assert_eq!(cleared["count"], 3);
    assert_eq!(s.get(bob, &format!("/api/v1/rooms/{room}/messages")).await.ok()["messages"], json!([]));

    // The disconnect's PART is written as the connection ends; wait for it, then read all.
    s.wait_for_event("PART on disconnect", |e| {
        e["kind"] == "PART"
            && e["user"] == "alice@example.org"
            && e["room"] == other
            && e["detail"]["reason"] == "disconnected"
    })
    .await;
    let events = s.compliance_events().await;
    let a = "alice@example.org";
    let joins = find(&events, "JOIN", a, room);
    assert_eq!(joins.len(), 1, "{joins:?}");
    let backchats = find(&events, "BACKCHAT", a, room);
    let via: Vec<&str> = backchats.iter().map(|e| e["detail"]["via"].as_str().unwrap_or("")).collect();
    assert_eq!(backchats.len(), 3, "join backchat, history, search: {backchats:?}");
    assert!(via.contains(&"join") && via.contains(&"history") && via.contains(&"search"), "{via:?}");
    let chats = find(&events, "CHAT", a, room);
    assert_eq!(chats.len(), 1);
    assert_eq!(
        (chats[0]["seq"].as_i64(), chats[0]["detail"]["text"].as_str()),
        (Some(mine), Some("confirmed, filled at 12"))
    );
    assert_eq!(find(&events, "CHAT", "bob@example.org", room).len(), 2);
    let parts = find(&events, "PART", a, room);
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0]["detail"]["reason"], "left");
    assert_eq!(find(&events, "JOIN", a, other).len(), 1);
    let up = find(&events, "FILEUPLOAD", a, room);
    assert_eq!(up.len(), 1);
    assert_eq!(up[0]["detail"]["name"], "ticket.txt");
    let down = find(&events, "FILEDOWNLOAD", "bob@example.org", room);
    assert_eq!(down.len(), 1);
    assert_eq!(down[0]["detail"]["file_id"], id_of(&file));
    // Replaced with a text or with the default notice: both are replacements.
    let replaced = find(&events, "MESSAGE_REPLACED", ADMIN, room);
    assert_eq!(replaced.len(), 2);
    assert_eq!(replaced[0]["seq"], first);
    assert_eq!(replaced[0]["detail"]["original"], "buy 100 ACME at 12", "the original text is kept");
    assert_eq!(
        (replaced[1]["seq"].as_i64(), replaced[1]["detail"]["original"].as_str()),
        (Some(second), Some("sell 50 INITECH"))
    );
    assert!(find(&events, "MESSAGE_REMOVED", ADMIN, room).is_empty(), "nothing was deleted outright");
    let cleared = find(&events, "ROOM_CLEARED", ADMIN, room);
    assert_eq!(cleared.len(), 1);
    // Events come oldest first with increasing ids.
    let ids: Vec<i64> = events.iter().map(id_of).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let order: Vec<&str> =
        events.iter().filter(|e| e["user"] == a && e["room"] == room).map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(order, ["JOIN", "BACKCHAT", "BACKCHAT", "BACKCHAT", "CHAT", "FILEUPLOAD", "PART"]);
}
