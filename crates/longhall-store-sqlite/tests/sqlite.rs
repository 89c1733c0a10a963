//! SQLite-specific behaviour the generic suite cannot see: restart, crash, concurrency of
//! the group-commit writer, schema versions, files on disk.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use longhall_core::StoreError;
use longhall_core::model::*;
use longhall_core::ports::{FileStore, Store};
use longhall_core::principal::Principal;
use longhall_store_sqlite::{DirFileStore, SqliteStore};
use longhall_store_tests::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_after_close_finds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    let w = world(&s).await;
    let g = s.insert_group(&group("Ops", vec![Principal::User(w.alice)])).await.unwrap();
    let mut r = room("Gamma", w.category);
    r.members = vec![Principal::Group(g), Principal::Domain("example.org".into())];
    let r = s.insert_room(&r).await.unwrap();
    s.put_policy(&Policy { scope: Scope::Global, enable_persistent_chat: true, description: "d".into() })
        .await
        .unwrap();
    s.put_config(&Config::defaults(Scope::Global)).await.unwrap();
    s.put_meta("first_start_done", "1").await.unwrap();
    let token = TokenRecord {
        id: 0,
        user: w.alice,
        kind: TokenKind::Api,
        label: "bot".into(),
        hash: "abc".into(),
        created: 1,
        expires: None,
    };
    s.insert_token(&token).await.unwrap();
    post_all(&s, w.room_a, w.alice, 1_000, &["persisted 一", "persisted 二"]).await;
    post_all(&s, r, w.bob, 1_000, &["gamma"]).await;
    s.set_followed(w.bob, w.room_a, true).await.unwrap();
    s.set_read(w.bob, w.room_a, 1).await.unwrap();
    s.add_invitations(r, &[w.bob], 5).await.unwrap();

    let catalog = s.load_catalog().await.unwrap();
    let events = all_events(&s).await;
    s.close();

    let s = SqliteStore::open(dir.path()).unwrap();
    let again = s.load_catalog().await.unwrap();
    assert_eq!(again.users, catalog.users);
    assert_eq!(again.groups, catalog.groups);
    assert_eq!(again.categories, catalog.categories);
    assert_eq!(again.rooms, catalog.rooms);
    assert_eq!(again.policies, catalog.policies);
    assert_eq!(again.configs, catalog.configs);
    assert_eq!(all_events(&s).await, events);
    assert_eq!(texts(&s.latest_messages(w.room_a, 10).await.unwrap()), vec!["persisted 一", "persisted 二"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a, r], Some("persisted"))).await.unwrap()).len(), 2);
    assert_eq!(s.get_meta("first_start_done").await.unwrap().as_deref(), Some("1"));
    assert_eq!(s.find_token("abc").await.unwrap().map(|t| t.label), Some("bot".into()));
    assert_eq!(s.followed(w.bob).await.unwrap(), vec![Followed { room: w.room_a, read_seq: 1 }]);
    assert_eq!(s.invitations_after(w.bob, 0, 10).await.unwrap().len(), 1);
    assert_eq!(s.commit_posts(vec![post(w.room_a, w.alice, 9_000, "next")]).await.unwrap(), vec![3]);
    assert_eq!(
        s.insert_room(&room("alpha", w.category)).await.map_err(|e| matches!(e, StoreError::Conflict(_))),
        Err(true)
    );
    drop(s);

    // Dropping without close releases the directory too.
    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(s.latest_messages(w.room_a, 10).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_get_dense_unique_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(SqliteStore::open(dir.path()).unwrap());
    let w = world(&*s).await;
    let rooms = [w.room_a, w.room_b];

    let mut tasks = Vec::new();
    for t in 0..40i64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..15i64 {
                // Calls of one to three posts, interleaving both rooms.
                let posts: Vec<NewPost> = (0..1 + (t + i) % 3)
                    .map(|k| post(rooms[((t + i + k) % 2) as usize], 1, t * 1000 + i, &format!("t{t} i{i} k{k}")))
                    .collect();
                let sent: Vec<RoomId> = posts.iter().map(|p| p.room).collect();
                let seqs = s.commit_posts(posts).await.expect("post committed");
                assert_eq!(seqs.len(), sent.len());
                got.extend(sent.into_iter().zip(seqs));
            }
            got
        }));
    }
    let mut by_room: BTreeMap<RoomId, Vec<Seq>> = BTreeMap::new();
    for t in tasks {
        for (room, seq) in t.await.unwrap() {
            by_room.entry(room).or_default().push(seq);
        }
    }
    let mut total = 0;
    for (room, mut seqs) in by_room {
        seqs.sort_unstable();
        let n = seqs.len() as i64;
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "room {room}: dense, no duplicates, none missing");
        assert_eq!(room_of(&*s, room).await.unwrap().1, n);
        assert_eq!(s.messages_after(room, 0, 10_000).await.unwrap().len() as i64, n);
        total += n;
    }
    assert_eq!(all_events(&*s).await.len() as i64, total, "one CHAT record per post");
}

/// Jobs committed together in one batch: a conflicting one fails alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_job_does_not_fail_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(SqliteStore::open(dir.path()).unwrap());
    let k = s.insert_category(&category("General")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        // Every name is wanted by two callers; exactly one of each pair wins.
        let name = format!("Room {}", i / 2);
        tasks.push(tokio::spawn(async move { (name.clone(), s.insert_room(&room(&name, k)).await) }));
    }
    let mut won: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        let (name, r) = t.await.unwrap();
        match r {
            Ok(_) => *won.entry(name).or_default() += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won.len(), 100);
    assert!(won.values().all(|&n| n == 1));
    assert_eq!(s.load_catalog().await.unwrap().rooms.len(), 100);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path()).unwrap().close();
    let c = rusqlite::Connection::open(dir.path().join("chat.db")).unwrap();
    c.pragma_update(None, "user_version", 999).unwrap();
    drop(c);
    match SqliteStore::open(dir.path()) {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("999"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A store made before rooms kept their content size gets it computed by the migration.
#[tokio::test]
async fn the_content_size_migration_counts_existing_messages() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    let w = world(&s).await;
    post_all(&s, w.room_a, w.alice, 1_000, &["four", "fivé"]).await;
    post_all(&s, w.room_b, w.alice, 1_000, &["x"]).await;
    s.close();
    // Back to the version before the content-size migration (chat/004_room_content_bytes.sql),
    // as a store of that release left it: undo 006, 005 and 004.
    let c = rusqlite::Connection::open(dir.path().join("chat.db")).unwrap();
    c.execute_batch(
        "DROP TRIGGER search_queue_update; DROP TRIGGER search_queue_delete; DROP TABLE search_queue; \
         DROP TABLE fts_pending; \
         DROP TRIGGER messages_bytes_insert; DROP TRIGGER messages_bytes_delete; DROP TRIGGER messages_bytes_update; \
         ALTER TABLE rooms DROP COLUMN content_bytes;",
    )
    .unwrap();
    c.pragma_update(None, "user_version", 3).unwrap();
    drop(c);
    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(s.rooms_larger_than(0).await.unwrap(), vec![(w.room_a, 4 + 5), (w.room_b, 1)]);
    post_all(&s, w.room_b, w.alice, 5_000, &["yz"]).await;
    assert_eq!(s.rooms_larger_than(0).await.unwrap()[1], (w.room_b, 3), "and keeps it from then on");
    s.close();
}

#[tokio::test]
async fn files_use_wal_and_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    s.ping().await.unwrap();
    for f in ["chat.db", "compliance.db", "search.db"] {
        let c = rusqlite::Connection::open(dir.path().join(f)).unwrap();
        let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal", "{f}");
    }
    s.close();
}

#[tokio::test]
async fn failed_file_writes_leave_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = DirFileStore::new(dir.path().join("f"));
    let chunk = || Ok(bytes::Bytes::from(vec![7u8; 1000]));
    let r = files.write("big".into(), Box::pin(futures_util::stream::iter(vec![chunk(), chunk()])), 1500).await;
    assert!(r.is_err());
    let broken = vec![chunk(), Err(std::io::Error::other("gone"))];
    assert!(files.write("broken".into(), Box::pin(futures_util::stream::iter(broken)), 1 << 20).await.is_err());
    files.write("ok".into(), Box::pin(futures_util::stream::iter(vec![chunk()])), 1500).await.unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path().join("f"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["ok".to_owned()]);
}

const CHILD_DIR: &str = "LONGHALL_SQLITE_SIGKILL_CHILD_DIR";

/// Acknowledged posts survive the process being killed without warning (no close, no
/// destructors): an `Ok` means the commit is on disk.
#[test]
fn acknowledged_posts_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigkill_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked: Vec<Seq> = Vec::new();
    let mut room = 0;
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        let line = line.unwrap();
        if let Some(r) = line.strip_prefix("room ") {
            room = r.parse().unwrap();
        } else if let Some(seq) = line.strip_prefix("ack ") {
            acked.push(seq.parse().unwrap());
            if acked.len() >= 300 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(acked.len() >= 300, "child stopped early after {} acks", acked.len());
    assert!(room > 0, "child never named its room");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = SqliteStore::open(dir.path()).unwrap();
        let stored = s.messages_after(room, 0, 100_000).await.unwrap();
        let stored: std::collections::HashSet<Seq> = stored.iter().map(|m| m.seq).collect();
        for seq in &acked {
            assert!(stored.contains(seq), "acknowledged seq {seq} lost");
        }
        let chat = all_events(&s).await;
        assert!(chat.len() >= acked.len(), "every acknowledged post has its compliance record");
        // And is found by search, however far the killed indexer had got: at once (the index
        // is behind) and once it has caught up.
        let kept = s.messages_after(room, 0, 100_000).await.unwrap();
        for round in ["at once", "after catching up"] {
            for m in kept.iter().filter(|m| acked.contains(&m.seq)) {
                let hits = s.search(&query(&[room], Some(&m.text))).await.unwrap();
                assert_eq!(hits.iter().map(|h| h.seq).collect::<Vec<_>>(), [m.seq], "{round}: {:?}", m.text);
            }
            s.finish_import().await.unwrap();
        }
    });
}

/// The child half of `acknowledged_posts_survive_sigkill`; does nothing in a normal run.
#[test]
fn sigkill_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = std::sync::Arc::new(SqliteStore::open(Path::new(&dir)).unwrap());
        let w = world(&*s).await;
        // libtest has printed "test sigkill_child ... " without a newline.
        println!("\nroom {}", w.room_a);
        let mut tasks = Vec::new();
        for t in 0..4 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let text = format!("kill t{t}n{i}e");
                    let seq = s.commit_posts(vec![post(w.room_a, w.alice, i, &text)]).await.unwrap();
                    println!("ack {}", seq[0]);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[tokio::test]
async fn a_data_directory_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStore::open(dir.path()).unwrap();
    match SqliteStore::open(dir.path()) {
        Err(StoreError::Unavailable(why)) => {
            assert!(why.contains("in use by process"), "{why}");
            assert!(why.contains(&std::process::id().to_string()), "names the owner: {why}");
        }
        other => panic!("a second store on the same directory must be refused, got {other:?}"),
    }
    // The refused attempt changed nothing: the first store still works, and once it is
    // closed the directory can be opened again.
    first.ping().await.unwrap();
    first.close();
    SqliteStore::open(dir.path()).unwrap().ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_count_each_database_with_its_log_and_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    let w = world(&s).await;
    let before: BTreeMap<String, u64> = s.sizes().await.unwrap().into_iter().collect();
    assert_eq!(before.keys().map(String::as_str).collect::<Vec<_>>(), ["chat.db", "compliance.db", "search.db"]);
    let on_disk = |name: &str| -> u64 {
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(dir.path().join(format!("{name}{suffix}"))).ok())
            .map(|m| m.len())
            .sum()
    };
    let text = "x".repeat(64 * 1024);
    s.commit_posts((0..8).map(|i| post(w.room_a, 1, i, &text)).collect()).await.unwrap();
    let after: BTreeMap<String, u64> = s.sizes().await.unwrap().into_iter().collect();
    for name in ["chat.db", "compliance.db"] {
        assert_eq!(after[name], on_disk(name), "{name}: the file with its log");
        assert!(after[name] > before[name], "{name} grew with 512 KiB of posts: {before:?} → {after:?}");
    }

    let files = DirFileStore::new(dir.path().join("files"));
    assert_eq!(files.used_bytes().await.unwrap(), 0, "no folder yet");
    for (key, body) in [("a", &b"twelve bytes"[..]), ("b", &b"four"[..])] {
        let stream: longhall_core::ports::ByteStream =
            Box::pin(futures_util::stream::iter([Ok(bytes::Bytes::copy_from_slice(body))]));
        files.write(key.into(), stream, 1024).await.unwrap();
    }
    assert_eq!(files.used_bytes().await.unwrap(), 16);
}

#[tokio::test]
async fn a_snapshot_interrupted_by_a_crash_leaves_nothing_after_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path()).unwrap().close();
    // What a crash in the middle of an online backup leaves: a work folder with copies.
    let left = dir.path().join(".snapshot-4242-1");
    std::fs::create_dir(&left).unwrap();
    std::fs::write(left.join("chat.db"), vec![0u8; 4096]).unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    assert!(!left.exists(), "the interrupted snapshot's copies are removed at open");
    s.ping().await.unwrap();
}

/// An import indexes its messages for search in bulk at its end; one interrupted before that
/// (a crash, a killed process) leaves a store that indexes them when it next opens, and
/// posts after that are indexed one by one again.
#[tokio::test]
async fn an_import_interrupted_before_its_index_is_searchable_after_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    let w = world(&s).await;
    post_all(&s, w.room_a, w.alice, 1_000, &["posted before"]).await;
    let imported = |seq: Seq, text: &str| StoredMessage {
        room: w.room_a,
        seq,
        ts: 2_000 + seq,
        author: w.alice,
        text: text.into(),
        alert: false,
        story_title: None,
        file: None,
        replaced: false,
    };
    for (seq, text) in [(2, "imported budget"), (3, "imported 会議")] {
        let batch = ImportBatch { messages: vec![imported(seq, text)], ..ImportBatch::default() };
        s.import_batch(batch).await.unwrap();
    }
    // Stopped here: no finish_import, as when the import process dies.
    drop(s);

    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(found(&s, w.room_a, "imported").await, ["imported 会議", "imported budget"]);
    assert_eq!(found(&s, w.room_a, "会議").await, ["imported 会議"]);
    assert_eq!(found(&s, w.room_a, "before").await, ["posted before"], "indexed once, not twice");
    post_all(&s, w.room_a, w.alice, 9_000, &["posted after"]).await;
    assert_eq!(found(&s, w.room_a, "after").await, ["posted after"], "new posts are indexed again");

    // A finished import leaves nothing for the next open to do.
    let batch = ImportBatch { messages: vec![imported(5, "imported later")], ..ImportBatch::default() };
    s.import_batch(batch).await.unwrap();
    s.finish_import().await.unwrap();
    assert_eq!(found(&s, w.room_a, "later").await, ["imported later"]);
    post_all(&s, w.room_a, w.alice, 9_500, &["posted last"]).await;
    assert_eq!(found(&s, w.room_a, "last").await, ["posted last"]);
    s.close();
}

async fn found(s: &SqliteStore, room: RoomId, text: &str) -> Vec<String> {
    s.search(&query(&[room], Some(text))).await.unwrap().into_iter().map(|m| m.text).collect()
}

/// An import into a store without messages also builds the messages' secondary indexes at its
/// end; interrupted, the next open builds them.
#[tokio::test]
async fn an_interrupted_import_into_an_empty_store_gets_its_indexes_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    let w = world(&s).await;
    let m = StoredMessage {
        room: w.room_b,
        seq: 1,
        ts: 3_000,
        author: w.bob,
        text: "imported agenda".into(),
        alert: false,
        story_title: None,
        file: None,
        replaced: false,
    };
    s.import_batch(ImportBatch { messages: vec![m], ..ImportBatch::default() }).await.unwrap();
    drop(s);
    let c = rusqlite::Connection::open(dir.path().join("chat.db")).unwrap();
    let left: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('messages_by_room_ts', 'messages_fts_insert')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "the import put them off");
    drop(c);

    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(found(&s, w.room_b, "agenda").await, ["imported agenda"]);
    s.close();
    let c = rusqlite::Connection::open(dir.path().join("chat.db")).unwrap();
    let mut names: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('messages_by_room_ts', 'messages_by_author_ts')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names.sort();
    assert_eq!(names, ["messages_by_author_ts", "messages_by_room_ts"]);
}

/// The search index is a file of its own that can be rebuilt: with it deleted (or behind, after
/// a crash or a restored backup), search is complete from the first query after the open, and
/// the index is filled again in the background.
#[tokio::test]
async fn search_is_complete_while_a_lost_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    let w = world(&s).await;
    post_all(&s, w.room_a, w.alice, 1_000, &["quarterly budget", "会議の議事録", "lunch"]).await;
    s.finish_import().await.unwrap();
    assert_eq!(found(&s, w.room_a, "budget").await, ["quarterly budget"]);
    s.close();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("search.db{suffix}")));
    }

    let s = SqliteStore::open(dir.path()).unwrap();
    post_all(&s, w.room_a, w.alice, 5_000, &["budget approved"]).await;
    for round in ["at once", "rebuilt"] {
        assert_eq!(found(&s, w.room_a, "budget").await, ["budget approved", "quarterly budget"], "{round}");
        assert_eq!(found(&s, w.room_a, "会議").await, ["会議の議事録"], "{round}");
        assert_eq!(found(&s, w.room_a, "議").await, ["会議の議事録"], "{round}");
        s.finish_import().await.unwrap();
    }
    let sizes = s.sizes().await.unwrap();
    assert!(sizes.iter().any(|(name, bytes)| name == "search.db" && *bytes > 0), "{sizes:?}");
    s.close();
}
