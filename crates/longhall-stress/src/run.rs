//! One run: setup (or the cached state), then the phases, each measured and reported.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;
use tokio::sync::mpsc;

use crate::client::{self, Cmd, Shared, Target};
use crate::model::{Params, Rng, Scenario, Workload};
use crate::procstat::{self, Sample};
use crate::progress::Progress;
use crate::report::*;
use crate::setup::{self, Api, State};
use crate::stats::{Stats, summarize};
use crate::{RunArgs, ServerTarget};

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

/// Scroll-back requests (history pages and searches) in flight.
const HISTORY_WINDOW: usize = 32;

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

/// Percent-encodes a query-string value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Measures a phase: wall time and both processes' CPU and memory.
struct Meter {
    name: &'static str,
    start: Instant,
    server_pid: Option<u32>,
    server: Option<Sample>,
    me: Option<Sample>,
}

impl Meter {
    fn start(name: &'static str, server_pid: Option<u32>, shared: &Shared) -> Meter {
        shared.stats.reset_phase();
        Meter {
            name,
            start: Instant::now(),
            server_pid,
            server: server_pid.and_then(|p| procstat::sample(Some(p))),
            me: procstat::sample(None),
        }
    }

    fn finish(self, shared: &Shared, completed: bool) -> PhaseReport {
        let wall = self.start.elapsed().as_secs_f64();
        let server = self.server_pid.and_then(|p| procstat::usage(self.server, procstat::sample(Some(p)), wall));
        PhaseReport {
            name: self.name.into(),
            wall_s: procstat::round3(wall),
            completed,
            errors: shared.stats.errors.take(),
            closes: shared.stats.closes.take(),
            server,
            generator: procstat::usage(self.me, procstat::sample(None), wall),
            ..Default::default()
        }
    }
}

/// Waits (bounded, polling) until `done` holds.
async fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool, mut tick: impl FnMut()) -> bool {
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

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { procstat::round3(n as f64 / secs) } else { 0.0 }
}

/// The credentials and room ids of the run: provisioned, reused, or synthetic (baseline).
struct Provisioned {
    tokens: Vec<String>,
    room_ids: Vec<i64>,
    state: Option<State>,
    admin: Option<String>,
    report: SetupReport,
}

async fn admin_token(api: &Api, args: &RunArgs) -> anyhow::Result<String> {
    if let Some(t) = &args.target.token {
        return Ok(t.clone());
    }
    match (&args.target.admin_login, &args.target.admin_password) {
        (Some(l), Some(p)) => api.sign_in(l, p).await.context("signing in as the administrator"),
        _ => {
            bail!("an administrator is needed: give --token (or LONGHALL_TOKEN), or --admin-login and --admin-password")
        }
    }
}

async fn provision(
    args: &RunArgs,
    t: &ServerTarget,
    api: &Api,
    w: &Workload,
    progress: &Progress,
) -> anyhow::Result<Provisioned> {
    let start = Instant::now();
    if args.baseline {
        return Ok(Provisioned {
            tokens: (0..w.params.users).map(|u| format!("u{u}")).collect(),
            room_ids: (1..=w.rooms.len() as i64).collect(),
            state: None,
            admin: None,
            report: SetupReport {
                how: "synthetic".into(),
                wall_s: 0.0,
                users: w.params.users as usize,
                rooms: w.rooms.len(),
                groups: 0,
            },
        });
    }
    let admin = admin_token(api, args).await?;
    let cached = match State::load(&args.state)? {
        Some(s) if s.server == t.base && s.params == w.params && setup::still_there(api, &admin, &s).await? => Some(s),
        _ => None,
    };
    let (state, how) = match cached {
        Some(s) => (s, "reused"),
        None => {
            let s = setup::provision(api, &admin, &t.base, w, args.setup_concurrency.max(1), progress).await?;
            s.save(&args.state)?;
            (s, "provisioned")
        }
    };
    progress.clear();
    Ok(Provisioned {
        tokens: state.users.iter().map(|u| u.token.clone()).collect(),
        room_ids: state.rooms.clone(),
        report: SetupReport {
            how: how.into(),
            wall_s: procstat::round3(start.elapsed().as_secs_f64()),
            users: state.users.len(),
            rooms: state.rooms.len(),
            groups: state.groups.len(),
        },
        state: Some(state),
        admin: Some(admin),
    })
}

/// Source addresses for the client sockets: on loopback, 127.0.0.2 … so that more than one
/// address's ephemeral ports (about 28,000) are available. The default leaves room for the
/// sockets an earlier run left in TIME_WAIT (a minute): about 5,000 connections per address.
fn sources(args: &RunArgs, t: &ServerTarget) -> Vec<IpAddr> {
    if !t.addr.ip().is_loopback() || !t.addr.is_ipv4() {
        return vec![];
    }
    let n = args.sources.unwrap_or_else(|| args.users.div_ceil(5_000).max(1));
    (0..n.min(250)).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8))).collect()
}

/// Runs the workload against the server and reports it.
pub async fn run(args: &RunArgs, t: &ServerTarget) -> anyhow::Result<Report> {
    let started_unix =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let progress = Progress::new(args.progress);
    let params = Params { scenario: args.scenario, users: args.users, seed: args.seed, large_size: args.large_size };
    let w = Workload::build(&params);
    let nofile = crate::raise_nofile(args.users as u64 + 4096);
    let api = Api::new(&t.base)?;
    let prov = provision(args, t, &api, &w, &progress).await?;
    let shared = Arc::new(Shared::new(&prov.room_ids, w.params.users as usize, args.verify));
    let target = Target { addr: t.addr, ws_url: t.ws_url.clone() };
    let srcs = sources(args, t);
    let phase_deadline = Duration::from_secs(args.phase_timeout.max(1));
    let mut phases = Vec::new();
    let users = w.params.users as usize;

    // ---- connect + authenticate
    let meter = Meter::start("connect", args.server_pid, &shared);
    let deadline = Instant::now() + phase_deadline;
    let opened = AtomicU64::new(0);
    let mut conns: Vec<Option<mpsc::Sender<Cmd>>> = vec![None; users];
    {
        let (target, srcs, shared, prov, opened, progress) = (&target, &srcs, &shared, &prov, &opened, &progress);
        let mut stream = futures_util::stream::iter(0..users)
            .map(|u| async move {
                let source = (!srcs.is_empty()).then(|| srcs[u % srcs.len()]);
                let t0 = shared.now_us();
                let res =
                    tokio::time::timeout(Duration::from_secs(60), client::open(target, source, &prov.tokens[u])).await;
                let res = match res {
                    Ok(r) => r,
                    Err(_) => Err(anyhow::anyhow!("handshake timed out")),
                };
                if res.is_ok() {
                    shared.stats.connect.record(u, shared.now_us() - t0);
                    let n = opened.fetch_add(1, Ordering::Relaxed) + 1;
                    progress.show(&format!("connect: {n}/{users} open"));
                }
                (u, res)
            })
            .buffer_unordered(args.connect_concurrency.max(1));
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
    let ready_ok = wait_until(
        deadline,
        || Stats::get(&shared.stats.ready) >= open_n,
        || progress.show(&format!("connect: {}/{open_n} ready", Stats::get(&shared.stats.ready))),
    )
    .await;
    progress.clear();
    let connect_lat = summarize(&shared.stats.connect.take());
    let mut rep = meter.finish(&shared, ready_ok && open_n == users as u64);
    rep.connect = Some(ConnectFigures {
        attempted: users as u64,
        opened: open_n,
        ready: Stats::get(&shared.stats.ready),
        failed: users as u64 - open_n,
        per_s: rate(open_n, rep.wall_s),
        handshake_latency: connect_lat,
    });
    phases.push(rep);

    // Join storm: give the room a backchat first (over HTTP, as its first user).
    if w.params.scenario == Scenario::JoinStorm && !args.baseline {
        let n = args.backchat.unwrap_or(30);
        for i in 0..n {
            let body = json!({ "text": format!("backchat {i} {}", VOCABULARY[i as usize % VOCABULARY.len()]) });
            api.ok(
                Method::POST,
                &format!("/api/v1/rooms/{}/messages", prov.room_ids[0]),
                Some(&prov.tokens[0]),
                Some(&body),
            )
            .await
            .context("seeding the join storm's backchat")?;
        }
    }

    // ---- join: one batch join per user, all at once
    let meter = Meter::start("join", args.server_pid, &shared);
    let deadline = Instant::now() + phase_deadline;
    let mut joins_sent = 0u64;
    for (u, conn) in conns.iter().enumerate() {
        let Some(tx) = conn else { continue };
        let rooms: Vec<serde_json::Value> =
            w.joins[u].iter().map(|&r| json!({ "room": prov.room_ids[r as usize] })).collect();
        if rooms.is_empty() {
            continue;
        }
        let mut frame = json!({ "type": "join", "id": format!("j.{}", shared.now_us()), "rooms": rooms });
        if let Some(b) = args.backchat {
            frame["backchat"] = json!(b);
        }
        if tx.send(Cmd::Text(frame.to_string())).await.is_ok() {
            joins_sent += 1;
        }
    }
    let joined_ok = wait_until(
        deadline,
        || Stats::get(&shared.stats.joins_answered) >= joins_sent,
        || progress.show(&format!("join: {}/{joins_sent} answered", Stats::get(&shared.stats.joins_answered))),
    )
    .await;
    progress.clear();
    let join_lat = summarize(&shared.stats.join.take());
    let st = &shared.stats;
    let join = JoinFigures {
        joins_sent,
        joins_answered: Stats::get(&st.joins_answered),
        rooms_joined: Stats::get(&st.rooms_joined),
        backchat_messages: Stats::get(&st.backchat_messages),
        joins_without_backchat: Stats::get(&st.joins_without_backchat),
        join_latency: join_lat,
    };
    let mut rep = meter.finish(&shared, joined_ok);
    rep.join = Some(join);
    phases.push(rep);

    // ---- steady posting
    let mut post_room: Vec<u32> = Vec::new();
    if args.duration > 0.0 && args.rate > 0.0 {
        let meter = Meter::start("post", args.server_pid, &shared);
        let mut rng = Rng::new(args.seed ^ 0x5057_5354);
        let start = Instant::now();
        let start_us = shared.now_us();
        let mut offered = 0u64;
        let mut unsent = 0u64;
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            let elapsed = start.elapsed().as_secs_f64();
            if elapsed >= args.duration {
                break;
            }
            let due = (elapsed * args.rate) as u64;
            while offered < due {
                let Some((room, poster)) = w.pick_post(&mut rng) else { break };
                let post = offered;
                offered += 1;
                if args.verify {
                    post_room.push(room);
                }
                let us = shared.now_us();
                let text = format!(
                    r#"{{"type":"post","id":"p.{post}.{room}.{us}","room":{},"text":"~{post}.{us}~ {}"}}"#,
                    prov.room_ids[room as usize],
                    words(&mut rng, 6)
                );
                let sent = match &conns[poster as usize] {
                    Some(tx) => tx.try_send(Cmd::Text(text)).map_err(|e| match e {
                        mpsc::error::TrySendError::Full(_) => "generator:connection_queue_full",
                        mpsc::error::TrySendError::Closed(_) => "generator:connection_closed",
                    }),
                    None => Err("generator:not_connected"),
                };
                if let Err(why) = sent {
                    shared.stats.errors.add(why, 1);
                    unsent += 1;
                }
            }
            progress.show(&format!(
                "post: {:.0} s, {offered} offered, {} acked, {} deliveries",
                elapsed,
                Stats::get(&shared.stats.acks),
                Stats::get(&shared.stats.deliveries)
            ));
        }
        let posting_s = start.elapsed().as_secs_f64();
        // Drain: every post answered and every expected delivery in, or the drain deadline.
        let st = &shared.stats;
        let drained = wait_until(
            Instant::now() + Duration::from_secs_f64(args.drain),
            || {
                Stats::get(&st.acks) + Stats::get(&st.post_errors) + unsent >= offered
                    && Stats::get(&st.deliveries) >= Stats::get(&st.expected_deliveries)
            },
            || {},
        )
        .await;
        progress.clear();
        let acked = Stats::get(&st.acks);
        let answered_err = Stats::get(&st.post_errors);
        let unanswered = offered.saturating_sub(acked + answered_err + unsent);
        if unanswered > 0 {
            st.errors.add("generator:no_answer_before_drain_deadline", unanswered);
        }
        let deliveries = Stats::get(&st.deliveries);
        let span = |last_us: u64| ((last_us.saturating_sub(start_us)) as f64 / 1e6).max(posting_s);
        let post = PostFigures {
            duration_s: procstat::round3(posting_s),
            posts_offered: offered,
            posts_acked: acked,
            posts_failed: offered - acked,
            offered_per_s: rate(offered, posting_s),
            achieved_per_s: rate(acked, span(Stats::get(&st.last_ack_us))),
            deliveries,
            deliveries_expected: Stats::get(&st.expected_deliveries),
            deliveries_per_s: rate(deliveries, span(Stats::get(&st.last_delivery_us))),
            foreign_messages: Stats::get(&st.foreign_messages),
            delivery_latency: summarize(&st.delivery.take()),
            ack_latency: summarize(&st.ack.take()),
        };
        let mut rep = meter.finish(&shared, drained);
        rep.post = Some(post);
        phases.push(rep);
    }
    let acked_posts = shared.acked_posts();

    // ---- scroll-back and search
    if args.scroll_ops > 0 && !args.baseline {
        let meter = Meter::start("scroll", args.server_pid, &shared);
        let deadline = Instant::now() + phase_deadline;
        let mut rng = Rng::new(args.seed ^ 0x5343_524f);
        shared.history_permits.add_permits(HISTORY_WINDOW);
        let searches = Arc::new(AtomicU64::new(0));
        let search_failures = Arc::new(AtomicU64::new(0));
        let mut history_sent = 0u64;
        let mut complete = true;
        for _ in 0..args.scroll_ops {
            let permit = tokio::time::timeout_at(deadline.into(), shared.history_permits.acquire()).await;
            let Ok(Ok(permit)) = permit else {
                complete = false;
                break;
            };
            permit.forget();
            let u = rng.below(users as u64) as usize;
            if rng.below(100) < args.search_share as u64 {
                let word = VOCABULARY[rng.below(VOCABULARY.len() as u64) as usize];
                let (api, token, shared) = (api.clone(), prov.tokens[u].clone(), shared.clone());
                let (searches, failures) = (searches.clone(), search_failures.clone());
                tokio::spawn(async move {
                    let t0 = shared.now_us();
                    let path = format!("/api/v1/search/messages?q={}&limit=50", enc(word));
                    match api.call(Method::GET, &path, Some(&token), None).await {
                        Ok(Ok(_)) => shared.stats.search.record(u, shared.now_us() - t0),
                        Ok(Err(e)) => {
                            shared.stats.errors.add(format!("search:{}", e.code), 1);
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            shared.stats.errors.add(format!("search:{}", e.root_cause()), 1);
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    searches.fetch_add(1, Ordering::Relaxed);
                    shared.history_permits.add_permits(1);
                });
            } else {
                let js = &w.joins[u];
                let Some(tx) = conns[u].as_ref().filter(|_| !js.is_empty()) else {
                    shared.history_permits.add_permits(1);
                    continue;
                };
                let r = js[rng.below(js.len() as u64) as usize] as usize;
                let last = shared.last_seq[r].load(Ordering::Acquire);
                let mut frame = json!({ "type": "history", "id": format!("h.{}", shared.now_us()),
                    "room": prov.room_ids[r], "limit": 50 });
                if last > 1 {
                    frame["before_seq"] = json!(2 + rng.below(last as u64) as i64);
                }
                if tx.try_send(Cmd::Text(frame.to_string())).is_ok() {
                    history_sent += 1;
                } else {
                    shared.history_permits.add_permits(1);
                }
            }
            progress.show(&format!(
                "scroll: {} histories answered, {} searches",
                Stats::get(&shared.stats.histories_answered),
                searches.load(Ordering::Relaxed)
            ));
        }
        // Every permit back means every request answered.
        let back =
            tokio::time::timeout_at(deadline.into(), shared.history_permits.acquire_many(HISTORY_WINDOW as u32)).await;
        if let Ok(Ok(p)) = back {
            p.forget();
        } else {
            complete = false;
        }
        progress.clear();
        let scroll = ScrollFigures {
            history_sent,
            history_answered: Stats::get(&shared.stats.histories_answered),
            history_latency: summarize(&shared.stats.history.take()),
            searches: searches.load(Ordering::Relaxed),
            search_failures: search_failures.load(Ordering::Relaxed),
            search_latency: summarize(&shared.stats.search.take()),
        };
        let mut rep = meter.finish(&shared, complete);
        rep.scroll = Some(scroll);
        phases.push(rep);
    }

    // ---- disconnect
    let meter = Meter::start("disconnect", args.server_pid, &shared);
    let closed_before = Stats::get(&shared.stats.closed);
    let mut closing = 0u64;
    for tx in conns.iter().flatten() {
        if tx.send(Cmd::Close).await.is_ok() {
            closing += 1;
        }
    }
    let closed_ok = wait_until(
        Instant::now() + phase_deadline.min(Duration::from_secs(60)),
        || Stats::get(&shared.stats.closed) >= open_n,
        || progress.show(&format!("disconnect: {}/{closing} closed", Stats::get(&shared.stats.closed) - closed_before)),
    )
    .await;
    progress.clear();
    let mut rep = meter.finish(&shared, closed_ok);
    rep.disconnect = Some(DisconnectFigures { closing, closed: Stats::get(&shared.stats.closed) - closed_before });
    phases.push(rep);
    drop(conns);

    let verification = args.verify.then(|| verify(&shared, &post_room, &acked_posts));

    let cleanup = match (&prov.state, &prov.admin) {
        (Some(state), Some(admin)) if !args.keep => {
            let c = setup::cleanup(&api, admin, state, args.setup_concurrency.max(1), &progress).await;
            progress.clear();
            if c.failures.is_empty() {
                let _ = std::fs::remove_file(&args.state);
            }
            Some(c)
        }
        _ => None,
    };

    Ok(Report {
        target: t.base.clone(),
        baseline: args.baseline,
        started_unix,
        model: w.summary(),
        source_addresses: srcs.iter().map(|s| s.to_string()).collect(),
        generator_nofile_limit: nofile,
        setup: Some(prov.report),
        phases,
        verification,
        cleanup,
    })
}

/// Checks exactly-once delivery per (message, recipient): every acknowledged post reached
/// every connection joined to its room once, and nothing else arrived.
fn verify(shared: &Shared, post_room: &[u32], acked: &[u64]) -> Verification {
    let Some(v) = &shared.verify else {
        return Verification {
            posts_acked: 0,
            expected_deliveries: 0,
            delivered_once: 0,
            missing: 0,
            duplicates: 0,
            unexpected: 0,
            ok: false,
        };
    };
    let acked_set: HashSet<u64> = acked.iter().copied().collect();
    let mut acked_in_room: HashMap<u32, u64> = HashMap::new();
    for p in acked {
        if let Some(&r) = post_room.get(*p as usize) {
            *acked_in_room.entry(r).or_insert(0) += 1;
        }
    }
    let (mut expected, mut once, mut missing, mut dups, mut unexpected) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for (received, joined) in v.received.iter().zip(&v.joined) {
        let mut got = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let joined: HashSet<u32> = joined.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
        got.sort_unstable();
        let before = got.len();
        got.dedup();
        dups += (before - got.len()) as u64;
        let mut matched: HashMap<u32, u64> = HashMap::new();
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
        ok: missing == 0 && dups == 0 && unexpected == 0,
    }
}
