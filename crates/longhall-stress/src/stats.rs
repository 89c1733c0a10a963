//! What the connections measure while the phases run: latency histograms (sharded so that
//! thousands of connection tasks rarely contend), counters and error tallies.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::Serialize;

const SHARDS: usize = 16;
/// Largest latency kept exactly: 10 minutes, in microseconds (larger ones saturate).
const MAX_US: u64 = 600_000_000;

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("constant bounds hdrhistogram accepts")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A latency recorder in microseconds.
pub struct Latency {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency { shards: (0..SHARDS).map(|_| Mutex::new(new_histogram())).collect() }
    }
}

impl Latency {
    pub fn record(&self, shard: usize, us: u64) {
        lock(&self.shards[shard % SHARDS]).saturating_record(us.max(1));
    }

    /// Everything recorded since the last `take`, and a fresh start.
    pub fn take(&self) -> Histogram<u64> {
        let mut out = new_histogram();
        for s in &self.shards {
            let mut h = lock(s);
            let _ = out.add(&*h);
            h.reset();
        }
        out
    }
}

/// Percentiles of one latency, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

pub fn summarize(h: &Histogram<u64>) -> Option<LatencySummary> {
    if h.is_empty() {
        return None;
    }
    let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
    Some(LatencySummary {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
        mean_ms: (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
    })
}

/// Named counts (errors by code, close reasons).
#[derive(Default)]
pub struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    pub fn add(&self, key: impl Into<String>, n: u64) {
        *lock(&self.0).entry(key.into()).or_insert(0) += n;
    }

    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *lock(&self.0))
    }
}

/// Counters and recorders shared by every connection of a run.
#[derive(Default)]
pub struct Stats {
    pub delivery: Latency,
    pub ack: Latency,
    pub join: Latency,
    pub history: Latency,
    pub connect: Latency,
    pub search: Latency,
    pub ready: AtomicU64,
    pub joins_answered: AtomicU64,
    pub rooms_joined: AtomicU64,
    pub backchat_messages: AtomicU64,
    pub joins_without_backchat: AtomicU64,
    pub deliveries: AtomicU64,
    /// Live messages that were not posted by this run (someone else is using the rooms).
    pub foreign_messages: AtomicU64,
    pub acks: AtomicU64,
    pub post_errors: AtomicU64,
    /// Σ over acknowledged posts of the connections joined to the post's room.
    pub expected_deliveries: AtomicU64,
    pub histories_answered: AtomicU64,
    /// Microseconds (run clock) of the last delivery and the last acknowledgement.
    pub last_delivery_us: AtomicU64,
    pub last_ack_us: AtomicU64,
    pub closed: AtomicU64,
    pub errors: Tally,
    pub closes: Tally,
}

impl Stats {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Acquire)
    }

    pub fn bump(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::AcqRel);
    }

    /// Resets the per-phase counters (latencies are taken separately).
    pub fn reset_phase(&self) {
        for c in [
            &self.joins_answered,
            &self.rooms_joined,
            &self.backchat_messages,
            &self.joins_without_backchat,
            &self.deliveries,
            &self.foreign_messages,
            &self.acks,
            &self.post_errors,
            &self.expected_deliveries,
            &self.histories_answered,
            &self.last_delivery_us,
            &self.last_ack_us,
        ] {
            c.store(0, Ordering::Release);
        }
        for l in [&self.delivery, &self.ack, &self.join, &self.history, &self.connect, &self.search] {
            l.take();
        }
        self.errors.take();
        self.closes.take();
    }
}
