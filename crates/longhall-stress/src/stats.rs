//! What the connections measure while the phases run: latency histograms (sharded so that
//! thousands of connection tasks rarely contend), counters and error tallies.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

const SHARDS: usize = 16;
/// Largest latency kept exactly: 10 minutes, in microseconds (larger ones saturate).
const MAX_US: u64 = 600_000_000;

pub fn new_histogram() -> Histogram<u64> {
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

/// The recorded buckets of a histogram as (value, count) pairs, the value being the highest of
/// its bucket: recording them into a histogram of the same bounds rebuilds the same buckets, so
/// the histograms of several processes merge exactly.
pub fn to_pairs(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
}

/// A histogram of the (value, count) pairs of `to_pairs`.
pub fn from_pairs(pairs: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = new_histogram();
    for &(v, n) in pairs {
        h.saturating_record_n(v.max(1), n);
    }
    h
}

/// Percentiles of one latency, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub histories_answered: AtomicU64,
    /// Microseconds (system clock, since 1970) of the last delivery and the last acknowledgement.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_merged_from_pairs_equal_one_histogram_of_everything() {
        let (one, all) = (Latency::default(), Latency::default());
        let mut parts = Vec::new();
        let mut x: u64 = 7;
        for part in 0..3 {
            let l = Latency::default();
            for i in 0..20_000u64 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let us = (x >> 40) % (5_000_000 >> part) + 1;
                l.record(i as usize, us);
                all.record(i as usize, us);
            }
            parts.extend(to_pairs(&l.take()));
        }
        one.record(0, 1);
        let merged = from_pairs(&parts);
        let h = all.take();
        assert_eq!(merged.len(), h.len());
        assert_eq!((merged.min(), merged.max(), merged.mean()), (h.min(), h.max(), h.mean()));
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(merged.value_at_quantile(q), h.value_at_quantile(q));
        }
        assert_eq!(from_pairs(&to_pairs(&one.take())).len(), 1);
    }
}
