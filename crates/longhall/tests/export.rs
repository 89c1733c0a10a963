//! `longhall export` and `longhall import`, the real binary on real data directories: a
//! deployment is populated through its services (opened as `serve` opens it), stopped, exported
//! at each level, and imported into fresh deployments; bad files are refused with nothing
//! written; a dry run lists conflicts and writes nothing; name collisions are reported and the
//! imported object wins.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use longhall::{Config, Deployment, Tuning};
use longhall_core::Actor;
use longhall_core::model::Millis;
use longhall_core::ports::Clock;
use longhall_core::service::HistoryQuery;
use longhall_types::api::{NewCategory, NewGroup, NewRoom, NewUser, PostRequest, Privacy};
use serde_json::Value;

const ADMIN: &str = "admin@example.org";
const PASSWORD: &str = "correct-horse-battery";
/// 2026-01-01 and 2026-06-01, 00:00 UTC.
const JANUARY: Millis = 1_767_225_600_000;
const JUNE: Millis = 1_780_272_000_000;

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_ms(&self) -> Millis {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

fn config(dir: &Path) -> Config {
    Config { data_dir: dir.to_owned(), admin_login: ADMIN.into(), domain: "example.org".into(), ..Config::default() }
}

async fn open(dir: &Path, clock: Arc<TestClock>) -> Deployment {
    let tuning = Tuning { clock, compliance_processor: false, ..Tuning::default() };
    // A child process another test is spawning at this moment holds a copy of the lock file's
    // descriptor between its fork and its exec: this process's own lock may outlive a close by
    // that instant.
    let mine = format!("in use by process {}", std::process::id());
    let mut attempts = 0;
    let d = loop {
        match Deployment::open(&config(dir), tuning.clone()).await {
            Err(e) if format!("{e:#}").contains(&mine) && attempts < 100 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            opened => break opened.expect("the deployment opens"),
        }
    };
    d.first_start(Some(PASSWORD.into())).await.expect("first start");
    d
}

/// A new deployment that has had its first start (administrator, General, global policy).
async fn fresh(dir: &Path) -> PathBuf {
    open(dir, Arc::new(TestClock(AtomicI64::new(JANUARY)))).await.close().await;
    dir.to_owned()
}

/// Users, a group, two categories, three rooms with lists, messages in January and June,
/// one replaced.
async fn populated(dir: &Path) -> PathBuf {
    let clock = Arc::new(TestClock(AtomicI64::new(JANUARY)));
    let d = open(dir, clock.clone()).await;
    let lh = d.lh.clone();
    let system = Actor::system();
    let mut ids = Vec::new();
    for login in ["alice@example.org", "bob@example.org", "carol@example.org"] {
        let new = NewUser { login: login.into(), display_name: Some(format!("{login} Person")), ..Default::default() };
        ids.push(lh.create_user(&system, new).await.expect("user").id);
    }
    let team = NewGroup { name: "team".into(), members: vec!["alice@example.org".into(), "bob@example.org".into()] };
    lh.create_group(&system, team).await.expect("group");
    let legal = NewCategory {
        name: "Legal".into(),
        description: "cases".into(),
        allowed_members: vec!["group:team".into(), "carol@example.org".into()],
        ..Default::default()
    };
    lh.create_category(&system, legal).await.expect("category");
    let mut rooms = Vec::new();
    for (name, category, privacy) in
        [("Hall", "General", Privacy::Open), ("Cases", "Legal", Privacy::Closed), ("Archive", "Legal", Privacy::Open)]
    {
        let new = NewRoom {
            name: name.into(),
            category: category.into(),
            description: format!("the {name}"),
            privacy,
            members: vec!["group:team".into()],
            managers: vec!["alice@example.org".into()],
            ..Default::default()
        };
        rooms.push(lh.create_room(&system, new).await.expect("room").id);
    }
    let alice = lh.current_actor(ids[0]).expect("alice");
    let bob = lh.current_actor(ids[1]).expect("bob");
    let say = |text: &str| PostRequest { text: text.into(), alert: false, story_title: None, file: None };
    for (who, room, text) in
        [(&alice, 0, "hello hall"), (&bob, 1, "case one"), (&alice, 1, "case two"), (&bob, 2, "old")]
    {
        lh.post(who, rooms[room], say(text), None).await.expect("post");
    }
    clock.0.store(JUNE, Ordering::SeqCst);
    for (who, room, text) in [(&bob, 0, "june in the hall"), (&alice, 1, "case three 三"), (&bob, 2, "new")] {
        lh.post(who, rooms[room], say(text), None).await.expect("post");
    }
    let replace = longhall_types::api::RemoveMessages {
        seqs: vec![1],
        replacement: Some("[removed by the administrator]".into()),
        ..Default::default()
    };
    lh.remove_messages(&system, rooms[1], replace).await.expect("replace");
    drop(lh);
    d.close().await;
    dir.to_owned()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn longhall(args: &[&str]) -> Run {
    let out = support::longhall().args(args).output().expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[track_caller]
fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

fn export(data: &Path, file: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["export", s(file), "--data-dir", s(data), "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(longhall(&args)).stdout).expect("a JSON report")
}

fn import(data: &Path, file: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["import", s(file), "--data-dir", s(data), "--json"];
    args.extend_from_slice(extra);
    longhall(&args)
}

/// The objects of an export: every line but the header (its time) and the trailer (its
/// checksum covers the header).
fn objects(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).expect("the export");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.first().is_some_and(|l| l.contains("\"header\"")), "a header first");
    assert!(lines.last().is_some_and(|l| l.contains("\"end\"")), "a trailer last");
    lines[1..lines.len() - 1].iter().map(|l| serde_json::from_str(l).expect("JSON")).collect()
}

fn of_type<'a>(objects: &'a [Value], t: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["type"] == t).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_level_exported_and_imported_into_a_fresh_deployment_exports_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let a = populated(&tmp.path().join("a")).await;
    // One fresh deployment takes the levels in the order an operator would (principals, then
    // the directory, then content); `all` goes into a second one.
    let b = fresh(&tmp.path().join("b")).await;
    for level in ["user", "category", "room-directory", "content"] {
        let from_a = tmp.path().join(format!("a-{level}.lhx"));
        let report = export(&a, &from_a, &["--level", level]);
        assert_eq!(report["level"], level);
        let r = ok(import(&b, &from_a, &[]));
        let report: Value = serde_json::from_str(&r.stdout).expect("a JSON report");
        assert_eq!(report["dry_run"], false);
        let from_b = tmp.path().join(format!("b-{level}.lhx"));
        export(&b, &from_b, &["--level", level]);
        assert_eq!(objects(&from_b), objects(&from_a), "level {level}: the import exports as the original did");
    }
    let all = tmp.path().join("a-all.lhx");
    let report = export(&a, &all, &[]);
    assert_eq!(report["counts"]["user"], 4);
    assert_eq!(report["counts"]["room"], 4, "the first start's Lobby and three more");
    assert_eq!(report["counts"]["message"], 7);
    let c = fresh(&tmp.path().join("c")).await;
    ok(import(&c, &all, &[]));
    let again = tmp.path().join("c-all.lhx");
    export(&c, &again, &[]);
    let objects_a = objects(&all);
    assert_eq!(objects(&again), objects_a, "level all: identical");

    // What the file holds is what the deployment held: lists by name, the replaced text, the
    // original numbers.
    let cases = of_type(&objects_a, "room").into_iter().find(|r| r["name"] == "Cases").expect("Cases");
    assert_eq!(cases["members"], serde_json::json!(["group:team"]));
    assert_eq!(cases["category"], "Legal");
    let texts: Vec<(&str, i64, bool)> = of_type(&objects_a, "message")
        .iter()
        .filter(|m| m["room"] == cases["id"])
        .map(|m| (m["text"].as_str().unwrap(), m["seq"].as_i64().unwrap(), m["replaced"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        texts,
        [("[removed by the administrator]", 1, true), ("case two", 2, false), ("case three 三", 3, false)]
    );

    // The imported deployment serves what was imported, and numbers new posts after it.
    let d = open(&c, Arc::new(TestClock(AtomicI64::new(JUNE + 1_000_000)))).await;
    let alice = d.lh.get_user(&Actor::system(), "alice@example.org").expect("alice was imported");
    let alice = d.lh.current_actor(alice.id).expect("alice may chat");
    let room = d.lh.find_room(&alice, "Cases").expect("alice finds Cases");
    let page = d.lh.history(&alice, room.id, HistoryQuery::Latest, None).await.expect("history");
    let texts: Vec<&str> = page.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["[removed by the administrator]", "case two", "case three 三"]);
    assert_eq!(page.messages[2].author, "alice@example.org");
    let say = PostRequest { text: "after the move".into(), alert: false, story_title: None, file: None };
    assert_eq!(d.lh.post(&alice, room.id, say, None).await.expect("post").seq, 4);
    d.close().await;
}

/// Everything a deployment holds, as an export shows it.
fn snapshot(data: &Path, file: &Path) -> Vec<Value> {
    export(data, file, &[]);
    objects(file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_altered_and_wrong_version_files_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let a = populated(&tmp.path().join("a")).await;
    let good = tmp.path().join("good.lhx");
    export(&a, &good, &[]);
    let text = std::fs::read_to_string(&good).unwrap();
    let b = fresh(&tmp.path().join("b")).await;
    let before = snapshot(&b, &tmp.path().join("before.lhx"));

    let truncated = tmp.path().join("truncated.lhx");
    std::fs::write(&truncated, &text[..text.len() * 2 / 3]).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let cut_at_a_line = tmp.path().join("cut-at-a-line.lhx");
    std::fs::write(&cut_at_a_line, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let altered = tmp.path().join("altered.lhx");
    std::fs::write(&altered, text.replacen("case two", "case 2wo", 1)).unwrap();
    let dropped = tmp.path().join("dropped.lhx");
    let message = lines.iter().position(|l| l.contains("\"message\"")).unwrap();
    lines.remove(message);
    std::fs::write(&dropped, lines.join("\n") + "\n").unwrap();
    let future = tmp.path().join("future.lhx");
    std::fs::write(&future, text.replacen("\"version\":1", "\"version\":2", 1)).unwrap();
    let other = tmp.path().join("other.lhx");
    std::fs::write(&other, "LONGHALL-BACKUP 1\n").unwrap();

    for (file, says) in [
        (&truncated, "truncated"),
        (&cut_at_a_line, "truncated"),
        (&altered, "altered"),
        (&dropped, "altered"),
        (&future, "format version 2"),
        (&other, "not a Longhall export"),
    ] {
        for extra in [&[][..], &["--dry-run"][..]] {
            let r = import(&b, file, extra);
            assert_eq!(r.code, 1, "{}: {}", file.display(), r.stderr);
            assert!(r.stderr.contains(says), "{} {extra:?}: {}", file.display(), r.stderr);
            assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
        }
        assert_eq!(snapshot(&b, &tmp.path().join("after.lhx")), before, "{}: nothing written", file.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_lists_every_conflict_and_writes_nothing_and_the_imported_object_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let a = populated(&tmp.path().join("a")).await;
    let file = tmp.path().join("a.lhx");
    export(&a, &file, &[]);
    // A deployment that already has a room "Cases" (another id, other settings, its own
    // messages) and a user "bob" (another id, another name), and a user holding alice's id.
    let b = tmp.path().join("b");
    let d = open(&b, Arc::new(TestClock(AtomicI64::new(JUNE)))).await;
    let system = Actor::system();
    for login in ["zed@example.org", "bob@example.org"] {
        let new = NewUser { login: login.into(), display_name: Some("Someone Else".into()), ..Default::default() };
        d.lh.create_user(&system, new).await.expect("user");
    }
    let new = NewRoom {
        name: "Cases".into(),
        category: "General".into(),
        description: "ours".into(),
        privacy: Privacy::Open,
        ..Default::default()
    };
    let ours = d.lh.create_room(&system, new).await.expect("room").id;
    let zed = d.lh.current_actor(2).expect("zed");
    let say = PostRequest { text: "ours first".into(), alert: false, story_title: None, file: None };
    d.lh.post(&zed, ours, say, None).await.expect("post");
    d.close().await;
    let before = snapshot(&b, &tmp.path().join("before.lhx"));

    let r = import(&b, &file, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dry: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(dry["dry_run"], true);
    let conflicts: Vec<(String, String)> = dry["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap().to_owned(), c["object"].as_str().unwrap().to_owned()))
        .collect();
    for expected in [
        ("replaced", "user \"bob@example.org\""),
        ("renumbered", "user \"alice@example.org\""),
        ("replaced", "room \"Cases\""),
        ("appended", "room \"Cases\""),
        ("replaced", "room \"Lobby\""),
        ("replaced", "category \"General\""),
    ] {
        assert!(
            conflicts.iter().any(|(k, o)| k == expected.0 && o == expected.1),
            "{expected:?} not in {conflicts:#?}"
        );
    }
    assert_eq!(snapshot(&b, &tmp.path().join("after-dry.lhx")), before, "a dry run writes nothing");
    // The text report says the same.
    let r = longhall(&["import", s(&file), "--data-dir", s(&b), "--dry-run"]);
    assert!(r.stdout.contains("would write") && r.stdout.contains("replaced") && r.stdout.contains("room \"Cases\""));

    let r = ok(import(&b, &file, &[]));
    let done: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(done["conflicts"], dry["conflicts"], "the import does what the dry run said");
    let after = snapshot(&b, &tmp.path().join("after.lhx"));
    let room = of_type(&after, "room").into_iter().find(|r| r["name"] == "Cases").cloned().unwrap();
    assert_eq!(room["description"], "the Cases", "the imported room wins");
    assert_eq!(room["category"], "Legal");
    let bob = of_type(&after, "user").into_iter().find(|u| u["login"] == "bob@example.org").cloned().unwrap();
    assert_eq!(bob["display_name"], "bob@example.org Person", "the imported user wins");
    let texts: Vec<(i64, &str)> = of_type(&after, "message")
        .into_iter()
        .filter(|m| m["room"] == room["id"])
        .map(|m| (m["seq"].as_i64().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        texts,
        [(1, "ours first"), (2, "[removed by the administrator]"), (3, "case two"), (4, "case three 三")],
        "the room's own messages stay; the imported ones follow"
    );
    // alice's id was zed's: she came in under a new id, and her messages are hers.
    let alice = of_type(&after, "user").into_iter().find(|u| u["login"] == "alice@example.org").cloned().unwrap();
    assert_ne!(alice["id"], 2);
    assert!(of_type(&after, "message").iter().any(|m| m["author"] == "alice@example.org" && m["text"] == "case two"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn category_scope_start_date_and_cut_over() {
    let tmp = tempfile::tempdir().unwrap();
    let a = populated(&tmp.path().join("a")).await;
    let file = tmp.path().join("legal.lhx");
    let report = export(
        &a,
        &file,
        &["--category", "legal", "--since", "2026-03-01", "--disable-exported-rooms", "--level", "all"],
    );
    assert_eq!(report["disabled_rooms"], serde_json::json!(["Cases", "Archive"]));
    let objects = objects(&file);
    let rooms: Vec<&str> = of_type(&objects, "room").iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(rooms, ["Cases", "Archive"], "only the category's rooms");
    let categories: Vec<&str> = of_type(&objects, "category").iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(categories, ["Legal"]);
    let texts: Vec<&str> = of_type(&objects, "message").iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["case three 三", "new"], "only what was posted from March on");

    // The exported rooms are disabled in the source (cut-over); the others are not.
    let now = objects_of(&a, &tmp.path().join("after.lhx"));
    let disabled: Vec<(&str, bool)> =
        of_type(&now, "room").iter().map(|r| (r["name"].as_str().unwrap(), r["disabled"].as_bool().unwrap())).collect();
    assert_eq!(disabled, [("Lobby", false), ("Hall", false), ("Cases", true), ("Archive", true)]);
    // Each is an administrative change in the audit log, by the offline command.
    let (stores, _) = longhall::deployment::open_store(&config(&a)).await.expect("the store opens");
    let query = longhall_core::change::AuditQuery { limit: 100, ..Default::default() };
    let records = stores.store().audit_records(&query).await.expect("audit records");
    let cut_over: Vec<(&str, &str, &str)> = records
        .iter()
        .filter(|r| r.actor == "longhall export (offline)")
        .map(|r| (r.noun.as_str(), r.object.as_str(), r.operation.as_str()))
        .collect();
    assert_eq!(cut_over, [("room", "Cases", "update"), ("room", "Archive", "update")]);
    assert!(
        records.iter().all(|r| r.actor != "longhall export (offline)" || r.after.as_ref().unwrap()["disabled"] == true)
    );
    stores.close().await;

    // A category that does not exist is an error that names it; nothing is left behind.
    let missing = tmp.path().join("missing.lhx");
    let r = longhall(&["export", s(&missing), "--data-dir", s(&a), "--category", "Nope"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("\"Nope\""), "{}", r.stderr);
    assert!(!missing.exists() && !tmp.path().join("missing.lhx.partial").exists());
    let r = longhall(&["export", s(&missing), "--data-dir", s(&a), "--since", "March"]);
    assert_eq!(r.code, 2, "a bad date is a usage error: {}", r.stderr);
}

fn objects_of(data: &Path, file: &Path) -> Vec<Value> {
    export(data, file, &[]);
    objects(file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_deployment_is_not_exported_or_imported_under_it() {
    let tmp = tempfile::tempdir().unwrap();
    let a = fresh(&tmp.path().join("a")).await;
    let d = open(&a, Arc::new(TestClock(AtomicI64::new(JANUARY)))).await;
    let file = tmp.path().join("x.lhx");
    for args in [vec!["export", s(&file), "--data-dir", s(&a)], vec!["import", s(&file), "--data-dir", s(&a)]] {
        std::fs::write(&file, "").unwrap();
        let r = longhall(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("in use by") && r.stderr.contains("stopped deployment"), "{}", r.stderr);
    }
    d.close().await;
}
