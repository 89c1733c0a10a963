//! The baseline: a minimal broadcaster that speaks just enough of the live protocol for the
//! workload (`ready`; `join` → `joined` with empty backchat; `post` → the `message` frame to
//! every connection joined to the room, then `posted`) and does nothing else: any token is
//! accepted, nothing is stored, nothing is checked. Each frame is serialised once and written
//! to each socket through a bounded per-connection queue, as Longhall does. It is the physical
//! limit of delivery on a machine; Longhall's deliveries/s are compared with it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use longhall_types::api::{HistoryPage, MessageView, Posted, RoomView};
use longhall_types::ws::{ClientFrame, JoinedRoom, ServerFrame};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Frames waiting per connection, as in Longhall.
const QUEUE: usize = longhall_types::limits::OUTBOUND_QUEUE_FRAMES;

#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    /// Address:port to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: String,
}

type Tx = mpsc::Sender<Bytes>;

#[derive(Default)]
struct Room {
    seq: i64,
    members: Vec<(u64, Tx)>,
}

#[derive(Default)]
struct Hub {
    rooms: RwLock<HashMap<i64, Arc<Mutex<Room>>>>,
    next_conn: AtomicU64,
    /// Connections dropped from a room because their queue was full.
    pub slow: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    fn room(&self, id: i64) -> Arc<Mutex<Room>> {
        if let Some(r) = self.rooms.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return r.clone();
        }
        self.rooms.write().unwrap_or_else(|e| e.into_inner()).entry(id).or_default().clone()
    }
}

fn encode(frame: &ServerFrame) -> Bytes {
    Bytes::from(serde_json::to_vec(frame).unwrap_or_default())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Serves until `shutdown` resolves.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let hub = Arc::new(Hub::default());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    // Out of file descriptors and the like: keep serving the others.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(session(stream, hub.clone()));
            }
        }
    }
}

/// `longhall stress baseline-server`.
pub async fn run(args: BaselineArgs) -> anyhow::Result<()> {
    crate::raise_nofile(1_000_000);
    let listener = TcpListener::bind(&args.listen).await?;
    println!("baseline broadcaster: serving ws://{}/api/v1/ws (Ctrl-C stops it)", listener.local_addr()?);
    serve(listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

// The `Err` type is tungstenite's handshake callback contract.
#[allow(clippy::result_large_err)]
async fn session(stream: TcpStream, hub: Arc<Hub>) {
    let mut login = String::from("anonymous");
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024).write_buffer_size(16 * 1024);
    let callback = |req: &Request, resp: Response| {
        if let Some(t) = req.headers().get("authorization").and_then(|v| v.to_str().ok())
            && let Some(t) = t.strip_prefix("Bearer ")
        {
            login = t.to_owned();
        }
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let conn = hub.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
    let writer = tokio::spawn(async move {
        let text = |b: Bytes| Message::Text(Utf8Bytes::try_from(b).unwrap_or_default());
        while let Some(frame) = rx.recv().await {
            if sink.feed(text(frame)).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if sink.feed(text(more)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let _ = tx.try_send(encode(&ServerFrame::Ready { connection: conn, login: login.clone() }));
    let mut joined: Vec<i64> = Vec::new();
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(t) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        let Ok(frame) = serde_json::from_str::<ClientFrame>(t.as_str()) else {
            let err = ServerFrame::Error { id: None, code: "invalid_request".into(), message: "unreadable".into() };
            let _ = tx.try_send(encode(&err));
            continue;
        };
        match frame {
            ClientFrame::Join { id, rooms, .. } => {
                let mut answer = Vec::with_capacity(rooms.len());
                for target in rooms {
                    let room = hub.room(target.room);
                    let mut r = lock(&room);
                    if !r.members.iter().any(|(c, _)| *c == conn) {
                        r.members.push((conn, tx.clone()));
                        joined.push(target.room);
                    }
                    let view = RoomView { id: target.room, last_seq: r.seq, ..RoomView::default() };
                    answer.push(JoinedRoom { room: view, messages: vec![], has_more: false, participants: None });
                }
                let _ = tx.try_send(encode(&ServerFrame::Joined { id, rooms: answer, failed: vec![] }));
            }
            ClientFrame::Post { id, room, text, alert, story_title, .. } => {
                let ts = now_ms();
                let r = hub.room(room);
                let seq = {
                    let mut r = lock(&r);
                    r.seq += 1;
                    let seq = r.seq;
                    let frame = encode(&ServerFrame::Message(MessageView {
                        room,
                        seq,
                        ts,
                        author: login.clone(),
                        author_name: login.clone(),
                        text,
                        alert,
                        story_title,
                        file: None,
                        replaced: false,
                    }));
                    let before = r.members.len();
                    r.members.retain(|(_, member)| member.try_send(frame.clone()).is_ok());
                    hub.slow.fetch_add((before - r.members.len()) as u64, Ordering::Relaxed);
                    seq
                };
                let _ = tx.try_send(encode(&ServerFrame::Posted { id, posted: Posted { room, seq, ts } }));
            }
            ClientFrame::Leave { id, rooms } => {
                for room in &rooms {
                    lock(&hub.room(*room)).members.retain(|(c, _)| *c != conn);
                }
                joined.retain(|r| !rooms.contains(r));
                let _ = tx.try_send(encode(&ServerFrame::Left { id, rooms }));
            }
            ClientFrame::History { id, room, .. } => {
                let page = HistoryPage { room, messages: vec![], has_more: false };
                let _ = tx.try_send(encode(&ServerFrame::History { id, page }));
            }
            ClientFrame::Read { id, .. } => {
                let _ = tx.try_send(encode(&ServerFrame::ReadAck { id }));
            }
            ClientFrame::Ping { id } => {
                let _ = tx.try_send(encode(&ServerFrame::Pong { id }));
            }
        }
    }
    for room in joined {
        lock(&hub.room(room)).members.retain(|(c, _)| *c != conn);
    }
    drop(tx);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
}
