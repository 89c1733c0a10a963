//! The EML adapter, for mail-based archivers: one RFC 5322 message per conversation,
//! `<batch id>-room<room id>.eml`, whatever `one_chat_room_per_output_file` says.
//!
//! Headers are derived from the room and the batch only, so a retried batch produces the
//! same messages (same `Message-ID`), and archivers can de-duplicate on it:
//!
//! ```text
//! Date: Tue, 01 Jan 2013 00:00:00 +0000            (the conversation's first event)
//! From: Longhall compliance <compliance@example.org>
//! To: "Trading desk" <room-1@example.org>          (RFC 2047 encoded-words when not ASCII)
//! Subject: Chat room "Trading desk", batch 0…1-0…13
//! Message-ID: <0…1-0…13.room-1@example.org>
//! MIME-Version: 1.0
//! Content-Type: text/plain; charset=utf-8
//! Content-Transfer-Encoding: quoted-printable
//! X-Longhall-Batch: 0…1-0…13
//! X-Longhall-Room: ma-chan://example.org/1
//! ```
//!
//! The body (UTF-8, quoted-printable, CRLF line ends) starts with three lines naming the room
//! and the batch and a blank line, then one line per event:
//!
//! ```text
//! 2013-01-01T00:01:00.000Z CHAT #7 alice@example.org: Bid < 101
//! 2013-01-01T00:01:30.000Z FILEUPLOAD alice@example.org (Alice Example): Q1 report.pdf
//! ```
//!
//! `#<seq>` follows the type for events about a message; `(display name)` follows the login with
//! `add_user_details`; `: content` is absent when the content is empty. In the content and the
//! display name a backslash is written `\\`, a line feed `\n` and a carriage return `\r`, so
//! every event stays on one line.

use std::io::{BufWriter, Write};

use base64::Engine as _;

use crate::adapter::{Adapter, AdapterConfig, AdapterError, Output};
use crate::attachments::Attachments;
use crate::batch::{BatchInfo, Event, EventSource, RoomInfo};
use crate::xml::{XmlOptions, civil, iso8601_ms, message_id};

use super::file_stem;

#[derive(Default)]
pub struct EmlAdapter {
    config: AdapterConfig,
}

impl EmlAdapter {
    pub fn new() -> EmlAdapter {
        EmlAdapter::default()
    }
}

/// A domain usable in addresses: the batch's, reduced to `[A-Za-z0-9.-]`, or `localhost`.
fn mail_domain(batch: &BatchInfo) -> String {
    let d: String = batch.domain.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
    if d.is_empty() { "localhost".into() } else { d }
}

/// RFC 5322 date-time in UTC: `Tue, 01 Jan 2013 00:00:00 +0000`.
pub fn rfc5322_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, mo, d, h, mi, s, _) = civil(ms);
    let weekday = DAYS[ms.div_euclid(86_400_000).rem_euclid(7) as usize];
    format!("{weekday}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} +0000", MONTHS[(mo - 1) as usize])
}

fn is_plain_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// RFC 2047 encoded-words (`=?UTF-8?B?…?=`, 60 characters at most each) for `s`, separated by
/// folding white space (which decoders drop between encoded-words).
fn encoded_words(s: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 36 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(w)))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// A display name: a quoted-string when plain ASCII, encoded-words otherwise.
fn phrase(s: &str) -> String {
    if is_plain_ascii(s) && s.len() <= 60 {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        encoded_words(s)
    }
}

/// `"name" <room-<id>@domain>`, the address on a continuation line after encoded-words.
fn to_header(name: &str, id: i64, domain: &str) -> String {
    let phrase = phrase(name);
    let sep = if phrase.starts_with("=?") { "\r\n " } else { " " };
    format!("{phrase}{sep}<room-{id}@{domain}>")
}

/// An unstructured header value: as is when short plain ASCII, encoded-words otherwise.
fn unstructured(name: &str, s: &str) -> String {
    if is_plain_ascii(s) && name.len() + 2 + s.len() <= 78 { s.to_owned() } else { encoded_words(s) }
}

/// `\` → `\\`, LF → `\n`, CR → `\r`.
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['\\', '\n', '\r']) {
        return s.into();
    }
    s.replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r").into()
}

/// Quoted-printable (RFC 2045 §6.7) of one line, CRLF-terminated, soft-broken at 76 columns.
fn write_qp_line<W: Write>(w: &mut W, line: &[u8]) -> std::io::Result<()> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut col = 0usize;
    let mut buf: Vec<u8> = Vec::with_capacity(line.len() + line.len() / 8 + 8);
    for (i, &b) in line.iter().enumerate() {
        let last = i + 1 == line.len();
        let literal = ((33..=126).contains(&b) && b != b'=') || ((b == b' ' || b == b'\t') && !last);
        let len = if literal { 1 } else { 3 };
        if col + len > 75 {
            buf.extend_from_slice(b"=\r\n");
            col = 0;
        }
        if literal {
            buf.push(b);
        } else {
            buf.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
        col += len;
    }
    buf.extend_from_slice(b"\r\n");
    w.write_all(&buf)
}

/// The body line of one event (without line end).
pub fn event_line(event: &Event, user_details: bool) -> String {
    let mut line = format!("{} {}", iso8601_ms(event.ts), event.kind.as_str());
    let id = message_id(event);
    if id != 0 {
        line.push_str(&format!(" #{id}"));
    }
    line.push(' ');
    line.push_str(&event.sender.login);
    if user_details {
        line.push_str(&format!(" ({})", one_line(&event.sender.display_name)));
    }
    if !event.content.is_empty() {
        line.push_str(": ");
        line.push_str(&one_line(&event.content));
    }
    line
}

fn write_headers<W: Write>(w: &mut W, batch: &BatchInfo, room: &RoomInfo, first: &Event) -> std::io::Result<()> {
    let domain = mail_domain(batch);
    let subject = format!("Chat room \"{}\", batch {}", room.name, batch.id);
    let headers = [
        ("Date", rfc5322_date(first.ts)),
        ("From", format!("Longhall compliance <compliance@{domain}>")),
        ("To", to_header(&room.name, room.id, &domain)),
        ("Subject", unstructured("Subject", &subject)),
        ("Message-ID", format!("<{}.room-{}@{domain}>", batch.id, room.id)),
        ("MIME-Version", "1.0".into()),
        ("Content-Type", "text/plain; charset=utf-8".into()),
        ("Content-Transfer-Encoding", "quoted-printable".into()),
        ("X-Longhall-Batch", batch.id.clone()),
        ("X-Longhall-Room", unstructured("X-Longhall-Room", &room.uri)),
    ];
    for (name, value) in headers {
        write!(w, "{name}: {value}\r\n")?;
    }
    w.write_all(b"\r\n")
}

impl Adapter for EmlAdapter {
    fn name(&self) -> &'static str {
        "eml"
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
        while let Some(conv) = events.next_conversation()? {
            let name = format!("{}.eml", file_stem(batch, Some(conv.room.id)));
            let mut w = BufWriter::with_capacity(256 * 1024, out.create(&name)?);
            write_headers(&mut w, batch, &conv.room, &conv.first)?;
            write_qp_line(&mut w, format!("Chat room: {} ({})", one_line(&conv.room.name), conv.room.uri).as_bytes())?;
            write_qp_line(
                &mut w,
                format!("Batch: {} (events {} to {})", batch.id, batch.first_event, batch.last_event).as_bytes(),
            )?;
            write_qp_line(&mut w, b"Times are UTC.")?;
            write_qp_line(&mut w, b"")?;
            while let Some(ev) = events.next_event()? {
                write_qp_line(&mut w, event_line(&ev, opts.user_details).as_bytes())?;
                if let Some(a) = attachments.as_mut() {
                    a.record(out, &conv.room, &ev)?;
                }
            }
            w.flush()?;
        }
        if let Some(a) = attachments {
            a.finish()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_quoted_printable() {
        assert_eq!(rfc5322_date(1_356_998_400_000), "Tue, 01 Jan 2013 00:00:00 +0000");
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        let mut v = Vec::new();
        write_qp_line(&mut v, "a=b é \t".as_bytes()).unwrap();
        assert_eq!(v, b"a=3Db =C3=A9 =09\r\n");
        let mut v = Vec::new();
        write_qp_line(&mut v, "x".repeat(200).as_bytes()).unwrap();
        let text = String::from_utf8(v).unwrap();
        assert!(text.split("\r\n").all(|l| l.len() <= 76), "{text}");
        assert_eq!(text.replace("=\r\n", ""), format!("{}\r\n", "x".repeat(200)));
    }
}
