//! Any text in a message, a display name, a room name or a group name comes out as a
//! well-formed document that libxml2 parses, reading back the input with only the characters
//! XML 1.0 forbids replaced by U+FFFD.

use longhall_compliance::batch::Event;
use longhall_compliance::sample;
use longhall_compliance::xml::{XmlOptions, XmlWriter, sanitize};
use longhall_compliance::xslt::parse_xml;
use longhall_core::model::ComplianceKind;
use proptest::prelude::*;

/// Strings that hit the escaping's edges often: markup, whitespace controls, forbidden
/// controls, U+FFFE/U+FFFF and their UTF-8 neighbours, plus anything at all.
fn text() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '\0',
        '\u{1}',
        '\u{8}',
        '\t',
        '\n',
        '\u{b}',
        '\u{c}',
        '\r',
        '\u{e}',
        '\u{1f}',
        ' ',
        '&',
        '<',
        '>',
        '"',
        '\'',
        ';',
        '#',
        '\u{7f}',
        '\u{85}',
        '\u{a0}',
        '\u{2028}',
        '\u{d7ff}',
        '\u{e000}',
        '\u{efff}',
        '\u{fffd}',
        '\u{fffe}',
        '\u{ffff}',
        '\u{10000}',
        '\u{10ffff}',
        'é',
        '日',
    ]);
    let chars =
        prop::collection::vec(prop_oneof![3 => special, 2 => any::<char>(), 1 => prop::char::range('a', 'z')], 0..40)
            .prop_map(|v| v.into_iter().collect::<String>());
    prop_oneof![chars, any::<String>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_string_survives_to_well_formed_xml(content in text(), display in text(), room_name in text(), group in text()) {
        let mut sender = sample::alice();
        sender.display_name = display.clone();
        sender.groups = vec![group.clone()];
        let mut room = sample::trading_room();
        room.name = room_name.clone();
        room.description = content.clone();
        let event = Event {
            id: 1,
            kind: ComplianceKind::Chat,
            ts: sample::T0,
            sender,
            seq: Some(1),
            content: content.clone(),
            file: None,
            detail: serde_json::Value::Null,
        };
        let mut w = XmlWriter::new(Vec::new(), XmlOptions { room_details: true, user_details: true });
        w.start().unwrap();
        w.begin_conversation(&room, &event).unwrap();
        w.message(&event).unwrap();
        w.end_conversation().unwrap();
        let bytes = w.finish().unwrap();

        let doc = parse_xml(&bytes).map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
        let conv = doc.child("Conversation").unwrap();
        let channel = conv.child("Channel").unwrap();
        prop_assert_eq!(channel.attr("displayName").map(str::to_owned), Some(sanitize(&room_name)));
        prop_assert_eq!(channel.attr("description").map(str::to_owned), Some(sanitize(&content)));
        for m in [conv.child("FirstMessage").unwrap(), conv.child("Messages").unwrap().child("Message").unwrap()] {
            prop_assert_eq!(m.attr("content").map(str::to_owned), Some(sanitize(&content)));
            let s = m.child("Sender").unwrap();
            prop_assert_eq!(s.attr("displayName").map(str::to_owned), Some(sanitize(&display)));
            prop_assert_eq!(s.child("Group").unwrap().attr("name").map(str::to_owned), Some(sanitize(&group)));
        }
    }
}
