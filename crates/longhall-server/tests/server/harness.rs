//! The whole-server harness: a real server on 127.0.0.1:0 over a SQLite store in a temporary
//! directory, an HTTP client and a WebSocket client. Nothing is mocked.
//!
//! Waiting is always for something concrete (an answer, a frame, a closed stream) with a
//! deadline; a test never sleeps and hopes.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use longhall::{Config, Deployment, Tuning};
use longhall_core::Settings;
use longhall_core::ports::Store;
use longhall_server::TransportSettings;
use longhall_types::ErrorCode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const ADMIN: &str = "admin@example.org";
pub const PASSWORD: &str = "correct-horse-battery";

/// How long a test waits for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(10);

/// Every error code any test saw, from HTTP answers and WebSocket frames.
static SEEN_CODES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

pub fn seen_codes() -> BTreeSet<String> {
    SEEN_CODES.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Every code the server sends must be one of the documented table.
fn record_code(code: &str, context: &str) {
    assert!(
        ErrorCode::parse(code).is_some(),
        "{context}: error code {code:?} is not in longhall_types::ErrorCode::ALL"
    );
    SEEN_CODES.lock().unwrap_or_else(|e| e.into_inner()).insert(code.to_owned());
}

// ------------------------------------------------------------------------------------------
// The server

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    store: Weak<dyn Store>,
}

pub struct TestServer {
    dir: TempDir,
    settings: Settings,
    limits: TransportSettings,
    running: Option<Running>,
    pub addr: SocketAddr,
    /// Raw HTTP, for tests of the wire itself (status lines, headers, malformed bodies).
    http: reqwest::Client,
    /// The typed client, for setting the scene as any client of the API would.
    api: longhall_client::Client,
    admin: String,
}

async fn launch(dir: &std::path::Path, settings: Settings, limits: TransportSettings) -> (Running, SocketAddr) {
    // The deployment's configuration carries what the tests set as settings (the origins and
    // proxies a server's configuration file names); this server runs no compliance processor.
    let config = Config {
        data_dir: dir.to_owned(),
        admin_login: ADMIN.into(),
        allowed_origins: settings.allowed_origins.clone(),
        trusted_proxies: limits.trusted_proxies.iter().map(|a| a.to_string()).collect(),
        ..Config::default()
    };
    let tuning = Tuning { core: settings, transport: limits, compliance_processor: false, ..Tuning::default() };
    // After a stop the old store may still be finishing its drop (its last handle is gone, its
    // writer thread is stopping): the directory's lock is released a moment later.
    let deadline = tokio::time::Instant::now() + WAIT;
    let deployment = loop {
        match Deployment::open(&config, tuning.clone()).await {
            Ok(d) => break d,
            Err(e) if e.to_string().contains("in use by") && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("the deployment opens: {e:#}"),
        }
    };
    let weak = Arc::downgrade(&deployment.store);
    deployment.first_start(Some(PASSWORD.into())).await.expect("first start");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(deployment.serve(listener, async move {
        let _ = stopped.await;
    }));
    (Running { stop, task, store: weak }, addr)
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with_settings(Settings::default()).await
    }

    pub async fn with_settings(settings: Settings) -> TestServer {
        TestServer::with_limits(settings, TransportSettings::default()).await
    }

    /// A server with the given core settings and transport limits.
    pub async fn with_limits(settings: Settings, limits: TransportSettings) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (running, addr) = launch(dir.path(), settings.clone(), limits.clone()).await;
        let mut s = TestServer {
            dir,
            settings,
            limits,
            running: Some(running),
            addr,
            http: reqwest::Client::new(),
            api: typed_client(addr),
            admin: String::new(),
        };
        s.admin = s.sign_in(ADMIN).await;
        s
    }

    /// The server's data directory (its store files).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn admin_token(&self) -> &str {
        &self.admin
    }

    /// Stops the server (graceful: clients are told, PART is recorded), waits until its store
    /// is closed, and starts a new server on the same data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        let (running, addr) = launch(self.dir.path(), self.settings.clone(), self.limits.clone()).await;
        self.running = Some(running);
        self.addr = addr;
        // Fresh clients: the old ones' pooled connections point at the old port.
        self.http = reqwest::Client::new();
        self.api = typed_client(addr);
    }

    pub async fn stop(&mut self) {
        let Some(r) = self.running.take() else { return };
        let _ = r.stop.send(());
        tokio::time::timeout(WAIT, r.task)
            .await
            .expect("the server stops within the deadline")
            .expect("the server task")
            .expect("serve ends cleanly");
        // Sessions finish their PART records and drop their handles; the store closes when the
        // last one is gone. Wait for that condition (bounded) before reopening the directory.
        let deadline = tokio::time::Instant::now() + WAIT;
        while r.store.strong_count() > 0 {
            assert!(tokio::time::Instant::now() < deadline, "the store was not released after shutdown");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    // ---- HTTP

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Body) -> Resp {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(bytes, content_type) => req.header("content-type", content_type).body(bytes),
            Body::Stream(stream) => req.body(reqwest::Body::wrap_stream(stream)),
        };
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: request failed: {e}"));
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap_or_else(|e| panic!("{method} {path}: body failed: {e}")).to_vec();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        let what = format!("{method} {path}");
        if !status.is_success() {
            check_error_body(&what, status, &body, &bytes);
        }
        Resp { status, body, bytes, headers, what }
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.call(Method::GET, path, Some(token), Body::None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Body::Json(body)).await
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Body::Json(body)).await
    }

    pub async fn put_empty(&self, token: &str, path: &str) -> Resp {
        self.call(Method::PUT, path, Some(token), Body::None).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Body::Json(body)).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), Body::None).await
    }

    // ---- setting the scene

    /// The typed client acting as `token`.
    pub fn api(&self, token: &str) -> longhall_client::Client {
        self.api.with_token(token)
    }

    /// Creates a user through the admin API. `extra` adds fields (site, display_name…).
    pub async fn create_user(&self, login: &str, extra: Value) {
        let mut body = json!({ "login": login, "password": PASSWORD });
        if let Value::Object(m) = extra {
            body.as_object_mut().unwrap().extend(m);
        }
        self.api(&self.admin).create_user(&typed(body)).await.expect("the user is created");
    }

    pub async fn try_sign_in(&self, login: &str) -> Resp {
        let body = json!({ "login": login, "password": PASSWORD });
        self.call(Method::POST, "/api/v1/auth/sign-in", None, Body::Json(body)).await
    }

    pub async fn sign_in(&self, login: &str) -> String {
        self.api.sign_in(login, PASSWORD).await.expect("signed in").token
    }

    /// A new user, signed in: its token.
    pub async fn user(&self, login: &str) -> String {
        self.create_user(login, json!({})).await;
        self.sign_in(login).await
    }

    /// Several new users at once, signed in, in order.
    pub async fn users(&self, logins: &[&str]) -> Vec<String> {
        futures_util::future::join_all(logins.iter().map(|l| self.user(l))).await
    }

    pub async fn group(&self, name: &str, members: &[&str]) {
        let group = typed(json!({ "name": name, "members": members }));
        self.api(&self.admin).create_group(&group).await.expect("the group is created");
    }

    /// Creates a category (administrator); returns its id.
    pub async fn category(&self, body: Value) -> i64 {
        self.api(&self.admin).create_category(&typed(body)).await.expect("the category is created").id
    }

    /// Creates a room as `token`; returns its id.
    pub async fn room(&self, token: &str, body: Value) -> i64 {
        self.api(token).create_room(&typed(body)).await.expect("the room is created").id
    }

    pub async fn set_config(&self, body: Value) {
        self.api(&self.admin).put_config("global", &typed(body)).await.expect("the configuration is set");
    }

    /// Posts over HTTP (as a member, without joining); returns the `Posted` answer.
    pub async fn say(&self, token: &str, room: i64, text: &str) -> Value {
        let posted = self.api(token).post_message(room, &typed(json!({ "text": text }))).await.expect("posted");
        serde_json::to_value(posted).expect("Posted is JSON")
    }

    /// Every recorded compliance event (administrator), oldest first.
    pub async fn compliance_events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page =
                self.get(&self.admin, &format!("/api/v1/admin/compliance/events?after={after}&limit=500")).await.ok();
            let items = page.as_array().expect("a list of events").clone();
            if items.is_empty() {
                return out;
            }
            after = items.last().unwrap()["id"].as_i64().unwrap();
            out.extend(items);
        }
    }

    /// Waits (bounded) until the compliance record holds an event matching `pred`. Records
    /// written after a connection drops are not tied to any frame a client could wait for, so
    /// this re-reads the record until the condition holds.
    pub async fn wait_for_event(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(e) = self.compliance_events().await.into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(tokio::time::Instant::now() < deadline, "no compliance event {what} was recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // ---- WebSocket

    /// Opens the live channel with `Authorization: Bearer` and waits for `ready`.
    pub async fn ws(&self, token: &str) -> Ws {
        let stream = self.ws_raw(token).await.unwrap_or_else(|(status, body)| {
            panic!("the WebSocket was refused: {status} {body}");
        });
        let mut ws = Ws::new(stream);
        let ready = ws.next_event("ready").await;
        assert!(ready["login"].is_string(), "ready names the user: {ready}");
        ws
    }

    /// A handshake that must be refused: the HTTP status and error body.
    pub async fn ws_refused(&self, token: &str) -> (StatusCode, Value) {
        match self.ws_raw(token).await {
            Ok(_) => panic!("the WebSocket handshake should have been refused"),
            Err(refusal) => refusal,
        }
    }

    /// The WebSocket handshake only: the socket, or the HTTP refusal (status, JSON body).
    pub async fn ws_raw(&self, token: &str) -> Result<Socket, (StatusCode, Value)> {
        self.ws_from(token, None).await
    }

    /// The WebSocket handshake as a browser page from `origin` makes it (`Origin` header).
    pub async fn ws_from(&self, token: &str, origin: Option<&str>) -> Result<Socket, (StatusCode, Value)> {
        let mut req = format!("ws://{}/api/v1/ws", self.addr).into_client_request().expect("a WebSocket request");
        if !token.is_empty() {
            req.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("a header value"));
        }
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().expect("a header value"));
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((stream, _)) => Ok(stream),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
                let bytes = resp.body().clone().unwrap_or_default();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                check_error_body("GET /api/v1/ws", status, &body, &bytes);
                Err((status, body))
            }
            Err(e) => panic!("the WebSocket handshake failed: {e}"),
        }
    }
}

fn check_error_body(what: &str, status: StatusCode, body: &Value, bytes: &[u8]) {
    let code = body["code"].as_str().unwrap_or_else(|| {
        panic!("{what}: the error answer {status} is not {{code, message}}: {:?}", String::from_utf8_lossy(bytes))
    });
    let message = body["message"].as_str().unwrap_or_default();
    assert!(!message.trim().is_empty(), "{what}: error {code} has no message");
    record_code(code, what);
    let expected = ErrorCode::parse(code).unwrap().http_status();
    assert_eq!(status.as_u16(), expected, "{what}: code {code} must come with HTTP {expected}");
}

fn typed_client(addr: SocketAddr) -> longhall_client::Client {
    longhall_client::Client::builder(&format!("http://{addr}")).build().expect("a client of the test server")
}

/// A request body written as JSON in a test, as the typed client's request type.
fn typed<T: serde::de::DeserializeOwned>(body: Value) -> T {
    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{body} is not a valid request: {e}"))
}

pub fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Percent-encodes a query-string value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The sequence numbers of a list of messages.
pub fn seqs(messages: &Value) -> Vec<i64> {
    messages
        .as_array()
        .unwrap_or_else(|| panic!("not a list of messages: {messages}"))
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

pub fn texts(messages: &Value) -> Vec<String> {
    messages.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect()
}

pub enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>, &'static str),
    Stream(futures_util::stream::BoxStream<'static, Result<Vec<u8>, std::io::Error>>),
}

/// An HTTP answer: status, JSON body (Null when empty or not JSON) and raw bytes.
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub bytes: Vec<u8>,
    pub headers: reqwest::header::HeaderMap,
    what: String,
}

impl Resp {
    /// The body of a successful answer; anything else fails the test with the answer.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert!(self.status.is_success(), "{}: expected success, got {} {}", self.what, self.status, self.body);
        self.body
    }

    /// Asserts an error answer with this status and code; returns the body.
    #[track_caller]
    pub fn err(self, status: u16, code: &str) -> Value {
        assert_eq!(
            (self.status.as_u16(), self.body["code"].as_str().unwrap_or("")),
            (status, code),
            "{}: answered {}",
            self.what,
            self.body
        );
        self.body
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

// ------------------------------------------------------------------------------------------
// The WebSocket client

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

enum Incoming {
    Frame(Value),
    /// Something no server may send (a frame that is not JSON).
    Bad(String),
    Closed(String),
}

/// A WebSocket client: a background task reads every frame at once (so this client is never
/// a slow consumer) into a queue; `request` matches answers by `id`, keeping other frames for
/// `next_event`, in arrival order.
pub struct Ws {
    sink: SplitSink<Socket, Message>,
    rx: mpsc::UnboundedReceiver<Incoming>,
    buffer: VecDeque<Value>,
    next_id: u64,
    closed: Option<String>,
}

fn record_frame_codes(v: &Value) {
    match v["type"].as_str() {
        Some("error") | Some("closing") => {
            let code = v["code"].as_str().unwrap_or_else(|| panic!("{v} has no code"));
            assert!(!v["message"].as_str().unwrap_or_default().is_empty(), "{v} has no message");
            record_code(code, "WebSocket frame");
        }
        Some("joined") => {
            for f in v["failed"].as_array().into_iter().flatten() {
                record_code(f["code"].as_str().unwrap_or_default(), "join failure");
            }
        }
        _ => {}
    }
}

impl Ws {
    pub fn new(stream: Socket) -> Ws {
        let (sink, mut stream) = stream.split();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let incoming = match stream.next().await {
                    Some(Ok(Message::Text(t))) => match serde_json::from_str(t.as_str()) {
                        Ok(v) => Incoming::Frame(v),
                        Err(e) => Incoming::Bad(format!("a frame that is not JSON ({e}): {}", t.as_str())),
                    },
                    Some(Ok(Message::Binary(_))) => Incoming::Bad("a binary frame".into()),
                    Some(Ok(Message::Close(c))) => Incoming::Closed(format!("close frame {c:?}")),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => Incoming::Closed(format!("error: {e}")),
                    None => Incoming::Closed("end of stream".into()),
                };
                let end = matches!(incoming, Incoming::Closed(_));
                if tx.send(incoming).is_err() || end {
                    return;
                }
            }
        });
        Ws { sink, rx, buffer: VecDeque::new(), next_id: 0, closed: None }
    }

    /// Receives one more frame into the buffer; false once the connection is closed.
    async fn pull(&mut self, deadline: tokio::time::Instant, waiting_for: &str) -> bool {
        if self.closed.is_some() {
            return false;
        }
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some(Incoming::Frame(v))) => {
                record_frame_codes(&v);
                self.buffer.push_back(v);
                true
            }
            Ok(Some(Incoming::Bad(what))) => panic!("the server sent {what}"),
            Ok(Some(Incoming::Closed(why))) => {
                self.closed = Some(why);
                false
            }
            Ok(None) => {
                self.closed = Some("the reader ended".into());
                false
            }
            Err(_) => panic!(
                "timed out waiting for {waiting_for}; frames received meanwhile: {:?}",
                self.buffer.iter().map(|v| v.to_string()).collect::<Vec<_>>()
            ),
        }
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.sink.send(msg).await.expect("the frame is sent");
    }

    /// Sends a frame the server may refuse to read to the end.
    pub async fn try_send_raw(&mut self, msg: Message) -> Result<(), String> {
        self.sink.send(msg).await.map_err(|e| e.to_string())
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_raw(Message::Text(frame.to_string().into())).await;
    }

    pub fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("req-{}", self.next_id)
    }

    /// Sends a request (an `id` is added when absent) and waits for the frame echoing it.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        if frame.get("id").is_none() {
            frame["id"] = Value::String(self.fresh_id());
        }
        let id = frame["id"].clone();
        self.send(frame.clone()).await;
        self.answer_to(&id, &frame["type"].to_string()).await
    }

    /// Waits for the answer (or error) whose `id` is `id`.
    pub async fn answer_to(&mut self, id: &Value, what: &str) -> Value {
        let is_answer = |v: &Value| v.get("id") == Some(id) && !matches!(v["type"].as_str(), Some("invitation"));
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buffer.iter().skip(scanned).position(is_answer) {
                return self.buffer.remove(scanned + pos).unwrap();
            }
            scanned = self.buffer.len();
            assert!(
                self.pull(deadline, &format!("the answer to {what} {id}")).await,
                "connection closed ({:?}) before the answer to {what} {id}",
                self.closed
            );
        }
    }

    /// The next frame of this type (earlier frames of other types stay buffered).
    pub async fn next_event(&mut self, ty: &str) -> Value {
        self.next_event_any(&[ty]).await
    }

    /// The next frame of any of these types.
    pub async fn next_event_any(&mut self, types: &[&str]) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut scanned = 0;
        let wanted = |v: &Value| types.iter().any(|t| v["type"] == *t);
        loop {
            if let Some(pos) = self.buffer.iter().skip(scanned).position(wanted) {
                return self.buffer.remove(scanned + pos).unwrap();
            }
            scanned = self.buffer.len();
            let what = format!("a {types:?} frame");
            assert!(self.pull(deadline, &what).await, "connection closed ({:?}) while waiting for {what}", self.closed);
        }
    }

    /// Every frame of this type received so far (after a `sync`), removed from the buffer.
    pub fn take_all(&mut self, ty: &str) -> Vec<Value> {
        let (taken, kept): (Vec<Value>, Vec<Value>) = self.buffer.drain(..).partition(|v| v["type"] == ty);
        self.buffer = kept.into();
        taken
    }

    /// A round trip: every frame the server queued for this connection before the ping is in
    /// the buffer afterwards.
    pub async fn sync(&mut self) {
        let pong = self.request(json!({ "type": "ping" })).await;
        assert_eq!(pong["type"], "pong");
    }

    /// Asserts that no frame of this type has arrived (checked after a round trip).
    pub async fn assert_none(&mut self, ty: &str, why: &str) {
        self.sync().await;
        let found: Vec<&Value> = self.buffer.iter().filter(|v| v["type"] == ty).collect();
        assert!(found.is_empty(), "{why}: unexpected {ty} frames {found:?}");
    }

    /// Waits until the server closes the connection; returns the frames received until then.
    pub async fn closed(&mut self) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.pull(deadline, "the connection to close").await {}
        self.buffer.drain(..).collect()
    }

    // ---- frames

    pub async fn join(&mut self, rooms: &[i64]) -> Value {
        let rooms: Vec<Value> = rooms.iter().map(|r| json!({ "room": r })).collect();
        let ans = self.request(json!({ "type": "join", "rooms": rooms })).await;
        assert_eq!(ans["type"], "joined", "join answered {ans}");
        ans
    }

    /// Joins one room and expects success; returns that room's entry (room, messages…).
    pub async fn join_ok(&mut self, room: i64) -> Value {
        let ans = self.join(&[room]).await;
        assert_eq!(ans["failed"], json!([]), "joining room {room} failed: {ans}");
        ans["rooms"][0].clone()
    }

    /// Joins one room and expects it to fail; returns the failure's code.
    pub async fn join_fails(&mut self, room: i64) -> String {
        let ans = self.join(&[room]).await;
        assert_eq!(ans["rooms"], json!([]), "joining room {room} should fail: {ans}");
        assert_eq!(ans["failed"][0]["room"], room);
        ans["failed"][0]["code"].as_str().unwrap().to_owned()
    }

    pub async fn post(&mut self, room: i64, text: &str) -> Value {
        self.request(json!({ "type": "post", "room": room, "text": text })).await
    }

    /// Posts and expects the `posted` answer; returns its seq.
    pub async fn post_ok(&mut self, room: i64, text: &str) -> i64 {
        let ans = self.post(room, text).await;
        assert_eq!(ans["type"], "posted", "posting to {room} answered {ans}");
        ans["seq"].as_i64().unwrap()
    }

    pub async fn leave(&mut self, room: i64) -> Value {
        self.request(json!({ "type": "leave", "rooms": [room] })).await
    }

    /// Closes the connection from this side and waits for the server to finish the handshake.
    pub async fn close(mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.pull(deadline, "the close handshake").await {}
    }
}
