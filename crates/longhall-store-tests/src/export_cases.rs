//! The bulk paths of export and import: `import_batch` puts objects at their ids in one
//! transaction, and an export imported into an empty store exports again byte for byte.

use longhall_core::export::{ExportOptions, Level, export, import};
use longhall_core::model::*;
use longhall_core::ports::Store;
use longhall_core::principal::Principal;
use longhall_types::api::FileRef;
use serde_json::json;

use crate::support::*;

fn at<T>(id: i64, mut v: T, set: impl FnOnce(&mut T, i64)) -> T {
    set(&mut v, id);
    v
}

fn message(room: RoomId, seq: Seq, author: UserId, text: &str) -> StoredMessage {
    StoredMessage {
        room,
        seq,
        ts: 1_000 * seq,
        author,
        text: text.into(),
        alert: false,
        story_title: None,
        file: None,
        replaced: false,
    }
}

pub async fn import_batch_puts_objects_at_their_ids<S: Store>(s: &S) {
    let alice = at(7, user("alice@example.org"), |u, id| u.id = id);
    let team = at(3, group("team", vec![Principal::User(7)]), |g, id| g.id = id);
    let cat = at(5, category("Imported"), |c, id| c.id = id);
    let lobby = at(9, room("Lobby", 5), |r, id| r.id = id);
    let batch = ImportBatch {
        users: vec![alice.clone()],
        groups: vec![team.clone()],
        categories: vec![cat.clone()],
        rooms: vec![(lobby.clone(), 40)],
        policies: vec![Policy { scope: Scope::Global, enable_persistent_chat: true, description: "on".into() }],
        ..ImportBatch::default()
    };
    s.import_batch(batch).await.unwrap();
    let file = FileMeta {
        id: 4,
        room: 9,
        uploader: 7,
        key: "k-4".into(),
        name: "plan.txt".into(),
        content_type: "text/plain".into(),
        size: 12,
        ts: 3_000,
    };
    let mut with_file = message(9, 10, 7, "see the plan");
    with_file.file = Some(FileRef { id: 4, name: String::new(), size: 0, content_type: String::new() });
    let batch = ImportBatch {
        files: vec![file.clone()],
        messages: vec![message(9, 3, 7, "third"), with_file],
        ..ImportBatch::default()
    };
    s.import_batch(batch).await.unwrap();

    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.users, vec![alice.clone()]);
    assert_eq!(c.groups, vec![team]);
    assert_eq!(c.categories, vec![cat]);
    assert_eq!(c.rooms, vec![(lobby.clone(), 40)], "the room's last number is the imported one");
    assert_eq!(s.password_hash(7).await.unwrap(), None, "imported users have no password");
    assert_eq!(s.get_file(4).await.unwrap(), Some(file.clone()));
    let got = s.messages_after(9, 0, 10).await.unwrap();
    assert_eq!(seqs(&got), [3, 10], "messages keep their numbers");
    assert_eq!(got[1].file.as_ref().map(|f| (f.id, f.name.as_str())), Some((4, "plan.txt")));
    assert!(all_events(s).await.is_empty(), "an import records no compliance events");
    s.finish_import().await.unwrap();
    assert_eq!(texts(&s.search(&query(&[9], Some("plan"))).await.unwrap()), ["see the plan"], "search finds them");

    // Putting again at the same id replaces; a room's last number only grows.
    let renamed = User { display_name: "Alice Imported".into(), ..alice };
    let moved = Room { description: "moved".into(), ..lobby };
    let batch = ImportBatch { users: vec![renamed.clone()], rooms: vec![(moved.clone(), 5)], ..ImportBatch::default() };
    s.import_batch(batch).await.unwrap();
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.users, vec![renamed]);
    assert_eq!(c.rooms, vec![(moved, 40)]);
    // New posts continue after the imported numbers.
    assert_eq!(s.commit_posts(vec![post(9, 7, 50_000, "live")]).await.unwrap(), [41]);

    // A batch with a message at a taken number changes nothing at all.
    let bob = at(8, user("bob@example.org"), |u, id| u.id = id);
    let batch = ImportBatch {
        users: vec![bob],
        messages: vec![message(9, 42, 7, "fine"), message(9, 3, 7, "taken")],
        ..ImportBatch::default()
    };
    assert_conflict(s.import_batch(batch).await, "a message at a taken number");
    assert_eq!(s.load_catalog().await.unwrap().users.len(), 1, "nothing of the failed batch");
    assert_eq!(seqs(&s.messages_after(9, 0, 10).await.unwrap()), [3, 10, 41]);

    // Objects created after an import take ids past the imported ones.
    let carol = s.insert_user(&user("carol@example.org"), "h").await.unwrap();
    let team2 = s.insert_group(&group("team two", vec![])).await.unwrap();
    let cat2 = s.insert_category(&category("After")).await.unwrap();
    let room2 = s.insert_room(&room("After room", cat2)).await.unwrap();
    let file2 = FileMeta { id: 0, key: "k-new".into(), ..file.clone() };
    let file2 = s.insert_file(&file2, &event(ComplianceKind::FileUpload, 9, 7, 60_000)).await.unwrap();
    assert!(carol > 7 && team2 > 3 && cat2 > 5 && room2 > 9 && file2 > 4, "{carol} {team2} {cat2} {room2} {file2}");
}

/// A deployment with every kind of object the format holds.
async fn populate<S: Store>(s: &S) {
    let w = world(s).await;
    let team = s.insert_group(&group("team", vec![Principal::User(w.alice), Principal::User(w.bob)])).await.unwrap();
    let addin = s.insert_addin(&Addin { id: 0, name: "Board".into(), url: "https://board.example.org".into() }).await;
    let mut legal = category("Legal");
    legal.allowed = vec![Principal::Group(team), Principal::Domain("example.org".into())];
    legal.creators = vec![Principal::User(w.alice)];
    legal.chat_history = false;
    let legal = s.insert_category(&legal).await.unwrap();
    let mut cases = room("Cases", legal);
    cases.addin = Some(addin.unwrap());
    cases.members = vec![Principal::User(w.bob), Principal::Group(team)];
    cases.managers = vec![Principal::User(w.alice)];
    let cases = s.insert_room(&cases).await.unwrap();
    s.put_policy(&Policy { scope: Scope::Global, enable_persistent_chat: true, description: "all".into() })
        .await
        .unwrap();
    s.put_policy(&Policy {
        scope: Scope::Tag("traders".into()),
        enable_persistent_chat: false,
        description: String::new(),
    })
    .await
    .unwrap();
    s.put_config(&Config {
        room_management_url: "https://rooms.example.org".into(),
        ..Config::defaults(Scope::Global)
    })
    .await
    .unwrap();
    post_all(s, w.room_a, w.alice, 1_000, &["one", "two", "three", "四"]).await;
    post_all(s, w.room_b, w.bob, 2_000, &["beta"]).await;
    let seqs = post_all(s, cases, w.bob, 3_000, &["confidential", "secret"]).await;
    s.replace_messages(cases, &seqs[..1], "[removed]", &event(ComplianceKind::MessageReplaced, cases, w.alice, 9_000))
        .await
        .unwrap();
    let f = FileMeta {
        id: 0,
        room: cases,
        uploader: w.bob,
        key: "key-1".into(),
        name: "brief.pdf".into(),
        content_type: "application/pdf".into(),
        size: 2048,
        ts: 4_000,
    };
    let mut ev = event(ComplianceKind::FileUpload, cases, w.bob, 4_000);
    ev.detail = json!({ "name": "brief.pdf" });
    let file = s.insert_file(&f, &ev).await.unwrap();
    let mut p = post(cases, w.bob, 5_000, "the brief");
    p.file = Some(file);
    p.alert = true;
    p.story_title = Some("Brief".into());
    s.commit_posts(vec![p]).await.unwrap();
}

async fn export_bytes<S: Store>(s: &S, level: Level) -> Vec<u8> {
    let mut out = Vec::new();
    let opts = ExportOptions { level, categories: Vec::new(), since: None, disable_exported_rooms: false, created: 1 };
    export(s, &mut out, &opts, &mut |_| {}).await.unwrap();
    out
}

pub async fn export_import_round_trip<S: Store>(a: &S, b: &S) {
    populate(a).await;
    let first = export_bytes(a, Level::All).await;
    let report = import(b, &mut || Ok(first.as_slice()), first.len() as u64, false, &mut |_| {}).await.unwrap();
    assert!(report.conflicts.is_empty(), "an empty store has nothing to collide with: {:?}", report.conflicts);
    assert_eq!(report.inserted, report.counts, "every object is new");
    let again = export_bytes(b, Level::All).await;
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&first),
        "export → import → export is identical"
    );
}
