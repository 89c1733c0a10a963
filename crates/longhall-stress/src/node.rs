//! One generator process's share of a run: the connections of its users and the phases run on
//! them. With `--workers 1` the generator's own process is the only node; with more, each
//! worker process is one, driven by the `workers` protocol. Either way the driver sends the same
//! [`Request`]s and merges the [`Reply`]s.
//!
//! Node `i` of `n` owns the users `u` with `u % n == i`. Every node draws the same seeded
//! sequence of posts (and of scroll-back operations) and acts on the entries whose user is its
//! own, so post numbers are global and exactly-once delivery can be checked across processes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use longhall_client::messages::MessageSearch;
use longhall_client::{Client, ClientError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;

use crate::client::{self, Cmd, Shared, Target};
use crate::model::{Params, Rng, Workload};
use crate::parts::PhaseData;
use crate::progress::Progress;
use crate::report::*;
use crate::stats::Stats;

/// Words of the posted texts and of the searches: Latin, and CJK of one to three characters
/// (the search index is trigram based; shorter queries take another path).
pub const VOCABULARY: &[&str] = &[
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

/// Scroll-back requests (history pages and searches) in flight, over all nodes.
pub const HISTORY_WINDOW: usize = 32;

/// Words per posted text.
const POST_WORDS: usize = 6;

fn words(rng: &mut Rng, n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(VOCABULARY[rng.below(VOCABULARY.len() as u64) as usize]);
    }
    s
}

/// What a node needs to run its share (sent to a worker process as its first line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSpec {
    /// This node's number, and how many there are.
    pub index: u32,
    pub count: u32,
    pub params: Params,
    /// The server's base URL (searches), socket address and WebSocket URL.
    pub base: String,
    pub addr: SocketAddr,
    pub ws_url: String,
    /// Per user: its token, or "" for the users of other nodes.
    pub tokens: Vec<String>,
    /// Per room index of the model: the server's room id.
    pub room_ids: Vec<i64>,
    /// Source addresses of the whole run: user `u` connects from `sources[u % len]`.
    pub sources: Vec<IpAddr>,
    pub seed: u64,
    pub rate: f64,
    pub duration: f64,
    pub drain: f64,
    pub scroll_ops: u32,
    pub search_share: u8,
    pub backchat: Option<u32>,
    pub verify: bool,
    pub connect_concurrency: usize,
    pub phase_timeout: u64,
}

/// What the driver asks a node to do; each request has one reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Request {
    /// Open and authenticate the node's connections → `Phase`.
    Connect,
    /// One batch join per connection → `Phase`.
    Join,
    /// Post at `rate` from the given instant (µs of the system clock) for the run's duration
    /// (⌊duration × rate⌋ posts over all nodes), then wait for the answers to the node's own
    /// posts (or the drain deadline) → `Answered`. A rate ladder sends one per step.
    Post { start_us: u64, rate: f64 },
    /// The posts acknowledged per room over all nodes: wait for the deliveries they make to the
    /// node's connections (or the drain deadline) → `Phase`.
    Drain { acked_in_room: Vec<(u32, u64)> },
    /// The highest sequence number seen per room → `Seqs`.
    Seqs,
    /// The node's share of the scroll-back operations, with every node's highest sequence
    /// numbers merged (so that every node draws the same operations) → `Phase`.
    Scroll { last_seq: Option<Vec<i64>> },
    /// Close every connection → `Phase`.
    Disconnect,
    /// Check exactly-once delivery to the node's connections against the posts acknowledged
    /// by all nodes → `Verified`.
    Verify { acked: Vec<u64> },
}

/// A node's answer to a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// A worker is set up (its first line).
    Ready {
        nofile: u64,
        users: u64,
    },
    Phase(Box<PhaseData>),
    Answered(Answered),
    Seqs {
        last_seq: Vec<i64>,
    },
    Verified(Verification),
    /// A worker could not go on.
    Failed {
        error: String,
    },
}

/// The node's posts after the posting phase, when each was answered (or the drain deadline).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Answered {
    pub offered: u64,
    /// Per room index: posts acknowledged (rooms with none left out).
    pub acked_in_room: Vec<(u32, u64)>,
    /// Post numbers acknowledged since the last `Post` (only when verifying).
    pub acked: Vec<u64>,
}

/// The run's sequence of posts: every node draws the same one from the seed.
struct Picker {
    rng: Rng,
    /// Posts drawn so far (the next post's number).
    drawn: u64,
    /// Per post number: its room index (kept when verifying).
    rooms: Option<Vec<u32>>,
}

impl Picker {
    fn new(seed: u64, keep_rooms: bool) -> Picker {
        Picker { rng: Rng::new(seed ^ 0x5057_5354), drawn: 0, rooms: keep_rooms.then(Vec::new) }
    }

    /// The next post: its number, room, poster, and its text's words if `mine(poster)`.
    fn next(&mut self, w: &Workload, mine: impl FnOnce(u32) -> bool) -> Option<(u64, u32, u32, Option<String>)> {
        let (room, poster) = w.pick_post(&mut self.rng)?;
        let text = if mine(poster) {
            Some(words(&mut self.rng, POST_WORDS))
        } else {
            // The same draws as the words, so that every node stays on the same sequence.
            for _ in 0..POST_WORDS {
                self.rng.below(VOCABULARY.len() as u64);
            }
            None
        };
        let post = self.drawn;
        self.drawn += 1;
        if let Some(r) = &mut self.rooms {
            r.push(room);
        }
        Some((post, room, poster, text))
    }
}

/// After a posting phase that did not complete: how long nothing must arrive, and the most
/// the wait may take.
const SETTLE_QUIET: Duration = Duration::from_millis(500);
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// Between `Post` and `Drain`.
struct Posting {
    start_us: u64,
    posting_s: f64,
    offered: u64,
    unsent: u64,
    deadline: Instant,
    answered: bool,
}

/// Waits (bounded, polling) until `done` holds.
pub async fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool, mut tick: impl FnMut()) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tick();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub struct Node {
    spec: NodeSpec,
    w: Workload,
    shared: Arc<Shared>,
    target: Target,
    api: Client,
    progress: Progress,
    conns: Vec<Option<mpsc::Sender<Cmd>>>,
    open_n: u64,
    picker: Picker,
    posting: Option<Posting>,
    /// Acknowledged posts already reported to the driver.
    acked_reported: usize,
    /// The open-file limit in force.
    pub nofile: u64,
}

impl Node {
    /// Builds the workload from the spec (pure and seeded: every node gets the same one).
    pub fn new(spec: NodeSpec, progress: bool) -> anyhow::Result<Node> {
        let w = Workload::build(&spec.params);
        Node::with_workload(spec, w, progress)
    }

    pub fn with_workload(spec: NodeSpec, w: Workload, progress: bool) -> anyhow::Result<Node> {
        let users = w.params.users as usize;
        anyhow::ensure!(spec.tokens.len() == users, "the spec has {} tokens for {users} users", spec.tokens.len());
        anyhow::ensure!(spec.room_ids.len() == w.rooms.len(), "the spec's rooms are not the model's");
        let nofile = crate::raise_nofile(spec.owned_count() + 4096);
        Ok(Node {
            shared: Arc::new(Shared::new(&spec.room_ids, users, spec.verify)),
            target: Target { addr: spec.addr, ws_url: spec.ws_url.clone() },
            api: crate::setup::api(&spec.base)?,
            progress: Progress::new(progress),
            conns: vec![None; users],
            open_n: 0,
            picker: Picker::new(spec.seed, spec.verify),
            posting: None,
            acked_reported: 0,
            nofile,
            w,
            spec,
        })
    }

    fn owns(&self, user: u32) -> bool {
        user % self.spec.count == self.spec.index
    }

    pub async fn handle(&mut self, req: Request) -> Reply {
        match req {
            Request::Connect => Reply::Phase(Box::new(self.connect().await)),
            Request::Join => Reply::Phase(Box::new(self.join().await)),
            Request::Post { start_us, rate } => Reply::Answered(self.post(start_us, rate).await),
            Request::Drain { acked_in_room } => Reply::Phase(Box::new(self.drain(&acked_in_room).await)),
            Request::Seqs => {
                Reply::Seqs { last_seq: self.shared.last_seq.iter().map(|s| s.load(Ordering::Acquire)).collect() }
            }
            Request::Scroll { last_seq } => Reply::Phase(Box::new(self.scroll(last_seq).await)),
            Request::Disconnect => Reply::Phase(Box::new(self.disconnect().await)),
            Request::Verify { acked } => Reply::Verified(self.verify(&acked)),
        }
    }

    fn phase_deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.spec.phase_timeout.max(1))
    }

    /// What every phase reports besides its figures.
    fn part(&self, completed: bool) -> PhaseData {
        PhaseData {
            completed,
            errors: self.shared.stats.errors.take(),
            closes: self.shared.stats.closes.take(),
            ..Default::default()
        }
    }

    async fn connect(&mut self) -> PhaseData {
        self.shared.stats.reset_phase();
        let deadline = self.phase_deadline();
        let opened = AtomicU64::new(0);
        let mine: Vec<usize> = (0..self.conns.len()).filter(|&u| self.owns(u as u32)).collect();
        let attempted = mine.len() as u64;
        {
            let (target, srcs, shared, tokens, opened, progress) =
                (&self.target, &self.spec.sources, &self.shared, &self.spec.tokens, &opened, &self.progress);
            let conns = &mut self.conns;
            let mut stream = futures_util::stream::iter(mine)
                .map(|u| async move {
                    let source = (!srcs.is_empty()).then(|| srcs[u % srcs.len()]);
                    let t0 = shared.now_us();
                    let res =
                        tokio::time::timeout(Duration::from_secs(60), client::open(target, source, &tokens[u])).await;
                    let res = match res {
                        Ok(r) => r,
                        Err(_) => Err(anyhow::anyhow!("handshake timed out")),
                    };
                    if res.is_ok() {
                        shared.stats.connect.record(u, shared.now_us() - t0);
                        let n = opened.fetch_add(1, Ordering::Relaxed) + 1;
                        progress.show(&format!("connect: {n}/{attempted} open"));
                    }
                    (u, res)
                })
                .buffer_unordered(self.spec.connect_concurrency.max(1));
            loop {
                let next = tokio::time::timeout_at(deadline.into(), stream.next()).await;
                let Ok(Some((u, res))) = next else { break };
                match res {
                    Ok(ws) => {
                        let (tx, rx) = mpsc::channel(1024);
                        tokio::spawn(client::run_connection(u, ws, rx, shared.clone()));
                        conns[u] = Some(tx);
                    }
                    Err(e) => {
                        let root = e.root_cause().to_string();
                        shared.stats.errors.add(format!("connect:{}", root.chars().take(60).collect::<String>()), 1);
                    }
                }
            }
        }
        let open_n = opened.load(Ordering::Relaxed);
        self.open_n = open_n;
        let (shared, progress) = (&self.shared, &self.progress);
        let ready_ok = wait_until(
            deadline,
            || Stats::get(&shared.stats.ready) >= open_n,
            || progress.show(&format!("connect: {}/{open_n} ready", Stats::get(&shared.stats.ready))),
        )
        .await;
        progress.clear();
        let mut part = self.part(ready_ok && open_n == attempted);
        part.connect = Some(ConnectFigures {
            attempted,
            opened: open_n,
            ready: Stats::get(&self.shared.stats.ready),
            failed: attempted - open_n,
            ..Default::default()
        });
        part.latency("handshake", &self.shared.stats.connect);
        part
    }

    async fn join(&mut self) -> PhaseData {
        self.shared.stats.reset_phase();
        let deadline = self.phase_deadline();
        let mut joins_sent = 0u64;
        for (u, conn) in self.conns.iter().enumerate() {
            let Some(tx) = conn else { continue };
            let rooms: Vec<serde_json::Value> =
                self.w.joins[u].iter().map(|&r| json!({ "room": self.spec.room_ids[r as usize] })).collect();
            if rooms.is_empty() {
                continue;
            }
            let mut frame = json!({ "type": "join", "id": format!("j.{}", self.shared.now_us()), "rooms": rooms });
            if let Some(b) = self.spec.backchat {
                frame["backchat"] = json!(b);
            }
            if tx.send(Cmd::Text(frame.to_string())).await.is_ok() {
                joins_sent += 1;
            }
        }
        let (st, progress) = (&self.shared.stats, &self.progress);
        let joined_ok = wait_until(
            deadline,
            || Stats::get(&st.joins_answered) >= joins_sent,
            || progress.show(&format!("join: {}/{joins_sent} answered", Stats::get(&st.joins_answered))),
        )
        .await;
        progress.clear();
        let mut part = self.part(joined_ok);
        part.join = Some(JoinFigures {
            joins_sent,
            joins_answered: Stats::get(&st.joins_answered),
            rooms_joined: Stats::get(&st.rooms_joined),
            backchat_messages: Stats::get(&st.backchat_messages),
            joins_without_backchat: Stats::get(&st.joins_without_backchat),
            join_latency: None,
        });
        part.latency("join", &st.join);
        part
    }

    async fn post(&mut self, start_us: u64, rate: f64) -> Answered {
        self.shared.stats.reset_phase();
        for c in &self.shared.acked_in_room {
            c.store(0, Ordering::Release);
        }
        let ahead = Duration::from_micros(start_us.saturating_sub(client::now_us()));
        let start = Instant::now() + ahead;
        tokio::time::sleep_until(start.into()).await;
        let (mut offered, mut unsent) = (0u64, 0u64);
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let (count, index) = (self.spec.count, self.spec.index);
        // Every node draws the same posts of the run's one sequence: this phase's are the next
        // `total` of it, whatever the timing of each node's last tick.
        let first = self.picker.drawn;
        let mut total = (self.spec.duration * rate) as u64;
        while self.picker.drawn < first + total {
            ticker.tick().await;
            let elapsed = start.elapsed().as_secs_f64();
            let due = if elapsed >= self.spec.duration { total } else { ((elapsed * rate) as u64).min(total) };
            while self.picker.drawn < first + due {
                let Some((post, room, poster, words)) = self.picker.next(&self.w, |p| p % count == index) else {
                    total = 0; // no room has anyone to post
                    break;
                };
                let Some(words) = words else { continue };
                offered += 1;
                let us = self.shared.now_us();
                let text = format!(
                    r#"{{"type":"post","id":"p.{post}.{room}.{us}","room":{},"text":"~{post}.{us}~ {words}"}}"#,
                    self.spec.room_ids[room as usize],
                );
                let sent = match &self.conns[poster as usize] {
                    Some(tx) => tx.try_send(Cmd::Text(text)).map_err(|e| match e {
                        mpsc::error::TrySendError::Full(_) => "generator:connection_queue_full",
                        mpsc::error::TrySendError::Closed(_) => "generator:connection_closed",
                    }),
                    None => Err("generator:not_connected"),
                };
                if let Err(why) = sent {
                    self.shared.stats.errors.add(why, 1);
                    unsent += 1;
                }
            }
            self.progress.show(&format!(
                "post: {:.0} s, {offered} offered, {} acked, {} deliveries",
                elapsed,
                Stats::get(&self.shared.stats.acks),
                Stats::get(&self.shared.stats.deliveries)
            ));
        }
        let posting_s = start.elapsed().as_secs_f64();
        let deadline = Instant::now() + Duration::from_secs_f64(self.spec.drain);
        let st = &self.shared.stats;
        let answered =
            wait_until(deadline, || Stats::get(&st.acks) + Stats::get(&st.post_errors) + unsent >= offered, || {})
                .await;
        self.posting = Some(Posting {
            start_us: client::now_us().saturating_sub(start.elapsed().as_micros() as u64),
            posting_s,
            offered,
            unsent,
            deadline,
            answered,
        });
        Answered {
            offered,
            acked_in_room: self
                .shared
                .acked_in_room
                .iter()
                .enumerate()
                .map(|(r, n)| (r as u32, n.load(Ordering::Acquire)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            acked: {
                // Only those not reported by an earlier posting phase (a ladder's steps).
                let all = self.shared.acked_posts();
                let new = all.get(self.acked_reported..).unwrap_or_default().to_vec();
                self.acked_reported = all.len();
                new
            },
        }
    }

    async fn drain(&mut self, acked_in_room: &[(u32, u64)]) -> PhaseData {
        let p = self.posting.take().unwrap_or(Posting {
            start_us: self.shared.now_us(),
            posting_s: 0.0,
            offered: 0,
            unsent: 0,
            deadline: Instant::now(),
            answered: true,
        });
        let st = &self.shared.stats;
        // Σ over rooms of the posts acknowledged there × this node's connections joined to it.
        let expected: u64 = acked_in_room
            .iter()
            .filter_map(|&(r, n)| Some(n * self.shared.joined_count.get(r as usize)?.load(Ordering::Acquire)))
            .sum();
        let delivered = wait_until(p.deadline, || Stats::get(&st.deliveries) >= expected, || {}).await;
        self.progress.clear();
        let acked = Stats::get(&st.acks);
        let unanswered = p.offered.saturating_sub(acked + Stats::get(&st.post_errors) + p.unsent);
        if unanswered > 0 {
            st.errors.add("generator:no_answer_before_drain_deadline", unanswered);
        }
        let mut part = self.part(p.answered && delivered);
        part.post = Some(PostFigures {
            duration_s: p.posting_s,
            posts_offered: p.offered,
            posts_acked: acked,
            posts_failed: p.offered.saturating_sub(acked),
            deliveries: Stats::get(&st.deliveries),
            deliveries_expected: expected,
            foreign_messages: Stats::get(&st.foreign_messages),
            ..Default::default()
        });
        part.start_us = p.start_us;
        part.last_ack_us = Stats::get(&st.last_ack_us);
        part.last_delivery_us = Stats::get(&st.last_delivery_us);
        part.latency("delivery", &st.delivery);
        part.latency("ack", &st.ack);
        if !part.completed {
            // What is still on its way must not count in a next posting phase (a rate ladder's
            // next step): wait until nothing has arrived for half a second, at most 10 s.
            let settle = Instant::now() + SETTLE_LIMIT;
            let mut last = (Stats::get(&st.deliveries), Stats::get(&st.acks));
            let mut quiet_since = Instant::now();
            wait_until(
                settle,
                || {
                    let now = (Stats::get(&st.deliveries), Stats::get(&st.acks));
                    if now != last {
                        last = now;
                        quiet_since = Instant::now();
                    }
                    quiet_since.elapsed() >= SETTLE_QUIET
                },
                || {},
            )
            .await;
        }
        part
    }

    async fn scroll(&mut self, last_seq: Option<Vec<i64>>) -> PhaseData {
        self.shared.stats.reset_phase();
        if let Some(seqs) = last_seq {
            for (s, v) in self.shared.last_seq.iter().zip(seqs) {
                s.store(v, Ordering::Release);
            }
        }
        let deadline = self.phase_deadline();
        let users = self.conns.len() as u64;
        let window = HISTORY_WINDOW.div_ceil(self.spec.count as usize).max(1);
        let shared = self.shared.clone();
        shared.history_permits.add_permits(window);
        let mut rng = Rng::new(self.spec.seed ^ 0x5343_524f);
        let searches = Arc::new(AtomicU64::new(0));
        let search_failures = Arc::new(AtomicU64::new(0));
        let mut history_sent = 0u64;
        let mut complete = true;
        for _ in 0..self.spec.scroll_ops {
            // Every node makes the same draws; each acts on its own users' operations.
            let u = rng.below(users) as usize;
            let frame = if rng.below(100) < self.spec.search_share as u64 {
                let word = VOCABULARY[rng.below(VOCABULARY.len() as u64) as usize];
                if !self.owns(u as u32) {
                    continue;
                }
                Err(word)
            } else {
                let js = &self.w.joins[u];
                if js.is_empty() {
                    continue;
                }
                let r = js[rng.below(js.len() as u64) as usize] as usize;
                let last = shared.last_seq[r].load(Ordering::Acquire);
                let before = (last > 1).then(|| 2 + rng.below(last as u64) as i64);
                if !self.owns(u as u32) {
                    continue;
                }
                Ok((r, before))
            };
            let permit = tokio::time::timeout_at(deadline.into(), shared.history_permits.acquire()).await;
            let Ok(Ok(permit)) = permit else {
                complete = false;
                break;
            };
            permit.forget();
            match frame {
                Err(word) => {
                    let (api, token, shared) = (self.api.clone(), self.spec.tokens[u].clone(), shared.clone());
                    let (searches, failures) = (searches.clone(), search_failures.clone());
                    tokio::spawn(async move {
                        let t0 = shared.now_us();
                        let search = MessageSearch { q: Some(word.to_owned()), limit: Some(50), ..Default::default() };
                        match api.with_token(token).search_messages(&search).await {
                            Ok(_) => shared.stats.search.record(u, shared.now_us() - t0),
                            Err(e) => {
                                let kind = match &e {
                                    ClientError::Api { code_text, .. } => code_text.clone(),
                                    // The root cause, as a short key of the error table.
                                    ClientError::Unreachable { reason, .. } => {
                                        reason.rsplit(": ").next().unwrap_or(reason).to_owned()
                                    }
                                    ClientError::Protocol { .. } => "unexpected answer".into(),
                                    ClientError::InvalidUrl(m) => m.clone(),
                                };
                                shared.stats.errors.add(format!("search:{kind}"), 1);
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        searches.fetch_add(1, Ordering::Relaxed);
                        shared.history_permits.add_permits(1);
                    });
                }
                Ok((r, before)) => {
                    let Some(tx) = self.conns[u].as_ref() else {
                        shared.history_permits.add_permits(1);
                        continue;
                    };
                    let mut frame = json!({ "type": "history", "id": format!("h.{}", shared.now_us()),
                        "room": self.spec.room_ids[r], "limit": 50 });
                    if let Some(b) = before {
                        frame["before_seq"] = json!(b);
                    }
                    if tx.try_send(Cmd::Text(frame.to_string())).is_ok() {
                        history_sent += 1;
                    } else {
                        shared.history_permits.add_permits(1);
                    }
                }
            }
            self.progress.show(&format!(
                "scroll: {} histories answered, {} searches",
                Stats::get(&shared.stats.histories_answered),
                searches.load(Ordering::Relaxed)
            ));
        }
        // Every permit back means every request answered.
        let back = tokio::time::timeout_at(deadline.into(), shared.history_permits.acquire_many(window as u32)).await;
        if let Ok(Ok(p)) = back {
            p.forget();
        } else {
            complete = false;
        }
        self.progress.clear();
        let mut part = self.part(complete);
        part.scroll = Some(ScrollFigures {
            history_sent,
            history_answered: Stats::get(&shared.stats.histories_answered),
            searches: searches.load(Ordering::Relaxed),
            search_failures: search_failures.load(Ordering::Relaxed),
            ..Default::default()
        });
        part.latency("history", &shared.stats.history);
        part.latency("search", &shared.stats.search);
        part
    }

    async fn disconnect(&mut self) -> PhaseData {
        self.shared.stats.reset_phase();
        let deadline = Instant::now() + Duration::from_secs(self.spec.phase_timeout.clamp(1, 60));
        let closed_before = Stats::get(&self.shared.stats.closed);
        let mut closing = 0u64;
        for tx in self.conns.iter().flatten() {
            if tx.send(Cmd::Close).await.is_ok() {
                closing += 1;
            }
        }
        let (st, open_n, progress) = (&self.shared.stats, self.open_n, &self.progress);
        let closed_ok = wait_until(
            deadline,
            || Stats::get(&st.closed) >= open_n,
            || progress.show(&format!("disconnect: {}/{closing} closed", Stats::get(&st.closed) - closed_before)),
        )
        .await;
        progress.clear();
        let closed = Stats::get(&st.closed) - closed_before;
        self.conns.iter_mut().for_each(|c| *c = None);
        let mut part = self.part(closed_ok);
        part.disconnect = Some(DisconnectFigures { closing, closed });
        part
    }

    /// Checks exactly-once delivery per (message, recipient) for this node's connections:
    /// every acknowledged post (of any node) reached every connection joined to its room once,
    /// and nothing else arrived.
    fn verify(&mut self, acked: &[u64]) -> Verification {
        let Some(v) = &self.shared.verify else {
            return Verification::default();
        };
        // Posts drawn by other nodes after this one stopped: continue the same sequence.
        let until = acked.iter().max().map_or(0, |m| m + 1);
        while self.picker.drawn < until {
            if self.picker.next(&self.w, |_| false).is_none() {
                break;
            }
        }
        let post_room = self.picker.rooms.as_deref().unwrap_or_default();
        let acked_set: HashSet<u64> = acked.iter().copied().collect();
        let mut acked_in_room: HashMap<u32, u64> = HashMap::new();
        for p in acked {
            if let Some(&r) = post_room.get(*p as usize) {
                *acked_in_room.entry(r).or_insert(0) += 1;
            }
        }
        let (mut expected, mut once, mut missing, mut dups, mut unexpected) = (0u64, 0u64, 0u64, 0u64, 0u64);
        for (received, joined) in v.received.iter().zip(&v.joined) {
            let mut got: Vec<u64> = snapshot(received);
            let joined: HashSet<u32> = snapshot(joined).into_iter().collect();
            got.sort_unstable();
            let before = got.len();
            got.dedup();
            dups += (before - got.len()) as u64;
            let mut matched: BTreeMap<u32, u64> = BTreeMap::new();
            for p in got {
                match post_room.get(p as usize) {
                    Some(r) if acked_set.contains(&p) && joined.contains(r) => *matched.entry(*r).or_insert(0) += 1,
                    _ => unexpected += 1,
                }
            }
            for r in &joined {
                let want = acked_in_room.get(r).copied().unwrap_or(0);
                let have = matched.get(r).copied().unwrap_or(0);
                expected += want;
                once += have;
                missing += want - have.min(want);
            }
        }
        Verification {
            posts_acked: acked.len() as u64,
            expected_deliveries: expected,
            delivered_once: once,
            missing,
            duplicates: dups,
            unexpected,
            out_of_order: v.out_of_order.load(Ordering::Acquire),
            // Order is judged by the driver: a multi-process baseline numbers posts per process.
            ok: missing == 0 && dups == 0 && unexpected == 0,
        }
    }
}

fn snapshot<T: Clone>(m: &std::sync::Mutex<Vec<T>>) -> Vec<T> {
    m.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

impl NodeSpec {
    /// The users of this node.
    pub fn owned_count(&self) -> u64 {
        (self.tokens.len() as u64 + (self.count - 1 - self.index) as u64) / self.count as u64
    }
}
