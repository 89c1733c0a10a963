//! Ports: what the core needs from the outside world, as traits. Backends implement them
//! (`longhall-store-sqlite`, later PostgreSQL); the conformance suite in `longhall-store-tests`
//! pins down the behaviour every implementation must have.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_core::Stream;

use crate::error::StoreResult;
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
    /// Inserts a user (its `id` is ignored) and returns the new id.
    fn insert_user<'a>(&'a self, user: &'a User, password_hash: &'a str) -> BoxFuture<'a, StoreResult<UserId>>;
    fn update_user<'a>(&'a self, user: &'a User) -> BoxFuture<'a, StoreResult<()>>;
    fn set_password<'a>(&'a self, user: UserId, password_hash: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    fn password_hash(&self, user: UserId) -> BoxFuture<'_, StoreResult<Option<String>>>;
    fn insert_group<'a>(&'a self, group: &'a Group) -> BoxFuture<'a, StoreResult<GroupId>>;
    fn update_group<'a>(&'a self, group: &'a Group) -> BoxFuture<'a, StoreResult<()>>;
    /// Removes the group and every list entry that names it (group members, category and room lists).
    fn delete_group(&self, id: GroupId) -> BoxFuture<'_, StoreResult<()>>;
    fn insert_category<'a>(&'a self, category: &'a Category) -> BoxFuture<'a, StoreResult<CategoryId>>;
    fn update_category<'a>(&'a self, category: &'a Category) -> BoxFuture<'a, StoreResult<()>>;
    fn delete_category(&self, id: CategoryId) -> BoxFuture<'_, StoreResult<()>>;
    fn insert_room<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, StoreResult<RoomId>>;
    fn update_room<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, StoreResult<()>>;
    /// Removes the room with its messages, follows, invitations and file records; returns the
    /// file-store keys of the removed files so their bytes can be removed too.
    fn delete_room(&self, id: RoomId) -> BoxFuture<'_, StoreResult<Vec<String>>>;
    fn insert_addin<'a>(&'a self, addin: &'a Addin) -> BoxFuture<'a, StoreResult<AddinId>>;
    fn update_addin<'a>(&'a self, addin: &'a Addin) -> BoxFuture<'a, StoreResult<()>>;
    fn delete_addin(&self, id: AddinId) -> BoxFuture<'_, StoreResult<()>>;
    /// Inserts or replaces the policy of `policy.scope`.
    fn put_policy<'a>(&'a self, policy: &'a Policy) -> BoxFuture<'a, StoreResult<()>>;
    fn delete_policy<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, StoreResult<()>>;
    /// Inserts or replaces the configuration of `config.scope`.
    fn put_config<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, StoreResult<()>>;
    fn delete_config<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, StoreResult<()>>;
    /// Small named values kept by the deployment (e.g. whether first start is done).
    fn get_meta<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<String>>>;
    fn put_meta<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, StoreResult<()>>;

    // ---- tokens

    /// Inserts a token record (its `id` is ignored) and returns the new id.
    fn insert_token<'a>(&'a self, token: &'a TokenRecord) -> BoxFuture<'a, StoreResult<TokenId>>;
    fn find_token<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, StoreResult<Option<TokenRecord>>>;
    /// Returns whether a token was deleted.
    fn delete_token(&self, id: TokenId) -> BoxFuture<'_, StoreResult<bool>>;
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
    /// Kept messages matching the query, newest first, at most `limit`.
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
    /// Deletes the room's messages with `ts <= up_to`, records `event` (a `RoomCleared`
    /// compliance event) with the count, and returns the count. Sequence numbers are not reused.
    fn clear_room<'a>(
        &'a self,
        room: RoomId,
        up_to: Millis,
        event: &'a ComplianceEvent,
    ) -> BoxFuture<'a, StoreResult<u64>>;

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

    // ---- files

    /// Inserts a file record (its `id` is ignored) and records `event` (a `FileUpload`
    /// compliance event); returns the new id.
    fn insert_file<'a>(&'a self, file: &'a FileMeta, event: &'a ComplianceEvent) -> BoxFuture<'a, StoreResult<FileId>>;
    fn get_file(&self, id: FileId) -> BoxFuture<'_, StoreResult<Option<FileMeta>>>;

    // ---- compliance

    /// Records events durably in the compliance store, in order.
    fn record_compliance(&self, events: Vec<ComplianceEvent>) -> BoxFuture<'_, StoreResult<()>>;
    /// Recorded events with id greater than `after`, ascending, at most `limit`.
    fn compliance_events(&self, after: i64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<(i64, ComplianceEvent)>>>;

    // ---- health

    /// Cheap check that the store answers.
    fn ping(&self) -> BoxFuture<'_, StoreResult<()>>;
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
