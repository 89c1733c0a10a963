//! The SQLite store's hot paths (divan): group commit (`commit_posts`, batches of 1/16/256,
//! each one transaction and one sync), a 50-message history page from deep inside a room with
//! many messages (`messages_before`), and content search.
//!
//! The history and search benches use a database of `LONGHALL_BENCH_MESSAGES` messages
//! (default 200,000): half of them in one "deep" room, the rest spread over
//! `LONGHALL_BENCH_ROOMS` other rooms (default 30,000). It is built once into
//! `LONGHALL_BENCH_DIR` (default: the temporary directory) and reused by later runs.
//!
//! `LONGHALL_BENCH_MESSAGES=10000000 cargo bench -p longhall-store-sqlite --bench store`

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use divan::Bencher;
use divan::counter::ItemsCount;
use longhall_core::model::*;
use longhall_core::ports::Store;
use longhall_store_sqlite::SqliteStore;
use longhall_store_tests::support::CatalogWrites;
use longhall_types::api::{Privacy, RoomInvitations, RoomType};
use tokio::runtime::Runtime;

fn main() {
    divan::main();
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a tokio runtime")
}

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

const WORDS: &[&str] = &[
    "market",
    "gilts",
    "deploy",
    "latency",
    "rollout",
    "risk",
    "coupon",
    "spread",
    "futures",
    "hedge",
    "budget",
    "review",
    "incident",
    "release",
    "pricing",
    "desk",
    "ledger",
    "audit",
    "東京",
    "会議",
    "報告書",
    "決算",
    "市場",
    "取引所",
    "配当",
    "研究",
];

/// A small deterministic generator for the texts.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn text(rng: &mut Rng, i: u64) -> String {
    let mut t = format!("m{i}");
    for _ in 0..7 {
        t.push(' ');
        t.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    if i.is_multiple_of(10_000) {
        t.push_str(" quokka 鯨類");
    }
    t
}

fn post(room: RoomId, i: u64, text: String) -> NewPost {
    NewPost {
        room,
        author: 1,
        author_login: "bench@example.org".into(),
        room_name: format!("room {room}"),
        ts: 1_700_000_000_000 + i as i64,
        text,
        alert: false,
        story_title: None,
        file: None,
        keep: true,
    }
}

fn category() -> Category {
    Category {
        id: 0,
        name: "Bench".into(),
        description: String::new(),
        invitations: false,
        file_upload: false,
        chat_history: true,
        allowed: vec![],
        denied: vec![],
        creators: vec![],
    }
}

fn room(category: CategoryId, i: usize) -> Room {
    Room {
        id: 0,
        name: format!("bench room {i}"),
        description: String::new(),
        category,
        privacy: Privacy::Open,
        room_type: RoomType::Normal,
        invitations: RoomInvitations::Off,
        addin: None,
        disabled: false,
        members: vec![],
        managers: vec![],
        presenters: vec![],
    }
}

/// Opens a store with a category, one user and `rooms` rooms.
fn fresh(rt: &Runtime, dir: &std::path::Path, rooms: usize) -> (SqliteStore, Vec<RoomId>) {
    let store = SqliteStore::open(dir).expect("the store opens");
    let ids = rt.block_on(async {
        let user = User {
            id: 0,
            login: "bench@example.org".into(),
            display_name: "Bench".into(),
            email: String::new(),
            site: None,
            disabled: false,
            admin: false,
            policy: None,
        };
        store.insert_user(&user, "").await.expect("user");
        let cat = store.insert_category(&category()).await.expect("category");
        // Queued together, the inserts share the writer's commits.
        let made: Vec<Room> = (0..rooms).map(|i| room(cat, i)).collect();
        let futures: Vec<_> = made.iter().map(|r| store.insert_room(r)).collect();
        let mut ids = Vec::with_capacity(rooms);
        for f in futures {
            ids.push(f.await.expect("room"));
        }
        ids
    });
    (store, ids)
}

// ---- group commit

struct Small {
    rt: Runtime,
    store: SqliteStore,
    rooms: Vec<RoomId>,
    _dir: tempfile::TempDir,
}

fn small() -> &'static Small {
    static SMALL: OnceLock<Small> = OnceLock::new();
    SMALL.get_or_init(|| {
        let rt = runtime();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, rooms) = fresh(&rt, dir.path(), 64);
        Small { rt, store, rooms, _dir: dir }
    })
}

/// One transaction and one sync for a batch of posts (sequence numbers, messages, CHAT
/// compliance records): the poster's group commit.
#[divan::bench(args = [1, 16, 256], sample_count = 40, sample_size = 1)]
fn commit_posts(b: Bencher<'_, '_>, batch: usize) {
    let s = small();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut i = 0u64;
    b.counter(ItemsCount::new(batch))
        .with_inputs(|| {
            (0..batch)
                .map(|_| {
                    i += 1;
                    post(s.rooms[(i % s.rooms.len() as u64) as usize], i, text(&mut rng, i))
                })
                .collect::<Vec<_>>()
        })
        .bench_local_values(|posts| s.rt.block_on(s.store.commit_posts(posts)).expect("committed"));
}

// ---- the big database

struct Big {
    rt: Runtime,
    store: SqliteStore,
    deep: RoomId,
    deep_last: Seq,
    rooms: Vec<RoomId>,
}

fn big() -> &'static Big {
    static BIG: OnceLock<Big> = OnceLock::new();
    BIG.get_or_init(|| {
        let total = env_u64("LONGHALL_BENCH_MESSAGES", 200_000);
        let others = env_u64("LONGHALL_BENCH_ROOMS", 30_000) as usize;
        let dir = std::env::var_os("LONGHALL_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("longhall-bench-store-{total}-{others}"));
        let marker = dir.join("loaded");
        let rt = runtime();
        if marker.exists() {
            let store = SqliteStore::open(&dir).expect("the store opens");
            let rooms: Vec<RoomId> = (1..=others as i64 + 1).collect();
            let deep = rooms[0];
            let deep_last = rt.block_on(store.latest_messages(deep, 1)).expect("read")[0].seq;
            eprintln!("store bench: reusing {} ({total} messages, {} rooms)", dir.display(), rooms.len());
            // A store that indexes for search after the commit catches up before measuring.
            rt.block_on(store.finish_import()).expect("indexed");
            return Big { rt, store, deep, deep_last, rooms };
        }
        let _ = std::fs::remove_dir_all(&dir);
        let started = Instant::now();
        let (store, rooms) = fresh(&rt, &dir, others + 1);
        let deep = rooms[0];
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut i = 0u64;
        while i < total {
            let n = (total - i).min(10_000);
            let batch: Vec<NewPost> = (0..n)
                .map(|k| {
                    let j = i + k;
                    let r = if j.is_multiple_of(2) { deep } else { rooms[1 + (j / 2) as usize % others] };
                    post(r, j, text(&mut rng, j))
                })
                .collect();
            rt.block_on(store.commit_posts(batch)).expect("loaded");
            i += n;
            if i.is_multiple_of(1_000_000) {
                eprintln!("store bench: {i} messages loaded in {:.0} s", started.elapsed().as_secs_f64());
            }
        }
        rt.block_on(store.finish_import()).expect("indexed");
        std::fs::write(&marker, total.to_string()).expect("marker");
        eprintln!(
            "store bench: {total} messages loaded in {:.0} s into {}",
            started.elapsed().as_secs_f64(),
            dir.display()
        );
        let deep_last = rt.block_on(store.latest_messages(deep, 1)).expect("read")[0].seq;
        Big { rt, store, deep, deep_last, rooms }
    })
}

/// A 50-message page before a random point of the deep room (history scroll-back; the
/// service asks for 51 to learn whether more exist).
#[divan::bench(sample_count = 200)]
fn messages_before_page_of_50(b: Bencher<'_, '_>) {
    let s = big();
    let mut rng = Rng(7);
    b.with_inputs(|| 2 + rng.below(s.deep_last as u64) as i64)
        .bench_local_values(|before| s.rt.block_on(s.store.messages_before(s.deep, before, 51)).expect("read"));
}

/// The latest 31 messages of the deep room (what fills the recent-message cache).
#[divan::bench(sample_count = 200)]
fn latest_messages_of_deep_room(b: Bencher<'_, '_>) {
    let s = big();
    b.bench_local(|| s.rt.block_on(s.store.latest_messages(s.deep, 31)).expect("read"));
}

/// Content search over every room (as an administrator-free user who may read them all),
/// newest first, capped at 200 (+1): a common word, a substring, CJK of three characters, CJK of
/// two characters (common, then rare: one message in 10,000), a rare word.
#[divan::bench(args = ["market", "arke", "報告書", "会議", "鯨類", "quokka"], sample_count = 10, sample_size = 1, max_time = 20)]
fn search(b: Bencher<'_, '_>, q: &str) {
    let s = big();
    let query = SearchQuery {
        rooms: s.rooms.clone(),
        text: Some(q.to_owned()),
        author: None,
        from_ts: None,
        to_ts: None,
        limit: 201,
    };
    b.bench_local(|| s.rt.block_on(s.store.search(&query)).expect("search"));
}
