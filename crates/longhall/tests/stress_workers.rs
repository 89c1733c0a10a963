//! `longhall stress --workers N` and `longhall stress baseline-server --processes N`, run as the
//! real binary: the generator spread over worker processes against a real `longhall serve` and
//! against the multi-process baseline broadcaster. A few hundred connections, a few seconds of
//! posting: every acknowledged post must reach every joined connection exactly once over all
//! the processes, the report must add up as one, and a worker that dies must stop the run
//! with a clear error instead of a hang.

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use longhall_types::ws::{ClientFrame, ServerFrame};
use serde_json::Value;
use support::{ADMIN, Proc, Server, Ws, data_dir, longhall};

const PASSWORD: &str = "stress-workers-admin-password";

/// How long a whole generator run may take here.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs `longhall stress <args> --json` to its end and returns the report.
async fn stress(args: &[&str]) -> Value {
    let mut cmd = longhall();
    cmd.arg("stress").args(args).arg("--json");
    let mut proc = Proc::spawn(cmd);
    let status = proc.wait_exit(RUN_TIMEOUT).await;
    assert!(status.success(), "longhall stress {args:?} exited with {status}\n{}", proc.output());
    serde_json::from_str(&proc.stdout()).unwrap_or_else(|e| panic!("the report is not JSON ({e})\n{}", proc.output()))
}

fn phase<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no phase {name}: {r:#}"))
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The children of a process, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(list.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    out
}

/// Gone, or a zombie waiting for its new parent.
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()) == Some("Z"),
    }
}

/// What a user of the tool relies on: the phases reached their goals, the counts add up to
/// `--users`, every acknowledged post was delivered to every joined member exactly once.
fn check(r: &Value, users: u64, workers: u64) {
    let text = format!("{r:#}");
    assert_eq!(n(&r["workers"]), workers, "{text}");
    let c = &phase(r, "connect")["connect"];
    assert_eq!((n(&c["attempted"]), n(&c["opened"]), n(&c["ready"]), n(&c["failed"])), (users, users, users, 0));
    assert_eq!(n(&c["handshake_latency"]["count"]), users, "one handshake latency per connection: {text}");
    let join = phase(r, "join");
    assert_eq!(join["completed"], true, "{text}");
    let j = &join["join"];
    assert_eq!((n(&j["joins_sent"]), n(&j["joins_answered"])), (users, users), "{text}");
    assert_eq!(n(&j["rooms_joined"]), n(&r["model"]["joins"]), "every planned join succeeded: {text}");

    let post = phase(r, "post");
    assert_eq!(post["completed"], true, "the posting phase drained: {text}");
    let p = &post["post"];
    assert!(n(&p["posts_offered"]) > 100, "{text}");
    assert_eq!(n(&p["posts_acked"]), n(&p["posts_offered"]), "every post acknowledged: {text}");
    assert_eq!(n(&p["posts_failed"]), 0, "{text}");
    assert!(n(&p["deliveries"]) > n(&p["posts_acked"]), "{text}");
    assert_eq!(n(&p["deliveries"]), n(&p["deliveries_expected"]), "{text}");
    assert_eq!(n(&p["delivery_latency"]["count"]), n(&p["deliveries"]), "one latency per delivery: {text}");
    assert_eq!(n(&p["ack_latency"]["count"]), n(&p["posts_acked"]), "{text}");
    assert_eq!(n(&p["foreign_messages"]), 0, "{text}");

    let v = &r["verification"];
    assert_eq!(v["ok"], true, "exactly once over all the worker processes: {text}");
    assert_eq!((n(&v["missing"]), n(&v["duplicates"]), n(&v["unexpected"])), (0, 0, 0), "{text}");
    assert_eq!(n(&v["posts_acked"]), n(&p["posts_acked"]), "{text}");
    assert_eq!(n(&v["delivered_once"]), n(&p["deliveries"]), "{text}");
    assert_eq!(n(&v["expected_deliveries"]), n(&p["deliveries_expected"]), "{text}");

    let d = phase(r, "disconnect");
    assert_eq!(n(&d["disconnect"]["closed"]), users, "{text}");
    for ph in r["phases"].as_array().unwrap() {
        assert!(ph["closes"].as_object().unwrap().is_empty(), "no connection was closed by the server: {text}");
        assert!(ph["errors"].as_object().unwrap().is_empty(), "no errors: {text}");
        assert!(ph["generator"]["cpu_s"].is_number(), "the generator's CPU and memory are reported: {text}");
        assert!(ph["server"]["peak_rss_mib"].as_f64().unwrap() > 0.0, "the server's too: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_against_longhall_deliver_every_post_exactly_once() {
    let dir = data_dir();
    let server = Server::start_with(&dir.path, |cmd| {
        cmd.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
    })
    .await;
    let state = dir.path.with_file_name("stress-state.json");
    let url = server.url("");
    let pid = server.proc.pid().to_string();
    let r = stress(&[
        "--server",
        &url,
        "--admin-login",
        ADMIN,
        "--admin-password",
        PASSWORD,
        "--server-pid",
        &pid,
        "--users",
        "300",
        "--workers",
        "3",
        "--seed",
        "5",
        "--rate",
        "150",
        "--duration",
        "2",
        "--scroll-ops",
        "120",
        "--search-share",
        "20",
        "--verify",
        "--phase-timeout",
        "60",
        "--state",
        state.to_str().unwrap(),
    ])
    .await;
    check(&r, 300, 3);
    let text = format!("{r:#}");
    assert_eq!(r["setup"]["how"], "provisioned", "{text}");
    assert_eq!(r["model"]["joins"], 300 * 15, "{text}");
    assert_eq!(r["source_addresses"].as_array().unwrap().len(), 3, "one source address per worker: {text}");
    // Each worker did its share of the same 120 scroll-back operations.
    let s = &phase(&r, "scroll")["scroll"];
    assert_eq!(n(&s["history_sent"]) + n(&s["searches"]), 120, "{text}");
    assert_eq!(n(&s["history_answered"]), n(&s["history_sent"]), "{text}");
    assert!(n(&s["searches"]) > 0 && n(&s["search_failures"]) == 0, "{text}");
    // Without --keep the run removes what it created.
    assert!(r["cleanup"]["failures"].as_array().unwrap().is_empty(), "{text}");
    assert!(!state.exists(), "a clean cleanup removes the state file");
}

/// Opens a WebSocket to the baseline broadcaster and reads its `ready`.
async fn baseline_client(port: u16, login: &str) -> Ws {
    let url = format!("ws://127.0.0.1:{port}/api/v1/ws");
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {login}").parse().unwrap());
    let (socket, _) = tokio::time::timeout(support::STEP_TIMEOUT, tokio_tungstenite::connect_async(req))
        .await
        .expect("handshake timed out")
        .expect("handshake");
    let (sink, stream) = socket.split();
    let mut ws = Ws { sink, stream, connection: 0, login: String::new() };
    match ws.next_frame().await {
        Some(ServerFrame::Ready { connection, login }) => (ws.connection, ws.login) = (connection, login),
        other => panic!("expected ready, got {other:?}"),
    }
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_against_a_two_process_baseline_deliver_exactly_once() {
    let mut cmd = longhall();
    cmd.args(["stress", "baseline-server", "--listen", "127.0.0.1:0", "--processes", "2"]);
    let mut base = Proc::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(20);
    let port: u16 = loop {
        let out = base.stdout();
        if let Some(rest) = out.split("serving ws://127.0.0.1:").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
        assert!(base.try_exit().is_none() && Instant::now() < deadline, "no serving line\n{}", base.output());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(base.stdout().contains("with 2 processes"), "{}", base.output());
    assert_eq!(children(base.pid()).len(), 1, "the first process started one peer\n{}", base.output());

    // The kernel spreads connections over both processes (connection ids k + 1 + 2i tell which):
    // a post made in one reaches a member connected to the other, once.
    let mut clients: Vec<Ws> = Vec::new();
    while !(clients.iter().any(|c| c.connection % 2 == 1) && clients.iter().any(|c| c.connection % 2 == 0)) {
        assert!(clients.len() < 64, "64 connections all landed in one process");
        clients.push(baseline_client(port, &format!("u{}", clients.len())).await);
    }
    let mut a_ws = clients.remove(clients.iter().position(|c| c.connection % 2 == 1).unwrap());
    let mut b_ws = clients.remove(clients.iter().position(|c| c.connection % 2 == 0).unwrap());
    a_ws.join(7).await;
    b_ws.join(7).await;
    let post = ClientFrame::Post {
        id: "p1".into(),
        room: 7,
        text: "across the relay".into(),
        alert: false,
        story_title: None,
        file: None,
    };
    a_ws.send(&post).await;
    let (mut message, mut posted) = (false, false);
    while !(message && posted) {
        match a_ws.next_frame().await {
            Some(ServerFrame::Message(m)) => message = m.text == "across the relay",
            Some(ServerFrame::Posted { id, .. }) => posted = id == "p1",
            Some(_) => {}
            None => panic!("the poster's connection closed"),
        }
    }
    loop {
        match b_ws.next_frame().await {
            Some(ServerFrame::Message(m)) => {
                assert_eq!(m.text, "across the relay");
                break;
            }
            Some(_) => {}
            None => panic!("the member's connection closed"),
        }
    }
    drop((a_ws, b_ws, clients));

    let url = format!("http://127.0.0.1:{port}");
    let pid = base.pid().to_string();
    let r = stress(&[
        "--server",
        &url,
        "--baseline",
        "--server-pid",
        &pid,
        "--users",
        "400",
        "--workers",
        "2",
        "--seed",
        "9",
        "--rate",
        "200",
        "--duration",
        "2",
        "--verify",
        "--phase-timeout",
        "60",
    ])
    .await;
    check(&r, 400, 2);
    assert_eq!(r["setup"]["how"], "synthetic");
    assert!(base.try_exit().is_none(), "the broadcaster still serves\n{}", base.output());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_dies_stops_the_run_with_a_clear_error() {
    let mut cmd = longhall();
    cmd.args(["stress", "baseline-server", "--listen", "127.0.0.1:0"]);
    let base = Proc::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        if let Some(rest) = base.stdout().split("serving ws://").nth(1) {
            break format!("http://{}", rest.split('/').next().unwrap());
        }
        assert!(Instant::now() < deadline, "no serving line\n{}", base.output());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // A run of a minute, unless something stops it.
    let mut cmd = longhall();
    cmd.args(["stress", "--server", &url, "--baseline", "--users", "200", "--workers", "2"]);
    cmd.args(["--rate", "50", "--duration", "60", "--phase-timeout", "60"]);
    let mut run = Proc::spawn(cmd);
    let started = Instant::now();
    let workers = loop {
        let w = children(run.pid());
        if w.len() == 2 {
            break w;
        }
        assert!(run.try_exit().is_none() && started.elapsed() < Duration::from_secs(20), "{}", run.output());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed = std::process::Command::new("kill").args(["-s", "KILL", &workers[1].to_string()]).status().unwrap();
    assert!(killed.success());

    let status = run.wait_exit(Duration::from_secs(20)).await;
    assert!(!status.success(), "the run went on without a worker\n{}", run.output());
    assert!(started.elapsed() < Duration::from_secs(40), "the run did not stop at once");
    let err = run.stderr();
    assert!(
        err.contains(&format!("worker 1 (pid {}) ended in the", workers[1])) && err.contains("SIGKILL"),
        "the error names the worker, the phase and how it ended:\n{}",
        run.output()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ended(workers[0]) {
        assert!(Instant::now() < deadline, "the other worker (pid {}) was left running", workers[0]);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
