//! The adapters and the four flags, checked on what lands in the output folder.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use longhall_compliance::adapter::{Adapter, AdapterConfig, AdapterError};
use longhall_compliance::adapters::command::CommandAdapter;
use longhall_compliance::adapters::eml::EmlAdapter;
use longhall_compliance::adapters::jsonl::JsonlAdapter;
use longhall_compliance::adapters::xml::XmlAdapter;
use longhall_compliance::adapters::{BuildOptions, NAMES, build_with};
use longhall_compliance::sample;
use longhall_compliance::xslt::parse_xml;

use common::*;

fn id() -> String {
    sample::batch_info().id
}

#[test]
fn the_factory_knows_every_adapter() {
    let opts = BuildOptions { xslt: worker(), command_timeout: Duration::from_secs(5) };
    for name in NAMES {
        assert_eq!(build_with(name, &opts).unwrap().name(), name);
    }
    let err = build_with("ftp", &opts).err().unwrap();
    assert!(matches!(err, AdapterError::Config(ref m) if m.contains("xml, jsonl, eml, command")), "{err}");
}

#[test]
fn one_file_per_batch_or_per_room_with_stable_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    let files = run_sample(&mut XmlAdapter::new(worker()), &config).unwrap();
    assert_eq!(names(&files), [format!("{}.xml", id())]);
    let whole = parse_xml(&std::fs::read(&files[0].temp).unwrap()).unwrap();
    assert_eq!(whole.elements_named("Conversation").count(), 2);

    config.one_chat_room_per_output_file = true;
    let files = run_sample(&mut XmlAdapter::new(worker()), &config).unwrap();
    assert_eq!(names(&files), [format!("{}-room1.xml", id()), format!("{}-room2.xml", id())]);
    for (f, room) in files.iter().zip(["ma-chan://example.org/1", "ma-chan://example.org/2"]) {
        let doc = parse_xml(&std::fs::read(&f.temp).unwrap()).unwrap();
        let convs: Vec<_> = doc.elements_named("Conversation").collect();
        assert_eq!(convs.len(), 1);
        assert_eq!(convs[0].child("Channel").unwrap().attr("uri"), Some(room));
    }
    // A retried batch writes the same names and the same bytes.
    let again = run_sample(&mut XmlAdapter::new(worker()), &config).unwrap();
    assert_eq!(names(&again), names(&files));
    for (a, b) in again.iter().zip(&files) {
        assert_eq!(std::fs::read(&a.temp).unwrap(), std::fs::read(&b.temp).unwrap());
    }
}

#[test]
fn room_and_user_details_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    let plain = std::fs::read_to_string(&run_sample(&mut XmlAdapter::new(worker()), &config).unwrap()[0].temp).unwrap();
    for absent in ["Trading desk", "displayName=", "London", "Traders", "category="] {
        assert!(!plain.contains(absent), "{absent} without details");
    }
    // As in the original: the display name, the e-mail address and whether the room is logged
    // are always there.
    assert!(
        plain.contains(
            r#"<Sender UserName="Alice Example" id="17" email="alice@example.org" internal="true" uri="alice@example.org" />"#
        ),
        "{plain}"
    );
    assert!(
        plain.contains(r#"<Channel uri="ma-chan://example.org/1" name="ma-chan://example.org/1" islogged="true" />"#)
    );
    config.add_chat_room_details = true;
    let rooms = std::fs::read_to_string(&run_sample(&mut XmlAdapter::new(worker()), &config).unwrap()[0].temp).unwrap();
    assert!(
        rooms.contains(
            r#"islogged="true" displayName="Trading desk" category="Markets" privacy="closed" type="normal""#
        )
    );
    assert!(!rooms.contains("site="), "room details don't bring user details");
    config.add_chat_room_details = false;
    config.add_user_details = true;
    let users = std::fs::read_to_string(&run_sample(&mut XmlAdapter::new(worker()), &config).unwrap()[0].temp).unwrap();
    assert!(users.contains(
        r#"<Sender UserName="Alice Example" id="17" email="alice@example.org" internal="true" uri="alice@example.org" displayName="Alice Example" site="London">"#
    ));
    assert!(users.contains(r#"<Group name="Desk &quot;A&quot; &amp; B" />"#));
    assert!(!users.contains("Trading desk"), "user details don't bring room details");
}

fn with_report(dir: &std::path::Path) -> AdapterConfig {
    let mut config = config(dir);
    config.create_file_attachments_manifest = true;
    std::fs::create_dir_all(&config.files_dir).unwrap();
    std::fs::write(config.files_dir.join(sample::report_file().key), sample::REPORT_BYTES).unwrap();
    config
}

#[test]
fn attachments_manifest_and_file_copies() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_report(dir.path());
    let files = run_sample(&mut XmlAdapter::new(worker()), &config).unwrap();
    let key = sample::report_file().key;
    let copy = format!("{}-{key}.pdf", id());
    assert_eq!(names(&files), [format!("{}.ATTACH", id()), format!("{}.xml", id()), copy.clone()]);
    assert_eq!(std::fs::read(&files[2].temp).unwrap(), sample::REPORT_BYTES, "the copy has the file's bytes");

    let manifest = parse_xml(&std::fs::read(&files[0].temp).unwrap()).unwrap();
    assert_eq!(manifest.name, "FileTransfers");
    assert_eq!(manifest.attr("batch"), Some(id().as_str()));
    let transfers: Vec<_> = manifest.elements_named("FileTransfer").collect();
    assert_eq!(transfers.len(), 2, "one upload and one download");
    let expected = [("FILEUPLOAD", "5", "alice@example.org"), ("FILEDOWNLOAD", "6", "bob@example.org")];
    for (t, (kind, event, login)) in transfers.iter().zip(expected) {
        assert_eq!(t.attr("type"), Some(kind));
        assert_eq!(t.attr("eventId"), Some(event));
        assert_eq!(t.attr("channel"), Some("ma-chan://example.org/1"));
        assert_eq!(t.attr("name"), Some("Q1 report.pdf"));
        assert_eq!(t.attr("key"), Some(key.as_str()));
        assert_eq!(t.attr("size"), Some(sample::REPORT_BYTES.len().to_string().as_str()));
        assert_eq!(t.attr("contentType"), Some("application/pdf"));
        assert_eq!(t.attr("copy"), Some(copy.as_str()), "copied once, named by both transfers");
        assert_eq!(t.attr("status"), Some("copied"));
        assert_eq!(t.child("Sender").unwrap().attr("uri"), Some(login));
        assert!(t.child("DateTimeUTC").is_some());
    }

    // Without the flag: neither manifest nor copies.
    let files = run_sample(&mut XmlAdapter::new(worker()), &common::config(dir.path())).unwrap();
    assert_eq!(names(&files), [format!("{}.xml", id())]);
}

#[test]
fn a_file_gone_from_the_store_is_reported_missing_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.create_file_attachments_manifest = true;
    let files = run_sample(&mut JsonlAdapter::new(), &config).unwrap();
    assert_eq!(names(&files), [format!("{}.ATTACH", id()), format!("{}.jsonl", id())]);
    let manifest = parse_xml(&std::fs::read(&files[0].temp).unwrap()).unwrap();
    for t in manifest.elements_named("FileTransfer") {
        assert_eq!(t.attr("status"), Some("missing"));
        assert_eq!(t.attr("copy"), Some(""));
    }
}

#[test]
fn jsonl_lines_parse_back_to_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.add_user_details = true;
    let files = run_sample(&mut JsonlAdapter::new(), &config).unwrap();
    let text = std::fs::read_to_string(&files[0].temp).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let expected: Vec<_> =
        sample::conversations().into_iter().flat_map(|(r, es)| es.into_iter().map(move |e| (r.clone(), e))).collect();
    assert_eq!(lines.len(), expected.len());
    for (v, (room, ev)) in lines.iter().zip(&expected) {
        assert_eq!(v["batch"], id());
        assert_eq!(v["event_id"], ev.id);
        assert_eq!(v["type"], ev.kind.as_str());
        assert_eq!(v["ts"], ev.ts);
        assert_eq!(v["content"], ev.content);
        assert_eq!(v["room"]["uri"], room.uri);
        assert!(v["room"].get("name").is_none(), "no room details unless asked");
        assert_eq!(v["sender"]["login"], ev.sender.login);
        assert_eq!(v["sender"]["display_name"], ev.sender.display_name);
        assert_eq!(v["detail"], ev.detail);
    }
    assert_eq!(lines[4]["file"]["key"], sample::report_file().key);
    assert_eq!(lines[2]["time"], "2013-01-01T00:01:00.0000000Z");
    assert_eq!(lines[2]["message_id"], 7);

    config.one_chat_room_per_output_file = true;
    let files = run_sample(&mut JsonlAdapter::new(), &config).unwrap();
    assert_eq!(names(&files), [format!("{}-room1.jsonl", id()), format!("{}-room2.jsonl", id())]);
    assert_eq!(std::fs::read_to_string(&files[1].temp).unwrap().lines().count(), 4);
}

/// Reverses the body's one-line escaping (`\\`, `\n`, `\r`).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn eml_messages_parse_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = with_report(dir.path());
    config.add_user_details = true;
    let files = run_sample(&mut EmlAdapter::new(), &config).unwrap();
    assert_eq!(
        names(&files),
        [
            format!("{}.ATTACH", id()),
            format!("{}-room1.eml", id()),
            format!("{}-{}.pdf", id(), sample::report_file().key),
            format!("{}-room2.eml", id())
        ]
    );
    let emls = [&files[1], &files[3]];
    for (f, (room, events)) in emls.iter().zip(sample::conversations()) {
        let raw = std::fs::read(&f.temp).unwrap();
        assert!(raw.windows(2).all(|w| w[1] != b'\n' || w[0] == b'\r'), "CRLF line ends only");
        assert!(raw.split(|&b| b == b'\n').all(|l| l.len() <= 78), "short lines");
        let mail = mailparse::parse_mail(&raw).unwrap();
        let header = |name: &str| {
            use mailparse::MailHeaderMap;
            mail.headers.get_first_value(name).unwrap_or_else(|| panic!("no {name} header"))
        };
        assert_eq!(header("From"), "Longhall compliance <compliance@example.org>");
        assert_eq!(
            header("To"),
            format!("\"{}\" <room-{}@example.org>", room.name, room.id)
                .replace("\"Général – opérations\"", "Général – opérations")
        );
        assert_eq!(header("Subject"), format!("Chat room \"{}\", batch {}", room.name, id()));
        assert_eq!(header("Message-ID"), format!("<{}.room-{}@example.org>", id(), room.id));
        let date = mailparse::dateparse(&header("Date")).unwrap();
        assert_eq!(date * 1000, events[0].ts);
        assert_eq!(mail.ctype.mimetype, "text/plain");
        assert_eq!(mail.ctype.charset, "utf-8");
        let body = mail.get_body().unwrap();
        let mut lines = body.lines();
        assert_eq!(lines.next().unwrap(), format!("Chat room: {} ({})", room.name.replace('\n', "\\n"), room.uri));
        let lines: Vec<&str> = lines.skip_while(|l| !l.is_empty()).skip(1).collect();
        assert_eq!(lines.len(), events.len());
        for (line, ev) in lines.iter().zip(&events) {
            let (head, content) = line.split_once(": ").map_or((*line, String::new()), |(h, c)| (h, unescape(c)));
            assert_eq!(content, ev.content);
            assert!(head.contains(ev.kind.as_str()), "{line}");
            assert!(head.contains(&ev.sender.login), "{line}");
            assert!(head.contains(&format!("({})", ev.sender.display_name)), "{line}");
            assert!(head.starts_with(&longhall_compliance::xml::iso8601_ms(ev.ts)), "{line}");
        }
    }
}

fn command_config(dir: &std::path::Path, script: &str) -> AdapterConfig {
    let mut config = config(dir);
    std::fs::create_dir_all(&config.output_dir).unwrap();
    config.command = vec!["/bin/sh".into(), "-c".into(), script.into(), "archiver".into()];
    config
}

#[test]
fn command_adapter_hands_every_event_to_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let config = command_config(
        dir.path(),
        r#"cat > "$LONGHALL_OUTPUT_DIR/received.jsonl" && env | grep '^LONGHALL_' | sort > "$LONGHALL_OUTPUT_DIR/env""#,
    );
    let files = run_sample(&mut CommandAdapter::new(Duration::from_secs(30)), &config).unwrap();
    assert!(files.is_empty(), "the command adapter stages no files");
    let received = std::fs::read_to_string(config.output_dir.join("received.jsonl")).unwrap();
    let ids: Vec<i64> = received
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=13).collect::<Vec<_>>());
    let env: BTreeMap<String, String> = std::fs::read_to_string(config.output_dir.join("env"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    assert_eq!(env["LONGHALL_BATCH_ID"], id());
    assert_eq!(env["LONGHALL_FIRST_EVENT"], "1");
    assert_eq!(env["LONGHALL_LAST_EVENT"], "13");
    assert_eq!(env["LONGHALL_EVENTS"], "13");
    assert_eq!(env["LONGHALL_DOMAIN"], "example.org");
}

#[test]
fn command_adapter_fails_on_a_non_zero_exit_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        command_config(dir.path(), "cat > /dev/null; echo 'archive unreachable: connection refused' >&2; exit 1");
    let err = run_sample(&mut CommandAdapter::new(Duration::from_secs(30)), &config).unwrap_err();
    assert!(matches!(err, AdapterError::Failed(_)), "{err:?}");
    assert!(err.to_string().contains("archive unreachable: connection refused"), "{err}");
    assert!(err.to_string().contains("exit status: 1"), "{err}");
}

#[test]
fn command_adapter_fails_when_the_program_stops_reading() {
    let dir = tempfile::tempdir().unwrap();
    let config = command_config(dir.path(), "head -c 10 > /dev/null; exit 0");
    // A batch bigger than a pipe buffer, so the early exit is seen.
    let (room, events) = sample::conversations().remove(0);
    let many: Vec<_> = (0..2000)
        .map(|i| {
            let mut e = events[2].clone();
            e.id = i;
            e
        })
        .collect();
    let mut source = longhall_compliance::batch::VecSource::new(vec![(room, many)]);
    let err = run_source(&mut CommandAdapter::new(Duration::from_secs(30)), &config, &mut source).unwrap_err();
    assert!(err.to_string().contains("did not read the whole batch"), "{err}");
}

#[test]
fn a_program_that_exits_0_without_reading_a_small_batch_does_not_get_it_delivered() {
    let dir = tempfile::tempdir().unwrap();
    // The sample batch (13 events) fits in the pipe buffer: every write succeeds, yet the
    // program never reads any of it.
    for script in ["exit 0", "head -c 10 > /dev/null; exit 0"] {
        let config = command_config(dir.path(), script);
        let err = run_sample(&mut CommandAdapter::new(Duration::from_secs(30)), &config).unwrap_err();
        assert!(matches!(err, AdapterError::Failed(_)), "{script}: {err:?}");
        assert!(err.to_string().contains("before reading the whole batch"), "{script}: {err}");
    }
    // Reading everything and exiting 0 still delivers, even without waiting for end of input.
    let size = {
        let mut v = Vec::new();
        let config = command_config(dir.path(), r#"cat > "$LONGHALL_OUTPUT_DIR/all""#);
        run_sample(&mut CommandAdapter::new(Duration::from_secs(30)), &config).unwrap();
        v.extend(std::fs::read(config.output_dir.join("all")).unwrap());
        v.len()
    };
    let config = command_config(dir.path(), &format!("head -c {size} > /dev/null; exit 0"));
    run_sample(&mut CommandAdapter::new(Duration::from_secs(30)), &config).expect("the whole batch was read");
}

#[test]
fn a_hanging_command_is_killed_by_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = command_config(dir.path(), r#"sleep 600 & echo $! > "$LONGHALL_OUTPUT_DIR/sleep.pid"; wait"#);
    let started = Instant::now();
    let err = run_sample(&mut CommandAdapter::new(Duration::from_millis(500)), &config).unwrap_err();
    assert!(err.to_string().contains("killed"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let pid = std::fs::read_to_string(out.join("sleep.pid")).unwrap().trim().to_owned();
    // The program's own children went with it (the whole process group is killed). SIGKILL is
    // delivered asynchronously to a process that isn't ours to wait for, so give it time to die.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => break,
            Ok(stat) if stat.contains(") Z ") || stat.contains(") X ") => break,
            Ok(stat) => assert!(Instant::now() < deadline, "sleep {pid} still running: {stat}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn command_adapter_needs_a_command() {
    let err = CommandAdapter::new(Duration::from_secs(1)).configure(&AdapterConfig::default()).unwrap_err();
    assert!(matches!(err, AdapterError::Config(_)));
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.command = vec!["/nonexistent/archiver".into()];
    let err = run_sample(&mut CommandAdapter::new(Duration::from_secs(5)), &config).unwrap_err();
    assert!(matches!(err, AdapterError::Config(_)), "{err:?}");
}
