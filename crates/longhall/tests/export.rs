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
    let d = Deployment::open(&config(dir), tuning).await.expect("the deployment opens");
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
    lh.remove_messages(&system, rooms[1], &[1], Some("[removed by the administrator]".into())).await.expect("replace");
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
