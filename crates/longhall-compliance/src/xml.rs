//! A streaming writer for the documented compliance XML format (reference §5.3).
//!
//! ```text
//! Conversations (xmlns:xsi, xmlns:xsd)
//!   Conversation
//!     Channel (uri, name, islogged [, displayName, category, privacy, type, description])
//!     FirstMessage (type, content, id [, fileName]) → Sender, DateTimeUTC
//!     Messages → Message (type, content, id [, fileName]) → Sender, DateTimeUTC
//!     Sender (UserName = display name, id, email, internal, uri = login [, displayName, site])
//!     StartTimeUTC, EndTimeUTC
//! ```
//!
//! Everything is written straight to a [`Write`] as it is pulled from the event source, so a
//! batch of any size needs constant memory. Attribute values are escaped (`& < > " '`, tab,
//! line feed and carriage return as character references) and characters XML 1.0 forbids are
//! replaced by U+FFFD, so the output is always well-formed.

use std::io::{self, Write};

use longhall_core::model::{ComplianceKind, Millis};

use crate::batch::{Event, RoomInfo, Sender};

/// Which optional details the XML carries (the `add_*` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XmlOptions {
    /// `add_chat_room_details`: `displayName`, `category`, `privacy`, `type` and `description`
    /// on `Channel` (`islogged` is always there, as in the original).
    pub room_details: bool,
    /// `add_user_details`: `displayName`, `site` on `Sender`, and one `Group` child per group
    /// the user belongs to (`UserName` and `email` are always there, as in the original).
    pub user_details: bool,
}

impl XmlOptions {
    /// The details the configuration's `add_chat_room_details` / `add_user_details` ask for.
    pub fn from_config(config: &crate::adapter::AdapterConfig) -> XmlOptions {
        XmlOptions { room_details: config.add_chat_room_details, user_details: config.add_user_details }
    }
}

/// The `xmlns` declarations of the root element, as in the original.
pub const ROOT_NAMESPACES: &str =
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#;

/// `Message/@id`: the message's sequence number for events about a message, 0 otherwise.
pub fn message_id(event: &Event) -> i64 {
    match event.kind {
        ComplianceKind::Chat | ComplianceKind::MessageReplaced | ComplianceKind::MessageRemoved => {
            event.seq.unwrap_or(0)
        }
        _ => 0,
    }
}

/// Writes one compliance XML document. Call [`start`](Self::start), then for each conversation
/// [`begin_conversation`](Self::begin_conversation), [`message`](Self::message) for each of its
/// events (the first one included) and [`end_conversation`](Self::end_conversation), then
/// [`finish`](Self::finish).
pub struct XmlWriter<W: Write> {
    w: W,
    opts: XmlOptions,
    /// Bounds of the current conversation's event times.
    start: Millis,
    end: Millis,
    in_conversation: bool,
}

impl<W: Write> XmlWriter<W> {
    pub fn new(w: W, opts: XmlOptions) -> XmlWriter<W> {
        XmlWriter { w, opts, start: 0, end: 0, in_conversation: false }
    }

    /// Writes the XML declaration and opens `Conversations`.
    pub fn start(&mut self) -> io::Result<()> {
        self.w.write_all(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Conversations ")?;
        self.w.write_all(ROOT_NAMESPACES.as_bytes())?;
        self.w.write_all(b">\n")
    }

    /// Opens a `Conversation`, writes its `Channel` and `FirstMessage` (a copy of `first`) and
    /// opens `Messages`. `first` must then be passed to [`message`](Self::message) too.
    pub fn begin_conversation(&mut self, room: &RoomInfo, first: &Event) -> io::Result<()> {
        let w = &mut self.w;
        w.write_all(b"  <Conversation>\n    <Channel uri=\"")?;
        escape_attr(w, &room.uri)?;
        w.write_all(b"\" name=\"")?;
        escape_attr(w, &room.uri)?;
        w.write_all(b"\"")?;
        attr(w, "islogged", if room.logged { "true" } else { "false" })?;
        if self.opts.room_details {
            attr(w, "displayName", &room.name)?;
            attr(w, "category", &room.category)?;
            attr(w, "privacy", &room.privacy)?;
            attr(w, "type", &room.room_type)?;
            attr(w, "description", &room.description)?;
        }
        w.write_all(b" />\n")?;
        self.event_element(b"    ", b"FirstMessage", first)?;
        self.w.write_all(b"    <Messages>\n")?;
        self.start = first.ts;
        self.end = first.ts;
        self.in_conversation = true;
        Ok(())
    }

    /// Writes one `Message` of the current conversation.
    pub fn message(&mut self, event: &Event) -> io::Result<()> {
        debug_assert!(self.in_conversation);
        self.start = self.start.min(event.ts);
        self.end = self.end.max(event.ts);
        self.event_element(b"      ", b"Message", event)
    }

    /// Closes `Messages` and writes `StartTimeUTC`/`EndTimeUTC`: the earliest and latest event
    /// time of the conversation.
    pub fn end_conversation(&mut self) -> io::Result<()> {
        self.in_conversation = false;
        self.w.write_all(b"    </Messages>\n")?;
        time_element(&mut self.w, b"    ", b"StartTimeUTC", self.start)?;
        time_element(&mut self.w, b"    ", b"EndTimeUTC", self.end)?;
        self.w.write_all(b"  </Conversation>\n")
    }

    /// Closes `Conversations`, flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.w.write_all(b"</Conversations>\n")?;
        self.w.flush()?;
        Ok(self.w)
    }

    fn event_element(&mut self, indent: &[u8], name: &[u8], event: &Event) -> io::Result<()> {
        let w = &mut self.w;
        w.write_all(indent)?;
        w.write_all(b"<")?;
        w.write_all(name)?;
        w.write_all(b" type=\"")?;
        w.write_all(event.kind.as_str().as_bytes())?;
        w.write_all(b"\" content=\"")?;
        escape_attr(w, &event.content)?;
        w.write_all(b"\" id=\"")?;
        write_int(w, message_id(event))?;
        w.write_all(b"\"")?;
        // Ours: the name the user gave the file (`content` is the stored name, as in the original).
        if let Some(name) = user_file_name(event) {
            attr(w, "fileName", name)?;
        }
        w.write_all(b">\n")?;
        let mut inner = Vec::with_capacity(indent.len() + 2);
        inner.extend_from_slice(indent);
        inner.extend_from_slice(b"  ");
        sender_element(w, &inner, &event.sender, self.opts.user_details)?;
        time_element(w, &inner, b"DateTimeUTC", event.ts)?;
        w.write_all(indent)?;
        w.write_all(b"</")?;
        w.write_all(name)?;
        w.write_all(b">\n")
    }
}

/// The user's name of the file a FILEUPLOAD/FILEDOWNLOAD event is about.
pub fn user_file_name(event: &Event) -> Option<&str> {
    match event.kind {
        ComplianceKind::FileUpload | ComplianceKind::FileDownload => {
            Some(event.file.as_ref().map_or_else(|| event.detail["name"].as_str().unwrap_or(""), |f| f.name.as_str()))
        }
        _ => None,
    }
}

/// The `Sender/@UserName`: the display name, as in the original (the login when there is none).
pub fn user_name(s: &Sender) -> &str {
    if s.display_name.trim().is_empty() { &s.login } else { &s.display_name }
}

/// Writes ` name="value"` with the value escaped.
pub fn attr<W: Write + ?Sized>(w: &mut W, name: &str, value: &str) -> io::Result<()> {
    w.write_all(b" ")?;
    w.write_all(name.as_bytes())?;
    w.write_all(b"=\"")?;
    escape_attr(w, value)?;
    w.write_all(b"\"")
}

/// Writes a `Sender` element (see [`XmlOptions::user_details`] for what the details add).
pub fn sender_element<W: Write + ?Sized>(w: &mut W, indent: &[u8], s: &Sender, details: bool) -> io::Result<()> {
    w.write_all(indent)?;
    w.write_all(b"<Sender UserName=\"")?;
    escape_attr(w, user_name(s))?;
    w.write_all(b"\" id=\"")?;
    write_int(w, s.id)?;
    w.write_all(b"\"")?;
    attr(w, "email", &s.email)?;
    w.write_all(if s.internal { b" internal=\"true\" uri=\"" } else { b" internal=\"false\" uri=\"" })?;
    escape_attr(w, &s.login)?;
    w.write_all(b"\"")?;
    if !details {
        return w.write_all(b" />\n");
    }
    attr(w, "displayName", &s.display_name)?;
    if let Some(site) = &s.site {
        attr(w, "site", site)?;
    }
    if s.groups.is_empty() {
        return w.write_all(b" />\n");
    }
    w.write_all(b">\n")?;
    for g in &s.groups {
        w.write_all(indent)?;
        w.write_all(b"  <Group name=\"")?;
        escape_attr(w, g)?;
        w.write_all(b"\" />\n")?;
    }
    w.write_all(indent)?;
    w.write_all(b"</Sender>\n")
}

/// Writes `<name since1970=".." string=".." long=".." />`.
pub fn time_element<W: Write + ?Sized>(w: &mut W, indent: &[u8], name: &[u8], ms: Millis) -> io::Result<()> {
    w.write_all(indent)?;
    w.write_all(b"<")?;
    w.write_all(name)?;
    w.write_all(b" since1970=\"")?;
    write_int(w, ms)?;
    w.write_all(b"\" string=\"")?;
    let mut buf = [0u8; 40];
    let n = format_iso7(ms, &mut buf);
    w.write_all(&buf[..n])?;
    w.write_all(b"\" long=\"")?;
    write_int(w, dotnet_ticks(ms))?;
    w.write_all(b"\" />\n")
}

/// .NET ticks (100 ns units since 0001-01-01T00:00:00Z) of a Unix time in milliseconds.
pub fn dotnet_ticks(ms: Millis) -> i64 {
    ms.saturating_mul(10_000).saturating_add(621_355_968_000_000_000)
}

/// `YYYY-MM-DDTHH:MM:SS.fffffffZ` (ISO 8601, UTC, 7 fractional digits) of a Unix time in ms.
pub fn iso8601_7(ms: Millis) -> String {
    let mut buf = [0u8; 40];
    let n = format_iso7(ms, &mut buf);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (millisecond precision).
pub fn iso8601_ms(ms: Millis) -> String {
    let mut s = iso8601_7(ms);
    // "….fffffffZ" → "….fffZ"
    let cut = s.len() - 5;
    s.replace_range(cut..s.len() - 1, "");
    s
}

/// Civil date and time of a Unix time in ms: (year, month, day, hour, minute, second, milli).
pub fn civil(ms: Millis) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let secs = rem / 1000;
    (y, m, d, (secs / 3600) as u32, ((secs / 60) % 60) as u32, (secs % 60) as u32, (rem % 1000) as u32)
}

fn format_iso7(ms: Millis, buf: &mut [u8; 40]) -> usize {
    let (y, mo, d, h, mi, s, milli) = civil(ms);
    let mut n = 0;
    if (0..=9999).contains(&y) {
        put_digits(buf, &mut n, y as u32, 4);
    } else {
        let mut tmp = Vec::new();
        let _ = write_int(&mut tmp, y);
        buf[..tmp.len()].copy_from_slice(&tmp);
        n = tmp.len();
    }
    buf[n] = b'-';
    n += 1;
    put_digits(buf, &mut n, mo, 2);
    buf[n] = b'-';
    n += 1;
    put_digits(buf, &mut n, d, 2);
    buf[n] = b'T';
    n += 1;
    put_digits(buf, &mut n, h, 2);
    buf[n] = b':';
    n += 1;
    put_digits(buf, &mut n, mi, 2);
    buf[n] = b':';
    n += 1;
    put_digits(buf, &mut n, s, 2);
    buf[n] = b'.';
    n += 1;
    put_digits(buf, &mut n, milli, 3);
    buf[n..n + 5].copy_from_slice(b"0000Z");
    n + 5
}

fn put_digits(buf: &mut [u8], n: &mut usize, mut v: u32, width: usize) {
    for i in (0..width).rev() {
        buf[*n + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    *n += width;
}

/// Writes a decimal integer without allocating.
pub fn write_int<W: Write + ?Sized>(w: &mut W, v: i64) -> io::Result<()> {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        w.write_all(b"-")?;
    }
    w.write_all(&buf[i..])
}

/// Byte classes for [`escape_attr`]: 0 = copy, 1 = needs a look (markup, control, or the lead
/// byte 0xEF of U+FFFE/U+FFFF).
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t[0xEF] = true;
    t
};

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Writes `s` as the content of a double-quoted XML attribute: `& < > " '` as entity
/// references, tab/LF/CR as `&#9;`/`&#10;`/`&#13;` (so attribute-value normalisation keeps
/// them), and characters XML 1.0 forbids (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F,
/// U+FFFE, U+FFFF) as U+FFFD.
pub fn escape_attr<W: Write + ?Sized>(w: &mut W, s: &str) -> io::Result<()> {
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !SPECIAL[c as usize] {
            i += 1;
            continue;
        }
        let rep: &[u8] = match c {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&apos;",
            b'\t' => b"&#9;",
            b'\n' => b"&#10;",
            b'\r' => b"&#13;",
            0xEF => {
                // U+FFFE = EF BF BE, U+FFFF = EF BF BF; any other 0xEF sequence is fine.
                if i + 2 < b.len() && b[i + 1] == 0xBF && (b[i + 2] == 0xBE || b[i + 2] == 0xBF) {
                    w.write_all(&b[start..i])?;
                    w.write_all(REPLACEMENT)?;
                    i += 3;
                    start = i;
                } else {
                    i += 1;
                }
                continue;
            }
            _ => REPLACEMENT,
        };
        w.write_all(&b[start..i])?;
        w.write_all(rep)?;
        i += 1;
        start = i;
    }
    w.write_all(&b[start..])
}

/// `s` with the characters XML 1.0 forbids replaced by U+FFFD: what a parser reads back from
/// [`escape_attr`]'s output.
pub fn sanitize(s: &str) -> String {
    s.chars().map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' }).collect()
}

/// Whether XML 1.0 allows `c` in a document.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut v = Vec::new();
        escape_attr(&mut v, s).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_markup_whitespace_and_forbidden_characters() {
        assert_eq!(esc(r#"a&b<c>d"e'f"#), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        assert_eq!(esc("x\ty\nz\r"), "x&#9;y&#10;z&#13;");
        assert_eq!(esc("\u{0}\u{8}\u{b}\u{c}\u{1f}"), "\u{FFFD}".repeat(5));
        assert_eq!(esc("a\u{FFFE}b\u{FFFF}c\u{FFFD}d\u{EFFF}"), "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{EFFF}");
        assert_eq!(esc("Grüße 日本語 😀"), "Grüße 日本語 😀");
    }

    #[test]
    fn time_encodings_match_the_reference_example() {
        assert_eq!(iso8601_7(1_356_998_460_000), "2013-01-01T00:01:00.0000000Z");
        assert_eq!(dotnet_ticks(1_356_998_460_000), 634_925_952_600_000_000);
        assert_eq!(dotnet_ticks(1_356_998_400_000), 634_925_952_000_000_000);
        assert_eq!(iso8601_7(0), "1970-01-01T00:00:00.0000000Z");
        assert_eq!(iso8601_7(951_782_400_123), "2000-02-29T00:00:00.1230000Z");
        assert_eq!(iso8601_7(-1), "1969-12-31T23:59:59.9990000Z");
        assert_eq!(iso8601_ms(1_356_998_460_042), "2013-01-01T00:01:00.042Z");
    }
}
