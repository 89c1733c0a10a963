//! What one node (the generator's own process, or one worker process) measured in a phase, and
//! how the parts of several nodes add up to the phase's report: counts are summed, latency
//! histograms merged exactly, rates computed from the totals over the driver's wall time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::procstat::round3;
use crate::report::*;
use crate::stats::{Latency, from_pairs, summarize, to_pairs};

/// A node's part of a phase. The figures' latency summaries and rates are left empty: they are
/// computed once every part is in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseData {
    /// The node reached the phase's goal before its deadline.
    pub completed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<ConnectFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<JoinFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<PostFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scroll: Option<ScrollFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<DisconnectFigures>,
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    #[serde(default)]
    pub closes: BTreeMap<String, u64>,
    /// Latency histograms by name, as (µs, count) bucket pairs.
    #[serde(default)]
    pub latencies: BTreeMap<String, Vec<(u64, u64)>>,
    /// Posting phase: µs (system clock) of its start, of the last acknowledgement and of the
    /// last delivery.
    #[serde(default)]
    pub start_us: u64,
    #[serde(default)]
    pub last_ack_us: u64,
    #[serde(default)]
    pub last_delivery_us: u64,
}

impl PhaseData {
    /// Takes what `l` recorded into the part, under `name`.
    pub fn latency(&mut self, name: &str, l: &Latency) {
        self.latencies.insert(name.to_owned(), to_pairs(&l.take()));
    }
}

fn add_map(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k).or_insert(0) += v;
    }
}

fn add_opt<T>(into: &mut Option<T>, from: Option<T>, add: impl FnOnce(&mut T, &T)) {
    match (into.as_mut(), from) {
        (Some(a), Some(b)) => add(a, &b),
        (None, Some(b)) => *into = Some(b),
        _ => {}
    }
}

/// The parts of all nodes as one: counts summed, histograms pooled; complete when every part is.
pub fn merge(parts: Vec<PhaseData>) -> PhaseData {
    let mut m = PhaseData { completed: !parts.is_empty(), ..Default::default() };
    for p in parts {
        m.completed &= p.completed;
        add_opt(&mut m.connect, p.connect, |a, b| {
            a.attempted += b.attempted;
            a.opened += b.opened;
            a.ready += b.ready;
            a.failed += b.failed;
        });
        add_opt(&mut m.join, p.join, |a, b| {
            a.joins_sent += b.joins_sent;
            a.joins_answered += b.joins_answered;
            a.rooms_joined += b.rooms_joined;
            a.backchat_messages += b.backchat_messages;
            a.joins_without_backchat += b.joins_without_backchat;
        });
        add_opt(&mut m.post, p.post, |a, b| {
            a.duration_s = a.duration_s.max(b.duration_s);
            a.posts_offered += b.posts_offered;
            a.posts_acked += b.posts_acked;
            a.posts_failed += b.posts_failed;
            a.deliveries += b.deliveries;
            a.deliveries_expected += b.deliveries_expected;
            a.foreign_messages += b.foreign_messages;
        });
        add_opt(&mut m.scroll, p.scroll, |a, b| {
            a.history_sent += b.history_sent;
            a.history_answered += b.history_answered;
            a.searches += b.searches;
            a.search_failures += b.search_failures;
        });
        add_opt(&mut m.disconnect, p.disconnect, |a, b| {
            a.closing += b.closing;
            a.closed += b.closed;
        });
        add_map(&mut m.errors, p.errors);
        add_map(&mut m.closes, p.closes);
        for (k, v) in p.latencies {
            m.latencies.entry(k).or_default().extend(v);
        }
        if p.start_us > 0 {
            m.start_us = if m.start_us == 0 { p.start_us } else { m.start_us.min(p.start_us) };
        }
        m.last_ack_us = m.last_ack_us.max(p.last_ack_us);
        m.last_delivery_us = m.last_delivery_us.max(p.last_delivery_us);
    }
    m
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { round3(n as f64 / secs) } else { 0.0 }
}

/// The phase's report from the merged part and the driver's wall time (the server's and the
/// generator's usage are the driver's to add).
pub fn report(name: &str, wall_s: f64, m: PhaseData) -> PhaseReport {
    let lat = |k: &str| m.latencies.get(k).and_then(|pairs| summarize(&from_pairs(pairs)));
    let mut r = PhaseReport {
        name: name.into(),
        wall_s: round3(wall_s),
        completed: m.completed,
        errors: m.errors.clone(),
        closes: m.closes.clone(),
        ..Default::default()
    };
    if let Some(mut c) = m.connect.clone() {
        c.per_s = rate(c.opened, r.wall_s);
        c.handshake_latency = lat("handshake");
        r.connect = Some(c);
    }
    if let Some(mut j) = m.join.clone() {
        j.join_latency = lat("join");
        r.join = Some(j);
    }
    if let Some(mut p) = m.post.clone() {
        let posting_s = p.duration_s;
        let span = |last_us: u64| (last_us.saturating_sub(m.start_us) as f64 / 1e6).max(posting_s);
        p.duration_s = round3(posting_s);
        p.offered_per_s = rate(p.posts_offered, posting_s);
        p.achieved_per_s = rate(p.posts_acked, span(m.last_ack_us));
        p.deliveries_per_s = rate(p.deliveries, span(m.last_delivery_us));
        p.delivery_latency = lat("delivery");
        p.ack_latency = lat("ack");
        r.post = Some(p);
    }
    if let Some(mut s) = m.scroll.clone() {
        s.history_latency = lat("history");
        s.search_latency = lat("search");
        r.scroll = Some(s);
    }
    r.disconnect = m.disconnect.clone();
    r
}

/// The verifications of all nodes as one (each checked its own connections against the same
/// acknowledged posts).
pub fn merge_verifications(parts: &[Verification]) -> Verification {
    let mut v = Verification { ok: !parts.is_empty(), ..Default::default() };
    for p in parts {
        v.posts_acked = v.posts_acked.max(p.posts_acked);
        v.expected_deliveries += p.expected_deliveries;
        v.delivered_once += p.delivered_once;
        v.missing += p.missing;
        v.duplicates += p.duplicates;
        v.unexpected += p.unexpected;
        v.out_of_order += p.out_of_order;
        v.ok &= p.ok;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up() {
        let part = |opened: u64, us: &[u64], completed: bool| {
            let l = Latency::default();
            for &u in us {
                l.record(0, u);
            }
            let mut p = PhaseData {
                completed,
                connect: Some(ConnectFigures { attempted: 10, opened, ready: opened, ..Default::default() }),
                errors: [("connect:refused".to_owned(), 10 - opened)].into(),
                ..Default::default()
            };
            p.latency("handshake", &l);
            p
        };
        let wire = |p: PhaseData| serde_json::from_str::<PhaseData>(&serde_json::to_string(&p).unwrap()).unwrap();
        let m = merge(vec![wire(part(10, &[1000, 2000], true)), wire(part(7, &[3000; 5], true))]);
        let r = report("connect", 2.0, m.clone());
        let c = r.connect.unwrap();
        assert_eq!((c.attempted, c.opened, c.ready, c.per_s), (20, 17, 17, 8.5));
        assert_eq!(r.errors["connect:refused"], 3);
        let h = c.handshake_latency.unwrap();
        assert_eq!(h.count, 7);
        assert!((h.max_ms - 3.0).abs() < 0.01 && (h.p50_ms - 3.0).abs() < 0.01, "{h:?}");
        assert!(r.completed);
        assert!(!merge(vec![m, part(1, &[], false)]).completed);
    }
}
