//! The baseline: a minimal broadcaster that speaks just enough of the live protocol for the
//! workload (`ready`; `join` → `joined` with empty backchat; `post` → the `message` frame to
//! every connection joined to the room, then `posted`) and does nothing else: any token is
//! accepted, nothing is stored, nothing is checked. Each frame is serialised once and written
//! to each socket through a bounded per-connection queue, as Longhall does. It is the physical
//! limit of delivery on a machine; Longhall's deliveries/s are compared with it.
//!
//! With `--processes N` it is N processes on one address (SO_REUSEPORT: the kernel spreads the
//! connections over them), so that it can hold more connections than one process's open-file
//! limit allows. The first process starts the others (the same executable, hidden options) and
//! is the hub of a relay over loopback TCP: a post is written to the joined connections of the
//! process that received it, which answers `posted`, and relayed once to every other process,
//! which writes it to its own joined connections. Every member gets every post exactly once.
//! A room's `seq` is then a per-process counter that also moves up to every relayed post's
//! seq: increasing in each process, but two posts received by different processes at the same
//! moment may share a number (the generator only uses seq as a room's high-water mark).

use std::collections::HashMap;
use std::future::Future;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use longhall_types::api::{HistoryPage, MessageView, Posted, RoomView};
use longhall_types::ws::{ClientFrame, JoinedRoom, ServerFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Frames waiting per connection, as in Longhall.
const QUEUE: usize = longhall_types::limits::OUTBOUND_QUEUE_FRAMES;

/// Most processes of one broadcaster.
pub const MAX_PROCESSES: u32 = 64;
/// Relayed posts waiting per link (a full queue makes the poster's session wait).
const RELAY_QUEUE: usize = 65_536;
/// The first bytes a peer sends on its relay link, then its number (u32, little endian).
const HELLO: &[u8; 8] = b"LHRELAY1";

#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    /// Address:port to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: String,
    /// Processes serving the address together (SO_REUSEPORT), relaying every post to one
    /// another; `--server-pid` of the first one covers them all.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_PROCESSES as i64))]
    pub processes: u32,
    /// Peer process number (set by the first process for the ones it starts).
    #[arg(long, hide = true, requires = "relay")]
    pub peer: Option<u32>,
    /// The first process's relay address (set for the peers it starts).
    #[arg(long, hide = true, requires = "peer")]
    pub relay: Option<SocketAddr>,
    /// The executable started for the peers, as `<exe> stress baseline-server` (default: this one).
    #[arg(long, env = "LONGHALL_STRESS_EXE", hide = true)]
    pub peer_exe: Option<PathBuf>,
}

type Tx = mpsc::Sender<Bytes>;

#[derive(Default)]
struct Room {
    seq: i64,
    members: Vec<(u64, Tx)>,
}

/// A post on its way to the other processes.
struct Relayed {
    /// The process it came from (0: the first process, or this one for a peer's own posts).
    origin: u32,
    room: i64,
    seq: i64,
    frame: Bytes,
}

#[derive(Default)]
struct Hub {
    rooms: RwLock<HashMap<i64, Arc<Mutex<Room>>>>,
    next_conn: AtomicU64,
    /// Connections dropped from a room because their queue was full.
    pub slow: AtomicU64,
    /// Where this process's posts go to reach the other processes.
    relay: Option<mpsc::Sender<Relayed>>,
    /// This process's number and how many there are: process k of N numbers its connections
    /// k + 1, k + 1 + N, k + 1 + 2N, … (unique over the processes).
    peer: u64,
    processes: u64,
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

    /// Writes a frame to the room's members in this process (dropping those whose queue is
    /// full); the room's seq moves up to `seq`.
    fn deliver(&self, room: i64, seq: i64, frame: &Bytes) {
        let r = self.room(room);
        let mut r = lock(&r);
        r.seq = r.seq.max(seq);
        let before = r.members.len();
        r.members.retain(|(_, member)| member.try_send(frame.clone()).is_ok());
        self.slow.fetch_add((before - r.members.len()) as u64, Ordering::Relaxed);
    }
}

fn encode(frame: &ServerFrame) -> Bytes {
    Bytes::from(serde_json::to_vec(frame).unwrap_or_default())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Serves until `shutdown` resolves (one process).
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    serve_hub(listener, Arc::new(Hub::default()), shutdown).await
}

async fn serve_hub(listener: TcpListener, hub: Arc<Hub>, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
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
    if let (Some(index), Some(relay)) = (args.peer, args.relay) {
        return run_peer(&args.listen, index, args.processes, relay).await;
    }
    if args.processes > 1 {
        return run_group(&args).await;
    }
    let listener = TcpListener::bind(&args.listen).await?;
    println!("baseline broadcaster: serving ws://{}/api/v1/ws (Ctrl-C stops it)", listener.local_addr()?);
    serve(listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// A listener that other processes may bind too (SO_REUSEPORT).
async fn shared_listener(listen: &str) -> anyhow::Result<TcpListener> {
    let addr = tokio::net::lookup_host(listen)
        .await
        .with_context(|| format!("resolving {listen}"))?
        .next()
        .with_context(|| format!("{listen} has no address"))?;
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr).with_context(|| format!("binding {addr}"))?;
    Ok(socket.listen(4096)?)
}

/// The peer processes, killed when dropped (they also stop when their stdin closes).
struct Peers(Vec<Child>);

impl Drop for Peers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The first process of `--processes N`: serves, starts the N − 1 peers, relays between them.
async fn run_group(args: &BaselineArgs) -> anyhow::Result<()> {
    let listener = shared_listener(&args.listen).await?;
    let addr = listener.local_addr()?;
    let relay_listener = TcpListener::bind("127.0.0.1:0").await?;
    let relay_addr = relay_listener.local_addr()?;
    let exe = match &args.peer_exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("finding this executable to start the peers")?,
    };
    let n = args.processes;
    let mut peers = Peers(Vec::new());
    for k in 1..n {
        let child = Command::new(&exe)
            .args(["stress", "baseline-server", "--listen", &addr.to_string(), "--relay", &relay_addr.to_string()])
            .args(["--peer", &k.to_string(), "--processes", &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting baseline peer {k} ({})", exe.display()))?;
        peers.0.push(child);
    }
    // Each peer connects once it listens; then the relay listener closes.
    let mut links: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for _ in 1..n {
        let (mut stream, _) = tokio::time::timeout_at(deadline, relay_listener.accept())
            .await
            .context("the baseline peers did not all start within 30 s")??;
        let mut hello = [0u8; 12];
        tokio::time::timeout_at(deadline, stream.read_exact(&mut hello)).await.context("a peer sent no hello")??;
        let k = u32::from_le_bytes(hello[8..].try_into()?);
        if &hello[..8] != HELLO || k == 0 || k >= n || links[k as usize].is_some() {
            bail!("an unexpected connection to the relay port");
        }
        let _ = stream.set_nodelay(true);
        links[k as usize] = Some(stream);
    }
    drop(relay_listener);

    // One writer queue per peer; the fan-out sends each post to every process but its origin.
    let (fan_tx, mut fan_rx) = mpsc::channel::<Relayed>(RELAY_QUEUE);
    let hub = Arc::new(Hub { relay: Some(fan_tx.clone()), processes: n as u64, ..Hub::default() });
    let (gone_tx, mut gone_rx) = mpsc::channel::<u32>(n as usize);
    let mut queues: Vec<(u32, mpsc::Sender<Relayed>)> = Vec::new();
    for (k, link) in links.into_iter().enumerate() {
        let Some(link) = link else { continue };
        let (read, write) = link.into_split();
        let (tx, rx) = mpsc::channel::<Relayed>(RELAY_QUEUE);
        queues.push((k as u32, tx));
        tokio::spawn(write_relay(write, rx));
        let (hub, fan_tx, gone_tx) = (hub.clone(), fan_tx.clone(), gone_tx.clone());
        tokio::spawn(async move {
            let _ = read_relay(read, k as u32, &hub, Some(&fan_tx)).await;
            let _ = gone_tx.send(k as u32).await;
        });
    }
    drop(fan_tx);
    tokio::spawn(async move {
        while let Some(r) = fan_rx.recv().await {
            for (k, q) in &queues {
                if *k != r.origin {
                    let copy = Relayed { origin: r.origin, room: r.room, seq: r.seq, frame: r.frame.clone() };
                    let _ = q.send(copy).await;
                }
            }
        }
    });
    println!("baseline broadcaster: serving ws://{addr}/api/v1/ws with {n} processes (Ctrl-C or SIGTERM stops it)");
    // Ctrl-C or SIGTERM stops the group: the peers are then killed and reaped (Peers' drop).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut gone = None;
    serve_hub(listener, hub, async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            k = gone_rx.recv() => gone = k,
        }
    })
    .await?;
    drop(peers);
    if let Some(k) = gone {
        bail!("baseline peer {k} ended; the broadcaster stops");
    }
    Ok(())
}

/// A peer process: serves its share of the connections and relays through the first process.
async fn run_peer(listen: &str, index: u32, processes: u32, relay: SocketAddr) -> anyhow::Result<()> {
    // The first process keeps our stdin open while it runs: end with it.
    std::thread::spawn(|| {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
        std::process::exit(0);
    });
    let listener = shared_listener(listen).await?;
    let mut link = TcpStream::connect(relay).await.with_context(|| format!("connecting to the relay {relay}"))?;
    link.set_nodelay(true)?;
    let mut hello = HELLO.to_vec();
    hello.extend_from_slice(&index.to_le_bytes());
    link.write_all(&hello).await?;
    let (read, write) = link.into_split();
    let (tx, rx) = mpsc::channel::<Relayed>(RELAY_QUEUE);
    tokio::spawn(write_relay(write, rx));
    let hub = Arc::new(Hub { relay: Some(tx), peer: index as u64, processes: processes as u64, ..Hub::default() });
    let reader_hub = hub.clone();
    serve_hub(listener, hub, async move {
        // The relay closed: the first process is gone.
        let _ = read_relay(read, 0, &reader_hub, None).await;
    })
    .await?;
    std::process::exit(0);
}

/// Relay frames: room (i64), seq (i64), length (u32), all little endian, then the encoded
/// `message` frame.
async fn write_relay(write: tokio::net::tcp::OwnedWriteHalf, mut rx: mpsc::Receiver<Relayed>) {
    let mut w = BufWriter::new(write);
    while let Some(mut r) = rx.recv().await {
        loop {
            let mut head = [0u8; 20];
            head[..8].copy_from_slice(&r.room.to_le_bytes());
            head[8..16].copy_from_slice(&r.seq.to_le_bytes());
            head[16..].copy_from_slice(&(r.frame.len() as u32).to_le_bytes());
            if w.write_all(&head).await.is_err() || w.write_all(&r.frame).await.is_err() {
                return;
            }
            match rx.try_recv() {
                Ok(more) => r = more,
                Err(_) => break,
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
}

/// Reads relayed posts from the process `origin` until the link closes: each is written to
/// this process's members, and (in the first process) passed on to the other peers.
async fn read_relay(
    read: tokio::net::tcp::OwnedReadHalf,
    origin: u32,
    hub: &Hub,
    fan_out: Option<&mpsc::Sender<Relayed>>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(read);
    loop {
        let mut head = [0u8; 20];
        r.read_exact(&mut head).await?;
        let room = i64::from_le_bytes(head[..8].try_into().unwrap_or_default());
        let seq = i64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(head[16..].try_into().unwrap_or_default()) as usize;
        if len > 16 << 20 {
            return Err(std::io::Error::other("relay frame too long"));
        }
        let mut frame = vec![0u8; len];
        r.read_exact(&mut frame).await?;
        let frame = Bytes::from(frame);
        hub.deliver(room, seq, &frame);
        if let Some(f) = fan_out
            && f.send(Relayed { origin, room, seq, frame }).await.is_err()
        {
            return Ok(());
        }
    }
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
    let conn = hub.next_conn.fetch_add(1, Ordering::Relaxed) * hub.processes.max(1) + hub.peer + 1;
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
                let (seq, frame) = {
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
                    (seq, frame)
                };
                // Then to the other processes (which write it to their members), before the
                // answer: a full relay queue makes this poster wait.
                if let Some(relay) = &hub.relay {
                    let _ = relay.send(Relayed { origin: 0, room, seq, frame }).await;
                }
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
