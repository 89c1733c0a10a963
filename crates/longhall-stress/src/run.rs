//! One run: setup (or the cached state), then the phases, each measured and reported. The
//! connections live in one node, this process (`--workers 1`), or in one node per worker
//! process; either way this module drives the nodes through the same requests, keeps the phases
//! aligned, and merges what the nodes measured into one report.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use longhall_client::Client;
use longhall_client::api::PostRequest;

use crate::client;
use crate::model::{Params, Scenario, Workload};
use crate::node::{NodeSpec, Reply, Request, VOCABULARY};
use crate::parts::{self, PhaseData};
use crate::procstat::{self, Sample};
use crate::progress::Progress;
use crate::report::*;
use crate::setup::{self, State};
use crate::workers::Fleet;
use crate::{RunArgs, ServerTarget};

/// How much longer than a phase's own deadline the workers may take to answer before the run
/// stops for a silent worker.
const GRACE: Duration = Duration::from_secs(30);

/// How far ahead of the request the workers' common posting start is set.
const POST_LEAD: Duration = Duration::from_millis(250);

/// Measures a phase: wall time, the server's CPU and memory, and the generator's (this process
/// and its worker processes).
struct Meter {
    name: &'static str,
    start: Instant,
    server_pid: Option<u32>,
    server: Option<Sample>,
    me: Option<Sample>,
}

impl Meter {
    fn start(name: &'static str, server_pid: Option<u32>) -> Meter {
        Meter {
            name,
            start: Instant::now(),
            server_pid,
            server: server_pid.and_then(|p| procstat::sample(Some(p))),
            me: procstat::sample(None),
        }
    }

    fn finish(self, parts: Vec<PhaseData>) -> PhaseReport {
        let wall = self.start.elapsed().as_secs_f64();
        let mut r = parts::report(self.name, wall, parts::merge(parts));
        r.server = self.server_pid.and_then(|p| procstat::usage(self.server, procstat::sample(Some(p)), wall));
        r.generator = procstat::usage(self.me, procstat::sample(None), wall);
        r
    }
}

/// The nodes of the run: this process's own, or the worker processes.
enum Driver {
    Local(Box<crate::node::Node>),
    Fleet(Fleet),
}

impl Driver {
    async fn call(
        &mut self,
        req: Request,
        what: &str,
        timeout: Duration,
        progress: &Progress,
    ) -> anyhow::Result<Vec<Reply>> {
        match self {
            Driver::Local(node) => Ok(vec![node.handle(req).await]),
            Driver::Fleet(fleet) => fleet.call(&req, what, timeout, progress).await,
        }
    }

    async fn phase(
        &mut self,
        req: Request,
        what: &str,
        timeout: Duration,
        progress: &Progress,
    ) -> anyhow::Result<Vec<PhaseData>> {
        let mut parts = Vec::new();
        for r in self.call(req, what, timeout, progress).await? {
            let Reply::Phase(p) = r else { bail!("a worker answered the {what} phase with {r:?}") };
            parts.push(*p);
        }
        Ok(parts)
    }
}

/// The credentials and room ids of the run: provisioned, reused, or synthetic (baseline).
struct Provisioned {
    tokens: Vec<String>,
    room_ids: Vec<i64>,
    state: Option<State>,
    admin: Option<String>,
    report: SetupReport,
}

async fn admin_token(api: &Client, args: &RunArgs) -> anyhow::Result<String> {
    if let Some(t) = &args.target.token {
        return Ok(t.clone());
    }
    match (&args.target.admin_login, &args.target.admin_password) {
        (Some(l), Some(p)) => setup::sign_in(api, l, p).await.context("signing in as the administrator"),
        _ => {
            bail!("an administrator is needed: give --token (or LONGHALL_TOKEN), or --admin-login and --admin-password")
        }
    }
}

async fn provision(
    args: &RunArgs,
    t: &ServerTarget,
    api: &Client,
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
/// sockets an earlier run left in TIME_WAIT (a minute): about 5,000 connections per address,
/// and with workers a multiple of their number, so that each worker has addresses of its own.
fn sources(args: &RunArgs, t: &ServerTarget) -> Vec<IpAddr> {
    if !t.addr.ip().is_loopback() || !t.addr.is_ipv4() {
        return vec![];
    }
    let workers = args.workers.max(1);
    let n = args.sources.unwrap_or_else(|| args.users.div_ceil(5_000).max(1).div_ceil(workers) * workers);
    (0..n.min(250)).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8))).collect()
}

/// One posting phase at `rate`: every node from the same instant; then, once every post is
/// answered, each node waits for the deliveries the acknowledged posts make to its connections.
/// The acknowledged posts are added to `acked` (when verifying).
async fn post_phase(
    driver: &mut Driver,
    args: &RunArgs,
    rate: f64,
    progress: &Progress,
    acked: &mut Vec<u64>,
) -> anyhow::Result<PhaseReport> {
    let meter = Meter::start("post", args.server_pid);
    let lead = if matches!(driver, Driver::Fleet(_)) { POST_LEAD } else { Duration::ZERO };
    let start_us = client::now_us() + lead.as_micros() as u64;
    let limit = lead + Duration::from_secs_f64(args.duration + args.drain) + GRACE;
    let mut in_room: BTreeMap<u32, u64> = BTreeMap::new();
    for r in driver.call(Request::Post { start_us, rate }, "post", limit, progress).await? {
        let Reply::Answered(a) = r else { bail!("a worker answered the post phase with {r:?}") };
        for (room, n) in a.acked_in_room {
            *in_room.entry(room).or_insert(0) += n;
        }
        acked.extend(a.acked);
    }
    let drain = Request::Drain { acked_in_room: in_room.into_iter().collect() };
    let limit = Duration::from_secs_f64(args.drain) + GRACE;
    let mut report = meter.finish(driver.phase(drain, "post", limit, progress).await?);
    if let Some(p) = &mut report.post
        && p.deliveries > 0
    {
        let per =
            |u: &Option<procstat::Usage>| u.as_ref().map(|u| procstat::round3(u.cpu_s * 1e6 / p.deliveries as f64));
        p.server_cpu_us_per_delivery = per(&report.server);
        p.generator_cpu_us_per_delivery = per(&report.generator);
    }
    Ok(report)
}

/// Whether a posting phase held: every post acknowledged, every delivery made, no connection
/// closed by the server, delivery p99 within `p99_ms`, before the drain deadline.
pub fn held(p: &PhaseReport, p99_ms: f64) -> bool {
    let Some(x) = &p.post else { return false };
    p.completed
        && p.closes.is_empty()
        && x.posts_failed == 0
        && x.posts_acked > 0
        && x.deliveries >= x.deliveries_expected
        && x.delivery_latency.as_ref().is_some_and(|l| l.p99_ms <= p99_ms)
}

/// The rate ladder: from `--rate`, each step `--ladder-factor` times the last while steps
/// hold; after the first step that fails, the gap between the highest rate that held and the
/// lowest that failed is halved (geometrically) until it is within 5 % or the steps run out.
async fn climb(
    driver: &mut Driver,
    args: &RunArgs,
    progress: &Progress,
    phases: &mut Vec<PhaseReport>,
    acked: &mut Vec<u64>,
) -> anyhow::Result<LadderReport> {
    let mut steps = Vec::new();
    let (mut held_at, mut failed_at): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = args.rate;
    for _ in 0..args.ladder_steps {
        let phase = post_phase(driver, args, rate, progress, acked).await?;
        let ok = held(&phase, args.ladder_p99_ms);
        steps.push(LadderStep::of(rate, &phase, ok));
        phases.push(phase);
        if ok {
            held_at = Some(rate);
        } else {
            failed_at = Some(rate);
        }
        rate = match (held_at, failed_at) {
            (_, None) => rate * args.ladder_factor,
            (None, Some(_)) => break, // the first rate already fails
            (Some(lo), Some(hi)) if hi / lo <= 1.05 => break,
            (Some(lo), Some(hi)) => (lo * hi).sqrt().round(),
        };
        if rate > crate::MAX_RATE {
            break;
        }
    }
    Ok(LadderReport { p99_limit_ms: args.ladder_p99_ms, highest_rate: held_at, lowest_failed_rate: failed_at, steps })
}

/// Runs the workload against the server and reports it.
pub async fn run(args: &RunArgs, t: &ServerTarget) -> anyhow::Result<Report> {
    let started_unix =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let progress = Progress::new(args.progress);
    let params = Params { scenario: args.scenario, users: args.users, seed: args.seed, large_size: args.large_size };
    let w = Workload::build(&params);
    let api = setup::api(&t.base)?;
    let prov = provision(args, t, &api, &w, &progress).await?;
    let srcs = sources(args, t);
    let workers = args.workers.max(1);
    let spec = |index: u32| NodeSpec {
        index,
        count: workers,
        params: params.clone(),
        base: t.base.clone(),
        addr: t.addr,
        ws_url: t.ws_url.clone(),
        tokens: prov
            .tokens
            .iter()
            .enumerate()
            .map(|(u, tok)| if u as u32 % workers == index { tok.clone() } else { String::new() })
            .collect(),
        room_ids: prov.room_ids.clone(),
        sources: srcs.clone(),
        seed: args.seed,
        rate: args.rate,
        duration: args.duration,
        drain: args.drain,
        scroll_ops: args.scroll_ops,
        search_share: args.search_share,
        backchat: args.backchat,
        verify: args.verify,
        connect_concurrency: args.connect_concurrency,
        phase_timeout: args.phase_timeout,
    };
    let model = w.summary();
    let scenario = w.params.scenario;
    let mut driver = if workers == 1 {
        Driver::Local(Box::new(crate::node::Node::with_workload(spec(0), w, args.progress)?))
    } else {
        let exe = match &args.worker_exe {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("finding this executable to start the workers")?,
        };
        Driver::Fleet(Fleet::start(&exe, (0..workers).map(spec).collect(), &progress).await?)
    };
    let nofile = match &driver {
        Driver::Local(node) => node.nofile,
        Driver::Fleet(fleet) => fleet.nofile,
    };
    let phase_timeout = Duration::from_secs(args.phase_timeout.max(1));
    let mut phases = Vec::new();

    // ---- connect + authenticate
    let meter = Meter::start("connect", args.server_pid);
    phases.push(meter.finish(driver.phase(Request::Connect, "connect", phase_timeout + GRACE, &progress).await?));

    // Join storm: give the room a backchat first (over HTTP, as its first user).
    if scenario == Scenario::JoinStorm && !args.baseline {
        let n = args.backchat.unwrap_or(30);
        let first_user = api.with_token(prov.tokens[0].clone());
        for i in 0..n {
            let text = format!("backchat {i} {}", VOCABULARY[i as usize % VOCABULARY.len()]);
            first_user
                .post_message(prov.room_ids[0], &PostRequest { text, ..Default::default() })
                .await
                .map_err(|e| anyhow::anyhow!("seeding the join storm's backchat: {}", setup::why(&e)))?;
        }
    }

    // ---- join: one batch join per user, all at once
    let meter = Meter::start("join", args.server_pid);
    phases.push(meter.finish(driver.phase(Request::Join, "join", phase_timeout + GRACE, &progress).await?));

    // ---- steady posting, once or as a rate ladder
    let mut acked: Vec<u64> = Vec::new();
    let mut ladder = None;
    if args.ladder {
        ladder = Some(climb(&mut driver, args, &progress, &mut phases, &mut acked).await?);
    } else if args.duration > 0.0 && args.rate > 0.0 {
        phases.push(post_phase(&mut driver, args, args.rate, &progress, &mut acked).await?);
    }

    // ---- scroll-back and search
    if args.scroll_ops > 0 && !args.baseline {
        let meter = Meter::start("scroll", args.server_pid);
        // Every node draws the same operations from the highest sequence numbers of all nodes.
        let mut last_seq = None;
        if matches!(driver, Driver::Fleet(_)) {
            let mut merged: Vec<i64> = Vec::new();
            for r in driver.call(Request::Seqs, "scroll", GRACE, &progress).await? {
                let Reply::Seqs { last_seq } = r else { bail!("a worker answered the scroll phase with {r:?}") };
                merged.resize(merged.len().max(last_seq.len()), 0);
                for (m, s) in merged.iter_mut().zip(last_seq) {
                    *m = (*m).max(s);
                }
            }
            last_seq = Some(merged);
        }
        let scroll = Request::Scroll { last_seq };
        phases.push(meter.finish(driver.phase(scroll, "scroll", phase_timeout + GRACE, &progress).await?));
    }

    // ---- disconnect
    let meter = Meter::start("disconnect", args.server_pid);
    let limit = phase_timeout.min(Duration::from_secs(60)) + GRACE;
    phases.push(meter.finish(driver.phase(Request::Disconnect, "disconnect", limit, &progress).await?));

    let verification = if args.verify {
        let mut all = Vec::new();
        for r in driver.call(Request::Verify { acked }, "verify", Duration::from_secs(300), &progress).await? {
            let Reply::Verified(v) = r else { bail!("a worker answered the verification with {r:?}") };
            all.push(v);
        }
        let mut v = parts::merge_verifications(&all);
        // A multi-process baseline numbers each room's posts per process: only Longhall's
        // order is checked.
        v.ok &= args.baseline || v.out_of_order == 0;
        Some(v)
    } else {
        None
    };
    if let Driver::Fleet(fleet) = driver {
        fleet.finish().await;
    }

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
        model,
        source_addresses: srcs.iter().map(|s| s.to_string()).collect(),
        workers,
        generator_nofile_limit: nofile,
        setup: Some(prov.report),
        phases,
        ladder,
        verification,
        cleanup,
    })
}
