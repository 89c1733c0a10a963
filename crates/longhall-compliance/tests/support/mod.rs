//! A deployment on a real SQLite store with a clock the test moves, a small JSON Lines adapter
//! of the tests' own, and readers for what it published.

#![allow(dead_code, reason = "each test binary uses part of the support")]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use longhall::{Config, Deployment, Tuning};
use longhall_compliance::adapter::{Adapter, AdapterConfig, AdapterError, Output};
use longhall_compliance::batch::{BatchInfo, EventSource};
use longhall_compliance::processor::{AdapterFactory, Processor, ProcessorSettings, Step};
use longhall_core::model::{ComplianceEvent, ComplianceKind, Millis, RoomId, UserId};
use longhall_core::ports::{Clock, Store};
use longhall_core::{Actor, Longhall};
use longhall_types::api::{ComplianceConfigPut, NewRoom, NewUser, Privacy};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const ADMIN: &str = "admin@example.org";
pub const PASSWORD: &str = "correct-horse-battery";
pub const LEASE_MS: i64 = 30_000;

/// A clock that only moves when the test says so.
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the test adapters share with the test.
#[derive(Default)]
pub struct Probe {
    /// Make the next translations fail.
    pub fail: AtomicBool,
    /// Stop reading after the first conversation (an adapter that does not finish its batch).
    pub stop_early: AtomicBool,
    /// Event ids the `command` test adapter "delivered", in order.
    pub delivered: Mutex<Vec<i64>>,
}

/// The test's JSON Lines adapter: one line per event, in one file per batch (or one per room
/// with `one_chat_room_per_output_file`), named after the batch. Each line says which
/// conversation the event came in and whether it was the conversation's `first`.
pub struct LinesAdapter {
    probe: Arc<Probe>,
    per_room: bool,
}

impl Adapter for LinesAdapter {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn configure(&mut self, config: &AdapterConfig) -> Result<(), AdapterError> {
        self.per_room = config.one_chat_room_per_output_file;
        Ok(())
    }

    fn translate(
        &mut self,
        batch: &BatchInfo,
        events: &mut dyn EventSource,
        out: &mut Output,
    ) -> Result<(), AdapterError> {
        if self.probe.fail.load(Ordering::SeqCst) {
            return Err(AdapterError::Failed("the archive refused the batch (test)".into()));
        }
        let mut file = if self.per_room { None } else { Some(out.create(&format!("{}.jsonl", batch.id))?) };
        while let Some(conv) = events.next_conversation()? {
            if self.per_room {
                file = Some(out.create(&format!("{}-room{}.jsonl", batch.id, conv.room.id))?);
            }
            let f = file.as_mut().expect("a file");
            let mut first = true;
            while let Some(e) = events.next_event()? {
                let line = json!({
                    "batch": batch.id,
                    "event": e.id,
                    "kind": e.kind.as_str(),
                    "room": conv.room.id,
                    "room_name": conv.room.name,
                    "room_uri": conv.room.uri,
                    "category": conv.room.category,
                    "login": e.sender.login,
                    "display_name": e.sender.display_name,
                    "groups": e.sender.groups,
                    "content": e.content,
                    "is_first": first && e == conv.first,
                });
                writeln!(f, "{line}")?;
                first = false;
            }
            if self.probe.stop_early.load(Ordering::SeqCst) {
                break;
            }
        }
        Ok(())
    }
}

/// A `command`-like test adapter: writes no files, "delivers" the event ids to the probe.
pub struct DeliverAdapter {
    probe: Arc<Probe>,
}

impl Adapter for DeliverAdapter {
    fn name(&self) -> &'static str {
        "command"
    }

    fn configure(&mut self, _config: &AdapterConfig) -> Result<(), AdapterError> {
        Ok(())
    }

    fn translate(
        &mut self,
        _batch: &BatchInfo,
        events: &mut dyn EventSource,
        _out: &mut Output,
    ) -> Result<(), AdapterError> {
        let mut ids = Vec::new();
        while events.next_conversation()?.is_some() {
            while let Some(e) = events.next_event()? {
                ids.push(e.id);
            }
        }
        self.probe.delivered.lock().unwrap().extend(ids);
        Ok(())
    }
}

pub fn factory(probe: Arc<Probe>) -> AdapterFactory {
    Arc::new(move |name: &str| -> Result<Box<dyn Adapter>, AdapterError> {
        match name {
            "jsonl" => Ok(Box::new(LinesAdapter { probe: probe.clone(), per_room: false })),
            "command" => Ok(Box::new(DeliverAdapter { probe: probe.clone() })),
            other => Err(AdapterError::Config(format!("no test adapter {other}"))),
        }
    })
}

pub struct World {
    pub dir: TempDir,
    pub store: Arc<dyn Store>,
    pub lh: Arc<Longhall>,
    pub clock: Arc<TestClock>,
    pub probe: Arc<Probe>,
    pub out: PathBuf,
    /// Rooms "Alpha", "Beta", "Gamma" and users alice, bob.
    pub rooms: Vec<RoomId>,
    pub users: Vec<UserId>,
}

/// A deployment with compliance processing on, through the test's `jsonl` adapter.
pub async fn world() -> World {
    let w = bare_world().await;
    w.configure(ComplianceConfigPut { enabled: Some(true), adapter: Some("jsonl".into()), ..Default::default() }).await;
    w
}

/// A deployment with the default compliance configuration (off).
pub async fn bare_world() -> World {
    let dir = tempfile::tempdir().expect("temporary directory");
    let clock = Arc::new(TestClock(AtomicI64::new(1_700_000_000_000)));
    let config = Config {
        data_dir: dir.path().join("data"),
        admin_login: ADMIN.into(),
        domain: "example.org".into(),
        ..Config::default()
    };
    // The tests drive their own processors (their adapters, their crash points).
    let tuning = Tuning { clock: clock.clone(), compliance_processor: false, ..Tuning::default() };
    let deployment = Deployment::open(&config, tuning).await.expect("the deployment opens");
    deployment.first_start(Some(PASSWORD.into())).await.expect("first start");
    let (lh, store) = (deployment.lh.clone(), deployment.store.clone());
    let out = deployment.data_dir.join("compliance-output");
    let system = Actor::system();
    let mut users = Vec::new();
    for login in ["alice@example.org", "bob@example.org"] {
        let new = NewUser {
            login: login.into(),
            display_name: Some(format!("{} Example", &login[..login.find('@').unwrap()])),
            email: Some(login.into()),
            ..Default::default()
        };
        users.push(lh.create_user(&system, new).await.expect("user").id);
    }
    let mut rooms = Vec::new();
    for name in ["Alpha", "Beta", "Gamma"] {
        let new =
            NewRoom { name: name.into(), category: "General".into(), privacy: Privacy::Open, ..Default::default() };
        rooms.push(lh.create_room(&system, new).await.expect("room").id);
    }
    World { dir, store, lh, clock, probe: Arc::new(Probe::default()), out, rooms, users }
}

impl World {
    pub async fn configure(&self, put: ComplianceConfigPut) {
        self.lh.put_compliance_config(&Actor::system(), put).await.expect("configuration accepted");
    }

    pub fn settings(&self, server: &str) -> ProcessorSettings {
        let mut s = ProcessorSettings::new(server.into(), "example.org".into(), self.dir.path().join("data/files"));
        s.adapters = factory(self.probe.clone());
        s.lease_ttl_ms = LEASE_MS;
        s
    }

    pub fn processor_with(&self, settings: ProcessorSettings, crash_at: Option<Step>) -> Arc<Processor> {
        let mut p = Processor::new(self.lh.clone(), self.store.clone(), self.clock.clone(), settings);
        p.crash_at = crash_at;
        Arc::new(p)
    }

    pub fn processor(&self, server: &str) -> Arc<Processor> {
        self.processor_with(self.settings(server), None)
    }

    /// Records `n` CHAT events, round robin over the rooms and users; returns their ids.
    pub async fn record(&self, n: usize) -> Vec<i64> {
        let events = (0..n)
            .map(|i| {
                let room = self.rooms[i % self.rooms.len()];
                let user = self.users[i % self.users.len()];
                chat(room, user, &format!("message {i} in room {room}"), self.clock.now_ms() + i as i64)
            })
            .collect();
        self.record_events(events).await
    }

    pub async fn record_events(&self, events: Vec<ComplianceEvent>) -> Vec<i64> {
        let before = self.last_event_id().await;
        self.store.record_compliance(events).await.expect("recorded");
        let mut ids = Vec::new();
        let mut after = before;
        loop {
            let page = self.store.compliance_events(after, 500).await.unwrap();
            let Some((last, _)) = page.last() else { return ids };
            after = *last;
            ids.extend(page.into_iter().map(|(id, _)| id));
        }
    }

    async fn last_event_id(&self) -> i64 {
        let mut after = 0;
        loop {
            let page = self.store.compliance_events(after, 500).await.unwrap();
            match page.last() {
                Some((id, _)) => after = *id,
                None => return after,
            }
        }
    }

    /// Every line of every published (not temporary) output file, by file name.
    pub fn published(&self) -> BTreeMap<String, Vec<Value>> {
        published_in(&self.out)
    }

    /// The event ids of every published line, in file order.
    pub fn published_ids(&self) -> Vec<i64> {
        self.published().values().flatten().map(|l| l["event"].as_i64().unwrap()).collect()
    }

    pub fn temporaries(&self) -> Vec<String> {
        match std::fs::read_dir(&self.out) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".tmp-"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

pub fn chat(room: RoomId, user: UserId, text: &str, ts: Millis) -> ComplianceEvent {
    ComplianceEvent {
        kind: ComplianceKind::Chat,
        ts,
        room,
        room_name: format!("room {room} when recorded"),
        user,
        user_login: format!("user{user}@recorded.example.org"),
        seq: Some(1),
        detail: json!({ "text": text, "alert": false, "story_title": null, "file": null }),
    }
}

pub fn published_in(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).expect("readable output");
        let lines = text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        out.insert(name, lines);
    }
    out
}

/// Asserts that `got` holds each of `want` exactly once (and nothing else).
#[track_caller]
pub fn assert_exactly_once(got: &[i64], want: &[i64]) {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for id in got {
        *counts.entry(*id).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).map(|(id, _)| *id).collect();
    let missing: Vec<_> = want.iter().filter(|id| !counts.contains_key(id)).collect();
    let extra: Vec<_> = counts.keys().filter(|id| !want.contains(id)).collect();
    assert!(twice.is_empty(), "events published more than once: {twice:?}");
    assert!(missing.is_empty(), "events never published: {missing:?}");
    assert!(extra.is_empty(), "unexpected events published: {extra:?}");
}
