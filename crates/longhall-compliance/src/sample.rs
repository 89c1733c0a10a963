//! A small, deterministic sample batch: two rooms, every kind of event a consumer meets
//! (JOIN, CHAT with markup characters, non-ASCII and a multi-line message, BACKCHAT, FILEUPLOAD,
//! FILEDOWNLOAD, an admin's MESSAGE_REPLACED, PART). Used by tests, by
//! [`crate::xslt::test_stylesheet`] and by the documentation.

use longhall_core::model::{ComplianceKind, Millis};
use serde_json::json;

use crate::batch::{BatchInfo, Event, EventSource, FileInfo, RoomInfo, Sender, VecSource};
use crate::xml::{XmlOptions, XmlWriter};

/// 2013-01-01T00:00:00Z, the instant of the reference's example.
pub const T0: Millis = 1_356_998_400_000;

pub const DOMAIN: &str = "example.org";

/// The sample's batch: events 1 to 13.
pub fn batch_info() -> BatchInfo {
    BatchInfo { id: format!("{:020}-{:020}", 1, 13), first_event: 1, last_event: 13, events: 13, domain: DOMAIN.into() }
}

pub fn alice() -> Sender {
    Sender {
        id: 17,
        login: "alice@example.org".into(),
        display_name: "Alice Example".into(),
        email: "alice@example.org".into(),
        site: Some("London".into()),
        groups: vec!["Traders".into(), "Desk \"A\" & B".into()],
        internal: true,
    }
}

pub fn bob() -> Sender {
    Sender {
        id: 23,
        login: "bob@example.org".into(),
        display_name: "Bøb Ñandú".into(),
        email: "bob.nandu@example.org".into(),
        site: None,
        groups: vec![],
        internal: true,
    }
}

pub fn trading_room() -> RoomInfo {
    RoomInfo {
        id: 1,
        uri: "ma-chan://example.org/1".into(),
        name: "Trading desk".into(),
        category: "Markets".into(),
        privacy: "closed".into(),
        room_type: "normal".into(),
        description: "Prices & orders <EMEA>".into(),
        logged: true,
    }
}

pub fn ops_room() -> RoomInfo {
    RoomInfo {
        id: 2,
        uri: "ma-chan://example.org/2".into(),
        name: "Général – opérations".into(),
        category: "Operations".into(),
        privacy: "open".into(),
        room_type: "auditorium".into(),
        description: "Line one\nline two".into(),
        logged: false,
    }
}

/// The report the sample uploads (its bytes are [`REPORT_BYTES`]).
pub fn report_file() -> FileInfo {
    FileInfo {
        id: 5,
        name: "Q1 report.pdf".into(),
        key: "3f2a9c0e5b7d4e1f8a6c2b9d0e4f7a1c".into(),
        size: REPORT_BYTES.len() as u64,
        content_type: "application/pdf".into(),
    }
}

pub const REPORT_BYTES: &[u8] = b"%PDF-1.4\n% sample report\n";

#[allow(clippy::too_many_arguments)]
fn event(
    id: i64,
    kind: ComplianceKind,
    secs: i64,
    sender: Sender,
    seq: Option<i64>,
    content: &str,
    file: Option<FileInfo>,
    detail: serde_json::Value,
) -> Event {
    Event { id, kind, ts: T0 + secs * 1000, sender, seq, content: content.into(), file, detail }
}

/// The sample's conversations, each room's events in event-id order.
pub fn conversations() -> Vec<(RoomInfo, Vec<Event>)> {
    use ComplianceKind::*;
    let report = report_file();
    // The stored file's name, as the original's `<GUID>.<ext>`.
    let stored = format!("{}.pdf", report.key);
    let room1 = vec![
        event(1, Join, 0, alice(), None, "", None, json!({})),
        event(2, Join, 30, bob(), None, "", None, json!({})),
        event(
            3,
            Chat,
            60,
            alice(),
            Some(7),
            "Bid < 101 & ask > 99 — \"firm\", isn't it?",
            None,
            json!({"text": "Bid < 101 & ask > 99 — \"firm\", isn't it?"}),
        ),
        event(
            4,
            Chat,
            75,
            bob(),
            Some(8),
            "Grüße! 日本語 ✓\nsecond line\tand a tab",
            None,
            json!({"text": "Grüße! 日本語 ✓\nsecond line\tand a tab"}),
        ),
        event(5, FileUpload, 90, alice(), None, &stored, Some(report.clone()), json!({"file": 5})),
        event(6, FileDownload, 120, bob(), None, &stored, Some(report.clone()), json!({"file": 5})),
        event(
            7,
            Backchat,
            130,
            bob(),
            None,
            "[7] alice@example.org: Bid < 101 & ask > 99 — \"firm\", isn't it?\n[8] bob@example.org: Grüße! 日本語 ✓\nsecond line\tand a tab",
            None,
            json!({"from_seq": 7, "to_seq": 8, "count": 2, "via": "join"}),
        ),
        event(
            8,
            MessageReplaced,
            140,
            alice(),
            Some(7),
            "Bid < 101 & ask > 99 — \"firm\", isn't it?",
            None,
            json!({"replacement": "[removed by an administrator]"}),
        ),
        event(9, Part, 150, bob(), None, "", None, json!({"reason": "left"})),
    ];
    let room2 = vec![
        event(10, Join, 10, bob(), None, "", None, json!({})),
        event(11, Chat, 20, bob(), Some(1), "café → ☕ <b>bold?</b> &amp; 'quotes'", None, json!({})),
        event(
            12,
            Backchat,
            40,
            bob(),
            None,
            "[1] bob@example.org: café → ☕ <b>bold?</b> &amp; 'quotes'",
            None,
            json!({"from_seq": 1, "to_seq": 1, "count": 1, "via": "history"}),
        ),
        event(13, Part, 50, bob(), None, "", None, json!({"reason": "disconnected"})),
    ];
    vec![(trading_room(), room1), (ops_room(), room2)]
}

/// The sample batch as an event source.
pub fn source() -> VecSource {
    VecSource::new(conversations())
}

/// The sample batch in the XML format, one document for the whole batch.
pub fn xml(opts: XmlOptions) -> Vec<u8> {
    let mut src = source();
    let mut w = XmlWriter::new(Vec::new(), opts);
    // Writing to memory from memory can't fail.
    let write = |w: &mut XmlWriter<Vec<u8>>, src: &mut VecSource| -> Result<(), Box<dyn std::error::Error>> {
        w.start()?;
        while let Some(conv) = src.next_conversation()? {
            w.begin_conversation(&conv.room, &conv.first)?;
            while let Some(ev) = src.next_event()? {
                w.message(&ev)?;
            }
            w.end_conversation()?;
        }
        Ok(())
    };
    write(&mut w, &mut src).expect("in-memory write");
    w.finish().expect("in-memory write")
}
