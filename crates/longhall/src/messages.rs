//! `longhall messages …`: administrators' content actions on the messages of a room
//! (`/api/v1/admin/rooms/{id}/remove-messages`), the original's Remove-CsPersistentChatMessage.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use longhall_client::ErrorCode;
use longhall_client::api::{ApiTokenCreated, KeywordMatch, NewApiToken, NewRoom, NewUser, Privacy, RemoveMessages};
use longhall_types::ws::{ClientFrame, JoinTarget, ServerFrame};

use crate::cli::{ClientArgs, DayEnd, Usage, block_on, explain, format_time, parse_time, print_json, table};
use crate::rooms::{room_id, wire};

#[derive(Subcommand)]
pub enum MessagesCommand {
    /// Replace (default notice, or --replace TEXT) or delete (--delete) the messages of a room
    /// that every given selector matches; the compliance record keeps the originals.
    #[command(after_help = "Dates: YYYY-MM-DD (a whole UTC day, both ends inclusive) or RFC 3339.\n\nExamples:\n  \
longhall messages remove 'Case 1234' --author bob@example.org --from 2026-03-01 --to 2026-03-31 --what-if\n  \
longhall messages remove 42 --keywords merger plan --match all --replace '[withdrawn]'\n  \
longhall messages remove 42 --keywords 'project x' --match phrase --case-sensitive --delete")]
    Remove(RemoveArgs),
}

#[derive(Args)]
pub struct RemoveArgs {
    /// The room's id or exact name.
    room: String,
    /// Only these sequence numbers (comma-separated, at most 1000).
    #[arg(long = "seq", value_delimiter = ',', value_name = "SEQ")]
    seqs: Vec<i64>,
    /// Only messages of this author (login).
    #[arg(long)]
    author: Option<String>,
    /// Only messages posted at or after this time.
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Only messages posted at or before this time (a bare date: up to the day's end).
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Keywords (separated by spaces, in one or several arguments), matched inside the text.
    #[arg(long, num_args = 1.., value_name = "WORD")]
    keywords: Vec<String>,
    /// all: every keyword; any: at least one; phrase: the keywords together, in order.
    #[arg(long = "match", value_parser = wire::<KeywordMatch>, default_value = "all")]
    match_mode: KeywordMatch,
    /// Keywords match only with the same case.
    #[arg(long)]
    case_sensitive: bool,
    /// Replace the text with this instead of the default notice.
    #[arg(long, value_name = "TEXT", conflicts_with = "delete")]
    replace: Option<String>,
    /// Delete the messages outright, leaving no notice.
    #[arg(long)]
    delete: bool,
    /// Only list what would be affected (the original's -WhatIf); change nothing.
    #[arg(long, visible_alias = "dry-run")]
    what_if: bool,
}

pub fn run(args: ClientArgs, command: MessagesCommand) -> anyhow::Result<()> {
    block_on(async {
        // A large room takes a while: no time limit on the call itself.
        let c = args.client(None)?;
        match command {
            MessagesCommand::Remove(a) => {
                let from = a.from.as_deref().map(|t| parse_time(t, DayEnd::Start)).transpose()?;
                let to = a.to.as_deref().map(|t| parse_time(t, DayEnd::End)).transpose()?;
                let keywords = (!a.keywords.is_empty()).then(|| a.keywords.join(" "));
                if a.seqs.is_empty() && a.author.is_none() && from.is_none() && to.is_none() && keywords.is_none() {
                    return Err(Usage(
                        "choose the messages with --seq, --author, --from/--to or --keywords \
                         (to empty a room: longhall rooms clear ROOM --up-to DATE)"
                            .into(),
                    )
                    .into());
                }
                let id = room_id(&c, &a.room).await?;
                let req = RemoveMessages {
                    seqs: a.seqs,
                    author: a.author,
                    from,
                    to,
                    keywords,
                    match_mode: a.match_mode,
                    case_sensitive: a.case_sensitive,
                    replacement: a.replace,
                    delete: a.delete,
                    dry_run: a.what_if,
                };
                let done = c.remove_messages(id, &req).await.map_err(explain)?;
                if args.json {
                    return print_json(&done);
                }
                let verb = match (done.dry_run, req.delete) {
                    (true, true) => "Would delete",
                    (true, false) => "Would replace",
                    (false, true) => "Deleted",
                    (false, false) => "Replaced",
                };
                println!("{verb} {} message(s) in room {}.", done.count, a.room);
                let rows: Vec<Vec<String>> = done
                    .messages
                    .iter()
                    .map(|m| vec![m.seq.to_string(), format_time(m.ts), m.author.clone(), one_line(&m.text)])
                    .collect();
                if !rows.is_empty() {
                    print!("{}", table(&["SEQ", "TIME (UTC)", "AUTHOR", "TEXT"], &rows));
                }
                if done.count > done.messages.len() as u64 {
                    println!("(the first {} shown)", done.messages.len());
                }
            }
        }
        Ok(())
    })
}

/// A message on one table line: newlines folded, at most 60 characters.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 60 { format!("{}…", flat.chars().take(59).collect::<String>()) } else { flat }
}

// ---- longhall test-message: the synthetic transaction (Test-CsPersistentChatMessage)

#[derive(Args)]
pub struct TestMessageArgs {
    /// The first test user (created, without a password, if missing).
    #[arg(long, default_value = "test-message-1@longhall.test")]
    sender: String,
    /// The second test user (created, without a password, if missing).
    #[arg(long, default_value = "test-message-2@longhall.test")]
    receiver: String,
    /// The test room (id or name); a name that is missing is created as a closed room with
    /// the two users as members.
    #[arg(long, default_value = "Longhall test-message")]
    room: String,
    /// Category of a test room that has to be created.
    #[arg(long, default_value = "General")]
    category: String,
    /// Seconds each step may take.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// A step's failure: which step, and why.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {cause:#}")]
struct StepFailed {
    step: &'static str,
    cause: anyhow::Error,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One test user's WebSocket.
struct Probe {
    ws: Socket,
}

impl Probe {
    async fn open(url: &str, token: &str) -> anyhow::Result<Probe> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let ws_url = match url.trim_end_matches('/') {
            u if u.starts_with("https://") => format!("wss://{}/api/v1/ws", &u[8..]),
            u if u.starts_with("http://") => format!("ws://{}/api/v1/ws", &u[7..]),
            u => anyhow::bail!("the server address {u} is not http:// or https://"),
        };
        let mut req = ws_url.into_client_request()?;
        req.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
        let ws = match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => ws,
            // A refused handshake carries the server's error body: show its code.
            Err(tokio_tungstenite::tungstenite::Error::Http(answer)) => {
                let body = answer.body().as_deref().unwrap_or_default();
                match serde_json::from_slice::<longhall_types::ErrorBody>(body) {
                    Ok(e) => anyhow::bail!("{}: {}", e.code, e.message),
                    Err(_) => anyhow::bail!("the WebSocket handshake was refused ({})", answer.status()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        let mut probe = Probe { ws };
        match probe.next().await? {
            ServerFrame::Ready { .. } => Ok(probe),
            other => anyhow::bail!("expected the ready frame, got {}", kind(&other)),
        }
    }

    async fn send(&mut self, frame: &ClientFrame) -> anyhow::Result<()> {
        use futures_util::SinkExt;
        let text = serde_json::to_string(frame)?;
        self.ws.send(tokio_tungstenite::tungstenite::Message::text(text)).await?;
        Ok(())
    }

    async fn next(&mut self) -> anyhow::Result<ServerFrame> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str())?),
                Some(Ok(Message::Close(c))) => {
                    anyhow::bail!(
                        "the server closed the connection: {}",
                        c.map(|c| c.reason.to_string()).unwrap_or_default()
                    )
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("the connection ended"),
            }
        }
    }

    /// Waits for a frame `pick` accepts; an `error` frame answering `id` fails at once.
    async fn wait_for<T>(&mut self, id: &str, mut pick: impl FnMut(ServerFrame) -> Option<T>) -> anyhow::Result<T> {
        loop {
            match self.next().await? {
                ServerFrame::Error { id: Some(got), code, message } if got == id => {
                    anyhow::bail!("{code}: {message}")
                }
                frame => {
                    if let Some(t) = pick(frame) {
                        return Ok(t);
                    }
                }
            }
        }
    }
}

fn kind(frame: &ServerFrame) -> String {
    serde_json::to_value(frame).ok().and_then(|v| v["type"].as_str().map(str::to_owned)).unwrap_or_default()
}

/// Runs one step within the time limit, recording its latency.
async fn step<T>(
    timings: &mut Vec<(&'static str, Duration)>,
    name: &'static str,
    limit: Duration,
    f: impl std::future::Future<Output = anyhow::Result<T>>,
) -> Result<T, StepFailed> {
    let start = Instant::now();
    let out = match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("no answer within {} s", limit.as_secs())),
    };
    let took = start.elapsed();
    match out {
        Ok(t) => {
            timings.push((name, took));
            Ok(t)
        }
        Err(cause) => Err(StepFailed { step: name, cause }),
    }
}

/// `longhall test-message`: prints the report and exits 0 on success, 4 when the server is
/// unreachable, 5 when a step failed (3 or 2 for a refused or wrong setup, as elsewhere).
pub fn test_message(args: ClientArgs, a: TestMessageArgs) -> ! {
    let url = match args.credentials() {
        Ok(c) => c.url,
        Err(e) => crate::cli::finish("test-message", Err(e)),
    };
    let limit = Duration::from_secs(a.timeout.max(1));
    let mut timings = Vec::new();
    let result = block_on(async { Ok(run_test(&args, &a, &url, limit, &mut timings).await) });
    let result = match result {
        Ok(r) => r,
        Err(e) => crate::cli::finish("test-message", Err(e)),
    };
    let total: Duration = timings.iter().map(|t| t.1).sum();
    if args.json {
        let steps: Vec<_> =
            timings.iter().map(|(n, d)| serde_json::json!({ "step": n, "ms": d.as_secs_f64() * 1000.0 })).collect();
        let report = serde_json::json!({
            "target": url,
            "result": if result.is_ok() { "success" } else { "failure" },
            "steps": steps,
            "latency_ms": total.as_secs_f64() * 1000.0,
            "error": result.as_ref().err().map(|e| e.to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        println!("Target   {url}");
        println!("Result   {}", if result.is_ok() { "Success" } else { "Failure" });
        for (name, took) in &timings {
            println!("  {name:<14} {:>8.1} ms", took.as_secs_f64() * 1000.0);
        }
        println!("Latency  {:.1} ms", total.as_secs_f64() * 1000.0);
    }
    match result {
        Ok(()) => std::process::exit(crate::cli::OK),
        Err(e) => {
            eprintln!("longhall test-message: {e}");
            let unreachable = e.cause.chain().any(|c| {
                matches!(
                    c.downcast_ref::<longhall_client::ClientError>(),
                    Some(longhall_client::ClientError::Unreachable { .. })
                ) || c
                    .downcast_ref::<tokio_tungstenite::tungstenite::Error>()
                    .is_some_and(|w| matches!(w, tokio_tungstenite::tungstenite::Error::Io(_)))
            });
            std::process::exit(if unreachable { crate::cli::UNREACHABLE } else { crate::cli::TEST_FAILED })
        }
    }
}

async fn run_test(
    args: &ClientArgs,
    a: &TestMessageArgs,
    url: &str,
    limit: Duration,
    timings: &mut Vec<(&'static str, Duration)>,
) -> Result<(), StepFailed> {
    let setup = |cause: anyhow::Error| StepFailed { step: "setup", cause };
    let admin = args.client(Some(limit)).map_err(setup)?;
    // Setup: the users and the room exist (made if missing); each user gets a token of its own.
    let (room, tokens) = step(timings, "setup", limit, async {
        for login in [&a.sender, &a.receiver] {
            match admin.get_user(login).await {
                Ok(_) => {}
                Err(longhall_client::ClientError::Api { code: Some(ErrorCode::UserNotFound), .. }) => {
                    let new = NewUser { login: login.clone(), ..Default::default() };
                    admin.create_user(&new).await.map_err(explain)?;
                }
                Err(e) => return Err(explain(e)),
            }
        }
        let room = match room_id(&admin, &a.room).await {
            Ok(id) => id,
            Err(_) if a.room.parse::<i64>().is_err() => {
                let members = vec![format!("user:{}", a.sender), format!("user:{}", a.receiver)];
                let new = NewRoom {
                    name: a.room.clone(),
                    category: a.category.clone(),
                    description: "Used by longhall test-message.".into(),
                    privacy: Privacy::Closed,
                    members,
                    ..Default::default()
                };
                admin.create_room(&new).await.map_err(explain)?.id
            }
            Err(e) => return Err(e),
        };
        let mut tokens = Vec::new();
        for login in [&a.sender, &a.receiver] {
            let new = NewApiToken { login: Some(login.clone()), label: "longhall test-message".into() };
            tokens.push(admin.create_token(&new).await.map_err(explain)?);
        }
        Ok((room, tokens))
    })
    .await?;
    let outcome = exchange(url, room, &tokens, limit, timings).await;
    // The tokens live only as long as the test.
    for t in &tokens {
        let _ = admin.revoke_token(t.id).await;
    }
    outcome
}

async fn exchange(
    url: &str,
    room: i64,
    tokens: &[ApiTokenCreated],
    limit: Duration,
    timings: &mut Vec<(&'static str, Duration)>,
) -> Result<(), StepFailed> {
    let (mut one, mut two) = step(timings, "sign in", limit, async {
        Ok((Probe::open(url, &tokens[0].token).await?, Probe::open(url, &tokens[1].token).await?))
    })
    .await?;
    step(timings, "join", limit, async {
        for (n, p) in [&mut one, &mut two].into_iter().enumerate() {
            let id = format!("join-{n}");
            let rooms = vec![JoinTarget { room, after_seq: None }];
            p.send(&ClientFrame::Join { id: id.clone(), rooms, backchat: Some(1) }).await?;
            let failed = p
                .wait_for(&id, |f| match f {
                    ServerFrame::Joined { id: got, failed, .. } if got == id => Some(failed),
                    _ => None,
                })
                .await?;
            if let Some(f) = failed.first() {
                anyhow::bail!("{}: {}", f.code, f.message);
            }
        }
        Ok(())
    })
    .await?;
    let nonce = crate::cli::format_time(now_ms());
    for (name, from_one) in [("message 1 → 2", true), ("message 2 → 1", false)] {
        let (sender, receiver) = if from_one { (&mut one, &mut two) } else { (&mut two, &mut one) };
        let text = format!("longhall test-message {nonce} ({name})");
        step(timings, name, limit, async {
            let id = "post".to_owned();
            let post = ClientFrame::Post {
                id: id.clone(),
                room,
                text: text.clone(),
                alert: false,
                story_title: None,
                file: None,
            };
            sender.send(&post).await?;
            sender
                .wait_for(&id, |f| matches!(f, ServerFrame::Posted { id: ref got, .. } if *got == id).then_some(()))
                .await?;
            receiver
                .wait_for("-", |f| {
                    matches!(f, ServerFrame::Message(ref m) if m.room == room && m.text == text).then_some(())
                })
                .await
        })
        .await?;
    }
    step(timings, "leave", limit, async {
        for (n, p) in [&mut one, &mut two].into_iter().enumerate() {
            let id = format!("leave-{n}");
            p.send(&ClientFrame::Leave { id: id.clone(), rooms: vec![room] }).await?;
            p.wait_for(&id, |f| matches!(f, ServerFrame::Left { id: ref got, .. } if *got == id).then_some(())).await?;
            let _ = p.ws.close(None).await;
        }
        Ok(())
    })
    .await
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
