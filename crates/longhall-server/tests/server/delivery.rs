//! Live delivery: every joined connection gets every message exactly once, in sequence order,
//! without gaps, while several users post at the same time.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_reach_every_connection_once_in_order() {
    const POSTERS: usize = 3;
    const EACH: usize = 40;
    let s = TestServer::start().await;
    let logins = ["ann@example.org", "ben@example.org", "cal@example.org", "dee@example.org"];
    let tokens = s.users(&logins).await;
    let cat = s.category(json!({ "name": "Ops", "allowed_members": ["domain:example.org"] })).await;
    let room =
        s.room(s.admin_token(), json!({ "name": "Incidents", "category": cat.to_string(), "privacy": "open" })).await;

    let mut clients = Vec::new();
    for t in &tokens {
        let mut ws = s.ws(t).await;
        let joined = ws.join_ok(room).await;
        assert_eq!(joined["messages"], json!([]));
        clients.push(ws);
    }
    // dee also has a second connection: each connection gets its own copy.
    let mut second = s.ws(&tokens[3]).await;
    second.join_ok(room).await;

    // Three users post at once, each sending all its frames before reading any answer.
    let mut tasks = Vec::new();
    for (i, mut ws) in clients.drain(..POSTERS).enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..EACH {
                let id = ws.fresh_id();
                ws.send(json!({ "type": "post", "id": id, "room": room, "text": format!("p{i}-{n}") })).await;
                ids.push((Value::String(id), format!("p{i}-{n}")));
            }
            let mut posted = Vec::new();
            for (id, text) in ids {
                let ans = ws.answer_to(&id, "post").await;
                assert_eq!(ans["type"], "posted", "{ans}");
                assert_eq!(ans["room"], room);
                posted.push((ans["seq"].as_i64().unwrap(), text));
            }
            (ws, posted)
        }));
    }
    let mut posted_by_seq: HashMap<i64, String> = HashMap::new();
    for t in tasks {
        let (ws, posted) = t.await.unwrap();
        // A user's own posts are numbered in the order the user sent them.
        let own: Vec<i64> = posted.iter().map(|(s, _)| *s).collect();
        assert!(own.windows(2).all(|w| w[0] < w[1]), "one connection's posts keep their order: {own:?}");
        for (seq, text) in posted {
            assert!(posted_by_seq.insert(seq, text).is_none(), "seq {seq} was given twice");
        }
        clients.push(ws);
    }
    clients.push(second);
    let total = (POSTERS * EACH) as i64;
    assert_eq!(posted_by_seq.len() as i64, total);

    for (i, ws) in clients.iter_mut().enumerate() {
        let mut got = Vec::new();
        while got.len() < total as usize {
            got.push(ws.next_event("message").await);
        }
        let seqs: Vec<i64> = got.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "connection {i}: every message once, in order, no gap");
        for m in &got {
            let seq = m["seq"].as_i64().unwrap();
            assert_eq!(
                m["text"].as_str().unwrap(),
                posted_by_seq[&seq],
                "connection {i}: the posted answer's seq names this message"
            );
            assert_eq!(m["room"], room);
        }
        // Nothing more arrives: no duplicates trailing behind.
        ws.assert_none("message", &format!("connection {i} after all {total} messages")).await;
    }

    // The history agrees with what was delivered.
    let page = s.get(&tokens[0], &format!("/api/v1/rooms/{room}/messages?after=0&limit=500")).await.ok();
    assert_eq!(seqs(&page["messages"]), (1..=total).collect::<Vec<_>>());
    for m in page["messages"].as_array().unwrap() {
        assert_eq!(m["text"].as_str().unwrap(), posted_by_seq[&m["seq"].as_i64().unwrap()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_joining_during_a_burst_misses_nothing_and_sees_nothing_twice() {
    let s = TestServer::start().await;
    let tokens = s.users(&["poster@example.org", "late@example.org"]).await;
    let cat = s.category(json!({ "name": "Ops", "allowed_members": ["everyone"] })).await;
    let room =
        s.room(s.admin_token(), json!({ "name": "Burst", "category": cat.to_string(), "privacy": "open" })).await;
    let mut poster = s.ws(&tokens[0]).await;
    poster.join_ok(room).await;
    let mut late = s.ws(&tokens[1]).await;

    // The poster fires 200 posts; the late user joins in the middle of the burst.
    let mut ids = Vec::new();
    for n in 0..100 {
        let id = poster.fresh_id();
        poster.send(json!({ "type": "post", "id": id, "room": room, "text": format!("m{n}") })).await;
        ids.push(Value::String(id));
    }
    let id = late.fresh_id();
    late.send(json!({ "type": "join", "id": id, "rooms": [{ "room": room }], "backchat": 500 })).await;
    for n in 100..200 {
        let id = poster.fresh_id();
        poster.send(json!({ "type": "post", "id": id, "room": room, "text": format!("m{n}") })).await;
        ids.push(Value::String(id));
    }
    let joined = late.answer_to(&Value::String(id), "join").await;
    for id in &ids {
        assert_eq!(poster.answer_to(id, "post").await["type"], "posted");
    }
    let mut seen: Vec<i64> = seqs(&joined["rooms"][0]["messages"]);
    while seen.last().copied().unwrap_or(0) < 200 {
        seen.push(late.next_event("message").await["seq"].as_i64().unwrap());
    }
    assert_eq!(seen, (1..=200).collect::<Vec<_>>(), "backchat then live: contiguous, no duplicates");
    late.assert_none("message", "after the burst").await;
}
