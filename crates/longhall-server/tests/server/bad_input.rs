//! Bad input is refused with a clear, documented error and the server keeps serving everyone
//! else; a client that stops reading is cut off without slowing the others.

use futures_util::SinkExt;
use longhall_core::Settings;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_http_requests_get_clear_errors() {
    let s = TestServer::start().await;
    let t = s.user("clumsy@example.org").await;
    let lobby = id_of(&s.get(&t, "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    // Someone else keeps chatting in the lobby throughout.
    let other = s.user("steady@example.org").await;
    let mut steady = s.ws(&other).await;
    steady.join_ok(lobby).await;
    let post_path = format!("/api/v1/rooms/{lobby}/messages");

    let json_body = |raw: &[u8]| Body::Raw(raw.to_vec(), "application/json");
    // (what, method, path, token, body, status, code)
    type Case<'a> = (&'a str, Method, String, Option<&'a str>, Body, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "malformed JSON",
            Method::POST,
            post_path.clone(),
            Some(&t),
            json_body(b"{\"text\": "),
            400,
            "invalid_request",
        ),
        ("not an object", Method::POST, post_path.clone(), Some(&t), json_body(b"[1,2]"), 400, "invalid_request"),
        (
            "missing field",
            Method::POST,
            post_path.clone(),
            Some(&t),
            Body::Json(json!({ "alert": true })),
            400,
            "invalid_request",
        ),
        (
            "unknown field",
            Method::POST,
            post_path.clone(),
            Some(&t),
            Body::Json(json!({ "text": "hi", "colour": "red" })),
            400,
            "invalid_request",
        ),
        (
            "wrong type",
            Method::POST,
            post_path.clone(),
            Some(&t),
            Body::Json(json!({ "text": 42 })),
            400,
            "invalid_request",
        ),
        (
            "no content type",
            Method::POST,
            post_path.clone(),
            Some(&t),
            Body::Raw(b"{\"text\":\"hi\"}".to_vec(), ""),
            400,
            "invalid_request",
        ),
        (
            "oversized body",
            Method::POST,
            post_path.clone(),
            Some(&t),
            Body::Json(json!({ "text": "x".repeat(300 * 1024) })),
            413,
            "payload_too_large",
        ),
        (
            "oversized message",
            Method::POST,
            post_path.clone(),
            Some(&t),
            Body::Json(json!({ "text": "é".repeat(8 * 1024 + 1) })),
            422,
            "too_long",
        ),
        (
            "empty message",
            Method::POST,
            post_path.clone(),
            Some(&t),
            Body::Json(json!({ "text": "   " })),
            422,
            "invalid_value",
        ),
        (
            "unknown room",
            Method::POST,
            "/api/v1/rooms/987654/messages".into(),
            Some(&t),
            Body::Json(json!({ "text": "hi" })),
            404,
            "room_not_found",
        ),
        (
            "unknown room details",
            Method::GET,
            "/api/v1/rooms/987654".into(),
            Some(&t),
            Body::None,
            404,
            "room_not_found",
        ),
        (
            "room id not a number",
            Method::GET,
            "/api/v1/rooms/lobby".into(),
            Some(&t),
            Body::None,
            400,
            "invalid_request",
        ),
        (
            "bad query value",
            Method::GET,
            format!("{post_path}?limit=lots"),
            Some(&t),
            Body::None,
            400,
            "invalid_request",
        ),
        ("no token", Method::GET, "/api/v1/me".into(), None, Body::None, 401, "unauthenticated"),
        (
            "bad token",
            Method::GET,
            "/api/v1/me".into(),
            Some("lh_not-a-real-token"),
            Body::None,
            401,
            "unauthenticated",
        ),
        (
            "not an administrator",
            Method::GET,
            "/api/v1/admin/users".into(),
            Some(&t),
            Body::None,
            403,
            "admin_required",
        ),
        (
            "not an administrator (write)",
            Method::POST,
            "/api/v1/admin/categories".into(),
            Some(&t),
            Body::Json(json!({ "name": "Mine" })),
            403,
            "admin_required",
        ),
        ("unknown route", Method::GET, "/api/v1/nowhere".into(), Some(&t), Body::None, 404, "route_not_found"),
        ("unknown route, no token", Method::GET, "/api/v2/rooms".into(), None, Body::None, 404, "route_not_found"),
        ("wrong method", Method::DELETE, "/api/v1/me".into(), Some(&t), Body::None, 405, "method_not_allowed"),
        (
            "wrong password",
            Method::POST,
            "/api/v1/auth/sign-in".into(),
            None,
            Body::Json(json!({ "login": "clumsy@example.org", "password": "not-the-password" })),
            401,
            "invalid_credentials",
        ),
        (
            "unknown login",
            Method::POST,
            "/api/v1/auth/sign-in".into(),
            None,
            Body::Json(json!({ "login": "ghost@example.org", "password": "not-the-password" })),
            401,
            "invalid_credentials",
        ),
    ];
    for (i, (what, method, path, token, body, status, code)) in cases.into_iter().enumerate() {
        let r = s.call(method, &path, token, body).await;
        assert_eq!((r.status.as_u16(), r.code()), (status, code), "{what}: {}", r.body);
        // The server is still serving the others.
        let seq = s.say(&other, lobby, &format!("still fine {i}")).await["seq"].clone();
        assert_eq!(steady.next_event("message").await["seq"], seq, "after {what}");
    }
    // And the clumsy user's own correct request works.
    s.say(&t, lobby, "finally right").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_websocket_frames_get_error_frames_and_the_connection_goes_on() {
    let s = TestServer::start().await;
    let t = s.user("noisy@example.org").await;
    let lobby = id_of(&s.get(&t, "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    let mut ws = s.ws(&t).await;
    ws.join_ok(lobby).await;

    // Not JSON: an error frame without id.
    ws.send_raw(Message::Text("this is not json".into())).await;
    let e = ws.next_event("error").await;
    assert_eq!((e["code"].as_str(), e.get("id")), (Some("invalid_request"), None), "{e}");
    // JSON of an unknown type, or with an unknown or missing field: the id is echoed.
    for (frame, id) in [
        (json!({ "type": "dance", "id": "d1" }), "d1"),
        (json!({ "type": "post", "id": "d2", "room": lobby, "text": "hi", "colour": "red" }), "d2"),
        (json!({ "type": "post", "id": "d3", "room": lobby }), "d3"),
        (json!({ "type": "join", "id": "d4", "rooms": [] }), "d4"),
    ] {
        let ans = ws.request(frame.clone()).await;
        assert_eq!(ans["type"], "error", "{frame}");
        assert_eq!(ans["id"], id);
        assert!(["invalid_request", "invalid_value"].contains(&ans["code"].as_str().unwrap()), "{ans}");
    }
    // A binary frame.
    ws.send_raw(Message::Binary(vec![1u8, 2, 3].into())).await;
    assert_eq!(ws.next_event("error").await["code"], "invalid_request");
    // A frame above the 64 KiB limit: payload_too_large, echoing the id it carries.
    let big = json!({ "type": "post", "id": "big1", "room": lobby, "text": "x".repeat(70 * 1024) });
    let ans = ws.request(big).await;
    assert_eq!((ans["type"].as_str(), ans["code"].as_str()), (Some("error"), Some("payload_too_large")), "{ans}");
    // A message text over its limit inside a frame that fits.
    let ans = ws.post(lobby, &"y".repeat(16 * 1024 + 1)).await;
    assert_eq!(ans["code"], "too_long");
    // Posting to a room not joined on this connection.
    let other_room = {
        let cat = s.category(json!({ "name": "Misc", "allowed_members": ["everyone"] })).await;
        s.room(s.admin_token(), json!({ "name": "Elsewhere", "category": cat.to_string(), "privacy": "open" })).await
    };
    assert_eq!(ws.post(other_room, "hello").await["code"], "not_joined");

    // The same connection still works.
    let seq = ws.post_ok(lobby, "still here").await;
    assert_eq!(ws.next_event("message").await["seq"], seq);
    ws.sync().await;

    // Leaving a room that isn't joined leaves nothing.
    assert_eq!(ws.leave(other_room).await["rooms"], json!([]));

    // A frame beyond any reason (over 1 MiB) ends the connection, saying why.
    // (The server may stop reading mid-frame, so the send itself may fail; what matters is
    // what the client is told.)
    let huge = json!({ "type": "post", "id": "huge", "room": lobby, "text": "h".repeat(1536 * 1024) });
    let _ = ws.try_send_raw(Message::Text(huge.to_string().into())).await;
    let rest = ws.closed().await;
    let closing = rest.iter().find(|f| f["type"] == "closing").unwrap_or_else(|| panic!("no closing frame: {rest:?}"));
    assert_eq!(closing["code"], "payload_too_large");
    // A new connection works.
    let mut again = s.ws(&t).await;
    again.join_ok(lobby).await;

    // Handshakes without a valid token are refused before upgrading.
    let (status, body) = s.ws_refused("").await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (401, Some("unauthenticated")));
    let (status, body) = s.ws_refused("lh_bogus").await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (401, Some("unauthenticated")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_while_readers_get_everything() {
    // A small queue keeps the test fast. Each burst below puts at most 2 × 16 frames on a
    // reader's queue at once (16 messages, and 16 answers for the poster), so readers that
    // keep reading never fill it.
    let s = TestServer::with_settings(Settings { outbound_queue: 64, ..Default::default() }).await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["sloth@example.org", "reader@example.org", "talker@example.org"]).await;
    // A category without history keeps the busy room cheap: large frames, nothing stored.
    let cat = s
        .category(json!({ "name": "Firehose", "chat_history": false, "allowed_members": ["domain:example.org"] }))
        .await;
    let room = s.room(&admin, json!({ "name": "Ticker", "category": cat.to_string(), "privacy": "open" })).await;

    let mut reader = s.ws(&t[1]).await;
    reader.join_ok(room).await;
    let mut talker = s.ws(&t[2]).await;
    talker.join_ok(room).await;
    // The sloth joins, then never reads another byte.
    let mut sloth = s.ws_raw(&t[0]).await.expect("the sloth connects");
    sloth
        .send(Message::Text(json!({ "type": "join", "id": "j", "rooms": [{ "room": room }] }).to_string().into()))
        .await
        .unwrap();
    assert_eq!(reader.next_event("participant_joined").await["participant"]["login"], "talker@example.org");
    assert_eq!(reader.next_event("participant_joined").await["participant"]["login"], "sloth@example.org");

    // Post big messages in bursts until the sloth is dropped.
    let text = "z".repeat(15 * 1024);
    let mut sent = 0i64;
    let mut dropped = false;
    while !dropped && sent < 4096 {
        // Bounded: 4096 messages of 15 KiB is 60 MiB, far beyond any socket buffer.
        let mut ids = Vec::new();
        for _ in 0..16 {
            let id = talker.fresh_id();
            talker.send(json!({ "type": "post", "id": id, "room": room, "text": text })).await;
            ids.push(Value::String(id));
        }
        for id in &ids {
            assert_eq!(talker.answer_to(id, "post").await["type"], "posted");
        }
        sent += ids.len() as i64;
        // The reader keeps up with every message, in order.
        let mut count = 0;
        while count < ids.len() {
            let f = reader.next_event_any(&["message", "participant_left"]).await;
            if f["type"] == "participant_left" {
                assert_eq!(f["participant"]["login"], "sloth@example.org");
                dropped = true;
            } else {
                count += 1;
                assert_eq!(f["seq"], sent - ids.len() as i64 + count as i64);
            }
        }
        reader.sync().await;
        if reader.take_all("participant_left").iter().any(|f| f["participant"]["login"] == "sloth@example.org") {
            dropped = true;
        }
    }
    assert!(dropped, "the sloth was never dropped after {sent} messages of 15 KiB");
    // When the sloth reads (soon: a goodbye waits 5 seconds for a peer that doesn't read), it
    // finds a contiguous run of messages already on their way, then a closing frame saying why.
    let mut last = 0;
    let mut closing = None;
    loop {
        let next = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut sloth))
            .await
            .expect("the sloth's stream ends");
        match next {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                match v["type"].as_str() {
                    Some("message") => {
                        let seq = v["seq"].as_i64().unwrap();
                        assert!(last == 0 || seq == last + 1, "queued messages stay in order: {last} then {seq}");
                        last = seq;
                    }
                    Some("closing") => closing = Some(v),
                    _ => {}
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    assert!(last < sent, "the sloth could not have received everything");
    let closing = closing.expect("the sloth is told why it was closed");
    assert_eq!(closing["code"], "slow_consumer");
    // Readers are unaffected: one more message still arrives.
    let seq = talker.post_ok(room, "after the sloth").await;
    assert_eq!(reader.next_event("message").await["seq"], seq);
    // The compliance record says why the sloth left.
    s.wait_for_event("PART of the slow consumer", |e| {
        e["kind"] == "PART" && e["user"] == "sloth@example.org" && e["detail"]["reason"] == "slow consumer"
    })
    .await;
}
