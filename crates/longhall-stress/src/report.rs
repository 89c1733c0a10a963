//! The report of a run: per phase, what was offered, what was achieved, latencies, errors, and
//! the CPU and memory of the server and of the generator. Text for people, JSON for scripts.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::model::ModelSummary;
use crate::procstat::Usage;
use crate::setup::Cleanup;
use crate::stats::LatencySummary;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub baseline: bool,
    /// Seconds since 1970 when the run started.
    pub started_unix: u64,
    pub model: ModelSummary,
    pub source_addresses: Vec<String>,
    /// Worker processes that held the connections (1: the generator's own process).
    pub workers: u32,
    /// The open-file limit of each process that held connections.
    pub generator_nofile_limit: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<SetupReport>,
    pub phases: Vec<PhaseReport>,
    /// With `--ladder`: the steps of the rate ladder (each is also a `post` phase).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ladder: Option<LadderReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<Cleanup>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    /// `provisioned`, `reused` (from the state file) or `synthetic` (baseline).
    pub how: String,
    pub wall_s: f64,
    pub users: usize,
    pub rooms: usize,
    pub groups: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PhaseReport {
    pub name: String,
    pub wall_s: f64,
    /// Reached its goal before its deadline.
    pub completed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<ConnectFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join: Option<JoinFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post: Option<PostFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scroll: Option<ScrollFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<DisconnectFigures>,
    pub errors: BTreeMap<String, u64>,
    pub closes: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator: Option<Usage>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnectFigures {
    pub attempted: u64,
    pub opened: u64,
    pub ready: u64,
    pub failed: u64,
    pub per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_latency: Option<LatencySummary>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JoinFigures {
    pub joins_sent: u64,
    pub joins_answered: u64,
    pub rooms_joined: u64,
    pub backchat_messages: u64,
    /// Joins that got no backchat from a room that has messages.
    pub joins_without_backchat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_latency: Option<LatencySummary>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PostFigures {
    pub duration_s: f64,
    pub posts_offered: u64,
    pub posts_acked: u64,
    /// Posts answered with an error, never sent (generator queue full, connection gone) or
    /// never answered before the drain deadline.
    pub posts_failed: u64,
    pub offered_per_s: f64,
    pub achieved_per_s: f64,
    pub deliveries: u64,
    /// Σ over acknowledged posts of the connections joined to the post's room.
    pub deliveries_expected: u64,
    pub deliveries_per_s: f64,
    pub foreign_messages: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_latency: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_latency: Option<LatencySummary>,
    /// The server's CPU time in the phase per delivery (with `--server-pid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_delivery: Option<f64>,
    /// The generator's own CPU time in the phase per delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_cpu_us_per_delivery: Option<f64>,
}

/// A rate ladder (`--ladder`).
#[derive(Debug, Clone, Serialize)]
pub struct LadderReport {
    /// The delivery p99 a step had to stay within.
    pub p99_limit_ms: f64,
    /// The highest offered rate of a step that held (none: the first step failed).
    pub highest_rate: Option<f64>,
    /// The lowest offered rate of a step that failed (none: every step held).
    pub lowest_failed_rate: Option<f64>,
    pub steps: Vec<LadderStep>,
}

/// One step of a rate ladder: a posting phase at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct LadderStep {
    pub rate: f64,
    pub achieved_per_s: f64,
    pub posts_failed: u64,
    pub deliveries: u64,
    pub deliveries_expected: u64,
    /// Connections the server closed during the step (slow consumers, say).
    pub closed_by_server: u64,
    pub delivery_p50_ms: Option<f64>,
    pub delivery_p99_ms: Option<f64>,
    pub server_cpu_us_per_delivery: Option<f64>,
    pub generator_cpu_us_per_delivery: Option<f64>,
    /// Nothing lost, every post answered, delivery p99 within the limit.
    pub held: bool,
}

impl LadderStep {
    pub fn of(rate: f64, p: &PhaseReport, held: bool) -> LadderStep {
        let x = p.post.clone().unwrap_or_default();
        let l = x.delivery_latency.as_ref();
        LadderStep {
            rate,
            achieved_per_s: x.achieved_per_s,
            posts_failed: x.posts_failed,
            deliveries: x.deliveries,
            deliveries_expected: x.deliveries_expected,
            closed_by_server: p.closes.values().sum(),
            delivery_p50_ms: l.map(|l| l.p50_ms),
            delivery_p99_ms: l.map(|l| l.p99_ms),
            server_cpu_us_per_delivery: x.server_cpu_us_per_delivery,
            generator_cpu_us_per_delivery: x.generator_cpu_us_per_delivery,
            held,
        }
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScrollFigures {
    pub history_sent: u64,
    pub history_answered: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_latency: Option<LatencySummary>,
    pub searches: u64,
    pub search_failures: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_latency: Option<LatencySummary>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DisconnectFigures {
    pub closing: u64,
    pub closed: u64,
}

/// Exactly-once delivery, checked per (message, recipient).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verification {
    pub posts_acked: u64,
    pub expected_deliveries: u64,
    pub delivered_once: u64,
    pub missing: u64,
    pub duplicates: u64,
    /// Deliveries of posts that were not acknowledged or to connections not joined to the room.
    pub unexpected: u64,
    /// Live messages that arrived on a connection with a sequence number not above the last
    /// one of their room there.
    #[serde(default)]
    pub out_of_order: u64,
    pub ok: bool,
}

fn lat(out: &mut String, what: &str, l: &Option<LatencySummary>) {
    if let Some(l) = l {
        let _ = writeln!(
            out,
            "    {what:<18} p50 {:>9.3} ms  p99 {:>9.3} ms  p99.9 {:>9.3} ms  max {:>9.3} ms  (n={})",
            l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.count
        );
    }
}

fn usage(out: &mut String, who: &str, u: &Option<Usage>) {
    if let Some(u) = u {
        let _ = writeln!(
            out,
            "    {who:<18} cpu {:>8.2} s ({:.2} cores)  rss {:>9.1} MiB  peak {:>9.1} MiB",
            u.cpu_s, u.cpu_cores, u.rss_mib, u.peak_rss_mib
        );
    }
}

impl Report {
    pub fn text(&self) -> String {
        let mut o = String::new();
        let m = &self.model;
        let _ = writeln!(
            o,
            "longhall stress: {} {} users, seed {}, {} rooms, {} memberships, {} joins → {}{}",
            m.scenario,
            m.users,
            m.seed,
            m.rooms,
            m.memberships,
            m.joins,
            self.target,
            if self.baseline { " (baseline broadcaster)" } else { "" }
        );
        for c in &m.classes {
            let _ = writeln!(
                o,
                "  {:<7} {:>6} rooms (largest {:>5}), {:>4} open, {:>4} auditoriums, {:>8} joins",
                c.class, c.rooms, c.largest, c.open, c.auditoriums, c.joins
            );
        }
        let _ = writeln!(
            o,
            "  source addresses: {}; generator: {}",
            if self.source_addresses.is_empty() { "default".to_owned() } else { self.source_addresses.join(" ") },
            if self.workers > 1 {
                format!("{} worker processes, file limit {} each", self.workers, self.generator_nofile_limit)
            } else {
                format!("one process, file limit {}", self.generator_nofile_limit)
            }
        );
        if let Some(s) = &self.setup {
            let _ = writeln!(
                o,
                "setup: {} in {:.1} s ({} users, {} rooms, {} groups)",
                s.how, s.wall_s, s.users, s.rooms, s.groups
            );
        }
        for p in &self.phases {
            let _ = writeln!(
                o,
                "phase {}: {:.2} s{}",
                p.name,
                p.wall_s,
                if p.completed { "" } else { "  (DEADLINE REACHED: incomplete)" }
            );
            if let Some(c) = &p.connect {
                let _ = writeln!(
                    o,
                    "    connections        {} attempted, {} opened, {} ready, {} failed ({:.0}/s)",
                    c.attempted, c.opened, c.ready, c.failed, c.per_s
                );
                lat(&mut o, "handshake", &c.handshake_latency);
            }
            if let Some(j) = &p.join {
                let _ = writeln!(
                    o,
                    "    joins              {} sent, {} answered, {} rooms joined, {} backchat messages, {} without backchat",
                    j.joins_sent, j.joins_answered, j.rooms_joined, j.backchat_messages, j.joins_without_backchat
                );
                lat(&mut o, "join", &j.join_latency);
            }
            if let Some(x) = &p.post {
                let _ = writeln!(
                    o,
                    "    posts              {} offered ({:.1}/s), {} acked ({:.1}/s), {} failed",
                    x.posts_offered, x.offered_per_s, x.posts_acked, x.achieved_per_s, x.posts_failed
                );
                let _ = writeln!(
                    o,
                    "    deliveries         {} of {} expected ({:.0}/s){}",
                    x.deliveries,
                    x.deliveries_expected,
                    x.deliveries_per_s,
                    if x.foreign_messages > 0 { format!(", {} foreign", x.foreign_messages) } else { String::new() }
                );
                lat(&mut o, "delivery", &x.delivery_latency);
                lat(&mut o, "ack", &x.ack_latency);
                if x.server_cpu_us_per_delivery.is_some() || x.generator_cpu_us_per_delivery.is_some() {
                    let _ = writeln!(
                        o,
                        "    cpu per delivery   server {} µs, generator {} µs",
                        opt(x.server_cpu_us_per_delivery, 2),
                        opt(x.generator_cpu_us_per_delivery, 2)
                    );
                }
            }
            if let Some(s) = &p.scroll {
                let _ = writeln!(
                    o,
                    "    history pages      {} sent, {} answered; searches {} ({} failed)",
                    s.history_sent, s.history_answered, s.searches, s.search_failures
                );
                lat(&mut o, "history", &s.history_latency);
                lat(&mut o, "search", &s.search_latency);
            }
            if let Some(d) = &p.disconnect {
                let _ = writeln!(o, "    closed             {} of {}", d.closed, d.closing);
            }
            for (k, v) in &p.errors {
                let _ = writeln!(o, "    error {k}: {v}");
            }
            for (k, v) in &p.closes {
                let _ = writeln!(o, "    closed by {k}: {v}");
            }
            usage(&mut o, "server", &p.server);
            usage(&mut o, "generator", &p.generator);
        }
        if let Some(l) = &self.ladder {
            let _ = writeln!(
                o,
                "rate ladder (delivery p99 ≤ {} ms, nothing lost): highest rate that held {} posts/s{}",
                l.p99_limit_ms,
                opt(l.highest_rate, 0),
                l.lowest_failed_rate.map(|r| format!(", lowest that failed {r:.0} posts/s")).unwrap_or_default()
            );
            for s in &l.steps {
                let _ = writeln!(
                    o,
                    "    {:>8.0}/s → {:>8.1}/s  p50 {:>9} ms  p99 {:>9} ms  {} of {} deliveries, {} failed, {} closed  cpu/delivery server {} µs generator {} µs  {}",
                    s.rate,
                    s.achieved_per_s,
                    opt(s.delivery_p50_ms, 2),
                    opt(s.delivery_p99_ms, 2),
                    s.deliveries,
                    s.deliveries_expected,
                    s.posts_failed,
                    s.closed_by_server,
                    opt(s.server_cpu_us_per_delivery, 2),
                    opt(s.generator_cpu_us_per_delivery, 2),
                    if s.held { "held" } else { "FAILED" }
                );
            }
        }
        if let Some(v) = &self.verification {
            let _ = writeln!(
                o,
                "verification: {} — {} posts acked, {} of {} deliveries exactly once, {} missing, {} duplicates, {} unexpected, {} out of order",
                if v.ok { "OK" } else { "FAILED" },
                v.posts_acked,
                v.delivered_once,
                v.expected_deliveries,
                v.missing,
                v.duplicates,
                v.unexpected,
                v.out_of_order
            );
        }
        if let Some(c) = &self.cleanup {
            let _ = writeln!(
                o,
                "cleanup: {:.1} s; {} rooms, {} groups deleted, category {}, {} tokens revoked, {} users disabled (the API deletes no users){}",
                c.wall_s,
                c.rooms_deleted,
                c.groups_deleted,
                if c.category_deleted { "deleted" } else { "kept" },
                c.tokens_revoked,
                c.users_disabled,
                if c.failures.is_empty() { String::new() } else { format!("; failures: {}", c.failures.join("; ")) }
            );
        }
        o
    }
}
