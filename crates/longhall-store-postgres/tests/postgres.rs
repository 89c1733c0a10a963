//! PostgreSQL-specific behaviour the generic suite cannot see: reopening, schema versions,
//! concurrent opens, restoring a snapshot, a lost connection, an unreachable server.

mod support;

use futures_util::StreamExt;
use longhall_core::StoreError;
use longhall_core::change::{AuditQuery, AuditRecord, CatalogChange};
use longhall_core::model::*;
use longhall_core::ports::{Bus, BusSignal, Note, Store};
use longhall_core::principal::Principal;
use longhall_store_postgres::{PgBus, PgStore};
use longhall_store_tests::support::*;
use serde_json::json;
use support::{ScratchDb, fresh_store};

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// A little of everything, for the reopen and restore cases.
async fn fill<S: Store>(s: &S) -> (World, RoomId) {
    let w = world(s).await;
    let g = s.insert_group(&group("Ops", vec![Principal::User(w.alice)])).await.unwrap();
    let mut r = room("Gamma", w.category);
    r.members = vec![Principal::Group(g), Principal::Domain("example.org".into())];
    let r = s.insert_room(&r).await.unwrap();
    // An audited change, and a removed account (its row stays, out of the users).
    let policy = Policy { scope: Scope::Global, enable_persistent_chat: true, description: "d".into() };
    let record = AuditRecord {
        id: 0,
        ts: 500,
        actor: "admin@example.org".into(),
        token_id: Some(7),
        source: Some("192.0.2.1".into()),
        noun: "policy".into(),
        object: "global".into(),
        object_id: None,
        operation: "put".into(),
        before: None,
        after: Some(json!({"scope": "global", "enable_persistent_chat": true})),
        note: Some("é".into()),
    };
    s.commit_change(&CatalogChange::PutPolicy { policy }, Some(&record)).await.unwrap();
    let gone = s.insert_user(&user("gone@example.org"), "h").await.unwrap();
    s.commit_change(&CatalogChange::RemoveUser { id: gone }, None).await.unwrap();
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
    post_all(s, w.room_a, w.alice, 1_000, &["persisted 一", "persisted 二"]).await;
    post_all(s, r, w.bob, 1_000, &["gamma"]).await;
    s.set_followed(w.bob, w.room_a, true).await.unwrap();
    s.set_read(w.bob, w.room_a, 1).await.unwrap();
    s.add_invitations(r, &[w.bob], 5).await.unwrap();
    (w, r)
}

/// Everything `fill` wrote is there, and the store carries on after it.
async fn check_filled<S: Store>(s: &S, w: &World, r: RoomId, catalog: &CatalogData, events: &[(i64, ComplianceEvent)]) {
    let again = s.load_catalog().await.unwrap();
    assert_eq!(again.users, catalog.users);
    assert_eq!(again.groups, catalog.groups);
    assert_eq!(again.categories, catalog.categories);
    assert_eq!(again.rooms, catalog.rooms);
    assert_eq!(again.policies, catalog.policies);
    assert_eq!(again.removed_users, catalog.removed_users);
    assert_eq!(again.removed_users.len(), 1);
    let audit = s.audit_records(&AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(
        audit.iter().map(|a| (a.actor.as_str(), a.note.as_deref())).collect::<Vec<_>>(),
        vec![("admin@example.org", Some("é"))]
    );
    let room_a_bytes = ("persisted 一".len() + "persisted 二".len()) as u64;
    assert_eq!(
        s.rooms_larger_than(0).await.unwrap(),
        vec![(w.room_a, room_a_bytes), (r, "gamma".len() as u64)],
        "room content sizes, counted once"
    );
    assert_eq!(again.configs, catalog.configs);
    assert_eq!(all_events(s).await, events);
    assert_eq!(texts(&s.latest_messages(w.room_a, 10).await.unwrap()), vec!["persisted 一", "persisted 二"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a, r], Some("persisted"))).await.unwrap()).len(), 2);
    assert_eq!(s.get_meta("first_start_done").await.unwrap().as_deref(), Some("1"));
    assert_eq!(s.find_token("abc").await.unwrap().map(|t| t.label), Some("bot".into()));
    assert_eq!(s.followed(w.bob).await.unwrap(), vec![Followed { room: w.room_a, read_seq: 1 }]);
    assert_eq!(s.invitations_after(w.bob, 0, 10).await.unwrap().len(), 1);
    assert_eq!(s.commit_posts(vec![post(w.room_a, w.alice, 9_000, "next")]).await.unwrap(), vec![3]);
    assert!(matches!(s.insert_room(&room("alpha", w.category)).await, Err(StoreError::Conflict(_))));
    let carol = s.insert_user(&user("carol@example.org"), "h").await.unwrap();
    assert!(catalog.users.iter().all(|u| u.id < carol), "ids go on after the existing ones");
    let last_event = events.last().unwrap().0;
    assert!(all_events(s).await.last().unwrap().0 > last_event, "event ids go on too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_after_close_finds_everything() {
    let (s, db) = fresh_store().await;
    let (w, r) = fill(&s).await;
    let catalog = s.load_catalog().await.unwrap();
    let events = all_events(&s).await;
    s.close().await;

    let s = PgStore::open(&db.url).await.unwrap();
    check_filled(&s, &w, r, &catalog, &events).await;
    let versions = connect(&db.url)
        .await
        .query("SELECT version FROM chat.schema_version UNION ALL SELECT version FROM compliance.schema_version", &[])
        .await
        .unwrap();
    assert_eq!(versions.len(), 2, "one version row per schema, whatever the number of opens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let (s, db) = fresh_store().await;
    s.close().await;
    connect(&db.url).await.batch_execute("UPDATE chat.schema_version SET version = 999").await.unwrap();
    match PgStore::open(&db.url).await {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("999") && why.contains("newer"), "{why}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

/// A database made before chat migration 002 gets its rooms' content sizes computed by it, and
/// keeps them from then on; its users are all still accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_size_migration_counts_existing_messages() {
    let (s, db) = fresh_store().await;
    let w = world(&s).await;
    post_all(&s, w.room_a, w.alice, 1_000, &["four", "fivé"]).await;
    post_all(&s, w.room_b, w.alice, 1_000, &["x"]).await;
    s.close().await;
    // Back to schema version 1, as the previous release left it.
    connect(&db.url)
        .await
        .batch_execute(
            "DROP TRIGGER messages_bytes_insert ON chat.messages; DROP TRIGGER messages_bytes_delete ON chat.messages; \
             DROP TRIGGER messages_bytes_update ON chat.messages; DROP FUNCTION chat.messages_bytes_insert(); \
             DROP FUNCTION chat.messages_bytes_delete(); DROP FUNCTION chat.messages_bytes_update(); \
             ALTER TABLE chat.rooms DROP COLUMN content_bytes; ALTER TABLE chat.users DROP COLUMN removed; \
             DROP TABLE chat.pool_servers, chat.pool_settings, chat.pool_history, chat.catalog_changes; \
             UPDATE chat.schema_version SET version = 1;",
        )
        .await
        .unwrap();
    let s = PgStore::open(&db.url).await.unwrap();
    assert_eq!(s.rooms_larger_than(0).await.unwrap(), vec![(w.room_a, 4 + 5), (w.room_b, 1)]);
    post_all(&s, w.room_b, w.alice, 5_000, &["yz"]).await;
    assert_eq!(s.rooms_larger_than(0).await.unwrap()[1], (w.room_b, 3), "and keeps it from then on");
    let catalog = s.load_catalog().await.unwrap();
    assert_eq!((catalog.users.len(), catalog.removed_users.len()), (2, 0));
    s.close().await;
}

/// Two servers starting at once on an empty database: one migrates, the other waits and
/// finds it done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_migrate_once() {
    let db = ScratchDb::create().await;
    let (a, b, c) = tokio::join!(PgStore::open(&db.url), PgStore::open(&db.url), PgStore::open(&db.url));
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    a.insert_user(&user("alice@example.org"), "h").await.unwrap();
    assert_eq!(c.load_catalog().await.unwrap().users.len(), 1);
    for s in [a, b, c] {
        s.close().await;
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    match PgStore::open("postgres://postgres@127.0.0.1:1/longhall").await {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("cannot connect to PostgreSQL"), "{why}"),
        other => panic!("expected Unavailable, got {:?}", other.map(|_| ())),
    }
}

/// The database ended every connection (a restart, a failover): the next calls reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_reconnect_after_the_server_ends_the_connections() {
    let (s, db) = fresh_store().await;
    let w = world(&s).await;
    post_all(&s, w.room_a, w.alice, 1_000, &["before"]).await;
    assert_eq!(s.latest_messages(w.room_a, 5).await.unwrap().len(), 1, "a read connection is pooled");
    let admin = connect(&support::admin_url()).await;
    let ended = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .await
        .unwrap();
    assert!(ended.len() >= 2, "the writer's and a reader's connection were ended");
    // At once, before the client may have noticed: a write is run again on a new connection,
    // and so is a read.
    assert_eq!(s.commit_posts(vec![post(w.room_a, w.alice, 2_000, "after")]).await.unwrap(), vec![2]);
    assert_eq!(texts(&s.latest_messages(w.room_a, 5).await.unwrap()), vec!["before", "after"]);
    s.ping().await.unwrap();
}

/// Connections ended again and again while posts are being committed: every acknowledged post
/// is kept, sequence numbers stay dense, and the store keeps taking posts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_posts_survive_lost_connections() {
    let (s, db) = fresh_store().await;
    let s = std::sync::Arc::new(s);
    let w = world(&*s).await;
    let poster = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut failed = 0;
            for i in 0..400i64 {
                let posts = (0..4).map(|k| post(w.room_a, w.alice, i * 10 + k, &format!("p{i}.{k}"))).collect();
                match s.commit_posts(posts).await {
                    Ok(seqs) => acked.extend(seqs.into_iter().zip((0..4).map(move |k| format!("p{i}.{k}")))),
                    Err(StoreError::Unavailable(_)) => failed += 1,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            (acked, failed)
        })
    };
    let admin = connect(&support::admin_url()).await;
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&db.name],
            )
            .await
            .unwrap();
    }
    let (acked, failed) = poster.await.unwrap();
    eprintln!("{} posts acknowledged, {failed} calls failed with their connection", acked.len());
    assert!(acked.len() > 1000, "most calls succeed ({failed} failed)");
    let stored = s.messages_after(w.room_a, 0, 10_000).await.unwrap();
    let by_seq: std::collections::BTreeMap<Seq, &str> = stored.iter().map(|m| (m.seq, m.text.as_str())).collect();
    for (seq, text) in &acked {
        assert_eq!(by_seq.get(seq).copied(), Some(text.as_str()), "acknowledged post {seq} is kept as sent");
    }
    let n = stored.len() as i64;
    assert_eq!(seqs(&stored), (1..=n).collect::<Vec<_>>(), "dense: no number lost or repeated");
    assert_eq!(room_of(&*s, w.room_a).await.unwrap().1, n);
    let chat = all_events(&*s).await.into_iter().filter(|(_, e)| e.kind == ComplianceKind::Chat).count();
    assert_eq!(chat as i64, n, "one record per stored post, none for an undone one");
}

/// A snapshot's parts load with psql into a database Longhall has opened once, giving back
/// the same deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_restores_with_psql() {
    let (s, _db) = fresh_store().await;
    let (w, r) = fill(&s).await;
    let catalog = s.load_catalog().await.unwrap();
    let events = all_events(&s).await;
    let snap = s.snapshot().await.unwrap();
    // Written after the snapshot: not in the copy.
    s.commit_posts(vec![post(w.room_b, w.alice, 5_000, "too late")]).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for mut part in snap.parts {
        let mut bytes = Vec::new();
        while let Some(chunk) = part.bytes.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(bytes.len() as u64, part.size);
        let path = dir.path().join(&part.name);
        std::fs::write(&path, bytes).unwrap();
        paths.push(path);
    }
    assert_eq!(
        paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>(),
        vec!["chat.sql", "compliance.sql"]
    );

    let target = ScratchDb::create().await;
    PgStore::open(&target.url).await.unwrap().close().await;
    let mut psql = std::process::Command::new("psql");
    psql.args(["--quiet", "--no-psqlrc", "--single-transaction", "-v", "ON_ERROR_STOP=1", "-d", &target.url]);
    for p in &paths {
        psql.arg("-f").arg(p);
    }
    let out = psql.output().expect("psql, PostgreSQL's client, is installed");
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));

    let restored = PgStore::open(&target.url).await.unwrap();
    check_filled(&restored, &w, r, &catalog, &events).await;
    assert!(restored.latest_messages(w.room_b, 5).await.unwrap().is_empty(), "nothing after the snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_count_each_schema() {
    let (s, _db) = fresh_store().await;
    let before = s.sizes().await.unwrap();
    assert_eq!(before.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), vec!["chat", "compliance"]);
    assert!(before.iter().all(|(_, b)| *b > 0), "{before:?}");
    let w = world(&s).await;
    let big = "x".repeat(2_000);
    let texts: Vec<&str> = (0..500).map(|_| big.as_str()).collect();
    post_all(&s, w.room_a, w.alice, 1_000, &texts).await;
    let after = s.sizes().await.unwrap();
    assert!(after[0].1 > before[0].1 && after[1].1 > before[1].1, "{before:?} then {after:?}");
}

/// The pool's registry: a server id is held by one live process; a stale one may be taken
/// over (its old holder's heartbeat then says so); settings move only forward, each change
/// recorded with who made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_id_is_held_by_one_live_process_and_pool_settings_only_move_forward() {
    use longhall_types::api::{PoolSettings, PoolState};
    let (s, db) = fresh_store().await;
    s.register_server("chat1", "http://a:1", "process-a", 10_000).await.unwrap();
    s.register_server("chat2", "http://b:1", "process-b", 10_000).await.unwrap();
    // The same process registering again (after a database switch) keeps its id.
    s.register_server("chat1", "http://a:1", "process-a", 10_000).await.unwrap();
    match s.register_server("chat1", "http://c:1", "process-c", 10_000).await {
        Err(StoreError::Conflict(why)) => assert!(why.contains("chat1") && why.contains("http://a:1"), "{why}"),
        other => panic!("a second live process took the id: {other:?}"),
    }
    assert!(s.heartbeat("chat1", "process-a", 7).await.unwrap());
    let servers = s.pool_servers(10_000).await.unwrap();
    let seen: Vec<(&str, bool, u64)> = servers.iter().map(|r| (r.id.as_str(), r.up, r.connections)).collect();
    assert_eq!(seen, [("chat1", true, 7), ("chat2", true, 0)]);

    // A heartbeat older than the bound: shown down, and its id may be taken.
    connect(&db.url).await.batch_execute("UPDATE chat.pool_servers SET heartbeat = heartbeat - 60000").await.unwrap();
    assert!(s.pool_servers(10_000).await.unwrap().iter().all(|r| !r.up));
    s.register_server("chat1", "http://c:1", "process-c", 10_000).await.unwrap();
    assert!(!s.heartbeat("chat1", "process-a", 1).await.unwrap(), "the old holder learns it lost the id");
    s.unregister_server("chat2", "process-b").await.unwrap();
    let ids: Vec<String> = s.pool_servers(10_000).await.unwrap().into_iter().map(|r| r.url).collect();
    assert_eq!(ids, ["http://c:1"]);

    let settings = |revision, state| PoolSettings {
        revision,
        state,
        active: Some(vec!["chat1".into()]),
        members: vec![],
        changed_at: 1,
        changed_by: "admin@example.org".into(),
    };
    assert_eq!(s.pool_settings().await.unwrap(), None);
    assert!(s.put_pool_settings(&settings(2, PoolState::FailedOver), "admin@example.org").await.unwrap());
    assert!(!s.put_pool_settings(&settings(1, PoolState::Normal), "late@example.org").await.unwrap(), "older");
    assert!(!s.put_pool_settings(&settings(2, PoolState::Normal), "late@example.org").await.unwrap(), "same");
    assert_eq!(s.pool_settings().await.unwrap(), Some(settings(2, PoolState::FailedOver)));
    let history = s.pool_history(10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].actor.as_str(), history[0].settings.state), ("admin@example.org", PoolState::FailedOver));
}

#[tokio::test]
async fn a_catalog_change_commits_only_at_the_newest_revision_and_is_logged_without_secrets() {
    let (s, _db) = fresh_store().await;
    let start = s.catalog_revision().await.unwrap();
    let alice = user("alice@example.org");
    let insert = CatalogChange::InsertUser { user: alice.clone(), password_hash: "secret-hash".into() };
    let first = s.commit_change_at(&insert, None, start).await.unwrap();
    assert_eq!(first.revision, start + 1);

    // A change validated against the older catalog is refused and writes nothing.
    let policy = Policy { scope: Scope::Global, enable_persistent_chat: true, description: "d".into() };
    let put = CatalogChange::PutPolicy { policy };
    assert_eq!(s.commit_change_at(&put, None, start).await.unwrap_err(), StoreError::Stale(start + 1));
    assert!(s.load_catalog().await.unwrap().policies.is_empty(), "nothing written");
    let second = s.commit_change_at(&put, None, start + 1).await.unwrap();
    assert_eq!(second.revision, start + 2);

    // Other servers read the changes in order, the insert with its new id and without its hash.
    let log = s.catalog_changes(start, 10).await.unwrap();
    assert_eq!(log.iter().map(|l| l.revision).collect::<Vec<_>>(), [start + 1, start + 2]);
    assert_eq!(log[0].id, first.id);
    match &log[0].change {
        CatalogChange::InsertUser { user, password_hash } => {
            assert_eq!(user.login, alice.login);
            assert!(password_hash.is_empty(), "no password hash in the log");
        }
        other => panic!("logged {other:?}"),
    }
    assert_eq!(log[1].change, put);
    assert_eq!(s.catalog_changes(start + 2, 10).await.unwrap(), []);
    assert_eq!(s.catalog_revision().await.unwrap(), start + 2);
}

async fn next_signal(rx: &mut tokio::sync::mpsc::UnboundedReceiver<BusSignal>) -> BusSignal {
    tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a signal within 10 s")
        .expect("the bus is running")
}

#[tokio::test]
async fn an_announcing_store_notifies_the_pool_of_each_commit_and_of_nothing_undone() {
    let (s, db) = fresh_store().await;
    let w = world(&s).await;
    s.announce_commits();
    let bus = PgBus::new(&db.url);
    let mut rx = bus.subscribe();
    assert_eq!(next_signal(&mut rx).await, BusSignal::Connected);

    // A batch of posts: one note per room, with its latest sequence number.
    let posts = vec![post(w.room_a, w.alice, 1, "a1"), post(w.room_b, w.bob, 2, "b1"), post(w.room_a, w.bob, 3, "a2")];
    s.commit_posts(posts).await.unwrap();
    let mut notes = vec![next_signal(&mut rx).await, next_signal(&mut rx).await];
    notes.sort_by_key(|n| format!("{n:?}"));
    let mut want = vec![
        BusSignal::Note(Note::Message { room: w.room_a, seq: 2 }),
        BusSignal::Note(Note::Message { room: w.room_b, seq: 1 }),
    ];
    want.sort_by_key(|n| format!("{n:?}"));
    assert_eq!(notes, want);

    // A refused change announces nothing; the next committed one announces its revision.
    let clash = s.commit_change(&CatalogChange::InsertRoom { room: room("Alpha", w.category) }, None).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    let made = s.commit_change(&CatalogChange::InsertRoom { room: room("Delta", w.category) }, None).await.unwrap();
    assert_eq!(next_signal(&mut rx).await, BusSignal::Note(Note::Catalog { revision: made.revision }));
}
