//! Resuming after a disconnect: joining with `after_seq` returns exactly what was missed, then
//! live messages follow with no gap and no duplicate, even while others keep posting.

use serde_json::{Value, json};

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_gets_exactly_what_it_missed_then_live() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["roamer@example.org", "chatty@example.org"]).await;
    let (roamer, chatty) = (&t[0], &t[1]);
    let cat = s.category(json!({ "name": "Field", "allowed_members": ["domain:example.org"] })).await;
    let room = s.room(&admin, json!({ "name": "Radio check", "category": cat.to_string(), "privacy": "open" })).await;

    let mut ws = s.ws(roamer).await;
    ws.join_ok(room).await;
    for i in 1..=3 {
        s.say(chatty, room, &format!("before {i}")).await;
    }
    let mut last_seen = 0;
    for _ in 0..3 {
        last_seen = ws.next_event("message").await["seq"].as_i64().unwrap();
    }
    assert_eq!(last_seen, 3);
    ws.close().await;

    // Missed while away.
    for i in 4..=8 {
        s.say(chatty, room, &format!("missed {i}")).await;
    }
    let mut ws = s.ws(roamer).await;
    let ans = ws.request(json!({ "type": "join", "rooms": [{ "room": room, "after_seq": last_seen }] })).await;
    let joined = &ans["rooms"][0];
    assert_eq!(seqs(&joined["messages"]), (4..=8).collect::<Vec<_>>());
    assert_eq!(texts(&joined["messages"])[0], "missed 4");
    assert_eq!(joined["has_more"], false);
    s.say(chatty, room, "live 9").await;
    let live = ws.next_event("message").await;
    assert_eq!((live["seq"].as_i64(), live["text"].as_str()), (Some(9), Some("live 9")));
    ws.assert_none("message", "nothing twice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_while_others_post_leaves_no_gap_and_no_duplicate() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["roamer@example.org", "chatty@example.org"]).await;
    let cat = s.category(json!({ "name": "Field", "allowed_members": ["domain:example.org"] })).await;
    let room = s.room(&admin, json!({ "name": "Busy channel", "category": cat.to_string(), "privacy": "open" })).await;
    for i in 1..=10 {
        s.say(&t[1], room, &format!("m{i}")).await;
    }
    // The poster keeps going over its own connection while the roamer resumes from seq 4.
    let mut poster = s.ws(&t[1]).await;
    poster.join_ok(room).await;
    let mut ids = Vec::new();
    for i in 11..=60 {
        let id = poster.fresh_id();
        poster.send(json!({ "type": "post", "id": id, "room": room, "text": format!("m{i}") })).await;
        ids.push(Value::String(id));
    }
    let mut ws = s.ws(&t[0]).await;
    let ans = ws.request(json!({ "type": "join", "rooms": [{ "room": room, "after_seq": 4 }] })).await;
    let mut last = 0;
    for id in &ids {
        last = poster.answer_to(id, "post").await["seq"].as_i64().unwrap();
    }
    assert_eq!(last, 60);
    let mut got = seqs(&ans["rooms"][0]["messages"]);
    while got.last().copied().unwrap_or(4) < last {
        got.push(ws.next_event("message").await["seq"].as_i64().unwrap());
    }
    assert_eq!(got, (5..=60).collect::<Vec<_>>());
    ws.assert_none("message", "nothing twice").await;
}
