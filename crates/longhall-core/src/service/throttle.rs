//! What keeps sign-in from being used against the server or its users: a bound on concurrent
//! password checks (each needs ~19 MiB) and the failed-sign-in counts per source and per login.
//! Both live in the `Longhall` value and cost bounded memory whatever the traffic.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use longhall_types::ErrorCode;
use longhall_types::limits::MAX_PRINCIPAL_CHARS;

use crate::error::{CoreError, CoreResult};
use crate::model::Millis;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- password checks

/// Runs Argon2 password hashing and checks: at most `permits` at once, each in a memory
/// buffer kept for reuse (so memory stays flat instead of growing with the allocator's arenas),
/// and at most `max_waiting` more waiting their turn; beyond that, `server_busy`.
pub(super) struct PasswordGate {
    permits: Arc<tokio::sync::Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    buffers: Arc<Mutex<Vec<Vec<argon2::Block>>>>,
}

/// Seconds a client is told to wait when every password check slot and queue place is taken.
pub const BUSY_RETRY_AFTER_S: u64 = 1;

/// Decrements the waiting count however the wait ends (also when the caller goes away).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordGate {
    pub fn new(permits: usize, max_waiting: usize) -> PasswordGate {
        PasswordGate {
            permits: Arc::new(tokio::sync::Semaphore::new(permits.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            buffers: Arc::default(),
        }
    }

    /// Runs `work` on a blocking thread with a buffer of at least `blocks` Argon2 blocks.
    pub async fn run<T: Send + 'static>(
        &self,
        blocks: usize,
        work: impl FnOnce(&mut [argon2::Block]) -> T + Send + 'static,
    ) -> CoreResult<T> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy());
        }
        let permit = {
            let _waiting = Waiting(&self.waiting);
            self.permits.clone().acquire_owned().await.map_err(|_| busy())?
        };
        let buffers = self.buffers.clone();
        // The permit moves into the blocking task: a caller that goes away mid-check does not
        // free its slot (or its buffer) before the check has really ended.
        let done = tokio::task::spawn_blocking(move || {
            let mut buf = lock(&buffers).pop().unwrap_or_default();
            if buf.len() < blocks {
                buf = vec![argon2::Block::new(); blocks];
            }
            let out = work(&mut buf[..blocks]);
            lock(&buffers).push(buf);
            drop(permit);
            out
        })
        .await;
        done.map_err(|_| CoreError::new(ErrorCode::Internal, "The password check failed; try again."))
    }
}

fn busy() -> CoreError {
    CoreError::new(
        ErrorCode::ServerBusy,
        format!(
            "The server is checking as many passwords as it can right now; try again in {BUSY_RETRY_AFTER_S} second."
        ),
    )
    .retry_after(BUSY_RETRY_AFTER_S)
}

// ---- failed sign-ins

/// Where a sign-in comes from: the IPv4 address, or the /64 prefix of an IPv6 one (a single
/// host usually holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(_) => Source(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => Source(IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into())),
            },
        }
    }
}

/// The sign-in throttle's limits (`Settings` carries them so tests can lower them).
#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    /// Failed sign-ins from one source (any logins) within the window.
    pub per_source: u32,
    /// Failed sign-ins for one login from one source within the window.
    pub per_login_source: u32,
    /// Failed sign-ins for one login from all sources within the window; sources that signed
    /// in successfully as this login before are not held to it.
    pub per_login: u32,
    /// The window, counted from the first failure in it.
    pub window_ms: Millis,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits { per_source: 50, per_login_source: 10, per_login: 100, window_ms: 5 * 60 * 1000 }
    }
}

/// How long a source that signed in successfully as a login stays trusted for it.
pub const TRUSTED_SOURCE_MS: Millis = 30 * 24 * 3600 * 1000;
/// Trusted sources remembered per login (the most recent ones).
pub const TRUSTED_SOURCES_PER_LOGIN: usize = 8;
/// Bytes the sign-in throttle may use for its tables (keys and their bookkeeping).
pub const SIGN_IN_TABLE_BYTES: usize = 16 * 1024 * 1024;
/// What one table entry costs beyond its key's bytes (hash-table slot, counters).
const ENTRY_OVERHEAD: usize = 64;

/// Failures within a window, and checks of this key in progress (counted before the check, so
/// concurrent tries can't all pass the limit).
#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    in_flight: u32,
    since: Millis,
}

impl Count {
    fn fresh(now: Millis) -> Count {
        Count { failures: 0, in_flight: 0, since: now }
    }

    fn expired(&self, now: Millis, window: Millis) -> bool {
        self.in_flight == 0 && now - self.since >= window
    }
}

#[derive(Default)]
struct Tables {
    by_source: HashMap<Source, Count>,
    by_login_source: HashMap<(String, Source), Count>,
    by_login: HashMap<String, Count>,
    trusted: HashMap<String, Vec<(Source, Millis)>>,
    bytes: usize,
    last_sweep: Millis,
}

fn login_bytes(login: &str) -> usize {
    login.len() + ENTRY_OVERHEAD
}

/// Failed sign-ins by source, by (login, source) and by login.
pub(super) struct SignInThrottle {
    limits: SignInLimits,
    tables: Mutex<Tables>,
}

/// A sign-in under way: counted in every table until `succeeded` or `failed`.
pub(super) struct Attempt {
    login: String,
    source: Source,
    /// Whether the per-login count holds it (not for a trusted source).
    per_login: bool,
}

impl SignInThrottle {
    pub fn new(limits: SignInLimits) -> SignInThrottle {
        SignInThrottle { limits, tables: Mutex::default() }
    }

    /// The login as the throttle keys it, or None when it is longer than any login can be
    /// (such a sign-in can't succeed and is not worth a table entry or a password check).
    pub fn key(login: &str) -> Option<String> {
        let key = login.trim().to_lowercase();
        (key.chars().count() <= MAX_PRINCIPAL_CHARS).then_some(key)
    }

    /// Admits an attempt, counting it before the password is checked, or refuses it.
    pub fn begin(&self, login: &str, source: Source, now: Millis) -> CoreResult<Attempt> {
        let l = self.limits;
        let mut t = lock(&self.tables);
        self.sweep(&mut t, now);
        let trusted =
            t.trusted.get(login).is_some_and(|v| v.iter().any(|(s, at)| *s == source && now - at < TRUSTED_SOURCE_MS));
        let pair = (login.to_owned(), source);
        let checks: [(Option<Count>, u32, &str); 3] = [
            (t.by_source.get(&source).copied(), l.per_source, "from your address"),
            (t.by_login_source.get(&pair).copied(), l.per_login_source, "for this login from your address"),
            (if trusted { None } else { t.by_login.get(login).copied() }, l.per_login, "for this login"),
        ];
        for (count, limit, what) in checks {
            let Some(c) = count.filter(|c| !c.expired(now, l.window_ms)) else { continue };
            let in_window = now - c.since < l.window_ms;
            if in_window && c.failures >= limit {
                let wait_s = ((l.window_ms - (now - c.since)) / 1000 + 1) as u64;
                return Err(CoreError::new(
                    ErrorCode::RateLimited,
                    format!("Too many failed sign-ins {what}; wait {wait_s} seconds and try again."),
                )
                .retry_after(wait_s));
            }
            if c.failures.min(limit) + c.in_flight >= limit {
                return Err(CoreError::new(
                    ErrorCode::RateLimited,
                    format!("Too many sign-ins {what} are being checked at once; try again in a second."),
                )
                .retry_after(1));
            }
        }
        let window = l.window_ms;
        let bump = |c: &mut Count| {
            if now - c.since >= window {
                *c = Count { failures: 0, in_flight: c.in_flight, since: now };
            }
            c.in_flight += 1;
        };
        let mut added = 0;
        bump(t.by_source.entry(source).or_insert_with(|| {
            added += ENTRY_OVERHEAD;
            Count::fresh(now)
        }));
        bump(t.by_login_source.entry(pair).or_insert_with(|| {
            added += login_bytes(login);
            Count::fresh(now)
        }));
        if !trusted {
            bump(t.by_login.entry(login.to_owned()).or_insert_with(|| {
                added += login_bytes(login);
                Count::fresh(now)
            }));
        }
        t.bytes += added;
        if t.bytes > SIGN_IN_TABLE_BYTES {
            self.shrink(&mut t, now);
        }
        Ok(Attempt { login: login.to_owned(), source, per_login: !trusted })
    }

    /// The password was right: the attempt is not a failure, and the source becomes trusted for
    /// the login (a stranger's failures for it can't lock this source out).
    pub fn succeeded(&self, a: Attempt, now: Millis) {
        let mut t = lock(&self.tables);
        let pair = (a.login.clone(), a.source);
        if t.by_login_source.remove(&pair).is_some() {
            t.bytes = t.bytes.saturating_sub(login_bytes(&a.login));
        }
        release(t.by_source.get_mut(&a.source), false);
        if a.per_login {
            release(t.by_login.get_mut(&a.login), false);
        }
        let list = t.trusted.entry(a.login.clone()).or_default();
        list.retain(|(s, at)| *s != a.source && now - at < TRUSTED_SOURCE_MS);
        list.push((a.source, now));
        if list.len() > TRUSTED_SOURCES_PER_LOGIN {
            list.remove(0);
        }
        let len = list.len();
        if len == 1 {
            t.bytes += login_bytes(&a.login);
        }
    }

    /// The password was wrong (or the login unknown): the attempt counts as a failure.
    pub fn failed(&self, a: Attempt) {
        let mut t = lock(&self.tables);
        release(t.by_source.get_mut(&a.source), true);
        release(t.by_login_source.get_mut(&(a.login.clone(), a.source)), true);
        if a.per_login {
            release(t.by_login.get_mut(&a.login), true);
        }
    }

    /// The check could not be made (server busy, store down): release without a failure.
    pub fn abandoned(&self, a: Attempt) {
        let mut t = lock(&self.tables);
        release(t.by_source.get_mut(&a.source), false);
        release(t.by_login_source.get_mut(&(a.login.clone(), a.source)), false);
        if a.per_login {
            release(t.by_login.get_mut(&a.login), false);
        }
    }

    /// Refuses an over-long login straight away, but counts it against its source.
    pub fn failed_without_login(&self, source: Source, now: Millis) -> CoreResult<()> {
        let l = self.limits;
        let mut t = lock(&self.tables);
        self.sweep(&mut t, now);
        let c = t.by_source.entry(source).or_insert_with(|| Count::fresh(now));
        if now - c.since >= l.window_ms {
            *c = Count { failures: 0, in_flight: c.in_flight, since: now };
        }
        if c.failures >= l.per_source {
            let wait_s = ((l.window_ms - (now - c.since)) / 1000 + 1) as u64;
            return Err(CoreError::new(
                ErrorCode::RateLimited,
                format!("Too many failed sign-ins from your address; wait {wait_s} seconds and try again."),
            )
            .retry_after(wait_s));
        }
        c.failures += 1;
        Ok(())
    }

    /// Drops expired entries, at most once a minute.
    fn sweep(&self, t: &mut Tables, now: Millis) {
        if now - t.last_sweep >= 60_000 || now < t.last_sweep {
            t.last_sweep = now;
            self.drop_expired(t, now);
        }
    }

    fn drop_expired(&self, t: &mut Tables, now: Millis) {
        let w = self.limits.window_ms;
        t.by_source.retain(|_, c| !c.expired(now, w));
        t.by_login_source.retain(|_, c| !c.expired(now, w));
        t.by_login.retain(|_, c| !c.expired(now, w));
        t.trusted.retain(|_, v| {
            v.retain(|(_, at)| now - at < TRUSTED_SOURCE_MS);
            !v.is_empty()
        });
        t.bytes = recount(t);
    }

    /// Over the byte bound: expired entries go first, then the oldest windows (entries with
    /// checks in progress stay, so the counts stay consistent).
    fn shrink(&self, t: &mut Tables, now: Millis) {
        self.drop_expired(t, now);
        if t.bytes <= SIGN_IN_TABLE_BYTES {
            return;
        }
        let mut starts: Vec<Millis> = t.by_login_source.values().chain(t.by_login.values()).map(|c| c.since).collect();
        starts.sort_unstable();
        // Keep the newer half.
        let cut = starts.get(starts.len() / 2).copied().unwrap_or(now);
        t.by_login_source.retain(|_, c| c.in_flight > 0 || c.since >= cut);
        t.by_login.retain(|_, c| c.in_flight > 0 || c.since >= cut);
        t.bytes = recount(t);
    }

    #[cfg(test)]
    fn table_bytes(&self) -> usize {
        lock(&self.tables).bytes
    }
}

fn release(c: Option<&mut Count>, failed: bool) {
    if let Some(c) = c {
        c.in_flight = c.in_flight.saturating_sub(1);
        if failed {
            c.failures = c.failures.saturating_add(1);
        }
    }
}

fn recount(t: &Tables) -> usize {
    t.by_source.len() * ENTRY_OVERHEAD
        + t.by_login_source.keys().map(|(l, _)| login_bytes(l)).sum::<usize>()
        + t.by_login.keys().map(|l| login_bytes(l)).sum::<usize>()
        + t.trusted.keys().map(|l| login_bytes(l)).sum::<usize>()
}

// ---- per-caller rate limits

/// The expensive operations a caller's rate is limited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Search,
    History,
    Upload,
    CreateRoom,
    Join,
}

impl Operation {
    fn what(self) -> &'static str {
        match self {
            Operation::Search => "content searches",
            Operation::History => "history requests",
            Operation::Upload => "file uploads",
            Operation::CreateRoom => "room creations",
            Operation::Join => "join requests",
        }
    }
}

/// A token bucket's shape: up to `burst` at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub per_minute: u32,
}

/// Per-user limits of the expensive operations (administrators are not limited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub search: Rate,
    pub history: Rate,
    pub upload: Rate,
    pub create_room: Rate,
    pub join: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            search: Rate { burst: 60, per_minute: 60 },
            history: Rate { burst: 300, per_minute: 600 },
            upload: Rate { burst: 30, per_minute: 30 },
            create_room: Rate { burst: 300, per_minute: 60 },
            join: Rate { burst: 120, per_minute: 120 },
        }
    }
}

impl RateLimits {
    fn of(&self, op: Operation) -> Rate {
        match op {
            Operation::Search => self.search,
            Operation::History => self.history,
            Operation::Upload => self.upload,
            Operation::CreateRoom => self.create_room,
            Operation::Join => self.join,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Millis,
}

/// How often idle buckets are looked for; a bucket that has refilled completely is the same
/// as none, so it is dropped (memory: one entry per user and operation in recent use).
const BUCKET_SWEEP_MS: Millis = 10_000;

/// The buckets by (user, operation), and when idle ones were last looked for.
type Buckets = (HashMap<(i64, Operation), Bucket>, Millis);

/// Token buckets per (user, operation).
pub(super) struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter { limits, buckets: Mutex::default() }
    }

    /// Takes one token for `user`'s `op`, or answers `rate_limited` with when to retry.
    pub fn take(&self, user: i64, op: Operation, now: Millis) -> CoreResult<()> {
        let rate = self.limits.of(op);
        let per_ms = f64::from(rate.per_minute) / 60_000.0;
        let burst = f64::from(rate.burst);
        let mut guard = lock(&self.buckets);
        let (buckets, last_sweep) = &mut *guard;
        if now - *last_sweep >= BUCKET_SWEEP_MS || now < *last_sweep {
            *last_sweep = now;
            let limits = self.limits;
            buckets.retain(|(_, op), b| {
                let r = limits.of(*op);
                b.tokens + (now - b.at).max(0) as f64 * f64::from(r.per_minute) / 60_000.0 < f64::from(r.burst)
            });
        }
        let b = buckets.entry((user, op)).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + (now - b.at).max(0) as f64 * per_ms).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait_s = if per_ms > 0.0 { ((1.0 - b.tokens) / per_ms / 1000.0).ceil().max(1.0) as u64 } else { 60 };
        let per_minute = rate.per_minute;
        Err(CoreError::new(
            ErrorCode::RateLimited,
            format!(
                "Too many {} ({per_minute} a minute are allowed, {} at once); wait {wait_s} seconds and try again.",
                op.what(),
                rate.burst
            ),
        )
        .retry_after(wait_s))
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        lock(&self.buckets).0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Source {
        Source::of(s.parse().unwrap())
    }

    const W: Millis = 5 * 60 * 1000;

    fn fail(t: &SignInThrottle, login: &str, src: Source, now: Millis) -> CoreResult<()> {
        let a = t.begin(login, src, now)?;
        t.failed(a);
        Ok(())
    }

    #[test]
    fn a_login_is_locked_per_source_and_the_window_ends() {
        let t = SignInThrottle::new(SignInLimits::default());
        let a = ip("10.0.0.1");
        for i in 0..10 {
            fail(&t, "x@y.org", a, 1000 + i).unwrap();
        }
        assert_eq!(t.begin("x@y.org", a, 2000).err().unwrap().code, ErrorCode::RateLimited);
        assert!(t.begin("x@y.org", ip("10.0.0.2"), 2000).is_ok(), "another source is not locked out");
        assert!(t.begin("x@y.org", a, 1000 + W).is_ok(), "the window ends");
    }

    #[test]
    fn concurrent_attempts_are_counted_before_the_check() {
        let t = SignInThrottle::new(SignInLimits::default());
        let a = ip("10.0.0.1");
        let admitted: Vec<_> = (0..100).filter_map(|_| t.begin("x@y.org", a, 1000).ok()).collect();
        assert_eq!(admitted.len(), 10);
    }

    #[test]
    fn a_trusted_source_is_not_held_to_the_per_login_limit() {
        let limits = SignInLimits { per_login: 20, ..SignInLimits::default() };
        let t = SignInThrottle::new(limits);
        let home = ip("192.0.2.1");
        let ok = t.begin("admin@y.org", home, 0).unwrap();
        t.succeeded(ok, 0);
        for i in 0..30u8 {
            let _ = fail(&t, "admin@y.org", ip(&format!("198.51.100.{i}")), 10);
        }
        assert!(t.begin("admin@y.org", ip("203.0.113.9"), 20).is_err(), "an unknown source is locked out");
        assert!(t.begin("admin@y.org", home, 20).is_ok(), "the trusted source still gets in");
    }

    #[test]
    fn the_tables_stay_within_their_byte_bound_under_a_spray_of_logins() {
        let limits = SignInLimits { per_source: u32::MAX, ..SignInLimits::default() };
        let t = SignInThrottle::new(limits);
        let long = "a".repeat(250);
        for i in 0..200_000 {
            let _ = fail(&t, &format!("{long}{i}"), ip("10.0.0.1"), 1000 + i);
        }
        assert!(t.table_bytes() <= SIGN_IN_TABLE_BYTES, "{} bytes", t.table_bytes());
        assert!(SignInThrottle::key(&"a".repeat(MAX_PRINCIPAL_CHARS + 1)).is_none(), "over-long logins aren't kept");
    }

    #[test]
    fn ipv6_sources_are_keyed_by_their_64_prefix() {
        assert_eq!(ip("2001:db8::1"), ip("2001:db8::ffff:2"));
        assert_ne!(ip("2001:db8::1"), ip("2001:db8:0:1::1"));
        assert_eq!(ip("::ffff:10.0.0.1"), ip("10.0.0.1"));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_and_idle_ones_are_dropped() {
        let limits = RateLimits { search: Rate { burst: 3, per_minute: 60 }, ..RateLimits::default() };
        let r = RateLimiter::new(limits);
        for _ in 0..3 {
            r.take(1, Operation::Search, 0).unwrap();
        }
        let e = r.take(1, Operation::Search, 0).unwrap_err();
        assert_eq!((e.code, e.retry_after_s), (ErrorCode::RateLimited, Some(1)));
        assert!(r.take(2, Operation::Search, 0).is_ok(), "another user has their own bucket");
        assert!(r.take(1, Operation::History, 0).is_ok(), "another operation has its own bucket");
        assert!(r.take(1, Operation::Search, 1000).is_ok(), "one a second comes back");
        for u in 0..1000 {
            r.take(100 + u, Operation::Search, 2000).unwrap();
        }
        r.take(1, Operation::Search, 2000 + BUCKET_SWEEP_MS + 60_000).unwrap();
        assert_eq!(r.entries(), 1, "buckets that refilled are dropped");
    }
}
