//! The WebSocket wire protocol as a client library sees it (RFC 6455), driven byte by byte
//! over a raw TCP socket: the handshake, control frames, fragmentation, and what happens to a
//! client that breaks the protocol.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::harness::*;

/// A raw client: the socket and what it has read but not consumed.
struct Raw {
    tcp: TcpStream,
    buf: Vec<u8>,
}

/// One frame from the server.
#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

const MASK: [u8; 4] = [0xa1, 0x02, 0x5c, 0xf7];

fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 65_535 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

async fn handshake(s: &TestServer, token: &str, key: &str, version: &str) -> (String, Raw) {
    let mut tcp = TcpStream::connect(s.addr).await.expect("connect");
    let req = format!(
        "GET /api/v1/ws HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: keep-alive, Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: {version}\r\n{key}\r\n",
        s.addr,
        key = if key.is_empty() { String::new() } else { format!("Sec-WebSocket-Key: {key}\r\n") },
    );
    tcp.write_all(req.as_bytes()).await.expect("send the handshake");
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(WAIT, tcp.read(&mut chunk)).await.expect("an answer").expect("read");
        assert!(n > 0, "the server closed before answering: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let rest = buf[head_end..].to_vec();
    (head, Raw { tcp, buf: rest })
}

async fn open(s: &TestServer, token: &str) -> Raw {
    let (head, mut raw) = handshake(s, token, "dGhlIHNhbXBsZSBub25jZQ==", "13").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let ready = raw.text().await;
    assert_eq!(ready["type"], "ready", "{ready}");
    raw
}

impl Raw {
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 2 {
                let (len, at) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4),
                    127 if self.buf.len() >= 10 => {
                        (u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are never masked");
                if len != usize::MAX && self.buf.len() >= at + len {
                    let f = Frame {
                        fin: self.buf[0] & 0x80 != 0,
                        opcode: self.buf[0] & 0x0f,
                        payload: self.buf[at..at + len].to_vec(),
                    };
                    self.buf.drain(..at + len);
                    return Some(f);
                }
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk)).await.expect("a frame in time").unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn text(&mut self) -> Value {
        let f = self.frame().await.expect("a frame");
        assert_eq!((f.fin, f.opcode), (true, 1), "a whole text frame: {f:?}");
        serde_json::from_slice(&f.payload).expect("JSON")
    }

    /// The next frame must be a close frame; its code, then the end of the stream.
    async fn closed_with(&mut self) -> u16 {
        let f = self.frame().await.expect("a close frame");
        assert_eq!(f.opcode, 8, "{f:?}");
        let code = u16::from_be_bytes([f.payload[0], f.payload[1]]);
        assert!(self.frame().await.is_none(), "the server ends the stream after its close frame");
        code
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.expect("send");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_follows_rfc_6455_and_refuses_what_it_must() {
    let s = TestServer::start().await;
    let t = s.user("wire@example.org").await;
    // The RFC's own example key and accept value.
    let (head, _raw) = handshake(&s, &t, "dGhlIHNhbXBsZSBub25jZQ==", "13").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.to_ascii_lowercase().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    for (key, version, why) in [("", "13", "Sec-WebSocket-Key"), ("dGhlIHNhbXBsZSBub25jZQ==", "8", "Version")] {
        let (head, mut raw) = handshake(&s, &t, key, version).await;
        assert!(head.starts_with("HTTP/1.1 400"), "{why}: {head}");
        let mut body = raw.buf.clone();
        let _ = tokio::time::timeout(Duration::from_millis(500), raw.tcp.read_to_end(&mut body)).await;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(body["code"], "invalid_request", "{why}");
        assert!(body["message"].as_str().unwrap_or_default().contains(why), "{why}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_fragments_and_a_clean_close() {
    let s = TestServer::start().await;
    let t = s.user("wire@example.org").await;
    let mut raw = open(&s, &t).await;

    raw.send(&masked(true, 9, b"hello?")).await;
    let pong = raw.frame().await.expect("a pong");
    assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"hello?"[..]));

    // One request in three fragments, a ping between them: answered once, whole.
    let mut bytes = masked(false, 1, br#"{"type":"#);
    bytes.extend(masked(true, 9, b"mid"));
    bytes.extend(masked(false, 0, br#""ping","#));
    bytes.extend(masked(true, 0, br#""id":"k1"}"#));
    raw.send(&bytes).await;
    let pong = raw.frame().await.expect("the pong of the ping between fragments");
    assert_eq!(pong.opcode, 10);
    let answer = raw.text().await;
    assert_eq!((answer["type"].as_str(), answer["id"].as_str()), (Some("pong"), Some("k1")), "{answer}");

    // The client closes with 4000: the server echoes the code and ends the stream.
    raw.send(&masked(true, 8, &4000u16.to_be_bytes())).await;
    assert_eq!(raw.closed_with().await, 4000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_breaks_the_protocol_is_closed_with_the_right_code() {
    let s = TestServer::start().await;
    let t = s.user("wire@example.org").await;
    let unmasked = {
        let mut f = vec![0x81, 2];
        f.extend_from_slice(b"hi");
        f
    };
    for (what, bytes, code) in [
        ("an unmasked frame", unmasked, 1002),
        (
            "a reserved bit",
            {
                let mut f = masked(true, 1, b"{}");
                f[0] |= 0x20;
                f
            },
            1002,
        ),
        ("a continuation of nothing", masked(true, 0, b"x"), 1002),
        ("text that is not UTF-8", masked(true, 1, &[0xc3, 0x28]), 1007),
    ] {
        let mut raw = open(&s, &t).await;
        raw.send(&bytes).await;
        assert_eq!(raw.closed_with().await, code, "{what}");
    }
    // The server goes on serving.
    let mut raw = open(&s, &t).await;
    raw.send(&masked(true, 1, br#"{"type":"ping","id":"after"}"#)).await;
    assert_eq!(raw.text().await["id"], "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_queued_frames_arrive_whole_and_in_order() {
    let s = TestServer::start().await;
    let t = s.user("wire@example.org").await;
    let mut raw = open(&s, &t).await;
    // 300 requests in one write: the answers are batched into few writes, each frame whole.
    let mut bytes = Vec::new();
    for i in 0..300 {
        bytes.extend(masked(true, 1, format!(r#"{{"type":"ping","id":"p{i}"}}"#).as_bytes()));
    }
    raw.send(&bytes).await;
    for i in 0..300 {
        assert_eq!(raw.text().await["id"], format!("p{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_pinged_then_closed_while_one_that_answers_stays() {
    let limits = longhall_server::TransportSettings {
        ws_ping_interval: Duration::from_millis(300),
        ws_idle_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let s = TestServer::with_limits(longhall_core::Settings::default(), limits).await;
    let quiet_token = s.user("quiet@example.org").await;
    let lively_token = s.user("lively@example.org").await;
    let mut quiet = open(&s, &quiet_token).await;
    let mut lively = open(&s, &lively_token).await;

    // The lively client answers every ping, for twice the idle timeout.
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let ping = lively.frame().await.expect("a ping");
        assert_eq!(ping.opcode, 9, "{ping:?}");
        lively.send(&masked(true, 10, &ping.payload)).await;
    }

    // The quiet one was pinged, never answered, and is told why it is closed.
    let closing = loop {
        let f = quiet.frame().await.expect("pings, then the goodbye");
        if f.opcode == 1 {
            break serde_json::from_slice::<Value>(&f.payload).expect("JSON");
        }
        assert_eq!(f.opcode, 9, "only pings before the goodbye: {f:?}");
    };
    assert_eq!(closing["type"], "closing", "{closing}");
    assert_eq!(closing["code"], "timeout", "{closing}");
    assert_eq!(quiet.closed_with().await, 1008);

    // The lively one still gets answers.
    lively.send(&masked(true, 1, br#"{"type":"ping","id":"still-here"}"#)).await;
    let answer = loop {
        let f = lively.frame().await.expect("a frame");
        if f.opcode == 1 {
            break serde_json::from_slice::<Value>(&f.payload).expect("JSON");
        }
        lively.send(&masked(true, 10, &f.payload)).await;
    };
    assert_eq!((answer["type"].as_str(), answer["id"].as_str()), (Some("pong"), Some("still-here")));
}
