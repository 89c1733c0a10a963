//! Tests of the real `longhall` binary, run as a child process: zero-configuration first start,
//! configuration layering, durability under SIGKILL, and the graceful stop on SIGTERM.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures_util::SinkExt;
use longhall_types::api::{ComplianceEventView, MessageView};
use longhall_types::ws::{ClientFrame, ServerFrame};
use support::{ADMIN, Incoming, Server, Ws, data_dir, frame_text, free_port, longhall, read_incoming};

/// The one line of first-start output that carries the generated password.
fn password_line(stdout: &str) -> Option<&str> {
    stdout.lines().find(|l| l.contains("one-time password"))
}

// ---------------------------------------------------------------------------------------------
// 1. Zero configuration

#[tokio::test(flavor = "multi_thread")]
async fn zero_configuration_first_start_prints_a_working_one_time_password() {
    let dir = data_dir();
    assert!(!dir.path.exists());

    let mut server = Server::start(&dir.path).await;
    assert!(dir.path.join("chat.db").is_file(), "chat.db was not created\n{}", server.proc.output());
    assert!(dir.path.join("compliance.db").is_file(), "compliance.db was not created\n{}", server.proc.output());

    let stdout = server.proc.stdout();
    let line = password_line(&stdout).unwrap_or_else(|| panic!("no one-time password printed:\n{stdout}"));
    assert!(line.contains(ADMIN), "the password line does not name the administrator: {line}");
    let password = line.split_whitespace().last().expect("a password at the end of the line").to_owned();
    assert!(password.len() >= 8, "suspiciously short password {password:?} in {line:?}");

    let token = server.sign_in(ADMIN, &password).await;
    let lobby = server.find_room(&token, "Lobby").await.expect("the first-start Lobby room exists");
    assert!(lobby.roles.can_post, "the administrator may not post in the Lobby: {lobby:?}");
    let posted = server.post_message(&token, lobby.id, "hello from the first start").await;
    assert_eq!(posted.seq, 1);

    // Stop (gracefully) and start again on the same directory.
    server.proc.sigterm();
    let status = server.proc.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "graceful stop exited with {status}\n{}", server.proc.output());
    drop(server);

    let server = Server::start(&dir.path).await;
    let stdout = server.proc.stdout();
    assert!(password_line(&stdout).is_none(), "a second start printed a password:\n{stdout}");
    assert!(!stdout.contains(&password), "a second start printed the old password:\n{stdout}");
    let token = server.sign_in(ADMIN, &password).await;
    let history = server.all_messages(&token, lobby.id).await;
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].seq, history[0].text.as_str()), (1, "hello from the first start"));
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_password_from_the_environment_is_used_and_not_printed() {
    let dir = data_dir();
    let password = "correct horse battery staple";
    let server = Server::start_with(&dir.path, |cmd| {
        cmd.env("LONGHALL_ADMIN_PASSWORD", password);
    })
    .await;
    let stdout = server.proc.stdout();
    assert!(password_line(&stdout).is_none(), "a password was printed although one was given:\n{stdout}");
    assert!(!stdout.contains(password), "the given password was echoed:\n{stdout}");
    assert!(!server.proc.stderr().contains(password), "the given password was logged");
    let token = server.sign_in(ADMIN, password).await;
    assert!(server.find_room(&token, "Lobby").await.is_some());

    let refused = server
        .http
        .post(server.url("/api/v1/auth/sign-in"))
        .json(&serde_json::json!({ "login": ADMIN, "password": "not the password" }))
        .send()
        .await
        .expect("sign-in request");
    assert_eq!(refused.status(), 401);
}

// ---------------------------------------------------------------------------------------------
// 2. Configuration

#[tokio::test(flavor = "multi_thread")]
async fn print_default_equals_the_committed_example() {
    let out = longhall().args(["config", "print-default"]).output().expect("running longhall");
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/longhall.example.toml"))
        .expect("reading docs/longhall.example.toml");
    assert_eq!(String::from_utf8(out.stdout).expect("UTF-8 output"), example);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_configuration_key_is_refused_by_name() {
    let dir = data_dir();
    let file = dir.path.with_file_name("longhall.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:1\"\nlog_levle = \"debug\"\n").expect("writing the file");
    let mut cmd = longhall();
    cmd.arg("serve").arg("--config").arg(&file).arg("--data-dir").arg(&dir.path);
    cmd.arg("--listen").arg(format!("127.0.0.1:{}", free_port()));
    let mut proc = support::Proc::spawn(cmd);
    let status = proc.wait_exit(Duration::from_secs(10)).await;
    assert!(!status.success(), "serve accepted an unknown key\n{}", proc.output());
    assert!(proc.stderr().contains("log_levle"), "the message does not name the key:\n{}", proc.output());
    assert!(!dir.path.exists(), "the data directory was created although the configuration is invalid");

    // The same through the environment variable naming the file.
    let mut cmd = longhall();
    cmd.arg("serve").env("LONGHALL_CONFIG", &file).arg("--data-dir").arg(&dir.path);
    let mut proc = support::Proc::spawn(cmd);
    let status = proc.wait_exit(Duration::from_secs(10)).await;
    assert!(!status.success(), "serve accepted an unknown key\n{}", proc.output());
    assert!(proc.stderr().contains("log_levle"), "the message does not name the key:\n{}", proc.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn listen_address_file_then_environment_then_flag() {
    let dir = data_dir();
    let file = dir.path.with_file_name("longhall.toml");
    // Nobody listens there: a server that used the file's address would never be ready.
    std::fs::write(&file, format!("listen = \"127.0.0.1:{}\"\n", free_port())).expect("writing the file");

    // Environment only.
    let data = dir.path.clone();
    let server = Server::launch(|port| {
        let mut cmd = longhall();
        cmd.arg("serve").arg("--data-dir").arg(&data).env("LONGHALL_LISTEN", format!("127.0.0.1:{port}"));
        cmd
    })
    .await;
    drop(server);

    // The environment wins over the file.
    let server = Server::launch(|port| {
        let mut cmd = longhall();
        cmd.arg("serve").arg("--config").arg(&file).arg("--data-dir").arg(&data);
        cmd.env("LONGHALL_LISTEN", format!("127.0.0.1:{port}"));
        cmd
    })
    .await;
    drop(server);

    // The flag wins over the environment (and the file).
    let env_port = free_port();
    let server = Server::launch(|port| {
        let mut cmd = longhall();
        cmd.arg("serve").arg("--config").arg(&file).arg("--data-dir").arg(&data);
        cmd.env("LONGHALL_LISTEN", format!("127.0.0.1:{env_port}"));
        cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
        cmd
    })
    .await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", env_port)).is_err(),
        "something listens on the environment's port although the flag was given"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_values_are_taken_as_strings() {
    // `2025` looks like a number; it is still a directory name (relative to the working
    // directory).
    let dir = data_dir();
    std::fs::create_dir_all(&dir.path).expect("creating the working directory");
    let cwd = dir.path.clone();
    let server = Server::launch(|port| {
        let mut cmd = longhall();
        cmd.arg("serve").current_dir(&cwd).env("LONGHALL_DATA_DIR", "2025");
        cmd.env("LONGHALL_LISTEN", format!("127.0.0.1:{port}"));
        cmd
    })
    .await;
    assert!(cwd.join("2025/chat.db").is_file(), "no chat.db in ./2025\n{}", server.proc.output());
}

// ---------------------------------------------------------------------------------------------
// 3. SIGKILL during a burst

const BURST_CLIENTS: usize = 4;
/// Per client. Every client receives every message of the room plus its own acks; keep that
/// under the server's outbound queue so no client is closed as a slow consumer.
const BURST_POSTS: usize = 750;
/// Acks received before the kill.
const KILL_AFTER_ACKS: usize = BURST_CLIENTS * BURST_POSTS / 4;

fn burst_text(client: usize, n: usize) -> String {
    format!("burst c{client} n{n:04} {}", "x".repeat(n % 40))
}

/// Parses a text back to (client, n).
fn burst_origin(text: &str) -> Option<(usize, usize)> {
    let mut words = text.split(' ');
    (words.next()? == "burst").then_some(())?;
    let client = words.next()?.strip_prefix('c')?.parse().ok()?;
    let n = words.next()?.strip_prefix('n')?.parse().ok()?;
    (burst_text(client, n) == text).then_some((client, n))
}

#[derive(Debug, Default)]
struct BurstLog {
    /// Acknowledged posts: (n, seq).
    acked: Vec<(usize, i64)>,
    /// Messages delivered live on this connection: (seq, text).
    seen: Vec<(i64, String)>,
    /// Errors answered to posts.
    errors: Vec<String>,
    /// Frames posted before the connection failed.
    sent: usize,
}

async fn burst_client(ws: Ws, client: usize, room: i64, acks: tokio::sync::watch::Sender<usize>) -> BurstLog {
    let Ws { mut sink, mut stream, .. } = ws;
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        for n in 0..BURST_POSTS {
            let frame = ClientFrame::Post {
                id: format!("p{n}"),
                room,
                text: burst_text(client, n),
                alert: false,
                story_title: None,
                file: None,
            };
            if sink.feed(frame_text(&frame)).await.is_err() {
                return sent;
            }
            sent += 1;
            if n % 16 == 15 && sink.flush().await.is_err() {
                return sent;
            }
        }
        let _ = sink.flush().await;
        sent
    });
    let mut log = BurstLog::default();
    loop {
        match read_incoming(&mut stream).await {
            Incoming::Frame(ServerFrame::Posted { id, posted }) => {
                let n: usize = id.strip_prefix('p').and_then(|n| n.parse().ok()).expect("our own id");
                assert_eq!(posted.room, room);
                log.acked.push((n, posted.seq));
                acks.send_modify(|c| *c += 1);
            }
            Incoming::Frame(ServerFrame::Message(m)) => log.seen.push((m.seq, m.text)),
            Incoming::Frame(ServerFrame::Error { id, code, message }) => {
                log.errors.push(format!("{id:?} {code}: {message}"))
            }
            Incoming::Frame(ServerFrame::Closing { code, message }) => {
                log.errors.push(format!("closing {code}: {message}"))
            }
            Incoming::Frame(_) => {}
            Incoming::Close(_) | Incoming::End => break,
        }
    }
    log.sent = writer.await.expect("writer task");
    log
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_burst_loses_no_acknowledged_message() {
    let dir = data_dir();
    let password = "burst-admin-password";
    let with_password = |cmd: &mut std::process::Command| {
        cmd.env("LONGHALL_ADMIN_PASSWORD", password);
    };
    let mut server = Server::start_with(&dir.path, with_password).await;
    let admin = server.sign_in(ADMIN, password).await;
    let room = server.create_room(&admin, "Burst").await.id;

    let mut clients = Vec::new();
    for i in 0..BURST_CLIENTS {
        let token = if i == 0 {
            admin.clone()
        } else {
            let login = format!("poster{i}@longhall.local");
            server.create_user(&admin, &login, "poster-password").await;
            server.sign_in(&login, "poster-password").await
        };
        let mut ws = server.connect(&token).await;
        ws.join(room).await;
        clients.push(ws);
    }

    let (acks, mut acked) = tokio::sync::watch::channel(0usize);
    let tasks: Vec<_> =
        clients.into_iter().enumerate().map(|(i, ws)| tokio::spawn(burst_client(ws, i, room, acks.clone()))).collect();
    drop(acks);
    let reached = tokio::time::timeout(Duration::from_secs(20), acked.wait_for(|n| *n >= KILL_AFTER_ACKS))
        .await
        .map(|r| r.is_ok());
    assert!(
        reached == Ok(true),
        "fewer than {KILL_AFTER_ACKS} acks within 20 s (got {}; {reached:?})",
        *acked.borrow()
    );
    server.proc.sigkill();
    let status = server.proc.wait_exit(Duration::from_secs(10)).await;
    assert!(!status.success(), "the server was not killed: {status}");

    let mut logs = Vec::new();
    for t in tasks {
        let log = tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("a client did not notice the kill")
            .expect("client task");
        logs.push(log);
    }
    drop(server);

    let total_acked: usize = logs.iter().map(|l| l.acked.len()).sum();
    let total_sent: usize = logs.iter().map(|l| l.sent).sum();
    for (i, l) in logs.iter().enumerate() {
        assert!(l.errors.is_empty(), "client {i} got errors before the kill: {:?}", l.errors);
    }
    assert!(total_acked >= KILL_AFTER_ACKS);
    assert!(
        total_acked < BURST_CLIENTS * BURST_POSTS,
        "every post was acknowledged before the kill: the kill did not hit the burst"
    );

    // Restart on the same directory and read everything back.
    let server = Server::start_with(&dir.path, with_password).await;
    let admin = server.sign_in(ADMIN, password).await;
    let stored: Vec<MessageView> = server.all_messages(&admin, room).await;
    eprintln!("burst: {total_sent} posts sent, {total_acked} acknowledged before the kill, {} stored", stored.len());

    // Dense: 1, 2, 3, … with no gap and no duplicate; every text is one we sent, once.
    for (i, m) in stored.iter().enumerate() {
        assert_eq!(m.seq, i as i64 + 1, "sequence numbers are not dense at position {i}: {m:?}");
        assert_eq!(m.room, room);
    }
    let mut by_client: BTreeMap<usize, Vec<(usize, i64)>> = BTreeMap::new();
    let mut texts = HashSet::new();
    for m in &stored {
        assert!(texts.insert(m.text.clone()), "message stored twice: {m:?}");
        let (client, n) = burst_origin(&m.text).unwrap_or_else(|| panic!("a message nobody sent: {m:?}"));
        by_client.entry(client).or_default().push((n, m.seq));
    }
    // A connection's posts keep their order, and what survived of them is a prefix.
    for (client, posts) in &by_client {
        for (k, (n, _)) in posts.iter().enumerate() {
            assert_eq!(*n, k, "client {client}: stored posts out of order or with a hole: {posts:?}");
        }
    }

    // Every acknowledged post is stored with its acknowledged number and its text.
    for (client, log) in logs.iter().enumerate() {
        for &(n, seq) in &log.acked {
            let m = stored
                .get((seq - 1) as usize)
                .unwrap_or_else(|| panic!("client {client} post {n} was acknowledged as seq {seq} but is not stored"));
            assert_eq!(m.text, burst_text(client, n), "acknowledged seq {seq} holds another text");
        }
        // What was delivered live was durable too.
        for (seq, text) in &log.seen {
            let m = stored.get((seq - 1) as usize);
            assert_eq!(m.map(|m| &m.text), Some(text), "a message delivered live as seq {seq} is not stored");
        }
    }
    assert!(stored.len() >= total_acked);

    // The compliance record has a CHAT event for each acknowledged (indeed each stored) message.
    let events: Vec<ComplianceEventView> = server.all_compliance_events(&admin).await;
    let mut chat: HashMap<i64, Vec<String>> = HashMap::new();
    for e in events.iter().filter(|e| e.kind == "CHAT" && e.room == room) {
        let seq = e.seq.unwrap_or_else(|| panic!("a CHAT event without seq: {e:?}"));
        let text = e.detail["text"].as_str().unwrap_or_else(|| panic!("a CHAT event without text: {e:?}"));
        chat.entry(seq).or_default().push(text.to_owned());
    }
    for m in &stored {
        let recorded = chat.get(&m.seq).map(Vec::as_slice).unwrap_or_default();
        assert!(
            recorded.contains(&m.text),
            "no CHAT event for stored seq {} ({:?}); recorded: {recorded:?}",
            m.seq,
            m.text
        );
    }
    for (client, log) in logs.iter().enumerate() {
        for &(n, seq) in &log.acked {
            let recorded = chat.get(&seq).map(Vec::as_slice).unwrap_or_default();
            assert!(recorded.contains(&burst_text(client, n)), "no CHAT event for acknowledged seq {seq}");
        }
    }

    // Numbering continues after the highest stored number.
    let next = server.post_message(&admin, room, "after the crash").await;
    assert_eq!(next.seq, stored.len() as i64 + 1);
    let mut ws = server.connect(&admin).await;
    ws.join(room).await;
    ws.send(&ClientFrame::Post {
        id: "again".into(),
        room,
        text: "after the crash, live".into(),
        alert: false,
        story_title: None,
        file: None,
    })
    .await;
    loop {
        match ws.next_frame().await {
            Some(ServerFrame::Posted { id, posted }) if id == "again" => {
                assert_eq!(posted.seq, stored.len() as i64 + 2);
                break;
            }
            Some(ServerFrame::Error { id, code, message }) => {
                panic!("posting after the restart: {id:?} {code}: {message}")
            }
            Some(_) => continue,
            None => panic!("the connection closed"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. SIGTERM

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_tells_clients_records_parts_and_exits_zero() {
    let dir = data_dir();
    let password = "term-admin-password";
    let with_password = |cmd: &mut std::process::Command| {
        cmd.env("LONGHALL_ADMIN_PASSWORD", password);
    };
    let mut server = Server::start_with(&dir.path, with_password).await;
    let admin = server.sign_in(ADMIN, password).await;
    let lobby = server.find_room(&admin, "Lobby").await.expect("Lobby").id;
    server.create_user(&admin, "bob@longhall.local", "bob-password").await;
    let bob = server.sign_in("bob@longhall.local", "bob-password").await;

    let mut clients = vec![server.connect(&admin).await, server.connect(&bob).await];
    for ws in &mut clients {
        ws.join(lobby).await;
    }
    let joins: Vec<(u64, String)> = clients.iter().map(|ws| (ws.connection, ws.login.clone())).collect();

    server.proc.sigterm();
    for ws in &mut clients {
        let closing = loop {
            match ws.incoming().await {
                Incoming::Frame(ServerFrame::Closing { code, message }) => break (code, message),
                Incoming::Frame(_) => continue,
                other => panic!("connection {} ended without a closing frame: {other:?}", ws.connection),
            }
        };
        assert_eq!(closing.0, "shutting_down", "closing frame: {closing:?}");
        // Then the WebSocket close, "going away".
        match ws.incoming().await {
            Incoming::Close(Some(c)) => assert_eq!(u16::from(c.code), 1001, "close frame: {c:?}"),
            other => panic!("expected a close frame after closing, got {other:?}"),
        }
    }
    let status = server.proc.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "SIGTERM exit status {status}\n{}", server.proc.output());
    // Flushed: the write-ahead logs were checkpointed into the database files.
    for wal in ["chat.db-wal", "compliance.db-wal"] {
        let len = std::fs::metadata(dir.path.join(wal)).map(|m| m.len()).unwrap_or(0);
        assert_eq!(len, 0, "{wal} still holds {len} bytes after a graceful stop");
    }
    drop(server);

    let server = Server::start_with(&dir.path, with_password).await;
    let admin = server.sign_in(ADMIN, password).await;
    let events = server.all_compliance_events(&admin).await;
    for (connection, login) in &joins {
        let of_this = |kind: &str| {
            events
                .iter()
                .filter(|e| {
                    e.kind == kind
                        && e.room == lobby
                        && &e.user == login
                        && e.detail["connection"].as_u64() == Some(*connection)
                })
                .map(|e| e.id)
                .collect::<Vec<_>>()
        };
        let (join, part) = (of_this("JOIN"), of_this("PART"));
        assert_eq!(join.len(), 1, "JOIN events of connection {connection} ({login}): {events:#?}");
        assert_eq!(part.len(), 1, "PART events of connection {connection} ({login}): {events:#?}");
        assert!(join[0] < part[0], "PART recorded before JOIN for connection {connection}");
    }
}
