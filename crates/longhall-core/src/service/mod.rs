//! The services every transport calls. `Longhall` holds the explicit state of one server
//! (no globals: a test may run several in one process).
//!
//! Files, by noun: `auth` (sign-in, tokens), `directory` (users, groups), `admin`
//! (categories, add-ins, policies, configuration), `rooms` (room management), `chat`
//! (join, leave, post, history, search), `following` (follows, read positions,
//! invitations), `files`, `content` (administrators' content actions), `compliance`
//! (processing configuration, runs; the processor itself is `longhall-compliance`), `status`
//! (readiness and the operators' status), `views` (wire forms).

mod addins;
mod audit;
mod auth;
mod backup;
mod catalog_write;
mod categories;
mod chat;
mod chat_config;
mod compliance;
mod files;
mod following;
mod groups;
mod messages;
mod policies;
mod pool;
mod remote;
mod rooms;
mod status;
mod throttle;
mod usage;
mod users;
mod views;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use longhall_types::ErrorCode;
use longhall_types::api::MessageView;
use tokio::sync::{mpsc, oneshot};

use crate::catalog::Catalog;
use crate::error::{CoreError, CoreResult};
use crate::live::Hub;
use crate::model::*;
use crate::ports::{Clock, ComplianceRunner, FileStore, PoolAgent, Store};
use crate::principal::Principal;

pub use auth::Actor;
pub use chat::{HistoryQuery, MessageSearch, PendingPost};
pub use compliance::{ArchiveRoom, ArchiveUser};
pub use messages::{CONTENT_BATCH, DEFAULT_REPLACEMENT, Keywords};
pub use pool::{MAX_POOL_SERVERS, MAX_SERVER_ID, valid_server_id};
pub use rooms::DEFAULT_ROOM_PAGE;
pub use throttle::{Rate, RateLimits, SignInLimits};
pub use usage::{DEFAULT_USAGE_TOP, civil_from_days};

/// Tunables of one server that are not deployment configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lifetime of a sign-in token.
    pub session_ttl_ms: i64,
    /// Frames a connection may have queued before it is closed as a slow consumer.
    pub outbound_queue: usize,
    /// Bytes a connection may have queued before it is closed as a slow consumer.
    pub outbound_queue_bytes: usize,
    /// Most posts committed in one group commit.
    pub max_batch: usize,
    /// Most live connections; each is a file descriptor, and the stores need some of their own
    /// (the binary derives it from the open-file limit).
    pub max_connections: usize,
    /// Where compliance output goes when the configuration names no folder (the binary sets
    /// `<data_dir>/compliance-output`).
    pub compliance_output_dir: String,
    /// Browser origins (`https://chat.example.org`) besides the server's own that may open the
    /// WebSocket; `*` allows any. A request without `Origin` (not a browser) is always allowed.
    pub allowed_origins: Vec<String>,
    /// Password hashes and checks (Argon2, ~19 MiB each) that run at once (the binary uses the
    /// CPU count, at most 8).
    pub password_checks: usize,
    /// Password checks that may wait for a slot; more are refused with `server_busy`.
    pub password_check_queue: usize,
    /// Failed-sign-in limits (docs/api.md §2).
    pub sign_in_limits: SignInLimits,
    /// Per-user limits of search, history, upload, room creation and join (docs/api.md §5).
    pub rate_limits: RateLimits,
    /// This server's id in a pool of servers on one PostgreSQL database (`None`: the one server
    /// of its deployment). It names the server in compliance JOIN and PART events, and keeps
    /// the servers' connection ids apart ([`connection_id_base`]).
    pub server_id: Option<String>,
}

/// Where a server's connection ids start: in a pool, 2^36 ids of their own per server id
/// (16 bits of a hash of the id above them), so that one server's connections are never taken
/// for another's in the store's open participations, and its own are known again after a
/// restart; ids stay below 2^53, exact as JSON numbers. `1` for the one server of a deployment.
pub fn connection_id_base(server_id: Option<&str>) -> u64 {
    match server_id {
        None => 1,
        Some(id) => {
            // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
            let hash =
                id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
            (((hash ^ (hash >> 16) ^ (hash >> 32) ^ (hash >> 48)) & 0xFFFF) << CONNECTION_ID_BITS) + 1
        }
    }
}

/// Bits of a connection id below a pooled server's own prefix.
const CONNECTION_ID_BITS: u32 = 36;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_ttl_ms: 30 * 24 * 3600 * 1000,
            outbound_queue: longhall_types::limits::OUTBOUND_QUEUE_FRAMES,
            outbound_queue_bytes: longhall_types::limits::OUTBOUND_QUEUE_BYTES,
            max_batch: 512,
            max_connections: usize::MAX,
            compliance_output_dir: "compliance-output".into(),
            allowed_origins: Vec::new(),
            password_checks: 2,
            password_check_queue: 64,
            sign_in_limits: SignInLimits::default(),
            rate_limits: RateLimits::default(),
            server_id: None,
        }
    }
}

struct PostJob {
    post: NewPost,
    view: MessageView,
    reply: oneshot::Sender<CoreResult<Seq>>,
    /// When the post was accepted (for the delivery-latency histogram).
    accepted: std::time::Instant,
}

/// One Longhall server: the catalog in memory, the live hub, and the ports.
pub struct Longhall {
    store: Arc<dyn Store>,
    files: Arc<dyn FileStore>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    catalog: RwLock<Catalog>,
    /// Serialises catalog changes: validate, write to the store, then apply in memory.
    write_lock: tokio::sync::Mutex<()>,
    pub hub: Hub,
    /// What this server counts about itself (`/metrics`).
    pub metrics: crate::metrics::Metrics,
    poster: mpsc::Sender<PostJob>,
    sign_in_throttle: throttle::SignInThrottle,
    password_gate: throttle::PasswordGate,
    rate_limiter: throttle::RateLimiter,
    /// The compliance processor, once the binary has started one.
    compliance: OnceLock<Weak<dyn ComplianceRunner>>,
    /// Serialises compliance configuration changes (apart from `write_lock`: checking one may
    /// compile a stylesheet, which must not hold up the catalog).
    compliance_lock: tokio::sync::Mutex<()>,
    /// The pool this server belongs to, once the binary has set it (PostgreSQL only).
    pool: OnceLock<Arc<dyn PoolAgent>>,
    /// When `start` ran, for the uptime.
    started: Millis,
    /// The catalog revision the in-memory catalog reflects (in a pool; 0 alone).
    revision: AtomicI64,
    /// Held while committing a catalog change at a revision or applying other servers'
    /// changes (taken after `write_lock` when both are).
    revision_lock: tokio::sync::Mutex<()>,
    /// The bus and delivery order of a server in a pool (`attach_bus`).
    remote: OnceLock<remote::Link>,
}

/// What the first start of a new deployment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstStart {
    pub admin_login: String,
    /// The generated one-time password, when none was supplied.
    pub generated_password: Option<String>,
}

impl Longhall {
    /// Loads the catalog from the store and starts the poster task (needs a tokio runtime).
    pub async fn start(
        store: Arc<dyn Store>,
        files: Arc<dyn FileStore>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> CoreResult<Arc<Longhall>> {
        // Read before the catalog: changes logged meanwhile are applied again, which leaves
        // the catalog as they made it.
        let revision = store.catalog_revision().await?;
        let data = store.load_catalog().await?;
        let (catalog, seqs) = Catalog::from_data(data);
        let hub = Hub::new(seqs, catalog.max_chat_history(), catalog.participant_update_limit());
        hub.start_connection_ids_at(connection_id_base(settings.server_id.as_deref()));
        let (tx, rx) = mpsc::channel(settings.max_batch * 4);
        let started = clock.now_ms();
        let lh = Arc::new(Longhall {
            started,
            store: store.clone(),
            files,
            clock,
            settings: settings.clone(),
            catalog: RwLock::new(catalog),
            write_lock: tokio::sync::Mutex::new(()),
            hub,
            metrics: crate::metrics::Metrics::default(),
            poster: tx,
            sign_in_throttle: throttle::SignInThrottle::new(settings.sign_in_limits),
            password_gate: throttle::PasswordGate::new(settings.password_checks, settings.password_check_queue),
            rate_limiter: throttle::RateLimiter::new(settings.rate_limits),
            compliance: OnceLock::new(),
            compliance_lock: tokio::sync::Mutex::new(()),
            pool: OnceLock::new(),
            revision: AtomicI64::new(revision),
            revision_lock: tokio::sync::Mutex::new(()),
            remote: OnceLock::new(),
        });
        tokio::spawn(run_poster(Arc::downgrade(&lh), store, rx, settings.max_batch));
        if settings.server_id.is_none() {
            // A server of a pool does it once it holds its id in the pool's registry, so that a
            // second process started with the same id can't close a live server's.
            lh.close_interrupted_participations().await?;
        }
        tokio::spawn(end_expired_sessions(Arc::downgrade(&lh)));
        Ok(lh)
    }

    fn cat(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner())
    }

    fn cat_mut(&self) -> RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Counts an expensive operation against the caller's rate (administrators are exempt:
    /// they provision in bulk).
    fn rate_limit(&self, actor: &Actor, op: throttle::Operation) -> CoreResult<()> {
        if actor.is_admin() { Ok(()) } else { self.rate_limiter.take(actor.id(), op, self.now()) }
    }

    /// First start of a new deployment: turns the global policy on (so a first user can chat
    /// at once), creates the administrator, and a "General" category with an Open "Lobby".
    /// Does nothing on later starts.
    pub async fn first_start(&self, admin_login: &str, password: Option<String>) -> CoreResult<Option<FirstStart>> {
        if self.store.get_meta("initialized").await?.is_some() {
            return Ok(None);
        }
        let mut generated = password.is_none();
        let password = password.unwrap_or_else(auth::random_password);
        let system = Actor::system();
        if !self.cat().policies.contains_key(&Scope::Global) {
            let put = self
                .put_policy(
                    &system,
                    "global",
                    longhall_types::api::PolicyPut {
                        enable_persistent_chat: true,
                        description: "Turned on at first start so that the first users can chat at once.".into(),
                    },
                )
                .await;
            tolerate_a_twin(put)?;
            tracing::info!("first start: the global policy enables persistent chat for everyone");
        }
        if self.cat().user_by_login(admin_login).is_none() {
            let made = self
                .create_user(
                    &system,
                    longhall_types::api::NewUser {
                        login: admin_login.to_owned(),
                        display_name: Some("Administrator".into()),
                        email: None,
                        site: None,
                        password: Some(password.clone()),
                        admin: true,
                    },
                )
                .await;
            if !tolerate_a_twin(made)? {
                generated = false; // the other server's password is the one
            }
        }
        if self.cat().categories.is_empty() {
            let made = self
                .create_category(
                    &system,
                    longhall_types::api::NewCategory {
                        name: "General".into(),
                        description: "For everyone.".into(),
                        invitations: true,
                        file_upload: true,
                        chat_history: Some(true),
                        allowed_members: vec!["everyone".into()],
                        denied_members: vec![],
                        creators: vec!["everyone".into()],
                    },
                )
                .await;
            // Made by another server starting at the same moment: so is its Lobby.
            let made = match made {
                Ok(cat) => Some(cat),
                Err(e) => tolerate_a_twin::<()>(Err(e)).map(|_| None)?,
            };
            if let Some(cat) = made {
                let room = self
                    .create_room(
                        &system,
                        longhall_types::api::NewRoom {
                            name: "Lobby".into(),
                            category: cat.id.to_string(),
                            description: "Say hello.".into(),
                            privacy: longhall_types::api::Privacy::Open,
                            ..Default::default()
                        },
                    )
                    .await;
                tolerate_a_twin(room)?;
            }
        }
        self.store.put_meta("initialized", &self.now().to_string()).await?;
        Ok(Some(FirstStart { admin_login: admin_login.to_owned(), generated_password: generated.then_some(password) }))
    }

    /// Closes every connection with `reason` and records their PART events (graceful stop).
    pub async fn shutdown(&self, reason: CoreError) {
        for conn in self.hub.connections() {
            self.disconnect(&conn, "server stopping").await;
            conn.close(reason.clone());
        }
    }
}

/// The outcome of a first-start step: `Ok(true)` when it was done here, `Ok(false)` when
/// another server of the pool starting at the same moment did it (`name_taken`,
/// `changed_meanwhile`).
fn tolerate_a_twin<T>(step: CoreResult<T>) -> CoreResult<bool> {
    match step {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.code, ErrorCode::NameTaken | ErrorCode::ChangedMeanwhile) => Ok(false),
        Err(e) => Err(e),
    }
}

fn not_found(code: ErrorCode, what: &str) -> CoreError {
    CoreError::new(code, format!("There is no {what}; check the name or id."))
}

/// Applies a list edit: replace, then remove, then add (deduplicated, order kept).
fn apply_edit(list: &mut Vec<Principal>, replace: Option<Vec<Principal>>, remove: &[Principal], add: Vec<Principal>) {
    if let Some(r) = replace {
        *list = Vec::new();
        for p in r {
            if !list.contains(&p) {
                list.push(p);
            }
        }
    }
    list.retain(|p| !remove.contains(p));
    for p in add {
        if !list.contains(&p) {
            list.push(p);
        }
    }
}

/// Ends live connections whose session token expired, once a second, while the server lives.
async fn end_expired_sessions(lh: Weak<Longhall>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(lh) = lh.upgrade() else { return };
        lh.end_expired_sessions();
    }
}

/// Keeps the highest sequence number per room of a batch (a batch holds few rooms).
fn note_last(last: &mut Vec<(RoomId, Seq)>, room: RoomId, seq: Seq) {
    match last.iter_mut().find(|(r, _)| *r == room) {
        Some(entry) => entry.1 = entry.1.max(seq),
        None => last.push((room, seq)),
    }
}

/// A committed batch on its way to delivery, in commit order: each post with its sequence
/// number (or the batch's one failure).
struct CommittedBatch {
    jobs: Vec<PostJob>,
    result: CoreResult<Vec<Seq>>,
}

/// How many committed batches may wait for delivery while the next one commits: one, so that
/// committing and delivering overlap without letting delivery fall behind unboundedly.
const COMMITTED_AHEAD: usize = 1;

/// The group-commit loop: takes every queued post and commits them in one store call, then
/// hands the batch to the delivery stage and goes on with the next batch while that one is
/// delivered. Commit → publish(room, seq, message) → acknowledge: a post is delivered and
/// acknowledged only once it is durable, and batches are delivered in commit order. Clients
/// can't cancel either stage, so a committed message is always published.
async fn run_poster(
    lh: std::sync::Weak<Longhall>,
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<PostJob>,
    max_batch: usize,
) {
    let (committed_tx, committed_rx) = mpsc::channel(COMMITTED_AHEAD);
    let delivery = tokio::spawn(run_delivery(lh.clone(), committed_rx));
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        let posts: Vec<NewPost> = batch.iter().map(|j| j.post.clone()).collect();
        let started = std::time::Instant::now();
        let result = store.commit_posts(posts).await.map_err(CoreError::from);
        match lh.upgrade() {
            Some(lh) => lh.metrics.commit_latency.observe(started.elapsed()),
            None => break,
        }
        let jobs = std::mem::replace(&mut batch, Vec::with_capacity(max_batch));
        if committed_tx.send(CommittedBatch { jobs, result }).await.is_err() {
            break;
        }
    }
    // Every committed batch is delivered before the poster ends (the readiness check sees
    // the poster's channel close only then).
    drop(committed_tx);
    let _ = delivery.await;
    drop(rx);
}

/// The delivery stage: publishes each committed post to the room's connections keyed by
/// (room, sequence number), in commit order, then acknowledges it.
async fn run_delivery(lh: std::sync::Weak<Longhall>, mut committed: mpsc::Receiver<CommittedBatch>) {
    while let Some(CommittedBatch { jobs, result }) = committed.recv().await {
        let Some(lh) = lh.upgrade() else { return };
        match result {
            Ok(seqs) => {
                lh.metrics.posts.fetch_add(seqs.len() as u64, Ordering::Relaxed);
                // In a pool, publications are ordered with those of other servers' messages.
                let pool = lh.remote.get();
                let order = match pool {
                    Some(link) => Some(link.delivery.lock().await),
                    None => None,
                };
                let mut last: Vec<(RoomId, Seq)> = Vec::new();
                for (job, seq) in jobs.into_iter().zip(seqs) {
                    let mut view = job.view;
                    view.seq = seq;
                    let recipients = if order.is_some() {
                        note_last(&mut last, view.room, seq);
                        lh.publish_in_order(view, job.post.keep).await
                    } else {
                        lh.hub.publish(view, job.post.keep)
                    };
                    lh.metrics.deliveries.fetch_add(recipients as u64, Ordering::Relaxed);
                    lh.metrics.delivery_latency.observe(job.accepted.elapsed());
                    let _ = job.reply.send(Ok(seq));
                }
                drop(order);
                if let Some(link) = pool {
                    for (room, seq) in last {
                        link.bus.publish(crate::ports::Note::Message { room, seq }).await;
                    }
                }
            }
            Err(err) => {
                for job in jobs {
                    let _ = job.reply.send(Err(err.clone()));
                }
            }
        }
    }
}
