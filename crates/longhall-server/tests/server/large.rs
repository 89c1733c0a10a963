//! Large rooms: above `participant_update_limit` joined users, no join/leave notices and no
//! participant lists; normal behaviour resumes below 80 % of the limit.

use serde_json::{Value, json};

use super::harness::*;

fn logins(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list.as_array().unwrap().iter().map(|p| p["login"].as_str().unwrap().to_owned()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_stop_above_the_limit_and_resume_below_eighty_percent() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    s.set_config(json!({ "participant_update_limit": 3 })).await;
    let names = ["u1@example.org", "u2@example.org", "u3@example.org", "u4@example.org", "u5@example.org"];
    let t = s.users(&names).await;
    let cat = s.category(json!({ "name": "Crowd", "allowed_members": ["domain:example.org"] })).await;
    let room = s.room(&admin, json!({ "name": "Stadium", "category": cat.to_string(), "privacy": "open" })).await;
    let mut ws = Vec::new();
    for tok in &t {
        ws.push(s.ws(tok).await);
    }

    // Up to the limit: join answers list who is there and the others are told.
    let j = ws[0].join_ok(room).await;
    assert_eq!(logins(&j["participants"]), ["u1@example.org"]);
    let j = ws[1].join_ok(room).await;
    assert_eq!(logins(&j["participants"]), ["u1@example.org", "u2@example.org"]);
    assert_eq!(ws[0].next_event("participant_joined").await["participant"]["login"], "u2@example.org");
    let j = ws[2].join_ok(room).await;
    assert_eq!(j["participants"].as_array().unwrap().len(), 3);
    for w in &mut ws[..2] {
        assert_eq!(w.next_event("participant_joined").await["participant"]["login"], "u3@example.org");
    }
    let p = participants(&s, &t[0], room).await;
    assert_eq!((p["count"].as_i64(), p["large"].as_bool()), (Some(3), Some(false)));
    assert_eq!(p["participants"].as_array().unwrap().len(), 3);

    // The fourth makes the room large: no list in the answer, no join notice to anyone; the
    // others are told the room is large now.
    let j = ws[3].join_ok(room).await;
    assert!(j.get("participants").is_none(), "a large room's join answer has no participants: {j}");
    for w in &mut ws[..3] {
        let f = w.next_event("room_large").await;
        assert_eq!((f["room"].as_i64(), f["large"].as_bool()), (Some(room), Some(true)), "{f}");
    }
    let j = ws[4].join_ok(room).await;
    assert!(j.get("participants").is_none());
    for (i, w) in ws[..4].iter_mut().enumerate() {
        w.assert_none("participant_joined", &format!("u{} in a large room", i + 1)).await;
    }
    let p = participants(&s, &t[0], room).await;
    assert_eq!((p["count"].as_i64(), p["large"].as_bool()), (Some(5), Some(true)));
    assert_eq!(p["participants"], json!([]));
    // Messages flow as usual.
    let seq = ws[4].post_ok(room, "full house").await;
    for w in &mut ws {
        assert_eq!(w.next_event("message").await["seq"], seq);
    }

    // Leaving down to 3 (not below 80 % of 3) keeps it large and quiet.
    for i in [4, 3] {
        assert_eq!(ws[i].leave(room).await["rooms"], json!([room]));
    }
    for w in &mut ws[..3] {
        w.assert_none("participant_left", "still large at 3 users").await;
    }
    assert_eq!(participants(&s, &t[0], room).await["large"], true);
    // At 2 (below 2.4) it is small again: that departure is announced, then the whole list.
    ws[2].leave(room).await;
    for w in &mut ws[..2] {
        assert_eq!(w.next_event("participant_left").await["participant"]["login"], "u3@example.org");
        let f = w.next_event("room_large").await;
        assert_eq!(f["large"], false, "{f}");
        assert_eq!(logins(&f["participants"]), ["u1@example.org", "u2@example.org"]);
    }
    let p = participants(&s, &t[0], room).await;
    assert_eq!((p["count"].as_i64(), p["large"].as_bool()), (Some(2), Some(false)));
    assert_eq!(logins(&p["participants"]), ["u1@example.org", "u2@example.org"]);
    // And joins are announced again.
    let j = ws[3].join_ok(room).await;
    assert_eq!(logins(&j["participants"]), ["u1@example.org", "u2@example.org", "u4@example.org"]);
    assert_eq!(ws[0].next_event("participant_joined").await["participant"]["login"], "u4@example.org");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_two_connections_is_one_participant() {
    let s = TestServer::start().await;
    let t = s.users(&["watcher@example.org", "twin@example.org"]).await;
    let lobby = id_of(&s.get(&t[0], "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    let mut w = s.ws(&t[0]).await;
    w.join_ok(lobby).await;
    let mut a = s.ws(&t[1]).await;
    let mut b = s.ws(&t[1]).await;
    a.join_ok(lobby).await;
    assert_eq!(w.next_event("participant_joined").await["participant"]["login"], "twin@example.org");
    let j = b.join_ok(lobby).await;
    assert_eq!(logins(&j["participants"]), ["twin@example.org", "watcher@example.org"]);
    w.assert_none("participant_joined", "the second connection of a joined user").await;
    a.leave(lobby).await;
    w.assert_none("participant_left", "the user still has a connection in the room").await;
    b.leave(lobby).await;
    assert_eq!(w.next_event("participant_left").await["participant"]["login"], "twin@example.org");
}

async fn participants(s: &TestServer, token: &str, room: i64) -> Value {
    s.get(token, &format!("/api/v1/rooms/{room}/participants")).await.ok()
}
