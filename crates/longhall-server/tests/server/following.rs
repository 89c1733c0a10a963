//! Invitations (stored per user, pushed live, fetched by "newer than") and followed rooms
//! with unread counts.

use serde_json::{Value, json};

use super::harness::*;

fn ids(list: &Value) -> Vec<i64> {
    list.as_array().unwrap().iter().map(id_of).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_pushed_stored_and_fetched_newer_than_n() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["host@example.org", "invitee@example.org", "bystander@example.org"]).await;
    let (host, invitee, bystander) = (&t[0], &t[1], &t[2]);
    s.group("players", &["user:invitee@example.org", "user:bystander@example.org"]).await;
    let inviting = s
        .category(json!({
            "name": "Clubs", "invitations": true, "creators": ["user:host@example.org"],
            "allowed_members": ["domain:example.org", "group:players"],
        }))
        .await;
    let quiet =
        s.category(json!({ "name": "Quiet", "invitations": false, "allowed_members": ["domain:example.org"] })).await;
    let chess = s.room(host, json!({ "name": "Chess", "category": inviting.to_string() })).await;
    let go = s.room(host, json!({ "name": "Go", "category": inviting.to_string() })).await;
    let off = s.room(host, json!({ "name": "Bridge", "category": inviting.to_string(), "invitations": "off" })).await;
    let hush = s.room(&admin, json!({ "name": "Library", "category": quiet.to_string() })).await;
    let mut ws = s.ws(invitee).await;
    let mut other = s.ws(bystander).await;
    assert_eq!(s.get(invitee, "/api/v1/invitations?after=0").await.ok(), json!([]));

    // Adding a member pushes an invitation to that user's open connection.
    s.patch(host, &format!("/api/v1/rooms/{chess}"), json!({ "members": { "add": ["user:invitee@example.org"] } }))
        .await
        .ok();
    let first = ws.next_event("invitation").await;
    assert_eq!((first["room"].as_i64(), first["room_name"].as_str()), (Some(chess), Some("Chess")));
    let first_id = id_of(&first);
    s.patch(host, &format!("/api/v1/rooms/{go}"), json!({ "members": { "add": ["user:invitee@example.org"] } }))
        .await
        .ok();
    let second = ws.next_event("invitation").await;
    assert_eq!(second["room"], go);
    assert!(id_of(&second) > first_id, "per-user ids increase");
    other.assert_none("invitation", "only the newly entitled user is invited").await;

    // Fetched at sign-in: everything, or only what is newer than the last one seen.
    let all = s.get(invitee, "/api/v1/invitations?after=0").await.ok();
    assert_eq!(ids(&all), [first_id, id_of(&second)]);
    assert_eq!(all[0]["room"], chess);
    let newer = s.get(invitee, &format!("/api/v1/invitations?after={first_id}")).await.ok();
    assert_eq!(ids(&newer), [id_of(&second)]);
    assert_eq!(s.get(invitee, &format!("/api/v1/invitations?after={}", id_of(&second))).await.ok(), json!([]));

    // Re-adding an existing member, a room with invitations off, and a category without
    // invitations send nothing.
    s.patch(
        host,
        &format!("/api/v1/rooms/{chess}"),
        json!({ "description": "still chess", "members": { "add": ["user:invitee@example.org"] } }),
    )
    .await
    .ok();
    s.patch(host, &format!("/api/v1/rooms/{off}"), json!({ "members": { "add": ["user:invitee@example.org"] } }))
        .await
        .ok();
    s.patch(&admin, &format!("/api/v1/rooms/{hush}"), json!({ "members": { "add": ["user:invitee@example.org"] } }))
        .await
        .ok();
    ws.assert_none("invitation", "no invitation for rooms whose invitations are off").await;
    assert_eq!(s.get(invitee, &format!("/api/v1/invitations?after={}", id_of(&second))).await.ok(), json!([]));

    // A group added as members invites each of its users, and a room created with members
    // invites them too.
    let poker =
        s.room(host, json!({ "name": "Poker", "category": inviting.to_string(), "members": ["group:players"] })).await;
    assert_eq!(ws.next_event("invitation").await["room"], poker);
    assert_eq!(other.next_event("invitation").await["room"], poker);
    // The bystander's ids are its own sequence, starting over.
    let theirs = s.get(bystander, "/api/v1/invitations?after=0").await.ok();
    assert_eq!(theirs.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followed_rooms_show_unread_counts_that_reading_lowers() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["fan@example.org", "talker@example.org", "stranger@example.org"]).await;
    let (fan, talker, stranger) = (&t[0], &t[1], &t[2]);
    let cat = s.category(json!({ "name": "Topics", "allowed_members": ["domain:example.org"] })).await;
    let news = s.room(&admin, json!({ "name": "News", "category": cat.to_string(), "privacy": "open" })).await;
    let sport = s.room(&admin, json!({ "name": "Sport", "category": cat.to_string(), "privacy": "open" })).await;
    let private = s
        .room(&admin, json!({ "name": "Private", "category": cat.to_string(), "members": ["user:talker@example.org"] }))
        .await;

    s.put_empty(fan, &format!("/api/v1/rooms/{news}/follow")).await.ok();
    s.put_empty(fan, &format!("/api/v1/rooms/{sport}/follow")).await.ok();
    s.put_empty(fan, &format!("/api/v1/rooms/{private}/follow")).await.err(403, "not_member");
    s.put_empty(stranger, &format!("/api/v1/rooms/{}/follow", private + 100)).await.err(404, "room_not_found");
    for i in 0..5 {
        s.say(talker, news, &format!("news {i}")).await;
    }
    s.say(talker, sport, "goal").await;

    let unread = |v: &Value, room: i64| {
        let f = v
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["room"] == room)
            .unwrap_or_else(|| panic!("{room} not followed: {v}"));
        (f["unread"].as_i64().unwrap(), f["last_seq"].as_i64().unwrap(), f["read_seq"].as_i64().unwrap())
    };
    let followed = s.get(fan, "/api/v1/followed").await.ok();
    assert_eq!(followed.as_array().unwrap().len(), 2);
    assert_eq!(unread(&followed, news), (5, 5, 0));
    assert_eq!(unread(&followed, sport), (1, 1, 0));
    // The talker follows nothing: the list is per user.
    assert_eq!(s.get(talker, "/api/v1/followed").await.ok(), json!([]));

    // Reading over HTTP lowers the count.
    s.put(fan, &format!("/api/v1/rooms/{news}/read"), json!({ "seq": 3 })).await.ok();
    assert_eq!(unread(&s.get(fan, "/api/v1/followed").await.ok(), news), (2, 5, 3));
    // Over the WebSocket as well; another client of the same user sees the same list.
    let mut ws = s.ws(fan).await;
    ws.join_ok(news).await;
    let ack = ws.request(json!({ "type": "read", "room": news, "seq": 5 })).await;
    assert_eq!(ack["type"], "read_ack");
    let other_client = s.sign_in("fan@example.org").await;
    assert_eq!(unread(&s.get(&other_client, "/api/v1/followed").await.ok(), news), (0, 5, 5));
    // A read position never goes back, and never beyond the last message.
    s.put(fan, &format!("/api/v1/rooms/{news}/read"), json!({ "seq": 1 })).await.ok();
    s.put(fan, &format!("/api/v1/rooms/{sport}/read"), json!({ "seq": 99 })).await.ok();
    let f = s.get(fan, "/api/v1/followed").await.ok();
    assert_eq!(unread(&f, news), (0, 5, 5));
    assert_eq!(unread(&f, sport), (0, 1, 1));
    s.say(talker, sport, "another goal").await;
    assert_eq!(unread(&s.get(fan, "/api/v1/followed").await.ok(), sport), (1, 2, 1));

    // Unfollowing removes it from the list.
    s.delete(fan, &format!("/api/v1/rooms/{sport}/follow")).await.ok();
    let f = s.get(fan, "/api/v1/followed").await.ok();
    assert_eq!(f.as_array().unwrap().iter().map(|f| f["room"].as_i64().unwrap()).collect::<Vec<_>>(), [news]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_go_only_to_others_who_can_chat_and_vanish_with_the_room_out_of_reach() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["owner@example.org", "agent@example.org"]).await;
    let (owner, agent) = (&t[0], &t[1]);
    s.create_user("pierre@example.org", json!({ "site": "paris" })).await;
    let pierre = s.sign_in("pierre@example.org").await;
    let clubs = s
        .category(json!({
            "name": "Clubs", "invitations": true, "creators": ["user:owner@example.org"],
            "allowed_members": ["domain:example.org"],
        }))
        .await;

    // Paris has chat off: adding Pierre to a room must not leave him an invitation for later.
    s.put(&admin, "/api/v1/admin/policies/site:paris", json!({ "enable_persistent_chat": false })).await.ok();
    // The creator lists herself among the members: she knows her own room, no invitation.
    let falcon = s
        .room(
            owner,
            json!({
                "name": "Falcon", "category": clubs.to_string(), "privacy": "secret",
                "members": ["user:owner@example.org", "user:agent@example.org", "user:pierre@example.org"],
            }),
        )
        .await;
    assert_eq!(s.get(owner, "/api/v1/invitations?after=0").await.ok(), json!([]), "no invitation to one's own room");
    let invited = s.get(agent, "/api/v1/invitations?after=0").await.ok();
    assert_eq!((invited[0]["room"].as_i64(), invited[0]["room_name"].as_str()), (Some(falcon), Some("Falcon")));
    s.put(&admin, "/api/v1/admin/policies/site:paris", json!({ "enable_persistent_chat": true })).await.ok();
    assert_eq!(s.get(&pierre, "/api/v1/invitations?after=0").await.ok(), json!([]), "chat was off when invited");

    // The agent is removed from the secret room, which is then renamed: her invitation is
    // gone, and its new name is never shown to her.
    s.patch(
        owner,
        &format!("/api/v1/rooms/{falcon}"),
        json!({ "members": { "remove": ["user:agent@example.org"] }, "name": "Osprey" }),
    )
    .await
    .ok();
    s.get(agent, &format!("/api/v1/rooms/{falcon}")).await.err(404, "room_not_found");
    assert_eq!(s.get(agent, "/api/v1/invitations?after=0").await.ok(), json!([]));
    // Later invitations still come after the vanished one.
    let open = s.room(&admin, json!({ "name": "Open", "category": clubs.to_string(), "privacy": "open" })).await;
    s.patch(&admin, &format!("/api/v1/rooms/{open}"), json!({ "members": { "add": ["user:agent@example.org"] } }))
        .await
        .ok();
    let later = s.get(agent, "/api/v1/invitations?after=0&limit=1").await.ok();
    assert_eq!(later.as_array().map(|l| l.len()), Some(1));
    assert_eq!(later[0]["room"], open, "a page skips invitations that vanished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followed_rooms_count_unread_alerts_and_invitations_can_be_dismissed() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["reader@example.org", "talker@example.org"]).await;
    let (reader, talker) = (&t[0], &t[1]);
    let cat =
        s.category(json!({ "name": "Desks", "invitations": true, "allowed_members": ["domain:example.org"] })).await;
    let desk = s.room(&admin, json!({ "name": "Desk", "category": cat.to_string(), "privacy": "open" })).await;
    s.put_empty(reader, &format!("/api/v1/rooms/{desk}/follow")).await.ok();
    let path = format!("/api/v1/rooms/{desk}/messages");
    s.post(talker, &path, json!({ "text": "plain" })).await.ok();
    s.post(talker, &path, json!({ "text": "the build is red", "alert": true })).await.ok();
    s.post(talker, &path, json!({ "text": "and the deploy too", "alert": true })).await.ok();
    let alerts = |v: &Value| (v[0]["unread"].as_i64().unwrap(), v[0]["unread_alerts"].as_i64().unwrap());
    assert_eq!(alerts(&s.get(reader, "/api/v1/followed").await.ok()), (3, 2));
    s.put(reader, &format!("/api/v1/rooms/{desk}/read"), json!({ "seq": 2 })).await.ok();
    assert_eq!(alerts(&s.get(reader, "/api/v1/followed").await.ok()), (1, 1), "only alerts above the read position");
    s.put(reader, &format!("/api/v1/rooms/{desk}/read"), json!({ "seq": 3 })).await.ok();
    assert_eq!(alerts(&s.get(reader, "/api/v1/followed").await.ok()), (0, 0));

    // Dismissed on the server, an invitation is gone for every client of the user.
    let invited = s
        .room(&admin, json!({ "name": "Invited", "category": cat.to_string(), "members": ["user:reader@example.org"] }))
        .await;
    let list = s.get(reader, "/api/v1/invitations?after=0").await.ok();
    assert_eq!(list[0]["room"], invited);
    let id = id_of(&list[0]);
    // Another user's dismissal of the same id touches only their own invitations.
    s.delete(talker, &format!("/api/v1/invitations/{id}")).await.ok();
    assert_eq!(s.get(reader, "/api/v1/invitations?after=0").await.ok().as_array().unwrap().len(), 1);
    s.delete(reader, &format!("/api/v1/invitations/{id}")).await.ok();
    let other_client = s.sign_in("reader@example.org").await;
    assert_eq!(s.get(&other_client, "/api/v1/invitations?after=0").await.ok(), json!([]));
    s.delete(reader, &format!("/api/v1/invitations/{id}")).await.ok();
    s.delete(reader, "/api/v1/invitations/abc").await.err(400, "invalid_request");
}
