//! Compliance processing in the real binary: administered with `longhall compliance …` against a
//! running server (the XSLT worker included), and exactly once across a SIGKILL in the middle of
//! a run.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use longhall_types::api::ComplianceRunView;
use longhall_types::ws::{ClientFrame, ServerFrame};
use serde_json::{Value, json};
use support::{ADMIN, Incoming, Server, Ws, data_dir, frame_text, longhall, read_incoming};

const PASSWORD: &str = "compliance-admin-password";

fn with_password(cmd: &mut std::process::Command) {
    cmd.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
}

/// What `longhall compliance …` printed and how it ended.
struct Cli {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn cli(server: &Server, token: Option<&str>, args: &[&str]) -> Cli {
    let mut cmd = longhall();
    cmd.arg("compliance").args(args).env("LONGHALL_SERVER", server.url(""));
    if let Some(t) = token {
        cmd.env("LONGHALL_TOKEN", t);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("running longhall compliance")).await.unwrap();
    Cli {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn api_token(server: &Server, session: &str) -> String {
    server.create_token(session, "compliance tests").await.token
}

/// Event ids of every JSON line of every published (not temporary) file in `dir`.
fn published_ids(dir: &Path) -> Vec<i64> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
            ids.push(v["event_id"].as_i64().unwrap_or_else(|| panic!("{name}: no event_id in {line}")));
        }
    }
    ids
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn compliance_is_administered_from_the_command_line() {
    let dir = data_dir();
    let server = Server::start_with(&dir.path, with_password).await;
    let session = server.sign_in(ADMIN, PASSWORD).await;
    let token = api_token(&server, &session).await;
    let archive = dir.path.parent().unwrap().join("archive");

    let none = cli(&server, None, &["get"]).await;
    assert!(!none.ok && none.stderr.contains("LONGHALL_TOKEN"), "{}", none.stderr);

    let get = cli(&server, Some(&token), &["get"]).await;
    assert!(get.ok, "{}", get.stderr);
    for expected in ["enabled                           no", "adapter                           xml", "15m (900 s)"] {
        assert!(get.stdout.contains(expected), "{expected:?} in\n{}", get.stdout);
    }
    let default_dir = dir.path.join("compliance-output");
    assert!(get.stdout.contains(&*default_dir.to_string_lossy()), "{}", get.stdout);

    // Refusals carry the server's code and message, and fail the command.
    let short = cli(&server, Some(&token), &["set", "--run-interval", "30s"]).await;
    assert!(!short.ok);
    assert!(short.stderr.contains("invalid_value") && short.stderr.contains("run_interval_secs"), "{}", short.stderr);
    let off = cli(&server, Some(&token), &["run"]).await;
    assert!(!off.ok && off.stderr.contains("compliance_disabled"), "{}", off.stderr);

    let set = cli(
        &server,
        Some(&token),
        &[
            "set",
            "--enabled",
            "true",
            "--adapter",
            "jsonl",
            "--run-interval",
            "1h",
            "--output-dir",
            &archive.to_string_lossy(),
        ],
    )
    .await;
    assert!(set.ok, "{}", set.stderr);
    assert!(
        set.stdout.contains("1h (3600 s)") && set.stdout.contains("enabled                           yes"),
        "{}",
        set.stdout
    );

    let lobby = server.find_room(&session, "Lobby").await.unwrap().id;
    for text in ["one", "two", "three"] {
        server.post_message(&session, lobby, text).await;
    }
    let run = cli(&server, Some(&token), &["run"]).await;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Processed 3 event(s) into 1 file(s)."), "{}", run.stdout);
    assert_eq!(published_ids(&archive).len(), 3);

    let runs = cli(&server, Some(&token), &["runs", "--json"]).await;
    assert!(runs.ok, "{}", runs.stderr);
    let runs: Vec<ComplianceRunView> = serde_json::from_str(&runs.stdout).expect("JSON");
    assert_eq!((runs[0].events, runs[0].files, runs[0].error.as_deref()), (3, 1, None));
    let table = cli(&server, Some(&token), &["runs"]).await;
    assert!(table.stdout.lines().nth(1).is_some_and(|l| l.contains(" ok")), "{}", table.stdout);

    // The stylesheet test runs in the binary's own sandboxed `xslt-worker`.
    let xsl = dir.path.parent().unwrap().join("count.xsl");
    std::fs::write(
        &xsl,
        r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>
  <xsl:template match="/">messages: <xsl:value-of select="count(//Message)"/></xsl:template>
</xsl:stylesheet>
"#,
    )
    .unwrap();
    let tried = cli(&server, Some(&token), &["test-stylesheet", &xsl.to_string_lossy()]).await;
    assert!(tried.ok, "{}", tried.stderr);
    assert!(tried.stdout.starts_with("messages: "), "{}", tried.stdout);
    std::fs::write(&xsl, "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">\n<oops>\n</xsl:stylesheet>\n")
        .unwrap();
    let broken = cli(&server, Some(&token), &["test-stylesheet", &xsl.to_string_lossy()]).await;
    assert!(
        !broken.ok && broken.stderr.contains("invalid_value") && broken.stderr.contains("line"),
        "{}",
        broken.stderr
    );
}

/// Posts `n` messages over one connection and waits for every acknowledgement.
async fn post_many(ws: Ws, room: i64, n: usize) {
    let Ws { mut sink, mut stream, .. } = ws;
    let writer = tokio::spawn(async move {
        for i in 0..n {
            let frame = ClientFrame::Post {
                id: format!("p{i}"),
                room,
                text: format!("archived {room}/{i}"),
                alert: false,
                story_title: None,
                file: None,
            };
            sink.feed(frame_text(&frame)).await.expect("sending");
            if i % 64 == 63 {
                sink.flush().await.expect("flushing");
            }
        }
        sink.flush().await.expect("flushing");
        sink
    });
    let mut acked = 0;
    while acked < n {
        match tokio::time::timeout(Duration::from_secs(30), read_incoming(&mut stream)).await.expect("acks keep coming")
        {
            Incoming::Frame(ServerFrame::Posted { .. }) => acked += 1,
            Incoming::Frame(ServerFrame::Error { code, message, .. }) => panic!("post refused: {code}: {message}"),
            Incoming::Frame(_) => {}
            Incoming::Close(_) | Incoming::End => panic!("the connection closed after {acked} acks"),
        }
    }
    let mut sink = writer.await.unwrap();
    let _ = sink.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_compliance_run_loses_and_duplicates_nothing() {
    let dir = data_dir();
    let archive = dir.path.parent().unwrap().join("archive");
    let mut server = Server::start_with(&dir.path, with_password).await;
    let admin = server.sign_in(ADMIN, PASSWORD).await;

    let mut posters = Vec::new();
    for i in 0..4 {
        let room = server.create_room(&admin, &format!("Desk {i}")).await.id;
        let mut ws = server.connect(&admin).await;
        ws.join(room).await;
        posters.push(tokio::spawn(post_many(ws, room, 2_500)));
    }
    for p in posters {
        p.await.unwrap();
    }
    // Every event recorded so far (the connections' PART events included, once they are in).
    let deadline = Instant::now() + Duration::from_secs(10);
    let recorded: Vec<i64> = loop {
        let events = server.all_compliance_events(&admin).await;
        if events.iter().filter(|e| e.kind == "PART").count() == 4 {
            assert_eq!(events.iter().filter(|e| e.kind == "CHAT").count(), 10_000);
            break events.into_iter().map(|e| e.id).collect();
        }
        assert!(Instant::now() < deadline, "the connections' PART events were not recorded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let put = server
        .http
        .put(server.url("/api/v1/admin/compliance/config"))
        .bearer_auth(&admin)
        .json(&json!({ "enabled": true, "adapter": "jsonl", "one_chat_room_per_output_file": true, "output_dir": archive }))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());

    // Run, and kill the server as soon as the first file is published under its final name:
    // in the middle of the renames, after them before the commit, or just after the commit —
    // where exactly is up to the machine (the crash tests of `longhall-compliance` stop a
    // processor at each step deterministically); the outcome must be the same at every one.
    let run = tokio::spawn(server.http.post(server.url("/api/v1/admin/compliance/run")).bearer_auth(&admin).send());
    let deadline = Instant::now() + Duration::from_secs(30);
    let published = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|d| d.flatten().any(|e| !e.file_name().to_string_lossy().starts_with(".tmp-")))
            .unwrap_or(false)
    };
    while !published(&archive) {
        assert!(Instant::now() < deadline, "no output appeared\n{}", server.proc.output());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.proc.sigkill();
    server.proc.wait_exit(Duration::from_secs(10)).await;
    let _ = run.await;
    drop(server);

    // A new server completes or redoes the interrupted run once the dead one's lease is over.
    let server = Server::start_with(&dir.path, with_password).await;
    let admin = server.sign_in(ADMIN, PASSWORD).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    let report: Value = loop {
        let r = server.http.post(server.url("/api/v1/admin/compliance/run")).bearer_auth(&admin).send().await.unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if status.is_success() {
            break body;
        }
        assert_eq!(body["code"], "in_use", "{status} {body}");
        assert!(Instant::now() < deadline, "the dead server's lease never ran out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(report["error"], Value::Null, "{report}");

    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for id in published_ids(&archive) {
        *counts.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");
    let missing: Vec<_> = recorded.iter().filter(|id| !counts.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} events never published, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(temporaries(&archive).is_empty(), "temporary files left: {:?}", temporaries(&archive));
}

/// A stylesheet that runs practically forever (2^64 template calls) on a batch holding the
/// text "spin-forever", and at once on anything else (the built-in sample it is checked
/// against when configured).
const SPIN: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:template match="/"><out><xsl:if test="//@content[contains(., 'spin-forever')]">
  <xsl:call-template name="t"><xsl:with-param name="n" select="64"/></xsl:call-template>
</xsl:if></out></xsl:template>
<xsl:template name="t"><xsl:param name="n"/>
  <xsl:if test="$n &gt; 0">
    <xsl:call-template name="t"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
    <xsl:call-template name="t"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
  </xsl:if>
</xsl:template>
</xsl:stylesheet>"#;

fn work_folders(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".xslt-work-"))
        .map(|e| e.path())
        .collect()
}

/// Whether process `pid` still runs (a zombie nobody reaped yet counts as gone).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => !(stat.contains(") Z ") || stat.contains(") X ")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_xslt_worker_dies_with_its_killed_server_and_its_work_folder_is_removed() {
    let dir = data_dir();
    let archive = dir.path.parent().unwrap().join("archive");
    let mut server = Server::start_with(&dir.path, with_password).await;
    let admin = server.sign_in(ADMIN, PASSWORD).await;
    let lobby = server.find_room(&admin, "Lobby").await.unwrap().id;
    server.post_message(&admin, lobby, "spin-forever").await;
    let put = server
        .http
        .put(server.url("/api/v1/admin/compliance/config"))
        .bearer_auth(&admin)
        .json(&json!({ "enabled": true, "adapter": "xml", "output_dir": archive, "custom_configuration": SPIN }))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());

    // The run hangs in the stylesheet; its worker's pid is recorded in the work folder.
    let run = tokio::spawn(server.http.post(server.url("/api/v1/admin/compliance/run")).bearer_auth(&admin).send());
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid: u32 = loop {
        let recorded = work_folders(&archive)
            .iter()
            .find_map(|f| std::fs::read_to_string(f.join("worker.pid")).ok()?.trim().parse().ok());
        if let Some(pid) = recorded.filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("xslt-worker"))
        }) {
            break pid;
        }
        assert!(Instant::now() < deadline, "no XSLT worker started\n{}", server.proc.output());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(running(pid));

    server.proc.sigkill();
    server.proc.wait_exit(Duration::from_secs(10)).await;
    let _ = run.await;
    drop(server);
    // The worker notices its server is gone and stops (its time limit is minutes away).
    let deadline = Instant::now() + Duration::from_secs(20);
    while running(pid) {
        assert!(Instant::now() < deadline, "the XSLT worker {pid} outlived its killed server");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(work_folders(&archive).len(), 1, "the killed run left its raw XML");

    // The next server, with the stylesheet removed, archives the event and removes the leftover.
    let server = Server::start_with(&dir.path, with_password).await;
    let admin = server.sign_in(ADMIN, PASSWORD).await;
    let put = server
        .http
        .put(server.url("/api/v1/admin/compliance/config"))
        .bearer_auth(&admin)
        .json(&json!({ "custom_configuration": "" }))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = server.http.post(server.url("/api/v1/admin/compliance/run")).bearer_auth(&admin).send().await.unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if status.is_success() {
            assert_eq!(body["error"], Value::Null, "{body}");
            break;
        }
        assert_eq!(body["code"], "in_use", "{status} {body}");
        assert!(Instant::now() < deadline, "the dead server's lease never ran out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(work_folders(&archive).is_empty(), "work folders left: {:?}", work_folders(&archive));
    let archived: String = std::fs::read_dir(&archive)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".xml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(archived.contains("spin-forever"), "the event was archived: {archived}");
}
