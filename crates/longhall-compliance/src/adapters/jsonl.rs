//! The JSON Lines adapter: one JSON object per event, each with its conversation's room.
//! The same lines are what the `command` adapter writes to its program's stdin.
//!
//! ```json
//! {"batch":"…","event_id":3,"type":"CHAT","ts":1356998460000,"time":"2013-01-01T00:01:00.0000000Z",
//!  "room":{"id":1,"uri":"ma-chan://example.org/1"},
//!  "sender":{"id":17,"login":"alice@example.org","internal":true},
//!  "message_id":7,"seq":7,"content":"…","file":null,"detail":{…}}
//! ```
//!
//! With `add_chat_room_details` the room also has `name`, `category`, `privacy`, `type`,
//! `description`, `logged`; with `add_user_details` the sender also has `display_name`, `email`,
//! `site` (or null) and `groups`. Files: `<batch id>.jsonl`, or one
//! `<batch id>-room<room id>.jsonl` per conversation with `one_chat_room_per_output_file`.

use std::io::{BufWriter, Write};

use serde::Serialize;

use crate::adapter::{Adapter, AdapterConfig, AdapterError, Output};
use crate::attachments::Attachments;
use crate::batch::{BatchInfo, Event, EventSource, RoomInfo};
use crate::xml::{XmlOptions, iso8601_7, message_id};

use super::file_stem;

#[derive(Serialize)]
struct JsonRoom<'a> {
    id: i64,
    uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    privacy: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    room_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logged: Option<bool>,
}

#[derive(Serialize)]
struct JsonSender<'a> {
    id: i64,
    login: &'a str,
    internal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<&'a [String]>,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    id: i64,
    name: &'a str,
    key: &'a str,
    size: u64,
    content_type: &'a str,
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    batch: &'a str,
    event_id: i64,
    #[serde(rename = "type")]
    kind: &'static str,
    ts: i64,
    time: String,
    room: JsonRoom<'a>,
    sender: JsonSender<'a>,
    /// `Message/@id` of the XML: the sequence number for events about a message, else 0.
    message_id: i64,
    seq: Option<i64>,
    content: &'a str,
    file: Option<JsonFile<'a>>,
    detail: &'a serde_json::Value,
}

/// Writes `event` as one JSON object and a line feed.
pub fn write_event_json<W: Write>(
    w: &mut W,
    batch: &BatchInfo,
    room: &RoomInfo,
    event: &Event,
    opts: XmlOptions,
) -> std::io::Result<()> {
    let rd = opts.room_details;
    let ud = opts.user_details;
    let s = &event.sender;
    let obj = JsonEvent {
        batch: &batch.id,
        event_id: event.id,
        kind: event.kind.as_str(),
        ts: event.ts,
        time: iso8601_7(event.ts),
        room: JsonRoom {
            id: room.id,
            uri: &room.uri,
            name: rd.then_some(room.name.as_str()),
            category: rd.then_some(room.category.as_str()),
            privacy: rd.then_some(room.privacy.as_str()),
            room_type: rd.then_some(room.room_type.as_str()),
            description: rd.then_some(room.description.as_str()),
            logged: rd.then_some(room.logged),
        },
        sender: JsonSender {
            id: s.id,
            login: &s.login,
            internal: s.internal,
            display_name: ud.then_some(s.display_name.as_str()),
            email: ud.then_some(s.email.as_str()),
            site: ud.then_some(s.site.as_deref()),
            groups: ud.then_some(s.groups.as_slice()),
        },
        message_id: message_id(event),
        seq: event.seq,
        content: &event.content,
        file: event.file.as_ref().map(|f| JsonFile {
            id: f.id,
            name: &f.name,
            key: &f.key,
            size: f.size,
            content_type: &f.content_type,
        }),
        detail: &event.detail,
    };
    serde_json::to_writer(&mut *w, &obj)?;
    w.write_all(b"\n")
}

#[derive(Default)]
pub struct JsonlAdapter {
    config: AdapterConfig,
}

impl JsonlAdapter {
    pub fn new() -> JsonlAdapter {
        JsonlAdapter::default()
    }
}

impl Adapter for JsonlAdapter {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn configure(&mut self, config: &AdapterConfig) -> Result<(), AdapterError> {
        self.config = config.clone();
        Ok(())
    }

    fn translate(
        &mut self,
        batch: &BatchInfo,
        events: &mut dyn EventSource,
        out: &mut Output,
    ) -> Result<(), AdapterError> {
        let opts = XmlOptions::from_config(&self.config);
        let mut attachments = Attachments::start(out, batch, &self.config)?;
        let per_room = self.config.one_chat_room_per_output_file;
        let mut current: Option<BufWriter<std::fs::File>> = None;
        if !per_room {
            current =
                Some(BufWriter::with_capacity(256 * 1024, out.create(&format!("{}.jsonl", file_stem(batch, None)))?));
        }
        while let Some(conv) = events.next_conversation()? {
            if per_room {
                if let Some(mut w) = current.take() {
                    w.flush()?;
                }
                let name = format!("{}.jsonl", file_stem(batch, Some(conv.room.id)));
                current = Some(BufWriter::with_capacity(256 * 1024, out.create(&name)?));
            }
            let w = current.as_mut().ok_or_else(|| AdapterError::Failed("no output file".into()))?;
            while let Some(ev) = events.next_event()? {
                write_event_json(w, batch, &conv.room, &ev, opts)?;
                if let Some(a) = attachments.as_mut() {
                    a.record(out, &conv.room, &ev)?;
                }
            }
        }
        if let Some(mut w) = current {
            w.flush()?;
        }
        if let Some(a) = attachments {
            a.finish()?;
        }
        Ok(())
    }
}
