//! The XML adapter's output for the sample batch: byte for byte against the committed golden
//! files, and parsed back with libxml2 to check what an archive consumer reads.

mod common;

use longhall_compliance::adapters::xml::XmlAdapter;
use longhall_compliance::batch::Event;
use longhall_compliance::sample;
use longhall_compliance::xslt::{XmlElement, parse_xml};
use longhall_core::model::ComplianceKind;

use common::*;

fn sample_output(room_details: bool, user_details: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.add_chat_room_details = room_details;
    config.add_user_details = user_details;
    let files = run_sample(&mut XmlAdapter::new(worker()), &config).unwrap();
    assert_eq!(names(&files), [format!("{}.xml", sample::batch_info().id)]);
    std::fs::read(&files[0].temp).unwrap()
}

#[test]
fn sample_batch_matches_the_golden_files() {
    golden("sample.xml", &sample_output(false, false));
    golden("sample-details.xml", &sample_output(true, true));
}

/// An independent reading of the `string` attribute: `YYYY-MM-DDTHH:MM:SS.fffffffZ` → ms.
fn parse_iso7(s: &str) -> i64 {
    assert_eq!(s.len(), 28, "{s}");
    assert!(s.ends_with('Z') && &s[10..11] == "T" && &s[19..20] == ".", "{s}");
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from civil (proleptic Gregorian), computed by counting.
    let mut days = 0i64;
    for year in 1970..y {
        days += if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 { 366 } else { 365 };
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    days += month_days[..(m - 1) as usize].iter().sum::<i64>() + d - 1;
    let frac = n(20, 27);
    assert_eq!(frac % 10_000, 0, "sub-millisecond digits in {s}");
    ((days * 24 + n(11, 13)) * 60 + n(14, 16)) * 60_000 + n(17, 19) * 1000 + frac / 10_000
}

/// Checks the three encodings of one time element and returns its instant.
fn time_of(e: &XmlElement) -> i64 {
    let since: i64 = e.attr("since1970").unwrap().parse().unwrap();
    let long: i64 = e.attr("long").unwrap().parse().unwrap();
    assert_eq!(parse_iso7(e.attr("string").unwrap()), since, "{e:?}");
    // .NET ticks: 100 ns since 0001-01-01.
    assert_eq!(long, since * 10_000 + 621_355_968_000_000_000, "{e:?}");
    assert_eq!(e.attributes.len(), 3);
    since
}

fn check_event(element: &XmlElement, ev: &Event, user_details: bool) {
    assert_eq!(element.attr("type"), Some(ev.kind.as_str()));
    assert_eq!(element.attr("content"), Some(ev.content.as_str()), "content must round-trip exactly");
    let id = match ev.kind {
        ComplianceKind::Chat | ComplianceKind::MessageReplaced | ComplianceKind::MessageRemoved => ev.seq.unwrap(),
        _ => 0,
    };
    assert_eq!(element.attr("id"), Some(id.to_string().as_str()));
    // File events: `content` is the stored name (`<key>.<ext>`, the original's `<GUID>.<ext>`),
    // `fileName` (ours) the user's.
    match (&ev.kind, &ev.file) {
        (ComplianceKind::FileUpload | ComplianceKind::FileDownload, Some(f)) => {
            assert_eq!(element.attr("content"), Some(format!("{}.pdf", f.key).as_str()));
            assert_eq!(element.attr("fileName"), Some(f.name.as_str()));
        }
        _ => assert_eq!(element.attr("fileName"), None),
    }
    let names: Vec<&str> = element.elements().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Sender", "DateTimeUTC"]);
    let sender = element.child("Sender").unwrap();
    // As in the original: UserName is the display name, email always there.
    assert_eq!(sender.attr("UserName"), Some(ev.sender.display_name.as_str()));
    assert_eq!(sender.attr("email"), Some(ev.sender.email.as_str()));
    assert_eq!(sender.attr("id"), Some(ev.sender.id.to_string().as_str()));
    assert_eq!(sender.attr("internal"), Some("true"));
    assert_eq!(sender.attr("uri"), Some(ev.sender.login.as_str()));
    if user_details {
        assert_eq!(sender.attr("displayName"), Some(ev.sender.display_name.as_str()));
        assert_eq!(sender.attr("site"), ev.sender.site.as_deref());
        let groups: Vec<&str> = sender.elements_named("Group").map(|g| g.attr("name").unwrap()).collect();
        assert_eq!(groups, ev.sender.groups.iter().map(String::as_str).collect::<Vec<_>>());
    } else {
        let attrs: Vec<&str> = sender.attributes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(attrs, ["UserName", "id", "email", "internal", "uri"], "no user details unless asked");
        assert!(sender.elements().next().is_none());
    }
    assert_eq!(time_of(element.child("DateTimeUTC").unwrap()), ev.ts);
}

fn check_document(bytes: &[u8], room_details: bool, user_details: bool) {
    assert!(bytes.starts_with(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"));
    let root = parse_xml(bytes).unwrap();
    assert_eq!(root.name, "Conversations");
    assert_eq!(root.attr("xmlns:xsi"), Some("http://www.w3.org/2001/XMLSchema-instance"));
    assert_eq!(root.attr("xmlns:xsd"), Some("http://www.w3.org/2001/XMLSchema"));
    let expected = sample::conversations();
    let conversations: Vec<&XmlElement> = root.elements().collect();
    assert_eq!(conversations.len(), expected.len());
    for (conv, (room, events)) in conversations.iter().zip(&expected) {
        assert_eq!(conv.name, "Conversation");
        let order: Vec<&str> = conv.elements().map(|e| e.name.as_str()).collect();
        assert_eq!(order, ["Channel", "FirstMessage", "Messages", "StartTimeUTC", "EndTimeUTC"]);
        let channel = conv.child("Channel").unwrap();
        assert_eq!(channel.attr("uri"), Some(format!("ma-chan://example.org/{}", room.id).as_str()));
        assert_eq!(channel.attr("name"), channel.attr("uri"));
        assert_eq!(
            channel.attr("islogged"),
            Some(if room.logged { "true" } else { "false" }),
            "always, as in the original"
        );
        if room_details {
            assert_eq!(channel.attr("displayName"), Some(room.name.as_str()));
            assert_eq!(channel.attr("category"), Some(room.category.as_str()));
            assert_eq!(channel.attr("privacy"), Some(room.privacy.as_str()));
            assert_eq!(channel.attr("type"), Some(room.room_type.as_str()));
            assert_eq!(channel.attr("description"), Some(room.description.as_str()));
        } else {
            assert_eq!(channel.attributes.len(), 3, "no room details unless asked: {channel:?}");
        }
        check_event(conv.child("FirstMessage").unwrap(), &events[0], user_details);
        let messages: Vec<&XmlElement> = conv.child("Messages").unwrap().elements().collect();
        assert_eq!(messages.len(), events.len());
        for (m, ev) in messages.iter().zip(events) {
            assert_eq!(m.name, "Message");
            check_event(m, ev, user_details);
        }
        let start = time_of(conv.child("StartTimeUTC").unwrap());
        let end = time_of(conv.child("EndTimeUTC").unwrap());
        assert_eq!(start, events.iter().map(|e| e.ts).min().unwrap());
        assert_eq!(end, events.iter().map(|e| e.ts).max().unwrap());
    }
}

#[test]
fn output_parses_back_with_libxml2_in_every_flag_combination() {
    for (rd, ud) in [(false, false), (true, false), (false, true), (true, true)] {
        check_document(&sample_output(rd, ud), rd, ud);
    }
}

#[test]
fn times_match_the_reference_example() {
    let bytes = sample_output(false, false);
    let text = String::from_utf8(bytes).unwrap();
    // Event 3 (alice's first CHAT) is at 2013-01-01T00:01:00Z, the reference's example instant.
    assert!(text.contains(
        r#"<DateTimeUTC since1970="1356998460000" string="2013-01-01T00:01:00.0000000Z" long="634925952600000000" />"#
    ));
    assert!(text.contains(
        r#"<StartTimeUTC since1970="1356998400000" string="2013-01-01T00:00:00.0000000Z" long="634925952000000000" />"#
    ));
}

#[test]
fn markup_and_control_characters_are_escaped_never_raw() {
    let text = String::from_utf8(sample_output(true, true)).unwrap();
    assert!(text.contains(r#"content="Bid &lt; 101 &amp; ask &gt; 99 — &quot;firm&quot;, isn&apos;t it?""#));
    assert!(text.contains(r#"content="Grüße! 日本語 ✓&#10;second line&#9;and a tab""#));
    assert!(text.contains(r#"description="Line one&#10;line two""#));
    // The only raw control characters are the line feeds between elements.
    assert!(!text.bytes().any(|b| b < 0x20 && b != b'\n'));
}
