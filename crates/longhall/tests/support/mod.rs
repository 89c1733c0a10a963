//! Running the real `longhall` binary as a child process, and talking to it over HTTP and
//! WebSocket. Every wait is bounded; every child is killed when its guard drops.
#![allow(dead_code, reason = "shared by several test binaries, each of which uses a part")]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use longhall_client::Client;
use longhall_client::api::{
    ApiTokenCreated, ComplianceEventView, MessageView, NewApiToken, NewRoom, NewUser, PostRequest, Posted, Privacy,
    RoomView, UserView,
};
use longhall_client::messages::HistoryFrom;
use longhall_client::rooms::RoomSearch;
use longhall_types::ws::{ClientFrame, JoinTarget, JoinedRoom, ServerFrame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite};

/// How long a server may take to start answering `/readyz`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request or one expected frame may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Interval between two checks of a condition we poll (never a synchronising sleep).
const POLL: Duration = Duration::from_millis(10);

pub const ADMIN: &str = "admin@longhall.local";

/// A `longhall` command with none of the test environment's `LONGHALL_*` variables, and its
/// output captured.
pub fn longhall() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_longhall"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LONGHALL_") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("RUST_LOG").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// A loopback port nobody listens on right now, below the kernel's range of ephemeral ports: a
/// port the OS picks (bind to 0) could be handed to some outgoing connection between this check and
/// the server's own bind. Tests in one process and test binaries running side by side start at
/// different places (a counter, the process id) and skip ports in use.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static TAKEN: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|&p| p > LOW + 1_000)
        .unwrap_or(32_768);
    let span = ephemeral_start - LOW;
    let base = std::process::id().wrapping_mul(7_919);
    for _ in 0..span {
        let n = TAKEN.fetch_add(1, Ordering::Relaxed);
        let port = LOW + base.wrapping_add(n.wrapping_mul(101)) % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!("no free loopback port between {LOW} and {ephemeral_start}");
}

/// Text a reader thread keeps appending to.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<String>>);

impl Captured {
    fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn start(mut from: impl Read + Send + 'static) -> (Captured, JoinHandle<()>) {
        let c = Captured::default();
        let into = c.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        into.0.lock().unwrap_or_else(|e| e.into_inner()).push_str(&String::from_utf8_lossy(&buf[..n]))
                    }
                }
            }
        });
        (c, thread)
    }
}

/// A child process, killed (SIGKILL) and reaped when dropped.
pub struct Proc {
    child: Child,
    stdout: Captured,
    stderr: Captured,
    readers: Vec<JoinHandle<()>>,
    exited: Option<ExitStatus>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd.spawn().expect("starting the longhall binary");
        let (stdout, t1) = Captured::start(child.stdout.take().expect("piped stdout"));
        let (stderr, t2) = Captured::start(child.stderr.take().expect("piped stderr"));
        Proc { child, stdout, stderr, readers: vec![t1, t2], exited: None }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        self.stdout.get()
    }

    pub fn stderr(&self) -> String {
        self.stderr.get()
    }

    /// Output for a failure message.
    pub fn output(&self) -> String {
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout(), self.stderr())
    }

    /// The exit status if the process has ended (its output is then complete).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.exited = Some(status);
            // The pipes are at end of file once the process is gone.
            for t in self.readers.drain(..) {
                let _ = t.join();
            }
        }
        self.exited
    }

    /// Waits (bounded) for the process to end.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return status;
            }
            assert!(Instant::now() < deadline, "longhall did not exit within {timeout:?}\n{}", self.output());
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGKILL, at once: no cleanup of any kind runs in the process.
    pub fn sigkill(&mut self) {
        // On Unix `Child::kill` is `kill(pid, SIGKILL)` (the workspace forbids `unsafe`, so
        // not `libc::kill`).
        self.child.kill().expect("sending SIGKILL");
    }

    /// SIGTERM: asks for a graceful stop.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-s", "TERM", &self.pid().to_string()])
            .status()
            .expect("running kill(1) to send SIGTERM");
        assert!(status.success(), "kill -s TERM {} failed: {status}", self.pid());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running `longhall serve` that answered `/readyz`.
pub struct Server {
    pub proc: Proc,
    pub port: u16,
    /// For tests that look at raw statuses and bodies.
    pub http: reqwest::Client,
    /// The typed client, without a token (see [`Server::as_user`]).
    pub client: Client,
}

/// No idle connections are kept: when a test stops a server, its only connections are the
/// ones the test is looking at (the WebSocket clients), as after a browser closed its tab.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(STEP_TIMEOUT)
        .build()
        .expect("building the HTTP client")
}

impl Server {
    /// `longhall serve --data-dir <dir> --listen 127.0.0.1:<free port>`.
    pub async fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, |_| {}).await
    }

    /// As `start`, with more set on the command (environment, flags).
    pub async fn start_with(data_dir: &Path, configure: impl Fn(&mut Command)) -> Server {
        let data_dir = data_dir.to_path_buf();
        Server::launch(move |port| {
            let mut cmd = longhall();
            cmd.arg("serve").arg("--data-dir").arg(&data_dir).arg("--listen").arg(format!("127.0.0.1:{port}"));
            configure(&mut cmd);
            cmd
        })
        .await
    }

    /// Runs the command `make(port)` and waits until it serves on that port; picks another
    /// port if someone took this one between our probe and the server's bind.
    pub async fn launch(make: impl Fn(u16) -> Command) -> Server {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let mut proc = Proc::spawn(make(port));
            // The line is printed once the listener is bound: then /readyz on this port is ours.
            let serving = format!("serving http://127.0.0.1:{port}/");
            let deadline = Instant::now() + READY_TIMEOUT;
            let bound = loop {
                if proc.stdout().contains(&serving) {
                    break true;
                }
                if proc.try_exit().is_some() {
                    if proc.stdout().contains(&serving) {
                        break true;
                    }
                    break false;
                }
                assert!(
                    Instant::now() < deadline,
                    "longhall did not start within {READY_TIMEOUT:?}\n{}",
                    proc.output()
                );
                tokio::time::sleep(POLL).await;
            };
            if !bound {
                let lost_port = proc.stderr().contains("listening on") && attempt < 3;
                assert!(lost_port, "longhall exited before serving: {:?}\n{}", proc.try_exit(), proc.output());
                continue;
            }
            let client = Client::builder(&format!("http://127.0.0.1:{port}"))
                .pool_max_idle_per_host(0)
                .timeout(STEP_TIMEOUT)
                .build()
                .expect("building the API client");
            let server = Server { proc, port, http: http_client(), client };
            server.wait_ready(deadline).await;
            return server;
        }
    }

    async fn wait_ready(&self, deadline: Instant) {
        loop {
            let last = match self.client.readyz().await {
                Ok(_) => return,
                Err(e) => format!("{e:?}"),
            };
            assert!(
                Instant::now() < deadline,
                "/readyz did not answer 200 within {READY_TIMEOUT:?} (last: {last})\n{}",
                self.proc.output()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The typed client acting with `token`.
    pub fn as_user(&self, token: &str) -> Client {
        self.client.with_token(token)
    }

    /// Panics with the call, the server's answer and the server's output.
    fn expect<T>(&self, what: &str, r: Result<T, longhall_client::ClientError>) -> T {
        r.unwrap_or_else(|e| panic!("{what}: {e:?}\n{}", self.proc.output()))
    }

    /// Signs in; panics if refused.
    pub async fn sign_in(&self, login: &str, password: &str) -> String {
        let answer = self.expect(&format!("signing in as {login}"), self.client.sign_in(login, password).await);
        assert_eq!(answer.me.user.login, login);
        answer.token
    }

    pub async fn create_user(&self, admin: &str, login: &str, password: &str) -> UserView {
        let new = NewUser { login: login.into(), password: Some(password.into()), ..Default::default() };
        self.expect(&format!("creating user {login}"), self.as_user(admin).create_user(&new).await)
    }

    /// An API token for the caller.
    pub async fn create_token(&self, token: &str, label: &str) -> ApiTokenCreated {
        let new = NewApiToken { login: None, label: label.into() };
        self.expect("creating an API token", self.as_user(token).create_token(&new).await)
    }

    /// An open room in the first-start "General" category.
    pub async fn create_room(&self, token: &str, name: &str) -> RoomView {
        let new =
            NewRoom { name: name.into(), category: "General".into(), privacy: Privacy::Open, ..Default::default() };
        self.expect(&format!("creating room {name}"), self.as_user(token).create_room(&new).await)
    }

    pub async fn find_room(&self, token: &str, name: &str) -> Option<RoomView> {
        let search = RoomSearch { q: Some(name.into()), limit: Some(500), ..Default::default() };
        let page = self.expect("searching rooms", self.as_user(token).search_rooms(&search).await);
        page.items.into_iter().find(|r| r.name == name)
    }

    pub async fn post_message(&self, token: &str, room: i64, text: &str) -> Posted {
        let post = PostRequest { text: text.into(), ..Default::default() };
        self.expect(&format!("posting to room {room}"), self.as_user(token).post_message(room, &post).await)
    }

    /// The whole history of a room, oldest first, paging with `after`.
    pub async fn all_messages(&self, token: &str, room: i64) -> Vec<MessageView> {
        let client = self.as_user(token);
        let mut all: Vec<MessageView> = Vec::new();
        let mut after = 0;
        for _ in 0..10_000 {
            let page = self.expect("reading history", client.history(room, HistoryFrom::After(after), Some(500)).await);
            let Some(last) = page.messages.last() else { return all };
            assert!(last.seq > after, "history after {after} went backwards: {:?}", last.seq);
            after = last.seq;
            all.extend(page.messages);
            if !page.has_more {
                return all;
            }
        }
        panic!("history of room {room} did not end");
    }

    /// Every recorded compliance event, oldest first, paging with `after`.
    pub async fn all_compliance_events(&self, admin: &str) -> Vec<ComplianceEventView> {
        let client = self.as_user(admin);
        let mut all: Vec<ComplianceEventView> = Vec::new();
        let mut after = 0;
        for _ in 0..10_000 {
            let page = self.expect("reading compliance events", client.compliance_events(after, Some(500)).await);
            let Some(last) = page.last() else { return all };
            assert!(last.id > after, "compliance events after {after} went backwards");
            after = last.id;
            all.extend(page);
        }
        panic!("the compliance events did not end");
    }

    /// Opens the live channel as the holder of `token` and waits for `ready`.
    pub async fn connect(&self, token: &str) -> Ws {
        let mut req = format!("ws://127.0.0.1:{}/api/v1/ws", self.port).into_client_request().expect("ws request");
        req.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
        let (socket, _) = tokio::time::timeout(STEP_TIMEOUT, tokio_tungstenite::connect_async(req))
            .await
            .expect("WebSocket handshake timed out")
            .unwrap_or_else(|e| panic!("WebSocket handshake failed: {e}\n{}", self.proc.output()));
        let (sink, stream) = socket.split();
        let mut ws = Ws { sink, stream, connection: 0, login: String::new() };
        match ws.next_frame().await {
            Some(ServerFrame::Ready { connection, login }) => {
                ws.connection = connection;
                ws.login = login;
            }
            other => panic!("expected a ready frame first, got {other:?}"),
        }
        ws
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One WebSocket client.
pub struct Ws {
    pub sink: SplitSink<Socket, tungstenite::Message>,
    pub stream: SplitStream<Socket>,
    /// The connection id from `ready`.
    pub connection: u64,
    pub login: String,
}

/// What arrived on the socket.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "short-lived values, matched by value in the tests")]
pub enum Incoming {
    Frame(ServerFrame),
    /// The server's close frame, if it sent one.
    Close(Option<CloseFrame>),
    /// The connection ended (without or after a close frame), or failed.
    End,
}

pub fn frame_text(frame: &ClientFrame) -> tungstenite::Message {
    tungstenite::Message::text(serde_json::to_string(frame).expect("encoding a frame"))
}

/// Reads the next message of a socket stream, decoding server frames; no timeout.
pub async fn read_incoming(stream: &mut SplitStream<Socket>) -> Incoming {
    loop {
        match stream.next().await {
            Some(Ok(tungstenite::Message::Text(t))) => {
                let frame: ServerFrame =
                    serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("undecodable server frame ({e}): {t}"));
                return Incoming::Frame(frame);
            }
            Some(Ok(tungstenite::Message::Close(c))) => return Incoming::Close(c),
            Some(Ok(tungstenite::Message::Binary(b))) => panic!("unexpected binary frame: {b:?}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Incoming::End,
        }
    }
}

impl Ws {
    pub async fn send(&mut self, frame: &ClientFrame) {
        tokio::time::timeout(STEP_TIMEOUT, self.sink.send(frame_text(frame)))
            .await
            .expect("sending a frame timed out")
            .expect("sending a frame");
    }

    /// The next message, bounded by `STEP_TIMEOUT`.
    pub async fn incoming(&mut self) -> Incoming {
        tokio::time::timeout(STEP_TIMEOUT, read_incoming(&mut self.stream))
            .await
            .unwrap_or_else(|_| panic!("no frame within {STEP_TIMEOUT:?} on connection {}", self.connection))
    }

    /// The next server frame, or `None` once the connection closed.
    pub async fn next_frame(&mut self) -> Option<ServerFrame> {
        match self.incoming().await {
            Incoming::Frame(f) => Some(f),
            Incoming::Close(_) | Incoming::End => None,
        }
    }

    /// Joins one room (backchat of one message) and waits for the answer.
    pub async fn join(&mut self, room: i64) -> JoinedRoom {
        let id = format!("join-{room}");
        self.send(&ClientFrame::Join {
            id: id.clone(),
            rooms: vec![JoinTarget { room, after_seq: None }],
            backchat: Some(1),
        })
        .await;
        loop {
            match self.next_frame().await {
                Some(ServerFrame::Joined { id: got, mut rooms, failed }) if got == id => {
                    assert!(failed.is_empty(), "joining room {room} failed: {failed:?}");
                    assert_eq!(rooms.len(), 1);
                    return rooms.remove(0);
                }
                Some(ServerFrame::Error { id: Some(got), code, message }) if got == id => {
                    panic!("joining room {room}: {code}: {message}")
                }
                Some(_) => continue,
                None => panic!("the connection closed while joining room {room}"),
            }
        }
    }
}

/// A temporary directory whose `data` subdirectory does not exist yet.
pub struct DataDir {
    _tmp: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn data_dir() -> DataDir {
    let tmp = tempfile::tempdir().expect("creating a temporary directory");
    let path = tmp.path().join("data");
    DataDir { _tmp: tmp, path }
}
