//! What a server counts about itself, for `/metrics`: counters and latency histograms kept in
//! atomics, one set per `Longhall` (two servers in one process count separately).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use longhall_types::ErrorCode;

/// Upper bounds (seconds) of the latency histograms' buckets: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A histogram with fixed buckets.
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus the overflow (`+Inf`) last.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

/// A histogram as read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound, observations at or below it), cumulative, ascending; `+Inf` not included.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.iter().position(|b| secs <= *b).unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let count = cumulative + self.counts[self.bounds.len()].load(Ordering::Relaxed);
        HistogramSnapshot { buckets, count, sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9 }
    }
}

/// The counters of one server.
pub struct Metrics {
    /// Messages committed (acknowledged posts).
    pub posts: AtomicU64,
    /// Message frames queued for joined connections.
    pub deliveries: AtomicU64,
    /// From a post's acceptance to its publication to every joined connection (the commit
    /// included).
    pub delivery_latency: Histogram,
    /// One group commit of posts in the store.
    pub commit_latency: Histogram,
    /// Errors answered, by code (HTTP answers, WebSocket `error` frames and closings).
    errors: Box<[AtomicU64]>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            posts: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            delivery_latency: Histogram::new(LATENCY_BUCKETS),
            commit_latency: Histogram::new(LATENCY_BUCKETS),
            errors: ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Metrics {
    pub fn error(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every code with its count (zeros included, so a series exists before its first error).
    pub fn errors(&self) -> Vec<(ErrorCode, u64)> {
        ErrorCode::ALL.iter().zip(self.errors.iter()).map(|(c, n)| (*c, n.load(Ordering::Relaxed))).collect()
    }

    pub fn count(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_observation_in_its_bucket_and_all_above() {
        let h = Histogram::new(&[0.001, 0.01, 0.1]);
        for ms in [0.5, 1.0, 5.0, 50.0, 5000.0] {
            h.observe(Duration::from_secs_f64(ms / 1000.0));
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(0.001, 2), (0.01, 3), (0.1, 4)]);
        assert_eq!(s.count, 5, "the 5 s observation is counted in +Inf only");
        assert!((s.sum_seconds - 5.0565).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn errors_are_counted_per_code() {
        let m = Metrics::default();
        m.error(ErrorCode::RoomNotFound);
        m.error(ErrorCode::RoomNotFound);
        m.error(ErrorCode::SlowConsumer);
        let errors = m.errors();
        assert_eq!(errors.len(), ErrorCode::ALL.len());
        assert!(errors.contains(&(ErrorCode::RoomNotFound, 2)));
        assert!(errors.contains(&(ErrorCode::SlowConsumer, 1)));
        assert!(errors.contains(&(ErrorCode::Forbidden, 0)));
    }
}
