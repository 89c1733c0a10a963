//! P8 end to end: compliance events recorded in a real SQLite store, processed by the real
//! processing cycle (lease, batches read page by page, the XML adapter, fsync, intent, renames,
//! commit, pruning) into published XML files. Prints events/s of the processing alone.
//!
//! ```sh
//! cargo run --release -p longhall-compliance --example end_to_end -- [events] [rooms] [users] [page]
//! ```
//! Defaults: 1,000,000 events over 100 rooms by 1,000 users, batches of 100,000 and pages of
//! 1,000 events read from the store (the processor's defaults).

use std::sync::Arc;
use std::time::Instant;

use longhall::{Config, Deployment, Tuning};
use longhall_compliance::processor::{Processor, ProcessorSettings};
use longhall_core::Actor;
use longhall_core::model::{ComplianceEvent, ComplianceKind};
use longhall_core::ports::{Clock, SystemClock};
use longhall_types::api::{ComplianceConfigPut, NewRoom, NewUser, Privacy};
use serde_json::json;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let arg = |i: usize, default: usize| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (events, rooms, users) = (arg(1, 1_000_000), arg(2, 100), arg(3, 1_000));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = Config {
        data_dir: dir.path().join("data"),
        admin_login: "admin@example.org".into(),
        domain: "example.org".into(),
        ..Config::default()
    };
    // The benchmark runs the processing cycle itself, to time it alone.
    let tuning = Tuning { compliance_processor: false, ..Tuning::default() };
    let deployment = Deployment::open(&config, tuning).await.expect("the deployment opens");
    deployment.first_start(Some("end-to-end-bench-password".into())).await.expect("first start");
    let (lh, store) = (deployment.lh.clone(), deployment.store.clone());
    let out = deployment.data_dir.join("compliance-output");
    let clock = Arc::new(SystemClock);
    let system = Actor::system();
    let mut user_ids = Vec::new();
    for u in 0..users {
        let new = NewUser {
            login: format!("user{u}@example.org"),
            display_name: Some(format!("User {u}")),
            email: Some(format!("user{u}@example.org")),
            ..Default::default()
        };
        user_ids.push((lh.create_user(&system, new).await.expect("user").id, format!("user{u}@example.org")));
    }
    let mut room_ids = Vec::new();
    for r in 0..rooms {
        let new = NewRoom {
            name: format!("Room {r}"),
            category: "General".into(),
            privacy: Privacy::Open,
            ..Default::default()
        };
        room_ids.push(lh.create_room(&system, new).await.expect("room").id);
    }
    // Recorded as the chat service records them: mostly CHAT, some JOIN/PART/BACKCHAT.
    let started = Instant::now();
    let now = clock.now_ms();
    let mut chunk = Vec::with_capacity(10_000);
    for i in 0..events {
        let (user, login) = &user_ids[i % users];
        let room = room_ids[(i / 7) % rooms];
        let kind = match i % 50 {
            0 => ComplianceKind::Join,
            49 => ComplianceKind::Part,
            7 => ComplianceKind::Backchat,
            _ => ComplianceKind::Chat,
        };
        let detail = match kind {
            ComplianceKind::Chat => json!({
                "text": format!("Message {i}: bid < 101 & ask > 99, \"firm\" — Grüße"),
                "alert": false, "story_title": null, "file": null,
            }),
            ComplianceKind::Backchat => json!({ "from_seq": 1, "to_seq": 2, "count": 2, "via": "join", "history": [
                { "seq": 1, "ts": now, "author": login, "text": "earlier message one" },
                { "seq": 2, "ts": now, "author": login, "text": "earlier message two" },
            ], "history_omitted": 0 }),
            _ => json!({}),
        };
        chunk.push(ComplianceEvent {
            kind,
            ts: now + i as i64,
            room,
            room_name: format!("Room {room}"),
            user: *user,
            user_login: login.clone(),
            seq: (kind == ComplianceKind::Chat).then_some(i as i64 + 1),
            detail,
        });
        if chunk.len() == chunk.capacity() {
            store.record_compliance(std::mem::take(&mut chunk)).await.expect("recorded");
            chunk.reserve(10_000);
        }
    }
    if !chunk.is_empty() {
        store.record_compliance(chunk).await.expect("recorded");
    }
    eprintln!("recorded {events} events in {:.1} s", started.elapsed().as_secs_f64());

    lh.put_compliance_config(
        &system,
        ComplianceConfigPut { enabled: Some(true), adapter: Some("xml".into()), ..Default::default() },
    )
    .await
    .expect("configured");
    let mut settings = ProcessorSettings::new("bench".into(), "example.org".into(), dir.path().join("data/files"));
    settings.page_events = arg(4, settings.page_events as usize) as u32;
    let processor = Arc::new(Processor::new(lh.clone(), store.clone(), clock, settings));
    let (started, cpu_before) = (Instant::now(), cpu_seconds());
    let runs = processor.run_cycle().await.expect("the cycle ran");
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    assert!(runs.iter().all(|r| r.error.is_none()), "{runs:?}");
    let processed: u64 = runs.iter().map(|r| r.events).sum();
    assert_eq!(processed, events as u64);
    let bytes: u64 = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
    println!(
        "{processed} events in {} batches → {} files, {:.0} MB of XML, in {secs:.2} s: {:.0} events/s \
         ({cpu:.2} CPU-s: {:.0} events per CPU-second)",
        runs.len(),
        runs.iter().map(|r| r.files).sum::<u64>(),
        bytes as f64 / 1e6,
        processed as f64 / secs,
        processed as f64 / cpu
    );
}

/// User + system CPU time of this process so far (all threads), from /proc/self/stat (Linux;
/// 100 ticks per second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, r)| r.split(' ').collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}
