//! Auditorium rooms: presenters post, everybody else reads; managers and administrators are
//! no exception; presenters of a non-Open room must be members.

use serde_json::json;

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_presenters_post_in_an_auditorium() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["reader@example.org", "speaker@example.org", "boss@example.org", "guest@example.org"]).await;
    let (reader, speaker, boss, guest) = (&t[0], &t[1], &t[2], &t[3]);
    let cat = s.category(json!({ "name": "Town hall", "allowed_members": ["domain:example.org"] })).await;
    let hall = s
        .room(
            &admin,
            json!({
                "name": "All hands",
                "category": cat.to_string(),
                "type": "auditorium",
                "members": ["user:reader@example.org", "user:speaker@example.org", "user:boss@example.org"],
                "managers": ["user:boss@example.org"],
                "presenters": ["user:speaker@example.org"],
            }),
        )
        .await;

    let mut r = s.ws(reader).await;
    let mut sp = s.ws(speaker).await;
    let mut b = s.ws(boss).await;
    let roles = r.join_ok(hall).await["room"]["roles"].clone();
    assert_eq!((roles["can_read"].clone(), roles["can_post"].clone()), (json!(true), json!(false)));
    assert_eq!(sp.join_ok(hall).await["room"]["roles"]["can_post"], true);
    let boss_roles = b.join_ok(hall).await["room"]["roles"].clone();
    assert_eq!((boss_roles["manager"].clone(), boss_roles["can_post"].clone()), (json!(true), json!(false)));

    // The presenter speaks and everyone hears.
    let seq = sp.post_ok(hall, "Welcome, everyone").await;
    for ws in [&mut r, &mut b, &mut sp] {
        let m = ws.next_event("message").await;
        assert_eq!((m["seq"].as_i64().unwrap(), m["text"].as_str().unwrap()), (seq, "Welcome, everyone"));
    }
    // Members who are not presenters, the manager included, may not.
    for (ws, who) in [(&mut r, "member"), (&mut b, "manager")] {
        let e = ws.post(hall, "a question").await;
        assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some("not_presenter")), "{who}: {e}");
    }
    s.post(reader, &format!("/api/v1/rooms/{hall}/messages"), json!({ "text": "via http" }))
        .await
        .err(403, "not_presenter");
    s.post(boss, &format!("/api/v1/rooms/{hall}/messages"), json!({ "text": "via http" }))
        .await
        .err(403, "not_presenter");
    // Nothing was delivered from the refused posts.
    sp.assert_none("message", "refused posts are not delivered").await;
    let history = s.get(reader, &format!("/api/v1/rooms/{hall}/messages")).await.ok();
    assert_eq!(texts(&history["messages"]), ["Welcome, everyone"]);

    // A presenter of a Closed auditorium must be a member.
    s.patch(boss, &format!("/api/v1/rooms/{hall}"), json!({ "presenters": { "add": ["user:guest@example.org"] } }))
        .await
        .err(422, "invalid_presenter");
    // Adding the guest as member first makes it acceptable, and the guest may then post.
    s.patch(
        boss,
        &format!("/api/v1/rooms/{hall}"),
        json!({ "members": { "add": ["user:guest@example.org"] }, "presenters": { "add": ["user:guest@example.org"] } }),
    )
    .await
    .ok();
    s.post(guest, &format!("/api/v1/rooms/{hall}/messages"), json!({ "text": "guest speaker here" })).await.ok();
    // A normal room has no presenters at all.
    let normal = s
        .room(&admin, json!({ "name": "Chatter", "category": cat.to_string(), "members": ["user:reader@example.org"] }))
        .await;
    s.patch(
        &admin,
        &format!("/api/v1/rooms/{normal}"),
        json!({ "presenters": { "add": ["user:reader@example.org"] } }),
    )
    .await
    .err(422, "invalid_presenter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_auditorium_takes_presenters_who_are_not_members_and_not_administrators() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["voice@example.org", "ear@example.org"]).await;
    let cat = s.category(json!({ "name": "Broadcast", "allowed_members": ["domain:example.org"] })).await;
    let room = s
        .room(
            &admin,
            json!({ "name": "Radio", "category": cat.to_string(), "type": "auditorium", "privacy": "open",
                    "presenters": ["user:voice@example.org"] }),
        )
        .await;
    let mut ear = s.ws(&t[1]).await;
    ear.join_ok(room).await;
    s.post(&t[0], &format!("/api/v1/rooms/{room}/messages"), json!({ "text": "on air" })).await.ok();
    assert_eq!(ear.next_event("message").await["text"], "on air");
    assert_eq!(ear.post(room, "can I talk?").await["code"], "not_presenter");
    // The administrator reads (in scope, Open room) but does not post either.
    let mut a = s.ws(&admin).await;
    a.join_ok(room).await;
    assert_eq!(a.post(room, "admin here").await["code"], "not_presenter");
}
