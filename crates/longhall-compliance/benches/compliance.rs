//! P8 (performance.md): the XML adapter writing a 1,000,000-event batch (events/s), and XSLT
//! over a large batch through the worker vs `xsltproc` on the same input.
//!
//! `cargo bench -p longhall-compliance --bench compliance`
//! (`LONGHALL_BENCH_XSLT_EVENTS` sets the XSLT batch size, default 1,000,000.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use divan::counter::ItemsCount;
use longhall_compliance::adapter::{Adapter, AdapterConfig, Output};
use longhall_compliance::adapters::xml::XmlAdapter;
use longhall_compliance::batch::{BatchInfo, Conversation, Event, EventSource, SourceError};
use longhall_compliance::sample;
use longhall_compliance::xslt::XsltRunner;
use longhall_core::model::ComplianceKind;

fn main() {
    divan::main();
}

const EVENTS: u64 = 1_000_000;
const ROOMS: u64 = 100;

/// A batch generated on the fly: `rooms` conversations of `per_room` events each, mostly CHAT.
struct GenSource {
    rooms: u64,
    per_room: u64,
    room: u64,
    next: u64,
}

impl GenSource {
    fn new(events: u64, rooms: u64) -> GenSource {
        GenSource { rooms, per_room: events / rooms, room: 0, next: 0 }
    }

    fn event(&self, room: u64, i: u64) -> Event {
        let id = (room * self.per_room + i + 1) as i64;
        let kind = match i % 50 {
            0 => ComplianceKind::Join,
            49 => ComplianceKind::Part,
            7 => ComplianceKind::Backchat,
            _ => ComplianceKind::Chat,
        };
        let mut sender = if i.is_multiple_of(2) { sample::alice() } else { sample::bob() };
        sender.id += (i % 1000) as i64;
        Event {
            id,
            kind,
            ts: sample::T0 + id * 250,
            sender,
            seq: (kind == ComplianceKind::Chat).then_some(i as i64 + 1),
            content: format!("Message {i} in room {room}: bid < 101 & ask > 99, \"firm\" — Grüße"),
            file: None,
            detail: serde_json::Value::Null,
        }
    }
}

impl EventSource for GenSource {
    fn next_conversation(&mut self) -> Result<Option<Conversation>, SourceError> {
        if self.room >= self.rooms {
            return Ok(None);
        }
        let room = self.room;
        self.room += 1;
        self.next = 0;
        let mut info = sample::trading_room();
        info.id = room as i64 + 1;
        info.uri = format!("ma-chan://example.org/{}", room + 1);
        Ok(Some(Conversation { room: info, first: self.event(room, 0) }))
    }

    fn next_event(&mut self) -> Result<Option<Event>, SourceError> {
        if self.next >= self.per_room {
            return Ok(None);
        }
        let e = self.event(self.room - 1, self.next);
        self.next += 1;
        Ok(Some(e))
    }
}

fn batch(events: u64) -> BatchInfo {
    BatchInfo {
        id: format!("{:020}-{:020}", 1, events),
        first_event: 1,
        last_event: events as i64,
        events,
        domain: "example.org".into(),
    }
}

fn write_xml(dir: &Path, events: u64) -> PathBuf {
    let mut adapter = XmlAdapter::new(XsltRunner::new(vec![], Duration::from_secs(1)));
    adapter.configure(&AdapterConfig { output_dir: dir.to_path_buf(), ..AdapterConfig::default() }).unwrap();
    let mut out = Output::new(dir, "bench");
    adapter.translate(&batch(events), &mut GenSource::new(events, ROOMS), &mut out).unwrap();
    out.files()[0].temp.clone()
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn xml_adapter_1m_events(bencher: divan::Bencher<'_, '_>) {
    let dir = tempfile::tempdir().unwrap();
    bencher.counter(ItemsCount::new(EVENTS)).bench_local(|| write_xml(dir.path(), EVENTS));
}

fn xslt_events() -> u64 {
    std::env::var("LONGHALL_BENCH_XSLT_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(EVENTS)
}

/// The XSLT input, written once: (folder, input path, stylesheet path).
fn xslt_input() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static INPUT: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    INPUT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let staged = write_xml(dir.path(), xslt_events());
        let input = dir.path().join("input.xml");
        std::fs::rename(staged, &input).unwrap();
        let style = Path::new(env!("CARGO_MANIFEST_DIR")).join("stylesheets/sample.xsl");
        (dir, input, style)
    })
}

#[divan::bench(sample_count = 2, sample_size = 1)]
fn xslt_sample_xsl_worker(bencher: divan::Bencher<'_, '_>) {
    let (dir, input, style) = xslt_input();
    let text = std::fs::read_to_string(style).unwrap();
    let runner = XsltRunner::new(vec![env!("CARGO_BIN_EXE_longhall-xslt-worker").into()], Duration::from_secs(600));
    let output = dir.path().join("worker.out");
    bencher.counter(ItemsCount::new(xslt_events())).bench_local(|| runner.transform(&text, input, &output).unwrap());
}

#[divan::bench(sample_count = 2, sample_size = 1)]
fn xslt_sample_xsl_xsltproc(bencher: divan::Bencher<'_, '_>) {
    let (dir, input, style) = xslt_input();
    let output = dir.path().join("xsltproc.out");
    bencher.counter(ItemsCount::new(xslt_events())).bench_local(|| {
        let status = Command::new("xsltproc")
            .arg("--nonet")
            .arg("-o")
            .arg(&output)
            .arg(style)
            .arg(input)
            .stderr(Stdio::inherit())
            .status()
            .unwrap();
        assert!(status.success());
    });
}
