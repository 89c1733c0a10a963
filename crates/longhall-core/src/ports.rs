//! Ports: what the core needs from the outside world, as traits. Backends implement them
//! (`longhall-store-sqlite`, later PostgreSQL); the conformance suite in `longhall-store-tests`
//! pins down the behaviour every implementation must have.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_core::Stream;

use crate::change::{AuditQuery, AuditRecord, CatalogChange, ChangeOutcome, LoggedChange};
use crate::error::{CoreResult, StoreResult};
use crate::model::*;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + 'static>>;

/// The chat store and the compliance store of one deployment.
///
/// Rules every implementation keeps (the conformance suite checks each):
/// - every write is durable when its future resolves `Ok` (committed and synced);
/// - a failed write changes nothing;
/// - names of categories and rooms are unique together (a room may not take a category's
///   name and vice versa), as are add-in, group and user names; a clash is `Conflict`;
/// - message sequence numbers are per room, dense, start at 1 and never repeat, also for
///   messages that are not kept (`NewPost::keep == false`) and after messages are cleared;
/// - compliance events are written to the compliance store in the same call as the change
///   they describe, before that call resolves.
pub trait Store: Send + Sync + 'static {
    // ---- catalog (directory, categories, rooms, add-ins, policies, configuration)

    /// Everything the core keeps in memory.
    fn load_catalog(&self) -> BoxFuture<'_, StoreResult<CatalogData>>;
    /// Commits one catalog change and, in the same durable step, its audit record (in the
    /// compliance store; `None` for changes that are not audited, a sign-in session's token).
    /// For an insert, the store assigns the id (returned in the outcome) and writes it into
    /// the record's `object_id` and its `after.id`. A failed change records nothing.
    /// Per change (the conformance suite checks each): names clash as `Conflict`; an update or
    /// delete of a missing object is `NotFound` (a `DeleteToken` of a missing token is
    /// `found: false`); a room in a missing category is `NotFound`; a category with rooms
    /// can't be deleted; deleting a group or removing a user removes every list entry naming it.
    fn commit_change<'a>(
        &'a self,
        change: &'a CatalogChange,
        audit: Option<&'a AuditRecord>,
    ) -> BoxFuture<'a, StoreResult<ChangeOutcome>>;
    /// Audit records matching the query, oldest first, at most `limit`.
    fn audit_records<'a>(&'a self, query: &'a AuditQuery) -> BoxFuture<'a, StoreResult<Vec<AuditRecord>>>;
    fn password_hash(&self, user: UserId) -> BoxFuture<'_, StoreResult<Option<String>>>;
    /// Small named values kept by the deployment (e.g. whether first start is done).
    fn get_meta<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<String>>>;
    fn put_meta<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, StoreResult<()>>;

    /// The catalog's revision: the number of the latest catalog change the store logged for
    /// the other servers of a pool (0 for a store that logs none: one server owns it).
    fn catalog_revision(&self) -> BoxFuture<'_, StoreResult<i64>> {
        Box::pin(async { Ok(0) })
    }
    /// As `commit_change`, only while the catalog is at `revision`: a change validated against
    /// an older catalog than another server has since committed is refused with
    /// `Stale` (nothing written), so it can't silently overwrite that newer change. A store
    /// that logs no changes (one server owns it) commits as `commit_change`.
    fn commit_change_at<'a>(
        &'a self,
        change: &'a CatalogChange,
        audit: Option<&'a AuditRecord>,
        revision: i64,
    ) -> BoxFuture<'a, StoreResult<ChangeOutcome>> {
        let _ = revision;
        self.commit_change(change, audit)
    }
    /// Logged catalog changes with a revision above `after`, in revision order, at most `limit`.
    fn catalog_changes(&self, after: i64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<LoggedChange>>> {
        let _ = (after, limit);
        Box::pin(async { Ok(Vec::new()) })
    }

    // ---- tokens

    fn find_token<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, StoreResult<Option<TokenRecord>>>;
    /// Tokens of one user, or of everyone when `None`, oldest first.
    fn list_tokens(&self, user: Option<UserId>) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>>;

    // ---- messages

    /// Commits a batch of posts in one transaction (one sync): assigns each the next sequence
    /// number of its room in batch order, keeps those with `keep`, and records a `CHAT`
    /// compliance event for every one (detail: `text`, `alert`, `story_title`, `file`).
    /// Returns the assigned sequence numbers in batch order.
    fn commit_posts(&self, posts: Vec<NewPost>) -> BoxFuture<'_, StoreResult<Vec<Seq>>>;
    /// The latest `limit` kept messages, oldest first.
    fn latest_messages(&self, room: RoomId, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>>;
    /// Up to `limit` kept messages with `seq < before`, the newest of them, oldest first.
    fn messages_before(&self, room: RoomId, before: Seq, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>>;
    /// Up to `limit` kept messages with `seq > after`, the oldest of them, oldest first.
    fn messages_after(&self, room: RoomId, after: Seq, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>>;
    /// Up to `limit` kept messages around time `ts`: about half before, the rest at or after, oldest first.
    fn messages_around(&self, room: RoomId, ts: Millis, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>>;
    /// Kept messages matching the query, newest first (in commit order), at most `limit`.
    fn search<'a>(&'a self, query: &'a SearchQuery) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>>;
    /// Replaces the text of the given messages and records one compliance event per message
    /// (`kind`: `MessageReplaced` or `MessageRemoved`; detail holds the original and the new
    /// text). Returns the messages as they were before.
    fn replace_messages<'a>(
        &'a self,
        room: RoomId,
        seqs: &'a [Seq],
        text: &'a str,
        event: &'a ComplianceEvent,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>>;
    /// Deletes at most `limit` of the room's oldest messages with `ts <= up_to` (so a large
    /// room is cleared in several short writes), records `event` (a `RoomCleared` compliance
    /// event) with the count in `detail.count` when it is not 0, and returns the count.
    /// `NotFound` for a missing room. Sequence numbers are not reused.
    fn clear_room<'a>(
        &'a self,
        room: RoomId,
        up_to: Millis,
        limit: u32,
        event: &'a ComplianceEvent,
    ) -> BoxFuture<'a, StoreResult<u64>>;
    /// How many kept messages of the room have `ts <= up_to` (what `clear_room` would delete).
    fn count_messages_up_to(&self, room: RoomId, up_to: Millis) -> BoxFuture<'_, StoreResult<u64>>;
    /// Kept messages of `scan.room` with `seq > scan.after`, narrowed by author and the
    /// inclusive time range, in sequence order, at most `scan.limit`: the pages a content
    /// action walks through a room.
    fn scan_messages<'a>(&'a self, scan: &'a MessageScan) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>>;
    /// Deletes the given messages outright and records one compliance event per message
    /// (`event` with its `seq` set and `detail.original` holding the text). Sequence numbers
    /// without a kept message are skipped. Returns the messages as they were.
    fn delete_messages<'a>(
        &'a self,
        room: RoomId,
        seqs: &'a [Seq],
        event: &'a ComplianceEvent,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>>;

    /// Rooms whose kept messages take more than `bytes` (text and story titles, in UTF-8),
    /// with their size, by id. The store keeps each room's size as messages are posted,
    /// replaced, deleted and cleared, so this reads no message.
    fn rooms_larger_than(&self, bytes: u64) -> BoxFuture<'_, StoreResult<Vec<(RoomId, u64)>>>;
    /// Message counts for the usage report over the kept messages with
    /// `from_ts <= ts <= to_ts`, read at one moment: every room (also those without a message),
    /// the authors who posted, and the UTC days with posts.
    fn usage(&self, from_ts: Millis, to_ts: Millis) -> BoxFuture<'_, StoreResult<UsageFigures>>;

    // ---- following, read positions, invitations

    fn set_followed(&self, user: UserId, room: RoomId, follow: bool) -> BoxFuture<'_, StoreResult<()>>;
    fn followed(&self, user: UserId) -> BoxFuture<'_, StoreResult<Vec<Followed>>>;
    /// Moves the read position forward (never back).
    fn set_read(&self, user: UserId, room: RoomId, seq: Seq) -> BoxFuture<'_, StoreResult<()>>;
    /// Gives each user the next invitation id of their own for `room` (a user already invited
    /// to the room gets a fresh id, so the invitation shows again). Returns them in user order.
    fn add_invitations<'a>(
        &'a self,
        room: RoomId,
        users: &'a [UserId],
        ts: Millis,
    ) -> BoxFuture<'a, StoreResult<Vec<Invitation>>>;
    /// Invitations of `user` with id greater than `after`, ascending, at most `limit`.
    fn invitations_after(&self, user: UserId, after: i64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<Invitation>>>;
    /// Removes `user`'s invitation `id` (the user dismissed it); nothing when there is none.
    fn delete_invitation(&self, user: UserId, id: i64) -> BoxFuture<'_, StoreResult<()>>;
    /// How many kept alert messages of `room` have a sequence number above `after`.
    fn count_alerts_after(&self, room: RoomId, after: Seq) -> BoxFuture<'_, StoreResult<u64>>;

    // ---- files

    /// Inserts a file record (its `id` is ignored) and records `event` (a `FileUpload`
    /// compliance event); returns the new id.
    fn insert_file<'a>(&'a self, file: &'a FileMeta, event: &'a ComplianceEvent) -> BoxFuture<'a, StoreResult<FileId>>;
    fn get_file(&self, id: FileId) -> BoxFuture<'_, StoreResult<Option<FileMeta>>>;
    /// The files uploaded to a room, by id (export).
    fn room_files(&self, room: RoomId) -> BoxFuture<'_, StoreResult<Vec<FileMeta>>>;

    // ---- compliance

    /// Records events durably in the compliance store, in order.
    fn record_compliance(&self, events: Vec<ComplianceEvent>) -> BoxFuture<'_, StoreResult<()>>;
    /// Recorded events with id greater than `after`, ascending, at most `limit`. Processed
    /// events are pruned (`prune_compliance_events`), so this lists what is still waiting or
    /// not yet pruned.
    fn compliance_events(&self, after: i64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<(i64, ComplianceEvent)>>>;
    /// Participations whose JOIN event has no PART event yet (a JOIN's `detail.connection`
    /// opens one, the PART of that connection and room closes it, in the same write). At start,
    /// these are the ones a crash cut off.
    fn open_participations(&self) -> BoxFuture<'_, StoreResult<Vec<OpenParticipation>>>;
    /// Forgets every open participation (at start, after each was given its PART).
    fn clear_open_participations(&self) -> BoxFuture<'_, StoreResult<()>>;

    // ---- compliance processing
    //
    // The processing cycle (`longhall-compliance::processor`) keeps its state here so that
    // any server of a pool may run it and each event reaches the adapter exactly once:
    // - event ids become visible in increasing order: once an event with id N can be read,
    //   no event with a smaller id appears later (SQLite: one writer; a backend with
    //   concurrent writers must order visibility, e.g. by taking ids under a lock);
    // - the *watermark* is the id of the last processed event; it only moves forward, from
    //   exactly a batch's `after` to its `last`, in `finish_compliance_run`;
    // - the *lease* names the one server allowed to process; it expires at a time, so a lease
    //   held by a dead server frees itself;
    // - the *publishing intent* is recorded after a batch's files are written and synced,
    //   before any of them is renamed to its final name; the commit that moves the watermark
    //   clears it in the same transaction. At most one exists.
    // The configuration lives in the chat store, the state, run history and events in the
    // compliance store.

    /// The global compliance configuration, or `None` when it was never set (the defaults apply).
    fn compliance_config(&self) -> BoxFuture<'_, StoreResult<Option<ComplianceConfig>>>;
    /// Watermark, lease and publishing intent, read together.
    fn compliance_state(&self) -> BoxFuture<'_, StoreResult<ComplianceState>>;
    /// Takes the lease for `holder` until `now + ttl_ms` when nobody holds it, its holder's
    /// time ran out (`expires <= now`), or `holder` already holds it. Returns whether `holder`
    /// now holds it; atomic, so two servers never both get it.
    fn acquire_compliance_lease<'a>(
        &'a self,
        holder: &'a str,
        now: Millis,
        ttl_ms: i64,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Extends the lease to `now + ttl_ms` only if `holder` holds it and it has not expired
    /// (`expires > now`): a holder whose lease ran out must not carry on as if nothing
    /// happened. Returns whether it was extended.
    fn renew_compliance_lease<'a>(
        &'a self,
        holder: &'a str,
        now: Millis,
        ttl_ms: i64,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Gives the lease up if `holder` holds it; otherwise does nothing.
    fn release_compliance_lease<'a>(&'a self, holder: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    /// The next batch: the (at most `max_events`) lowest event ids above the watermark;
    /// `None` when no event is waiting.
    fn next_compliance_batch(&self, max_events: u32) -> BoxFuture<'_, StoreResult<Option<BatchRange>>>;
    /// Up to `limit` events of `batch`, ordered by (room, id), that come after `cursor`
    /// (room, event id) in that order; `(0, 0)` starts at the beginning.
    fn compliance_batch_page(
        &self,
        batch: BatchRange,
        cursor: (RoomId, i64),
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<(i64, ComplianceEvent)>>>;
    /// Records `intent` at time `now`. `Conflict` (and nothing recorded) unless
    /// `intent.holder` holds an unexpired lease, the watermark is `intent.batch.after`, and no
    /// intent exists other than one for the same batch (which is replaced).
    fn begin_compliance_publish<'a>(&'a self, intent: &'a PublishIntent, now: Millis)
    -> BoxFuture<'a, StoreResult<()>>;
    /// Ends a run in one transaction and returns the run's id. With `batch`: moves the
    /// watermark from `batch.after` to `batch.last` and clears the publishing intent, which
    /// must be absent or for this batch; `Conflict` (and nothing written) when the watermark
    /// is not `batch.after` or another batch's intent exists. Then appends `run` to the run
    /// history (its `id` is ignored), which keeps the latest 1000 runs.
    fn finish_compliance_run<'a>(
        &'a self,
        run: &'a ComplianceRun,
        batch: Option<BatchRange>,
    ) -> BoxFuture<'a, StoreResult<i64>>;
    /// The latest `limit` runs, newest first.
    fn compliance_runs(&self, limit: u32) -> BoxFuture<'_, StoreResult<Vec<ComplianceRun>>>;
    /// Deletes up to `limit` processed events (id ≤ watermark), oldest first; returns how
    /// many. Unprocessed events are never deleted.
    fn prune_compliance_events(&self, limit: u32) -> BoxFuture<'_, StoreResult<u64>>;

    // ---- health

    /// A consistent copy of the whole store, taken while it keeps serving: its parts (for
    /// SQLite `chat.db` and `compliance.db`) as streams, and the file-store objects its file
    /// records refer to. Every acknowledged post before the call is in it; compliance records
    /// are never older than the messages (a message's record is written first).
    fn snapshot(&self) -> BoxFuture<'_, StoreResult<StoreSnapshot>>;

    // ---- import (offline: no server holds the store)

    /// Writes a batch of imported objects in one transaction (see [`ImportBatch`]): all of it
    /// or nothing. Records no compliance events: imported content was recorded where it was
    /// first posted.
    fn import_batch(&self, batch: ImportBatch) -> BoxFuture<'_, StoreResult<()>>;

    /// Called once after an import's last batch: a store that put off work during the import
    /// (SQLite indexes the imported messages for search in bulk here) finishes it before the
    /// import reports success. A store that did everything in `import_batch` has nothing to do.
    fn finish_import(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Check that the store answers and takes durable writes (a small write to every file,
    /// committed like a post): what readiness means.
    fn ping(&self) -> BoxFuture<'_, StoreResult<()>>;

    /// Bytes each part of the store takes on disk (for SQLite `chat.db` and `compliance.db`,
    /// each with its write-ahead log), for the status page.
    fn sizes(&self) -> BoxFuture<'_, StoreResult<Vec<(String, u64)>>>;
}

/// One part of a store snapshot: its archive name, size and bytes.
pub struct SnapshotPart {
    pub name: String,
    pub size: u64,
    pub bytes: ByteStream,
}

/// What `Store::snapshot` returns.
pub struct StoreSnapshot {
    pub parts: Vec<SnapshotPart>,
    /// File-store keys the snapshot's file records refer to, with their sizes.
    pub files: Vec<(String, u64)>,
}

/// Why a file write failed.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("file store failure: {0}")]
    Io(#[from] std::io::Error),
}

/// Where file bytes live (a directory by default). Writes are streamed and stop at the limit.
pub trait FileStore: Send + Sync + 'static {
    /// Streams `body` into a new object under `key`; fails with `TooLarge` (and keeps nothing)
    /// as soon as more than `max_bytes` arrive. Returns the size.
    fn write(&self, key: String, body: ByteStream, max_bytes: u64) -> BoxFuture<'_, Result<u64, FileStoreError>>;
    /// Streams the object back.
    fn read(&self, key: String) -> BoxFuture<'_, std::io::Result<ByteStream>>;
    fn remove(&self, key: String) -> BoxFuture<'_, std::io::Result<()>>;
    /// Bytes the stored objects take, for the status page.
    fn used_bytes(&self) -> BoxFuture<'_, std::io::Result<u64>>;
}

/// The time source; tests may substitute their own.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// What runs compliance processing on this server (`longhall-compliance`'s processor), as the
/// services see it. The core depends on this trait, never on the compliance crate; the binary
/// hands the processor to `Longhall::set_compliance_runner` once at start.
pub trait ComplianceRunner: Send + Sync + 'static {
    /// Runs a processing cycle now: recovery of an interrupted publication, then batches
    /// until nothing is waiting. Waits for a cycle already running on this server.
    fn run_now(&self) -> BoxFuture<'_, CoreResult<Vec<ComplianceRun>>>;
    /// Checks that a configuration can work (its adapter accepts it) before it is stored.
    fn check_config<'a>(&'a self, config: &'a ComplianceConfig) -> BoxFuture<'a, CoreResult<()>>;
    /// The stored configuration changed: the next run's time and settings follow it.
    fn config_changed(&self);
    /// Applies an XSLT stylesheet to the sample batch; the output, or an error naming the line.
    fn test_stylesheet<'a>(&'a self, stylesheet: &'a str) -> BoxFuture<'a, CoreResult<String>>;
    /// Whether its timer loop is running, and when its latest cycle ended: what readiness
    /// reports.
    fn health(&self) -> RunnerHealth;
}

/// What a [`ComplianceRunner`] says of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerHealth {
    /// The timer loop runs (it was started and has neither been stopped nor died).
    pub running: bool,
    /// When the latest cycle on this server ended, ms since 1970.
    pub last_cycle: Option<Millis>,
}

/// A change of the pool's settings, made pool-wide by [`PoolAgent::change`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolChange {
    /// Switch every server to the database of this state.
    State(longhall_types::api::PoolState),
    /// The active server list (`None`: every server).
    Active(Option<Vec<String>>),
}

/// This server's place in a pool of servers on one PostgreSQL deployment, as the services see
/// it: the registry, the active server list and the pool state. The binary sets one at start
/// when the store is PostgreSQL (none with SQLite: one server is the whole deployment). It
/// outlives the services of one database: a pool state change reopens them on the other.
pub trait PoolAgent: Send + Sync + 'static {
    /// This server's id in the pool.
    fn server_id(&self) -> String;
    /// Whether this server is on the active server list (takes new client connections).
    fn accepts_clients(&self) -> bool;
    /// The pool as this server knows it: its settings, and the registry read from the
    /// database (servers shown `unknown` when it can't be read).
    fn pool(&self) -> BoxFuture<'_, CoreResult<longhall_types::api::Pool>>;
    /// Makes `change` pool-wide: the next revision of the settings, sent with `token` (the
    /// administrator's) to every other server the pool knows, then taken by this one.
    fn change<'a>(
        &'a self,
        change: PoolChange,
        by: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, CoreResult<longhall_types::api::PoolChangeResult>>;
    /// Looks a token up (by its hash) in the pool's other database, the one a failover or
    /// failback switches to: how a pool operation is authenticated while the database in use
    /// is down (the other holds the same accounts and tokens, replicated).
    fn find_token_elsewhere<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, CoreResult<Option<TokenRecord>>>;
    /// Takes settings another server sent (an older or equal revision changes nothing).
    fn adopt(&self, settings: longhall_types::api::PoolSettings) -> BoxFuture<'_, CoreResult<()>>;
}

/// What one server of a pool tells the others once a change is committed. Small on purpose
/// (a PostgreSQL notification holds at most 8000 bytes): it says where to look, and the
/// receiver reads the change itself from the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// The room's messages up to `seq` are committed.
    Message { room: RoomId, seq: Seq },
    /// The catalog's logged changes up to `revision` are committed.
    Catalog { revision: i64 },
    /// An administrator replaced messages of the room: copies kept in memory are out of date.
    /// `from` names the server that did it (it told its own connections already).
    Replaced { from: u64, room: RoomId },
    /// An administrator removed these messages of the room (at most [`Note::MAX_SEQS`]).
    Removed { from: u64, room: RoomId, seqs: Vec<Seq> },
    /// An administrator cleared the room's messages up to time `up_to`.
    Cleared { from: u64, room: RoomId, up_to: Millis },
    /// Users were invited to the room: (user, invitation id) pairs, at most [`Note::MAX_SEQS`].
    Invited { from: u64, room: RoomId, ts: Millis, invitations: Vec<(UserId, i64)> },
}

impl Note {
    /// Sequence numbers one `Removed` note carries (and invitations one `Invited` note) (its text stays far below the 8000 bytes
    /// of a PostgreSQL notification).
    pub const MAX_SEQS: usize = 200;

    /// The text form carried by a bus (JSON, a few dozen bytes).
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the text form; `None` for anything else (a note of a newer server is ignored).
    pub fn from_text(text: &str) -> Option<Note> {
        serde_json::from_str(text).ok()
    }
}

/// What a bus hands its subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusSignal {
    Note(Note),
    /// The bus (re)connected: notes sent while it was away are lost, so the subscriber reads
    /// what it may have missed from the store.
    Connected,
}

/// How the servers of a pool tell each other about commits (PostgreSQL LISTEN/NOTIFY, NATS).
/// A server alone needs none: the core then publishes nothing and listens to nothing.
pub trait Bus: Send + Sync + 'static {
    /// Announces a committed change to every server of the pool, this one included. A bus
    /// whose store announced it already, in the committing transaction (PostgreSQL's NOTIFY of
    /// messages and catalog changes), skips it. Never fails: a note that is lost is made up for by the next one or by
    /// the catch-up after a reconnection.
    fn publish(&self, note: Note) -> BoxFuture<'_, ()>;
    /// The notes of every server, and a `Connected` signal at each (re)connection, the first
    /// one included. Called once, at start.
    fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<BusSignal>;
}
