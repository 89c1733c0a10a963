//! History: the backchat on join follows `default_chat_history` or the client's count, and
//! paging before / after / around returns the right windows, oldest first, with `has_more`.

use serde_json::{Value, json};

use super::harness::*;

fn range(a: i64, b: i64) -> Vec<i64> {
    (a..=b).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backchat_size_and_paging_windows() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    s.set_config(json!({ "default_chat_history": 5 })).await;
    let t = s.users(&["writer@example.org", "reader@example.org"]).await;
    let (writer, reader) = (&t[0], &t[1]);
    assert_eq!(s.get(reader, "/api/v1/me").await.ok()["config"]["default_chat_history"], 5);
    let cat = s.category(json!({ "name": "Log", "allowed_members": ["domain:example.org"] })).await;
    let room = s.room(&admin, json!({ "name": "Changelog", "category": cat.to_string(), "privacy": "open" })).await;
    let mut posted = Vec::new();
    for i in 1..=12 {
        let p = s.say(writer, room, &format!("entry {i}")).await;
        assert_eq!(p["seq"], i, "sequence numbers are dense from 1");
        posted.push((i, p["ts"].as_i64().unwrap()));
    }

    // Backchat on join: the configured 5 by default, or what the client asks, 1–500.
    let mut ws = s.ws(reader).await;
    let joined = ws.join_ok(room).await;
    assert_eq!(seqs(&joined["messages"]), range(8, 12));
    assert_eq!(joined["has_more"], true);
    assert_eq!(texts(&joined["messages"])[0], "entry 8");
    for (n, want, more) in
        [(1, range(12, 12), true), (12, range(1, 12), false), (500, range(1, 12), false), (11, range(2, 12), true)]
    {
        let ans = ws.request(json!({ "type": "join", "rooms": [{ "room": room }], "backchat": n })).await;
        assert_eq!(seqs(&ans["rooms"][0]["messages"]), want, "backchat {n}");
        assert_eq!(ans["rooms"][0]["has_more"], more, "backchat {n}");
    }
    for n in [0, 501] {
        let e = ws.request(json!({ "type": "join", "rooms": [{ "room": room }], "backchat": n })).await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some("invalid_value")),
            "backchat {n}: {e}"
        );
    }

    // Paging over HTTP and over the WebSocket gives the same windows.
    // (query, expected seqs, has_more)
    let cases: Vec<(Value, Vec<i64>, bool)> = vec![
        (json!({}), range(8, 12), true),
        (json!({ "limit": 12 }), range(1, 12), false),
        (json!({ "before_seq": 8, "limit": 5 }), range(3, 7), true),
        (json!({ "before_seq": 3, "limit": 5 }), range(1, 2), false),
        (json!({ "before_seq": 1 }), vec![], false),
        (json!({ "after_seq": 9, "limit": 2 }), range(10, 11), true),
        (json!({ "after_seq": 10, "limit": 5 }), range(11, 12), false),
        (json!({ "after_seq": 0, "limit": 3 }), range(1, 3), true),
        (json!({ "after_seq": 12 }), vec![], false),
        (json!({ "before_seq": 13, "limit": 500 }), range(1, 12), false),
    ];
    for (q, want, more) in cases {
        let mut qs = Vec::new();
        for (k, v) in q.as_object().unwrap() {
            let k = k.trim_end_matches("_seq");
            qs.push(format!("{k}={v}"));
        }
        let page = s.get(reader, &format!("/api/v1/rooms/{room}/messages?{}", qs.join("&"))).await.ok();
        assert_eq!((seqs(&page["messages"]), page["has_more"].as_bool().unwrap()), (want.clone(), more), "HTTP {q}");
        let mut frame = json!({ "type": "history", "room": room });
        frame.as_object_mut().unwrap().extend(q.as_object().unwrap().clone());
        let ans = ws.request(frame).await;
        assert_eq!(ans["type"], "history", "{ans}");
        assert_eq!((seqs(&ans["messages"]), ans["has_more"].as_bool().unwrap()), (want, more), "WS {q}");
    }

    // Around a time: a window of `limit` messages holding the first message at or after it,
    // contiguous and oldest first.
    let (mid_seq, mid_ts) = posted[6];
    let first_at = posted.iter().find(|(_, ts)| *ts >= mid_ts).unwrap().0;
    let page = s.get(reader, &format!("/api/v1/rooms/{room}/messages?around={mid_ts}&limit=4")).await.ok();
    let got = seqs(&page["messages"]);
    assert_eq!(got.len(), 4, "around: {got:?}");
    assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "around: contiguous {got:?}");
    assert!(got.contains(&first_at) && first_at <= mid_seq, "around {mid_ts}: {got:?} holds seq {first_at}");
    assert_eq!(page["has_more"], true, "messages exist outside the window");
    let ws_page = ws.request(json!({ "type": "history", "room": room, "around_ts": mid_ts, "limit": 4 })).await;
    assert_eq!(seqs(&ws_page["messages"]), got);
    assert_eq!(ws_page["has_more"], true);
    // A window that holds the whole room has nothing more.
    let whole = s.get(reader, &format!("/api/v1/rooms/{room}/messages?around={mid_ts}&limit=500")).await.ok();
    assert_eq!((seqs(&whole["messages"]), whole["has_more"].as_bool()), (range(1, 12), Some(false)));

    // Refused: bad counts and two cursors at once.
    for q in ["limit=0", "limit=501"] {
        s.get(reader, &format!("/api/v1/rooms/{room}/messages?{q}")).await.err(422, "invalid_value");
    }
    s.get(reader, &format!("/api/v1/rooms/{room}/messages?before=5&after=2")).await.err(400, "invalid_request");
    let e = ws.request(json!({ "type": "history", "room": room, "before_seq": 5, "after_seq": 2 })).await;
    assert_eq!(e["code"], "invalid_request");
    let e = ws.request(json!({ "type": "history", "room": room, "limit": 0 })).await;
    assert_eq!(e["code"], "invalid_value");

    // Joining again on the same connection and leaving once leaves the room for good.
    let left = ws.leave(room).await;
    assert_eq!(left["rooms"], json!([room]));
    let view = s.get(&admin, &format!("/api/v1/rooms/{room}")).await.ok();
    assert_eq!(view["participant_count"], 0, "nobody is connected any more: {view}");
    let parts = s.get(writer, &format!("/api/v1/rooms/{room}/participants")).await.ok();
    assert_eq!(parts["participants"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_without_history_delivers_live_keeps_nothing_but_compliance_records_all() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["spy@example.org", "handler@example.org"]).await;
    let cat = s
        .category(json!({ "name": "Ephemeral", "chat_history": false, "allowed_members": ["domain:example.org"] }))
        .await;
    let room = s.room(&admin, json!({ "name": "Dead drop", "category": cat.to_string(), "privacy": "open" })).await;
    assert_eq!(s.get(&t[0], &format!("/api/v1/rooms/{room}")).await.ok()["chat_history"], false);
    let mut spy = s.ws(&t[0]).await;
    let mut handler = s.ws(&t[1]).await;
    spy.join_ok(room).await;
    handler.join_ok(room).await;

    let first = spy.post_ok(room, "the package is in locker nineteen").await;
    let second = s.say(&t[1], room, "understood, collecting tonight").await["seq"].as_i64().unwrap();
    assert_eq!((first, second), (1, 2), "sequence numbers still advance");
    for ws in [&mut spy, &mut handler] {
        assert_eq!(ws.next_event("message").await["text"], "the package is in locker nineteen");
        assert_eq!(ws.next_event("message").await["text"], "understood, collecting tonight");
    }

    // Nothing is kept for users: not in history, not in a new backchat, not in search.
    let page = s.get(&t[0], &format!("/api/v1/rooms/{room}/messages?limit=500")).await.ok();
    assert_eq!(page["messages"], json!([]));
    let ans = spy.request(json!({ "type": "history", "room": room, "after_seq": 0 })).await;
    assert_eq!(ans["messages"], json!([]));
    let mut late = s.ws(&t[1]).await;
    let joined = late.join_ok(room).await;
    assert_eq!(joined["messages"], json!([]));
    assert_eq!(joined["has_more"], false);
    let found = s.get(&t[0], "/api/v1/search/messages?q=locker").await.ok();
    assert_eq!(found["messages"], json!([]));
    let found = s.get(&admin, "/api/v1/search/messages?q=locker").await.ok();
    assert_eq!(found["messages"], json!([]));

    // The compliance record has both CHAT events with their text.
    let events = s.compliance_events().await;
    let chats: Vec<&Value> = events.iter().filter(|e| e["kind"] == "CHAT" && e["room"] == room).collect();
    assert_eq!(chats.len(), 2, "{chats:?}");
    assert_eq!((chats[0]["user"].as_str(), chats[0]["seq"].as_i64()), (Some("spy@example.org"), Some(1)));
    assert_eq!(chats[0]["detail"]["text"], "the package is in locker nineteen");
    assert_eq!((chats[1]["user"].as_str(), chats[1]["seq"].as_i64()), (Some("handler@example.org"), Some(2)));
    assert_eq!(chats[1]["detail"]["text"], "understood, collecting tonight");
}
