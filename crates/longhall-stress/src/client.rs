//! The generator's WebSocket clients: opening a connection from a chosen source address, and
//! the one task per connection that reads frames (measuring what arrives) and writes the
//! frames the driver hands it.
//!
//! Request ids carry what the answer needs, so nothing is looked up per answer:
//! `j.<µs>` (join), `p.<post>.<room index>.<µs>` (post), `h.<µs>` (history). A posted text
//! starts with `~<post>.<µs>~`, so every recipient computes its delivery latency. The µs are
//! of the system clock (since 1970): the generator's worker processes share that clock, so a
//! post sent by one worker and received by another is measured too.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::stats::Stats;

pub type Ws = WebSocketStream<TcpStream>;

/// What the driver asks a connection to do.
pub enum Cmd {
    /// Send this text frame.
    Text(String),
    /// Close the WebSocket (the normal end).
    Close,
}

/// Per-connection records kept only when a run verifies delivery.
pub struct Verify {
    /// Per connection: the post ids received live.
    pub received: Vec<Mutex<Vec<u64>>>,
    /// Per connection: the room indices joined.
    pub joined: Vec<Mutex<Vec<u32>>>,
    /// Per connection: the sequence number of the last live message of each room (server
    /// room id → seq).
    pub last_seq: Vec<Mutex<HashMap<i64, i64>>>,
    /// Live messages whose sequence number was not above the last one of their room on the
    /// same connection.
    pub out_of_order: AtomicU64,
    /// Post ids acknowledged with `posted`.
    pub acked: Mutex<Vec<u64>>,
}

/// State every connection task of a run shares.
pub struct Shared {
    pub stats: Stats,
    /// Server room id → room index of the model.
    pub room_index: HashMap<i64, u32>,
    /// Per room index: the highest sequence number seen.
    pub last_seq: Vec<AtomicI64>,
    /// Per room index: connections joined.
    pub joined_count: Vec<AtomicU64>,
    /// Per room index: posts acknowledged (`posted`) in the current posting phase.
    pub acked_in_room: Vec<AtomicU64>,
    /// Released as history answers arrive (bounds the scroll-back requests in flight).
    pub history_permits: Semaphore,
    pub verify: Option<Verify>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(room_ids: &[i64], connections: usize, verify: bool) -> Shared {
        Shared {
            stats: Stats::default(),
            room_index: room_ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect(),
            last_seq: room_ids.iter().map(|_| AtomicI64::new(0)).collect(),
            joined_count: room_ids.iter().map(|_| AtomicU64::new(0)).collect(),
            acked_in_room: room_ids.iter().map(|_| AtomicU64::new(0)).collect(),
            history_permits: Semaphore::new(0),
            verify: verify.then(|| Verify {
                received: (0..connections).map(|_| Mutex::new(Vec::new())).collect(),
                joined: (0..connections).map(|_| Mutex::new(Vec::new())).collect(),
                last_seq: (0..connections).map(|_| Mutex::new(HashMap::new())).collect(),
                out_of_order: AtomicU64::new(0),
                acked: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Microseconds of the system clock (the one every timestamp in a frame uses).
    pub fn now_us(&self) -> u64 {
        now_us()
    }

    pub fn acked_posts(&self) -> Vec<u64> {
        self.verify.as_ref().map(|v| lock(&v.acked).clone()).unwrap_or_default()
    }
}

/// Microseconds of the system clock since 1970.
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Where the connections go.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub ws_url: String,
}

/// The client side's buffers are kept as small as the server's: tens of thousands of
/// connections live in this process.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024).write_buffer_size(0)
}

/// Opens a TCP connection from `source` (any port) and performs the WebSocket handshake with
/// `Authorization: Bearer <token>`.
pub async fn open(target: &Target, source: Option<IpAddr>, token: &str) -> anyhow::Result<Ws> {
    let socket = if target.addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(src) = source {
        socket.bind(SocketAddr::new(src, 0)).with_context(|| format!("binding a client socket to {src}"))?;
    }
    socket.set_nodelay(true)?;
    let stream = socket.connect(target.addr).await.with_context(|| format!("connecting to {}", target.addr))?;
    let mut req = target.ws_url.as_str().into_client_request()?;
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(req, stream, Some(ws_config())).await.map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(resp) => {
                let body = resp.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
                anyhow::anyhow!("handshake refused: {} {body}", resp.status())
            }
            other => anyhow::anyhow!("handshake failed: {other}"),
        })?;
    Ok(ws)
}

/// The connection's task: runs until the driver closes it or the server does.
pub async fn run_connection(idx: usize, mut ws: Ws, mut rx: mpsc::Receiver<Cmd>, shared: std::sync::Arc<Shared>) {
    let mut closing_code: Option<String> = None;
    let reason: Option<String> = loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Some(code) = handle_frame(idx, t.as_str(), &shared) {
                        closing_code = Some(code);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map(|f| f.reason.to_string()).filter(|r| !r.is_empty());
                    break Some(format!("server_close:{}", why.or(closing_code.take()).unwrap_or_else(|| "no_reason".into())));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Some(format!("read_error:{}", short_error(&e))),
                None => break Some(format!("eof:{}", closing_code.take().unwrap_or_else(|| "no_reason".into()))),
            },
            cmd = rx.recv() => match cmd {
                Some(Cmd::Text(text)) => {
                    if let Err(e) = ws.send(Message::text(text)).await {
                        break Some(format!("write_error:{}", short_error(&e)));
                    }
                }
                Some(Cmd::Close) | None => {
                    let _ = ws.close(None).await;
                    // Read until the server's close frame (bounded).
                    let _ = tokio::time::timeout(Duration::from_secs(10), async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    break None;
                }
            },
        }
    };
    if let Some(r) = reason {
        shared.stats.closes.add(r, 1);
    }
    Stats::bump(&shared.stats.closed, 1);
}

fn short_error(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed => "closed".into(),
        E::Io(io) => format!("io_{:?}", io.kind()).to_lowercase(),
        E::Protocol(p) => format!("protocol_{p:?}").to_lowercase(),
        other => format!("{other}").chars().take(40).collect(),
    }
}

/// `~<post>.<µs>~` at the start of a message text.
pub fn marker(frame: &str) -> Option<(u64, u64)> {
    const KEY: &str = "\"text\":\"~";
    let at = frame.find(KEY)? + KEY.len();
    let rest = &frame[at..];
    let dot = rest.find('.')?;
    let post = rest[..dot].parse().ok()?;
    let rest = &rest[dot + 1..];
    let end = rest.find('~')?;
    let us = rest[..end].parse().ok()?;
    Some((post, us))
}

/// The number after `"<key>":` in a frame.
fn number_after(frame: &str, key: &str) -> Option<i64> {
    let at = frame.find(key)? + key.len();
    let rest = &frame[at..];
    let end = rest.find(|c: char| !c.is_ascii_digit() && c != '-').unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A `message` frame's room and sequence number (they come before the text).
pub fn room_and_seq(frame: &str) -> Option<(i64, i64)> {
    Some((number_after(frame, "\"room\":")?, number_after(frame, "\"seq\":")?))
}

fn frame_type(frame: &str) -> &str {
    frame.strip_prefix("{\"type\":\"").and_then(|r| r.split('"').next()).unwrap_or("")
}

#[derive(Deserialize)]
struct JoinedLite {
    id: String,
    rooms: Vec<JoinedRoomLite>,
    failed: Vec<FailLite>,
}

#[derive(Deserialize)]
struct JoinedRoomLite {
    room: RoomLite,
    messages: Vec<IgnoredAny>,
}

#[derive(Deserialize)]
struct RoomLite {
    id: i64,
    #[serde(default)]
    last_seq: i64,
}

#[derive(Deserialize)]
struct FailLite {
    code: String,
}

#[derive(Deserialize)]
struct PostedLite {
    id: String,
    seq: i64,
}

#[derive(Deserialize)]
struct IdLite {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorLite {
    #[serde(default)]
    id: Option<String>,
    code: String,
}

#[derive(Deserialize)]
struct ClosingLite {
    code: String,
}

/// The number after the last '.' of a request id: the µs it was sent at.
fn sent_us(id: &str) -> Option<u64> {
    id.rsplit('.').next()?.parse().ok()
}

/// Measures one frame; returns the code of a `closing` frame.
fn handle_frame(idx: usize, frame: &str, sh: &Shared) -> Option<String> {
    let st = &sh.stats;
    let now = sh.now_us();
    match frame_type(frame) {
        "message" => match marker(frame) {
            Some((post, us)) => {
                st.delivery.record(idx, now.saturating_sub(us));
                Stats::bump(&st.deliveries, 1);
                st.last_delivery_us.fetch_max(now, Ordering::AcqRel);
                if let Some(v) = &sh.verify {
                    lock(&v.received[idx]).push(post);
                    if let Some((room, seq)) = room_and_seq(frame) {
                        let before = lock(&v.last_seq[idx]).insert(room, seq);
                        if before.is_some_and(|b| b >= seq) {
                            v.out_of_order.fetch_add(1, Ordering::AcqRel);
                        }
                    }
                }
            }
            None => Stats::bump(&st.foreign_messages, 1),
        },
        "posted" => {
            let Ok(p) = serde_json::from_str::<PostedLite>(frame) else {
                st.errors.add("generator:unreadable_posted", 1);
                return None;
            };
            let mut parts = p.id.split('.');
            let (Some("p"), Some(post), Some(room)) = (parts.next(), parts.next(), parts.next()) else {
                return None;
            };
            let (Ok(post), Ok(room)) = (post.parse::<u64>(), room.parse::<usize>()) else { return None };
            if let Some(us) = sent_us(&p.id) {
                st.ack.record(idx, now.saturating_sub(us));
            }
            if let Some(c) = sh.acked_in_room.get(room) {
                c.fetch_add(1, Ordering::AcqRel);
            }
            if let Some(s) = sh.last_seq.get(room) {
                s.fetch_max(p.seq, Ordering::AcqRel);
            }
            if let Some(v) = &sh.verify {
                lock(&v.acked).push(post);
            }
            Stats::bump(&st.acks, 1);
            st.last_ack_us.fetch_max(now, Ordering::AcqRel);
        }
        "joined" => {
            let Ok(j) = serde_json::from_str::<JoinedLite>(frame) else {
                st.errors.add("generator:unreadable_joined", 1);
                return None;
            };
            if let Some(us) = sent_us(&j.id) {
                st.join.record(idx, now.saturating_sub(us));
            }
            for f in &j.failed {
                st.errors.add(format!("join:{}", f.code), 1);
            }
            let mut without_backchat = false;
            for r in &j.rooms {
                let Some(&ri) = sh.room_index.get(&r.room.id) else { continue };
                sh.joined_count[ri as usize].fetch_add(1, Ordering::AcqRel);
                sh.last_seq[ri as usize].fetch_max(r.room.last_seq, Ordering::AcqRel);
                Stats::bump(&st.backchat_messages, r.messages.len() as u64);
                without_backchat |= r.messages.is_empty() && r.room.last_seq > 0;
                if let Some(v) = &sh.verify {
                    lock(&v.joined[idx]).push(ri);
                }
            }
            Stats::bump(&st.rooms_joined, j.rooms.len() as u64);
            if without_backchat {
                Stats::bump(&st.joins_without_backchat, 1);
            }
            Stats::bump(&st.joins_answered, 1);
        }
        "history" => {
            if let Ok(h) = serde_json::from_str::<IdLite>(frame)
                && let Some(us) = h.id.as_deref().and_then(sent_us)
            {
                st.history.record(idx, now.saturating_sub(us));
            }
            Stats::bump(&st.histories_answered, 1);
            sh.history_permits.add_permits(1);
        }
        "ready" => Stats::bump(&st.ready, 1),
        "error" => {
            let Ok(e) = serde_json::from_str::<ErrorLite>(frame) else {
                st.errors.add("generator:unreadable_error", 1);
                return None;
            };
            match e.id.as_deref().and_then(|i| i.split('.').next()) {
                Some("p") => {
                    st.errors.add(format!("post:{}", e.code), 1);
                    Stats::bump(&st.post_errors, 1);
                }
                Some("j") => {
                    st.errors.add(format!("join:{}", e.code), 1);
                    Stats::bump(&st.joins_answered, 1);
                }
                Some("h") => {
                    st.errors.add(format!("history:{}", e.code), 1);
                    Stats::bump(&st.histories_answered, 1);
                    sh.history_permits.add_permits(1);
                }
                _ => st.errors.add(format!("other:{}", e.code), 1),
            }
        }
        "closing" => {
            if let Ok(c) = serde_json::from_str::<ClosingLite>(frame) {
                return Some(c.code);
            }
        }
        // participant notices, pongs, room changes: not measured.
        _ => {}
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_and_request_ids_parse() {
        let f = r#"{"type":"message","room":3,"seq":9,"ts":1,"author":"a@x","author_name":"a","text":"~42.123456~ market risk","alert":false}"#;
        assert_eq!(marker(f), Some((42, 123_456)));
        assert_eq!(room_and_seq(f), Some((3, 9)));
        assert_eq!(marker(r#"{"type":"message","text":"hello"}"#), None);
        assert_eq!(frame_type(f), "message");
        assert_eq!(sent_us("p.42.7.999"), Some(999));
    }
}
