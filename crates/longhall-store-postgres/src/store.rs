//! `PgStore`: the `Store` implementation over the writer task and the read pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use longhall_core::change::{AuditQuery, AuditRecord, CatalogChange, ChangeOutcome, LoggedChange};
use longhall_core::model::*;
use longhall_core::ports::{BoxFuture, Store, StoreSnapshot};
use longhall_core::{StoreError, StoreResult};

use crate::conn::{Conn, DbResult};
use crate::writer::{ConnFn, Writer};
use crate::{ops, processing, reads, schema};

/// Read connections: at most this many reads run at once; the rest wait their turn.
const READ_CONNECTIONS: usize = 8;

/// The chat and compliance stores of one deployment, in one PostgreSQL database.
///
/// A write is queued for the writer task when its method is called, not when the returned
/// future is first polled, so writes issued one after another by one task commit in that
/// order even if their futures are awaited together. Dropping the future does not cancel
/// the write.
///
/// Several servers (a pool) may use one database: each keeps a copy of the catalog in memory
/// and follows the others' changes through the change log (`catalog_changes`) and the bus.
pub struct PgStore {
    writer: Writer,
    readers: Arc<ReadPool>,
    /// Announce commits with NOTIFY (servers of a pool on the PostgreSQL bus listen).
    announce: AtomicBool,
}

struct ReadPool {
    url: String,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl ReadPool {
    async fn get(&self) -> StoreResult<Conn> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match idle {
                // A connection the server closed meanwhile (restart, failover) is dropped.
                Some(c) if c.is_closed() => continue,
                Some(c) => return Ok(c),
                None => return Conn::connect(&self.url).await,
            }
        }
    }

    fn put(&self, c: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < READ_CONNECTIONS && !c.is_closed() {
            idle.push(c);
        }
    }
}

impl PgStore {
    /// Connects to the database at `url` (a `postgres://` URL or `key=value` string), creates
    /// or migrates its `chat` and `compliance` schemas, and starts the writer task. The
    /// database must exist; its owner needs no superuser rights (`pg_trgm` is a trusted
    /// extension). Call it at start-up, inside a Tokio runtime.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let conn = Conn::connect_writer(url).await?;
        schema::migrate(&conn).await?;
        let writer = Writer::start(url.to_owned(), conn);
        let readers = Arc::new(ReadPool {
            url: url.to_owned(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(READ_CONNECTIONS)),
        });
        // Fail now, not on the first read, if a second connection cannot be had.
        let first = readers.get().await?;
        readers.put(first);
        Ok(PgStore { writer, readers, announce: AtomicBool::new(false) })
    }

    /// Announces every commit of messages and catalog changes on the `longhall` channel
    /// (NOTIFY, in the committing transaction) from now on: what the servers of a pool on the
    /// PostgreSQL bus ([`crate::PgBus`]) listen to.
    pub fn announce_commits(&self) {
        self.announce.store(true, Ordering::Relaxed);
    }

    fn announcing(&self) -> bool {
        self.announce.load(Ordering::Relaxed)
    }

    /// Finishes the queued writes and closes the connections.
    pub async fn close(self) {
        let PgStore { writer, readers, .. } = self;
        writer.stop().await;
        readers.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn write<D, T>(&self, data: D, f: ConnFn<D, T>) -> BoxFuture<'static, StoreResult<T>>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
    {
        self.writer.submit(data, f)
    }

    pub(crate) fn read<D, T>(&self, data: D, f: ConnFn<D, T>) -> BoxFuture<'static, StoreResult<T>>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
    {
        let pool = self.readers.clone();
        Box::pin(async move {
            let _permit = pool
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
            let mut c = pool.get().await?;
            let mut result = f(&c, &data).await;
            // A pooled connection the database ended (a restart, a failover) and the client had
            // not noticed yet: reads change nothing, so the read runs again on a new connection.
            if result.is_err() && c.is_closed() {
                c = Conn::connect(&pool.url).await?;
                result = f(&c, &data).await;
            }
            // A failed read may have left a transaction open: its connection is not reused.
            if result.is_ok() {
                pool.put(c);
            }
            result
        })
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl Store for PgStore {
    fn load_catalog(&self) -> BoxFuture<'_, StoreResult<CatalogData>> {
        self.read((), |c, d| Box::pin(reads::load_catalog(c, d)))
    }

    fn commit_change<'a>(
        &'a self,
        change: &'a CatalogChange,
        audit: Option<&'a AuditRecord>,
    ) -> BoxFuture<'a, StoreResult<ChangeOutcome>> {
        self.write((change.clone(), audit.cloned(), None, self.announcing()), |c, d| Box::pin(ops::commit_change(c, d)))
    }

    fn catalog_revision(&self) -> BoxFuture<'_, StoreResult<i64>> {
        self.read((), |c, _| Box::pin(ops::catalog_revision(c)))
    }

    fn commit_change_at<'a>(
        &'a self,
        change: &'a CatalogChange,
        audit: Option<&'a AuditRecord>,
        revision: i64,
    ) -> BoxFuture<'a, StoreResult<ChangeOutcome>> {
        let job = (change.clone(), audit.cloned(), Some(revision), self.announcing());
        self.write(job, |c, d| Box::pin(ops::commit_change(c, d)))
    }

    fn catalog_changes(&self, after: i64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<LoggedChange>>> {
        self.read((after, limit), |c, d| Box::pin(reads::catalog_changes(c, d)))
    }

    fn audit_records<'a>(&'a self, query: &'a AuditQuery) -> BoxFuture<'a, StoreResult<Vec<AuditRecord>>> {
        self.read(query.clone(), |c, d| Box::pin(reads::audit_records(c, d)))
    }

    fn password_hash(&self, user: UserId) -> BoxFuture<'_, StoreResult<Option<String>>> {
        self.read(user, |c, d| Box::pin(reads::password_hash(c, d)))
    }

    fn get_meta<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<String>>> {
        self.read(key.to_owned(), |c, d| Box::pin(reads::get_meta(c, d)))
    }

    fn put_meta<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        self.write((key.to_owned(), value.to_owned()), |c, d| Box::pin(ops::put_meta(c, d)))
    }

    fn find_token<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, StoreResult<Option<TokenRecord>>> {
        self.read(hash.to_owned(), |c, d| Box::pin(reads::find_token(c, d)))
    }

    fn list_tokens(&self, user: Option<UserId>) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>> {
        self.read(user, |c, d| Box::pin(reads::list_tokens(c, d)))
    }

    fn commit_posts(&self, posts: Vec<NewPost>) -> BoxFuture<'_, StoreResult<Vec<Seq>>> {
        self.write((posts, self.announcing()), |c, d| Box::pin(ops::commit_posts(c, d)))
    }

    fn latest_messages(&self, room: RoomId, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>> {
        self.read((room, limit), |c, d| Box::pin(reads::latest_messages(c, d)))
    }

    fn messages_before(&self, room: RoomId, before: Seq, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>> {
        self.read((room, before, limit), |c, d| Box::pin(reads::messages_before(c, d)))
    }

    fn messages_after(&self, room: RoomId, after: Seq, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>> {
        self.read((room, after, limit), |c, d| Box::pin(reads::messages_after(c, d)))
    }

    fn messages_around(&self, room: RoomId, ts: Millis, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>> {
        self.read((room, ts, limit), |c, d| Box::pin(reads::messages_around(c, d)))
    }

    fn search<'a>(&'a self, query: &'a SearchQuery) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>> {
        self.read(query.clone(), |c, d| Box::pin(reads::search(c, d)))
    }

    fn replace_messages<'a>(
        &'a self,
        room: RoomId,
        seqs: &'a [Seq],
        text: &'a str,
        event: &'a ComplianceEvent,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>> {
        let r = ops::Replace { room, seqs: seqs.to_vec(), text: text.to_owned(), event: event.clone() };
        self.write(r, |c, d| Box::pin(ops::replace_messages(c, d)))
    }

    fn clear_room<'a>(
        &'a self,
        room: RoomId,
        up_to: Millis,
        limit: u32,
        event: &'a ComplianceEvent,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        self.write((room, up_to, limit, event.clone()), |c, d| Box::pin(ops::clear_room(c, d)))
    }

    fn count_messages_up_to(&self, room: RoomId, up_to: Millis) -> BoxFuture<'_, StoreResult<u64>> {
        self.read((room, up_to), |c, d| Box::pin(reads::count_messages_up_to(c, d)))
    }

    fn scan_messages<'a>(&'a self, scan: &'a MessageScan) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>> {
        self.read(scan.clone(), |c, d| Box::pin(reads::scan_messages(c, d)))
    }

    fn delete_messages<'a>(
        &'a self,
        room: RoomId,
        seqs: &'a [Seq],
        event: &'a ComplianceEvent,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>> {
        self.write((room, seqs.to_vec(), event.clone()), |c, d| Box::pin(ops::delete_messages(c, d)))
    }

    fn rooms_larger_than(&self, bytes: u64) -> BoxFuture<'_, StoreResult<Vec<(RoomId, u64)>>> {
        self.read(bytes, |c, d| Box::pin(reads::rooms_larger_than(c, d)))
    }

    fn usage(&self, from_ts: Millis, to_ts: Millis) -> BoxFuture<'_, StoreResult<UsageFigures>> {
        self.read((from_ts, to_ts), |c, d| Box::pin(reads::usage(c, d)))
    }

    fn set_followed(&self, user: UserId, room: RoomId, follow: bool) -> BoxFuture<'_, StoreResult<()>> {
        self.write((user, room, follow), |c, d| Box::pin(ops::set_followed(c, d)))
    }

    fn followed(&self, user: UserId) -> BoxFuture<'_, StoreResult<Vec<Followed>>> {
        self.read(user, |c, d| Box::pin(reads::followed(c, d)))
    }

    fn set_read(&self, user: UserId, room: RoomId, seq: Seq) -> BoxFuture<'_, StoreResult<()>> {
        self.write((user, room, seq), |c, d| Box::pin(ops::set_read(c, d)))
    }

    fn add_invitations<'a>(
        &'a self,
        room: RoomId,
        users: &'a [UserId],
        ts: Millis,
    ) -> BoxFuture<'a, StoreResult<Vec<Invitation>>> {
        self.write((room, users.to_vec(), ts), |c, d| Box::pin(ops::add_invitations(c, d)))
    }

    fn invitations_after(&self, user: UserId, after: i64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<Invitation>>> {
        self.read((user, after, limit), |c, d| Box::pin(reads::invitations_after(c, d)))
    }

    fn delete_invitation(&self, user: UserId, id: i64) -> BoxFuture<'_, StoreResult<()>> {
        self.write((user, id), |c, d| Box::pin(ops::delete_invitation(c, d)))
    }

    fn count_alerts_after(&self, room: RoomId, after: Seq) -> BoxFuture<'_, StoreResult<u64>> {
        self.read((room, after), |c, d| Box::pin(reads::count_alerts_after(c, d)))
    }

    fn insert_file<'a>(&'a self, file: &'a FileMeta, event: &'a ComplianceEvent) -> BoxFuture<'a, StoreResult<FileId>> {
        self.write((file.clone(), event.clone()), |c, d| Box::pin(ops::insert_file(c, d)))
    }

    fn get_file(&self, id: FileId) -> BoxFuture<'_, StoreResult<Option<FileMeta>>> {
        self.read(id, |c, d| Box::pin(reads::get_file(c, d)))
    }

    fn room_files(&self, room: RoomId) -> BoxFuture<'_, StoreResult<Vec<FileMeta>>> {
        self.read(room, |c, d| Box::pin(reads::room_files(c, d)))
    }

    fn record_compliance(&self, events: Vec<ComplianceEvent>) -> BoxFuture<'_, StoreResult<()>> {
        self.write(events, |c, d| Box::pin(ops::record_events(c, d)))
    }

    fn compliance_events(&self, after: i64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<(i64, ComplianceEvent)>>> {
        self.read((after, limit), |c, d| Box::pin(reads::compliance_events(c, d)))
    }

    fn open_participations(&self) -> BoxFuture<'_, StoreResult<Vec<OpenParticipation>>> {
        self.read((), |c, d| Box::pin(reads::open_participations(c, d)))
    }

    fn clear_open_participations(&self) -> BoxFuture<'_, StoreResult<()>> {
        self.write((), |c, d| Box::pin(ops::clear_open_participations(c, d)))
    }

    fn compliance_config(&self) -> BoxFuture<'_, StoreResult<Option<ComplianceConfig>>> {
        self.read((), |c, d| Box::pin(processing::config(c, d)))
    }

    fn compliance_state(&self) -> BoxFuture<'_, StoreResult<ComplianceState>> {
        self.read((), |c, d| Box::pin(processing::state(c, d)))
    }

    fn acquire_compliance_lease<'a>(
        &'a self,
        holder: &'a str,
        now: Millis,
        ttl_ms: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.write((holder.to_owned(), now, ttl_ms), |c, d| Box::pin(processing::acquire_lease_w(c, d)))
    }

    fn renew_compliance_lease<'a>(
        &'a self,
        holder: &'a str,
        now: Millis,
        ttl_ms: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.write((holder.to_owned(), now, ttl_ms), |c, d| Box::pin(processing::renew_lease_w(c, d)))
    }

    fn release_compliance_lease<'a>(&'a self, holder: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        self.write(holder.to_owned(), |c, d| Box::pin(processing::release_lease_w(c, d)))
    }

    fn next_compliance_batch(&self, max_events: u32) -> BoxFuture<'_, StoreResult<Option<BatchRange>>> {
        self.read(max_events, |c, d| Box::pin(processing::next_batch(c, d)))
    }

    fn compliance_batch_page(
        &self,
        batch: BatchRange,
        cursor: (RoomId, i64),
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<(i64, ComplianceEvent)>>> {
        self.read((batch, cursor, limit), |c, d| Box::pin(processing::batch_page(c, d)))
    }

    fn begin_compliance_publish<'a>(
        &'a self,
        intent: &'a PublishIntent,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.write((intent.clone(), now), |c, d| Box::pin(processing::begin_publish_w(c, d)))
    }

    fn finish_compliance_run<'a>(
        &'a self,
        run: &'a ComplianceRun,
        batch: Option<BatchRange>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        self.write((run.clone(), batch), |c, d| Box::pin(processing::finish_run_w(c, d)))
    }

    fn compliance_runs(&self, limit: u32) -> BoxFuture<'_, StoreResult<Vec<ComplianceRun>>> {
        self.read(limit, |c, d| Box::pin(processing::runs(c, d)))
    }

    fn prune_compliance_events(&self, limit: u32) -> BoxFuture<'_, StoreResult<u64>> {
        self.write(limit, |c, d| Box::pin(processing::prune_w(c, d)))
    }

    fn import_batch(&self, batch: ImportBatch) -> BoxFuture<'_, StoreResult<()>> {
        self.write(batch, |c, d| Box::pin(ops::import_batch(c, d)))
    }

    fn snapshot(&self) -> BoxFuture<'_, StoreResult<StoreSnapshot>> {
        self.read((), |c, _| Box::pin(crate::snapshot::take(c)))
    }

    fn ping(&self) -> BoxFuture<'_, StoreResult<()>> {
        if !self.writer.is_running() {
            return Box::pin(async { Err(StoreError::Unavailable("the store writer has stopped".into())) });
        }
        // A real write to both schemas, committed like a post: a read-only or full database
        // shows here, not only on the next post.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let write = self.write(now, |c, d| Box::pin(ops::probe(c, d)));
        let read = self.read((), |c, _| Box::pin(async move { c.query_one("SELECT 1", &[]).await.db().map(|_| ()) }));
        Box::pin(async move {
            write.await?;
            read.await
        })
    }

    fn sizes(&self) -> BoxFuture<'_, StoreResult<Vec<(String, u64)>>> {
        self.read((), |c, _| {
            Box::pin(async move {
                let mut out = Vec::new();
                for schema in ["chat", "compliance"] {
                    let r = c
                        .query_one(
                            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
                             JOIN pg_namespace n ON n.oid = c.relnamespace \
                             WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
                            &[&schema],
                        )
                        .await
                        .db()?;
                    out.push((schema.to_owned(), crate::conv::get::<i64>(&r, 0)? as u64));
                }
                Ok(out)
            })
        })
    }
}
