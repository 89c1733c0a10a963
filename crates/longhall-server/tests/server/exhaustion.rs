//! What one client can hold of the server: connections that never finish their request,
//! bodies that never arrive, answers that are never read. Each attack runs while other clients
//! keep being served, and the server gives back what the attacker held.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use longhall_core::Settings;
use longhall_server::TransportSettings;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use super::harness::*;

fn quick_limits() -> TransportSettings {
    TransportSettings {
        max_http_connections: 32,
        eviction_age: Duration::ZERO,
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        ..TransportSettings::default()
    }
}

/// Reads until the server closes the connection; what it sent before closing.
async fn until_closed(tcp: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout(within, tcp.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "the server kept the connection open for {within:?}; it sent {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_requests_are_dropped_while_everyone_else_is_served() {
    let s = TestServer::with_limits(Settings::default(), quick_limits()).await;
    let alice = s.user("alice@example.org").await;

    // Far more half-open requests than the server keeps: a request line, part of a header,
    // then nothing.
    let mut attackers = Vec::new();
    for _ in 0..200 {
        let mut tcp = TcpStream::connect(s.addr).await.expect("connect");
        tcp.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: longhall\r\nX-Slow: a").await.expect("send a partial head");
        attackers.push(tcp);
    }
    // While they hang, plain requests and WebSocket sessions work.
    for _ in 0..5 {
        s.get(&alice, "/api/v1/me").await.ok();
    }
    let mut ws = s.ws(&alice).await;
    let pong = ws.request(json!({ "type": "ping" })).await;
    assert_eq!(pong["type"], "pong");

    // Every half-open request is closed: pushed out by newer connections, or after the head timeout.
    for mut tcp in attackers {
        let answer = until_closed(&mut tcp, Duration::from_secs(5)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "a half-open request gets no answer, or 408: {answer}"
        );
    }
    // A keep-alive connection that goes quiet after its request is closed too.
    let mut tcp = TcpStream::connect(s.addr).await.expect("connect");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: longhall\r\n\r\n").await.expect("send");
    let answer = until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "answered first");
    // The session opened during the attack is untouched.
    assert_eq!(ws.request(json!({ "type": "ping" })).await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_is_refused() {
    let s = TestServer::with_limits(Settings::default(), quick_limits()).await;
    let mut tcp = TcpStream::connect(s.addr).await.expect("connect");
    tcp.write_all(
        b"POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: longhall\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"lo",
    )
    .await
    .expect("send the head and a little of the body");
    let answer = until_closed(&mut tcp, Duration::from_secs(5)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default()).expect("a JSON body");
    assert_eq!(body["code"], "timeout", "{body}");
    // The server still signs people in.
    s.user("bob@example.org").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_bound_the_oldest_waiting_connection_makes_room() {
    let limits = TransportSettings {
        max_http_connections: 4,
        eviction_age: Duration::from_millis(300),
        header_timeout: Duration::from_secs(30),
        ..TransportSettings::default()
    };
    let s = TestServer::with_limits(Settings::default(), limits).await;
    let admin = s.admin_token().to_owned();
    let me = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: longhall\r\nAuthorization: Bearer {admin}\r\nConnection: close\r\n\r\n"
    );
    // The harness's own keep-alive connection may hold a place too: wait until it can be taken.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(s.addr).await.expect("connect"));
    }
    // All four have only just connected: they keep their places and a fifth is turned away.
    let mut early = TcpStream::connect(s.addr).await.expect("connect");
    early.write_all(me.as_bytes()).await.expect("send");
    let answer = String::from_utf8_lossy(&until_closed(&mut early, Duration::from_secs(5)).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
    assert!(answer.contains("server_full"), "{answer}");

    // Once they have waited a while, a newcomer takes the place of the one that waited longest.
    let deadline = tokio::time::Instant::now() + WAIT;
    let answer = loop {
        let mut fifth = TcpStream::connect(s.addr).await.expect("connect");
        fifth.write_all(me.as_bytes()).await.expect("send");
        let answer = String::from_utf8_lossy(&until_closed(&mut fifth, Duration::from_secs(5)).await).into_owned();
        if !answer.starts_with("HTTP/1.1 503") || tokio::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let mut oldest = idle.remove(0);
    assert!(until_closed(&mut oldest, Duration::from_secs(5)).await.is_empty());
    // The others still hold their places.
    let mut newest = idle.pop().expect("four were opened");
    newest.write_all(b"GET /healthz HTTP/1.1\r\nHost: longhall\r\nConnection: close\r\n\r\n").await.expect("send");
    assert!(
        String::from_utf8_lossy(&until_closed(&mut newest, Duration::from_secs(5)).await).starts_with("HTTP/1.1 200")
    );
    // Operators see the refusals: they never reached a handler, yet /metrics counts them.
    let mut scrape = TcpStream::connect(s.addr).await.expect("connect");
    scrape.write_all(b"GET /metrics HTTP/1.1\r\nHost: longhall\r\nConnection: close\r\n\r\n").await.expect("send");
    let text = String::from_utf8_lossy(&until_closed(&mut scrape, Duration::from_secs(5)).await).into_owned();
    let refused = text
        .lines()
        .find_map(|l| l.strip_prefix("longhall_errors_total{code=\"server_full\"} "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no server_full count in /metrics: {text}"));
    assert!(refused >= 1, "the 503 answered above is counted: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_answers_close_the_connection_with_a_reason_and_free_it() {
    // A small byte bound keeps the test quick; the frame bound is far away.
    let settings = Settings { outbound_queue_bytes: 1024 * 1024, ..Settings::default() };
    let s = TestServer::with_limits(settings, TransportSettings::default()).await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["hoarder@example.org", "watcher@example.org"]).await;
    let cat = s.category(json!({ "name": "Archive", "allowed_members": ["domain:example.org"] })).await;
    let room = s.room(&admin, json!({ "name": "Long history", "category": cat.to_string(), "privacy": "open" })).await;
    let text = "h".repeat(15 * 1024);
    for _ in 0..100 {
        s.say(&t[1], room, &text).await;
    }
    let mut watcher = s.ws(&t[1]).await;
    watcher.join_ok(room).await;

    let mut hoarder = s.ws_raw(&t[0]).await.expect("the hoarder connects");
    hoarder
        .send(Message::Text(
            json!({ "type": "join", "id": "j", "rooms": [{ "room": room }], "backchat": 1 }).to_string().into(),
        ))
        .await
        .unwrap();
    assert_eq!(watcher.next_event("participant_joined").await["participant"]["login"], "hoarder@example.org");
    // Ask for 1.5 MB of history again and again, reading nothing.
    for i in 0..200 {
        let req = json!({ "type": "history", "id": format!("h{i}"), "room": room, "limit": 100 });
        if hoarder.send(Message::Text(req.to_string().into())).await.is_err() {
            break;
        }
    }
    // The server drops the hoarder long before 200 answers (300 MB) pile up.
    let left = watcher.next_event("participant_left").await;
    assert_eq!(left["participant"]["login"], "hoarder@example.org");
    // When the hoarder reads, it finds what was already on its way, then why it was closed.
    let mut histories = 0;
    let mut closing = None;
    let mut close_code = None;
    while let Ok(Some(next)) = tokio::time::timeout(WAIT, hoarder.next()).await {
        match next {
            // Counted without parsing: the goodbye waits only a few seconds for a slow reader.
            Ok(Message::Text(t)) if t.as_str().starts_with(r#"{"type":"history""#) => histories += 1,
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "closing" {
                    closing = Some(v);
                }
            }
            Ok(Message::Close(frame)) => close_code = frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(histories < 200, "the hoarder was cut off: {histories} answers");
    let closing = closing.expect("the hoarder is told why it was closed");
    assert_eq!(closing["code"], "slow_consumer", "{closing}");
    assert_eq!(close_code, Some(1008), "closed as a policy violation");
    // Nothing of the hoarder stays: the room's roster is the watcher alone.
    let view = s.get(&t[1], &format!("/api/v1/rooms/{room}")).await.ok();
    assert_eq!(view["participant_count"], 1, "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_requests_do_not_hold_up_a_stop() {
    let limits = TransportSettings { header_timeout: Duration::from_secs(60), ..TransportSettings::default() };
    let mut s = TestServer::with_limits(Settings::default(), limits).await;
    let mut hanging = Vec::new();
    for _ in 0..10 {
        let mut tcp = TcpStream::connect(s.addr).await.expect("connect");
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: longh").await.expect("send a partial head");
        hanging.push(tcp);
    }
    let started = std::time::Instant::now();
    s.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the stop waited {:?} for half-open requests",
        started.elapsed()
    );
    for mut tcp in hanging {
        assert!(until_closed(&mut tcp, Duration::from_secs(5)).await.is_empty());
    }
}
