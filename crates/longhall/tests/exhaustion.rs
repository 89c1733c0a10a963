//! Attacks on the real binary's resources, measured from outside: its descriptors and its
//! memory stay bounded while the attack runs, and other clients keep being served.

mod support;

use std::time::{Duration, Instant};

use longhall_types::ws::{ClientFrame, ServerFrame};
use support::{ADMIN, Incoming, Server, data_dir};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const PASSWORD: &str = "exhaustion-admin-password";

fn with_password(cmd: &mut std::process::Command) {
    cmd.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// The most resident memory a process has had so far, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_half_open_requests_hold_a_bounded_number_of_descriptors() {
    // The attacker needs descriptors of its own.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let dir = data_dir();
    let server = Server::start_with(&dir.path, with_password).await;
    let pid = server.proc.pid();
    let before = open_descriptors(pid);

    let mut attackers = Vec::new();
    for _ in 0..3_000 {
        let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", server.port)).await else { break };
        let _ = tcp.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Slow: a").await;
        attackers.push(tcp);
    }
    assert!(attackers.len() >= 2_000, "the attack opened only {} connections", attackers.len());
    // Once the server has seen them all, it holds at most its HTTP connection bound (512).
    let deadline = Instant::now() + Duration::from_secs(5);
    let held = loop {
        let n = open_descriptors(pid);
        if n < before + 600 || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(held < before + 600, "{held} descriptors held (started with {before})");
    // Everyone else is served meanwhile: sign-in, a post, a WebSocket session. The attack's
    // connections are all younger than the eviction age for a moment; a client that retries
    // (as HTTP clients do after a 503 or a closed connection) gets in as soon as they are not.
    let client = server.as_user("");
    let deadline = Instant::now() + Duration::from_secs(5);
    let token = loop {
        match client.sign_in(ADMIN, PASSWORD).await {
            Ok(answer) => break answer.token,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no sign-in within 5 s of the flood: {e}"),
        }
    };
    let lobby = server.find_room(&token, "Lobby").await.expect("the Lobby").id;
    server.post_message(&token, lobby, "served during the flood").await;
    let mut ws = server.connect(&token).await;
    ws.join(lobby).await;
    drop(attackers);
}

#[tokio::test(flavor = "multi_thread")]
async fn unread_history_answers_cost_the_server_a_bounded_amount_of_memory() {
    let dir = data_dir();
    let server = Server::start_with(&dir.path, with_password).await;
    let pid = server.proc.pid();
    let token = server.sign_in(ADMIN, PASSWORD).await;
    let lobby = server.find_room(&token, "Lobby").await.expect("the Lobby").id;
    // 300 messages of 16 KB: one history page of 300 is 4.8 MB.
    let text = "m".repeat(16_000);
    let mut poster = server.connect(&token).await;
    poster.join(lobby).await;
    for i in 0..300 {
        poster
            .send(&ClientFrame::Post {
                id: format!("p{i}"),
                room: lobby,
                text: text.clone(),
                alert: false,
                story_title: None,
                file: None,
            })
            .await;
    }
    let mut acked = 0;
    while acked < 300 {
        match poster.next_frame().await {
            Some(ServerFrame::Posted { .. }) => acked += 1,
            Some(ServerFrame::Error { code, message, .. }) => panic!("a post failed: {code}: {message}"),
            Some(_) => {}
            None => panic!("the poster was disconnected"),
        }
    }
    // The poster stays, watching the room: it sees the hoarder leave.
    let baseline = peak_rss_kib(pid);

    // 250 history requests of 4.8 MB each, never read: 1.2 GB if the server queued them all.
    server.create_user(&token, "hoarder@longhall.local", "hoarder-password-1").await;
    let hoarder_token = server.sign_in("hoarder@longhall.local", "hoarder-password-1").await;
    let mut hoarder = server.connect(&hoarder_token).await;
    hoarder.join(lobby).await;
    for i in 0..250 {
        let frame = ClientFrame::History {
            id: format!("h{i}"),
            room: lobby,
            before_seq: None,
            after_seq: None,
            around_ts: None,
            limit: Some(300),
        };
        let sent = tokio::time::timeout(
            Duration::from_secs(10),
            futures_util::SinkExt::send(&mut hoarder.sink, support::frame_text(&frame)),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            break; // the server closed the connection, or stopped reading it
        }
    }
    // The hoarder reads nothing until the server has let it go (answers are recorded durably
    // before they are sent, so a busy disk may make this take a while).
    let dropped = async {
        loop {
            match poster.next_frame().await {
                Some(ServerFrame::ParticipantLeft { participant, .. })
                    if participant.login == "hoarder@longhall.local" =>
                {
                    break;
                }
                Some(_) => continue,
                None => panic!("the watcher was disconnected"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), dropped)
        .await
        .unwrap_or_else(|_| panic!("the hoarder was not let go within 120 s\n{}", server.proc.output()));
    let peak = peak_rss_kib(pid);
    assert!(
        peak < baseline + 400 * 1024,
        "the server's peak memory grew from {baseline} KiB to {peak} KiB for one client's unread answers"
    );
    // When it reads, the hoarder finds what was already on its way, then why it was closed.
    let reason = loop {
        match support::read_incoming(&mut hoarder.stream).await {
            Incoming::Frame(ServerFrame::Closing { code, .. }) => break Some(code),
            Incoming::Frame(_) => continue,
            Incoming::Close(_) | Incoming::End => break None,
        }
    };
    assert_eq!(reason.as_deref(), Some("slow_consumer"));
    // And the server still answers others.
    server.post_message(&token, lobby, "still here").await;
}
