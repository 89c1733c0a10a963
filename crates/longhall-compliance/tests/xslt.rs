//! XSLT through the worker: the shipped stylesheets against `xsltproc`, the security policy
//! against malicious stylesheets, the time limit, and error messages that name the line.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use longhall_compliance::adapters::xml::XmlAdapter;
use longhall_compliance::sample;
use longhall_compliance::xml::XmlOptions;
use longhall_compliance::xslt::{XsltError, parse_xml, test_stylesheet};

use common::*;

fn xsltproc(style: &Path, input: &Path) -> Vec<u8> {
    let out = Command::new("xsltproc")
        .arg("--nonet")
        .arg(style)
        .arg(input)
        .output()
        .expect("xsltproc is needed for the differential tests (Debian package xsltproc)");
    assert!(out.status.success(), "xsltproc failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn shipped_stylesheets_match_xsltproc_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for details in [false, true] {
        let input = dir.path().join(format!("sample-{details}.xml"));
        std::fs::write(&input, sample::xml(XmlOptions { room_details: details, user_details: details })).unwrap();
        for name in ["sample.xsl", "csv.xsl", "html.xsl"] {
            let ours = dir.path().join(format!("{name}-{details}.out"));
            worker().transform(&stylesheet(name), &input, &ours).unwrap();
            let ours = std::fs::read(&ours).unwrap();
            let reference = xsltproc(&stylesheet_path(name), &input);
            assert!(
                ours == reference,
                "{name} (details {details}) differs from xsltproc:\n{}",
                String::from_utf8_lossy(&ours)
            );
        }
    }
}

#[test]
fn sample_xsl_has_the_user_name_bug_fixed() {
    let out = test_stylesheet(&worker(), &stylesheet("sample.xsl")).unwrap();
    let doc = parse_xml(out.as_bytes()).unwrap();
    assert_eq!(doc.name, "FileDump");
    let rooms: Vec<_> = doc.elements_named("Conversation").collect();
    assert_eq!(rooms.len(), 2);
    assert_eq!(rooms[0].attr("Perspective"), Some("ma-chan://example.org/1_group_channel"));
    let kinds: Vec<&str> = rooms[0].elements().map(|e| e.name.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "RoomID",
            "StartTimeUTC",
            "ParticipantEntered",
            "ParticipantEntered",
            "Message",
            "Message",
            "FileTransferStarted",
            "FileTransferEnded",
            "FileTransferStarted",
            "FileTransferEnded",
            "Message",
            "ParticipantLeft",
            "EndTimeUTC"
        ],
        "MESSAGE_REPLACED is dropped, file events become two elements"
    );
    // The original read Sender/@userName and produced empty login names.
    for e in rooms.iter().flat_map(|r| r.elements()).filter(|e| e.child("LoginName").is_some()) {
        let login = e.child("LoginName").unwrap().text();
        assert!(login == "alice@example.org" || login == "bob@example.org", "{e:?}");
    }
    let first_chat = rooms[0].elements_named("Message").next().unwrap();
    assert_eq!(first_chat.child("Content").unwrap().text(), "Bid < 101 & ask > 99 — \"firm\", isn't it?");
}

#[test]
fn csv_rows_quote_every_field() {
    let out = test_stylesheet(&worker(), &stylesheet("csv.xsl")).unwrap();
    assert!(out.starts_with("room,room_name,time_utc,since1970,type,message_id,sender,sender_name,content\r\n"));
    assert!(out.contains(
        "\"ma-chan://example.org/1\",\"\",\"2013-01-01T00:01:00.0000000Z\",\"1356998460000\",\"CHAT\",\"7\",\"alice@example.org\",\"Alice Example\",\"Bid < 101 & ask > 99 — \"\"firm\"\", isn't it?\"\r\n"
    ));
    // 13 events + header; the multi-line message stays inside its quotes.
    assert_eq!(out.matches("\r\n").count(), 14);
}

#[test]
fn html_report_escapes_markup() {
    let out = test_stylesheet(&worker(), &stylesheet("html.xsl")).unwrap();
    assert!(out.contains("café → ☕ &lt;b&gt;bold?&lt;/b&gt; &amp;amp; 'quotes'"), "{out}");
    assert!(!out.contains("<b>bold"));
}

#[test]
fn xml_adapter_applies_custom_configuration_to_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.custom_configuration = Some(stylesheet("csv.xsl"));
    config.one_chat_room_per_output_file = true;
    let files = run_sample(&mut XmlAdapter::new(worker()), &config).unwrap();
    let id = sample::batch_info().id;
    assert_eq!(names(&files), [format!("{id}-room1.csv"), format!("{id}-room2.csv")]);
    let room2 = std::fs::read_to_string(&files[1].temp).unwrap();
    assert_eq!(room2.matches("\r\n").count(), 5, "{room2}");
    assert!(room2.contains("\"ma-chan://example.org/2\""));
    // The raw XML work folder is gone; only the staged outputs remain.
    let left: Vec<_> = std::fs::read_dir(&config.output_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn xml_adapter_refuses_a_broken_stylesheet_at_configure() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.custom_configuration = Some(BROKEN.into());
    let err = run_sample(&mut XmlAdapter::new(worker()), &config).unwrap_err();
    assert!(err.to_string().contains("line 5"), "{err}");
}

const BROKEN: &str = r#"<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:template match="/">
  <out>
    <xsl:value-of select="count(("/>
  </out>
</xsl:template>
</xsl:stylesheet>
"#;

#[test]
fn broken_stylesheets_name_their_line() {
    let err = test_stylesheet(&worker(), BROKEN).unwrap_err();
    assert!(matches!(err, XsltError::Stylesheet { line: Some(5), .. }), "{err:?}");
    assert!(err.to_string().contains("at line 5"), "{err}");
    assert!(!err.to_string().contains("/tmp/"), "the private folder is not shown: {err}");

    let not_well_formed = "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">\n<xsl:template match=\"/\">\n<out>\n</oops>\n</xsl:template>\n</xsl:stylesheet>\n";
    let err = test_stylesheet(&worker(), not_well_formed).unwrap_err();
    assert_eq!(err.line(), Some(4), "{err}");

    let runtime = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:template match="/">
<xsl:message terminate="yes">stop here</xsl:message>
</xsl:template>
</xsl:stylesheet>"#;
    let err = test_stylesheet(&worker(), runtime).unwrap_err();
    assert!(matches!(err, XsltError::Transform { .. }), "{err:?}");
    assert!(err.to_string().contains("stop here"), "{err}");
}

fn malicious(body: &str, extra_ns: &str) -> String {
    format!(
        r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" {extra_ns}>
<xsl:template match="/">{body}</xsl:template>
</xsl:stylesheet>"#
    )
}

#[test]
fn reading_a_file_outside_the_stylesheet_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.xml");
    std::fs::write(&secret, "<secret>s3cr3t</secret>").unwrap();
    for target in ["/etc/hostname".to_owned(), secret.display().to_string(), format!("file://{}", secret.display())] {
        let style = malicious(&format!("<out><xsl:copy-of select=\"document('{target}')\"/></out>"), "");
        let err = test_stylesheet(&worker(), &style).unwrap_err();
        assert!(matches!(err, XsltError::Transform { .. }), "{target}: {err:?}");
        assert!(err.to_string().contains("refused"), "{err}");
    }
}

#[test]
fn writing_files_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    for (ns, element) in [
        (r#"xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl""#, "exsl:document"),
        ("", "xsl:document"),
    ] {
        let target = dir.path().join(format!("pwned-{}.txt", element.replace(':', "-")));
        let style =
            malicious(&format!("<{element} href=\"{}\" method=\"text\">pwned</{element}><out/>", target.display()), ns);
        let err = test_stylesheet(&worker(), &style).unwrap_err();
        assert!(matches!(err, XsltError::Transform { .. }), "{element}: {err:?}");
        assert!(!target.exists(), "{element} wrote {}", target.display());
        let nested = dir.path().join("newdir").join("x.txt");
        let style =
            malicious(&format!("<{element} href=\"{}\" method=\"text\">x</{element}><out/>", nested.display()), ns);
        assert!(test_stylesheet(&worker(), &style).is_err());
        assert!(!dir.path().join("newdir").exists(), "{element} created a directory");
    }
}

#[test]
fn network_access_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x.xml", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let style = malicious(&format!("<out><xsl:copy-of select=\"document('{url}')\"/></out>"), "");
    let err = test_stylesheet(&worker(), &style).unwrap_err();
    assert!(matches!(err, XsltError::Transform { .. }), "{err:?}");
    assert!(listener.accept().is_err(), "the worker connected to {url}");
}

#[test]
fn external_entities_and_dtds_are_not_loaded() {
    let xxe = r#"<?xml version="1.0"?>
<!DOCTYPE xsl:stylesheet [<!ENTITY secret SYSTEM "/etc/hostname">]>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:template match="/"><out>&secret;</out></xsl:template>
</xsl:stylesheet>"#;
    let err = test_stylesheet(&worker(), xxe).unwrap_err();
    assert!(matches!(err, XsltError::Stylesheet { .. }), "{err:?}");
    assert!(err.to_string().contains("refused"), "{err}");
}

/// A template whose calls double at every level: 2^64 calls, far below libxslt's depth limit.
const ENDLESS: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:template match="/"><out><xsl:call-template name="t"><xsl:with-param name="n" select="64"/></xsl:call-template></out></xsl:template>
<xsl:template name="t"><xsl:param name="n"/>
  <xsl:if test="$n &gt; 0">
    <xsl:call-template name="t"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
    <xsl:call-template name="t"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
  </xsl:if>
</xsl:template>
</xsl:stylesheet>"#;

#[test]
fn endless_stylesheets_are_stopped_by_the_timeout_and_the_worker_is_gone() {
    let started = Instant::now();
    let err = test_stylesheet(&runner(Duration::from_millis(500)), ENDLESS).unwrap_err();
    let XsltError::Timeout { pid, .. } = err else { panic!("expected a timeout, got {err:?}") };
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    // Killed and reaped: no such process any more (or, at worst, a zombie of another parent).
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => {}
        Ok(stat) => {
            let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next().unwrap()).unwrap();
            assert_eq!(state, 'Z', "worker {pid} still running: {stat}");
        }
    }
}

/// Waits until `pid` is gone (or a zombie nobody has reaped yet), with a deadline.
fn wait_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            Ok(stat) if stat.contains(") Z ") || stat.contains(") X ") => return,
            Ok(stat) => assert!(Instant::now() < deadline, "{what} {pid} still running: {stat}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts the worker on ENDLESS with `extra` arguments, its input in `dir`.
fn endless_worker(dir: &Path, extra: &[&str]) -> std::process::Child {
    let style = dir.join("style");
    std::fs::create_dir_all(&style).unwrap();
    std::fs::write(style.join("stylesheet.xsl"), ENDLESS).unwrap();
    std::fs::write(dir.join("in.xml"), "<a/>").unwrap();
    Command::new(env!("CARGO_BIN_EXE_longhall-xslt-worker"))
        .arg("--stylesheet")
        .arg(style.join("stylesheet.xsl"))
        .args(extra)
        .arg("--input")
        .arg(dir.join("in.xml"))
        .arg("--output")
        .arg(dir.join("out.xml"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // As the runner starts it: leading its own process group.
        .process_group(0)
        .spawn()
        .unwrap()
}

#[test]
fn a_worker_whose_parent_dies_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut worker = endless_worker(dir.path(), &["--lifeline"]);
    // Still working: the lifeline is open.
    std::thread::sleep(Duration::from_millis(200));
    assert!(worker.try_wait().unwrap().is_none(), "the worker stopped while its parent lives");
    // The parent's end of the pipe closes, as it does when the parent is killed.
    drop(worker.stdin.take());
    let status = worker.wait().unwrap();
    assert_eq!(status.code(), Some(longhall_compliance::xslt::worker::EXIT_ORPHANED), "{status}");
}

#[test]
fn a_worker_enforces_its_own_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let worker = endless_worker(dir.path(), &["--time-limit-ms", "300"]);
    // Nobody watches it: it must stop by itself.
    let out = worker.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(longhall_compliance::xslt::worker::EXIT_TIMEOUT), "{}", out.status);
    assert!(String::from_utf8_lossy(&out.stderr).contains("time limit of 300 ms"));
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_stale_worker_named_in_a_work_folder_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    // A worker left running by an earlier server (no lifeline, no limit), and its pid file.
    let mut worker = endless_worker(dir.path(), &[]);
    let pid = worker.id();
    std::fs::write(dir.path().join(longhall_compliance::xslt::WORKER_PID_FILE), pid.to_string()).unwrap();
    // A pid file naming some other process (here: this test) is not acted on.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join(longhall_compliance::xslt::WORKER_PID_FILE), std::process::id().to_string())
        .unwrap();
    assert!(!longhall_compliance::xslt::stop_stale_worker(other.path()));

    // The worker has finished starting (its arguments are readable once exec is done).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.windows(11).any(|w| w == b"xslt-worker")) {
        assert!(Instant::now() < deadline, "the worker did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    if !longhall_compliance::xslt::stop_stale_worker(dir.path()) {
        let _ = worker.kill();
        panic!("the worker was not recognised");
    }
    let status = worker.wait().unwrap();
    assert!(status.code().is_none(), "killed by a signal: {status}");
    wait_gone(pid, "worker");
}

#[test]
fn the_worker_rejects_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_longhall-xslt-worker")).arg("--input").arg("x").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out =
        Command::new(env!("CARGO_BIN_EXE_longhall-xslt-worker")).arg("xslt-worker").arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "a leading xslt-worker is the subcommand name");
}
