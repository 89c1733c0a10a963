//! `SqliteStore`: the `Store` implementation over the writer thread and the read pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use longhall_core::change::{AuditQuery, AuditRecord, CatalogChange, ChangeOutcome};
use longhall_core::model::*;
use longhall_core::ports::{BoxFuture, Store, StoreSnapshot};
use longhall_core::{StoreError, StoreResult};
use rusqlite::Connection;

use crate::search::{self, Indexer};
use crate::writer::{Conns, Writer};
use crate::{ops, processing, reads, schema};

/// Read connections: at most this many reads run at once; the rest wait their turn. Without
/// the bound a burst (thousands of joins filling room caches) would run hundreds of blocking
/// threads, each with a connection of its own: memory, and descriptors that SQLite keeps open
/// after such a connection closes (so as not to drop the writer's POSIX locks).
const READ_CONNECTIONS: usize = 8;

/// The SQLite chat and compliance stores of one deployment directory.
///
/// A write is queued for the writer thread when its method is called, not when the returned
/// future is first polled, so writes issued one after another by one task commit in that
/// order even if their futures are awaited together. Dropping the future does not cancel
/// the write.
pub struct SqliteStore {
    writer: Writer,
    /// Stopped after the writer (so its last commits are seen, though not necessarily indexed).
    indexer: Indexer,
    readers: Arc<ReadPool>,
    /// Held for the store's lifetime: one process at a time owns a data directory (two would
    /// diverge: each keeps its own copy of the catalog in memory).
    _dir_lock: std::fs::File,
}

/// The lock file in a data directory; it holds the owner's process id, for the error message.
pub const LOCK_FILE: &str = "longhall.lock";

/// Takes the data directory's lock, or says which process holds it.
fn lock_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut owner = String::new();
            let _ = file.read_to_string(&mut owner);
            let owner = owner.trim();
            let who = if owner.is_empty() { "another process".to_owned() } else { format!("process {owner}") };
            return Err(StoreError::Unavailable(format!(
                "the data directory {} is in use by {who}; stop that server first, or give this one another data directory",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(StoreError::Unavailable(format!("cannot lock {}: {e}", path.display())));
        }
    }
    // Best effort: the pid only makes the message above more helpful.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    Ok(file)
}

struct ReadPool {
    chat: PathBuf,
    compliance: PathBuf,
    search: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl ReadPool {
    fn get(&self) -> StoreResult<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(c) => Ok(c),
            None => schema::open_reader(&self.chat, &self.compliance, &self.search),
        }
    }

    fn put(&self, c: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < READ_CONNECTIONS {
            idle.push(c);
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/chat.db` and `dir/compliance.db`, applies pending
    /// migrations and starts the writer thread. Blocks briefly; call it at start-up.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let dir_lock = lock_dir(dir)?;
        crate::snapshot::remove_leftovers(dir);
        let chat_path = dir.join(schema::CHAT_FILE);
        let comp_path = dir.join(schema::COMPLIANCE_FILE);
        let search_path = dir.join(schema::SEARCH_FILE);
        let chat = schema::open_writer(&chat_path, true)?;
        // An import interrupted before it built the message indexes: build them before serving.
        if crate::ops::finish_message_indexes_at_open(&chat)? {
            tracing::info!("built the message indexes of an interrupted import");
        }
        let comp = schema::open_writer(&comp_path, false)?;
        // The indexer catches up in the background (an interrupted import, a restored backup,
        // a deleted search.db): search scans what it has not reached, so it is complete meanwhile.
        let indexer = Indexer::start(schema::open_writer(&chat_path, true)?, schema::open_search_writer(&search_path)?)
            .map_err(|e| StoreError::Unavailable(format!("cannot start the search indexer: {e}")))?;
        let index = indexer.shared();
        index.notify();
        let writer = Writer::start(chat, comp, index)
            .map_err(|e| StoreError::Unavailable(format!("cannot start the store writer: {e}")))?;
        let readers = Arc::new(ReadPool {
            chat: chat_path,
            compliance: comp_path,
            search: search_path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(READ_CONNECTIONS)),
        });
        // Fail now, not on the first read, if the files cannot be read back.
        let first = readers.get()?;
        readers.put(first);
        Ok(SqliteStore { writer, indexer, readers, _dir_lock: dir_lock })
    }

    /// Finishes the queued writes, stops the writer thread and closes the files, so the
    /// directory can be opened again (by this process or another). Dropping the store does
    /// the same.
    pub fn close(mut self) {
        self.writer.stop();
        self.indexer.stop();
        self.readers.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn write<T, F>(&self, f: F) -> BoxFuture<'static, StoreResult<T>>
    where
        T: Send + 'static,
        F: FnMut(&Conns<'_>) -> StoreResult<T> + Send + 'static,
    {
        Box::pin(self.writer.submit(f))
    }

    fn read<T, F>(&self, f: F) -> BoxFuture<'static, StoreResult<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.readers.clone();
        Box::pin(async move {
            let permit = pool.permits.clone().acquire_owned().await;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let c = pool.get()?;
                let result = f(&c);
                pool.put(c);
                result
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("store read task failed: {e}")))?
        })
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("chat", &self.readers.chat).finish_non_exhaustive()
    }
}

impl Store for SqliteStore {
    fn load_catalog(&self) -> BoxFuture<'_, StoreResult<CatalogData>> {
        self.read(reads::load_catalog)
    }

    fn commit_change<'a>(
        &'a self,
        change: &'a CatalogChange,
        audit: Option<&'a AuditRecord>,
    ) -> BoxFuture<'a, StoreResult<ChangeOutcome>> {
        let (change, audit) = (change.clone(), audit.cloned());
        self.write(move |c| ops::commit_change(c, &change, audit.as_ref()))
    }

    fn audit_records<'a>(&'a self, query: &'a AuditQuery) -> BoxFuture<'a, StoreResult<Vec<AuditRecord>>> {
        let query = query.clone();
        self.read(move |c| reads::audit_records(c, &query))
    }

    fn password_hash(&self, user: UserId) -> BoxFuture<'_, StoreResult<Option<String>>> {
        self.read(move |c| reads::password_hash(c, user))
    }

    fn get_meta<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<String>>> {
        let key = key.to_owned();
        self.read(move |c| reads::get_meta(c, &key))
    }

    fn put_meta<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |c| ops::put_meta(c, &key, &value))
    }

    fn find_token<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, StoreResult<Option<TokenRecord>>> {
        let hash = hash.to_owned();
        self.read(move |c| reads::find_token(c, &hash))
    }

    fn list_tokens(&self, user: Option<UserId>) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>> {
        self.read(move |c| reads::list_tokens(c, user))
    }

    fn commit_posts(&self, posts: Vec<NewPost>) -> BoxFuture<'_, StoreResult<Vec<Seq>>> {
        self.write(move |c| ops::commit_posts(c, &posts))
    }

    fn latest_messages(&self, room: RoomId, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>> {
        self.read(move |c| reads::latest_messages(c, room, limit))
    }

    fn messages_before(&self, room: RoomId, before: Seq, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>> {
        self.read(move |c| reads::messages_before(c, room, before, limit))
    }

    fn messages_after(&self, room: RoomId, after: Seq, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>> {
        self.read(move |c| reads::messages_after(c, room, after, limit))
    }

    fn messages_around(&self, room: RoomId, ts: Millis, limit: u32) -> BoxFuture<'_, StoreResult<Vec<StoredMessage>>> {
        self.read(move |c| reads::messages_around(c, room, ts, limit))
    }

    fn search<'a>(&'a self, query: &'a SearchQuery) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>> {
        let query = query.clone();
        self.read(move |c| search::search(c, &query))
    }

    fn replace_messages<'a>(
        &'a self,
        room: RoomId,
        seqs: &'a [Seq],
        text: &'a str,
        event: &'a ComplianceEvent,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>> {
        let (seqs, text, event) = (seqs.to_vec(), text.to_owned(), event.clone());
        self.write(move |c| ops::replace_messages(c, room, &seqs, &text, &event))
    }

    fn clear_room<'a>(
        &'a self,
        room: RoomId,
        up_to: Millis,
        limit: u32,
        event: &'a ComplianceEvent,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        let event = event.clone();
        self.write(move |c| ops::clear_room(c, room, up_to, limit, &event))
    }

    fn rooms_larger_than(&self, bytes: u64) -> BoxFuture<'_, StoreResult<Vec<(RoomId, u64)>>> {
        self.read(move |c| reads::rooms_larger_than(c, bytes))
    }

    fn usage(&self, from_ts: Millis, to_ts: Millis) -> BoxFuture<'_, StoreResult<UsageFigures>> {
        self.read(move |c| reads::usage(c, from_ts, to_ts))
    }

    fn count_messages_up_to(&self, room: RoomId, up_to: Millis) -> BoxFuture<'_, StoreResult<u64>> {
        self.read(move |c| reads::count_messages_up_to(c, room, up_to))
    }

    fn scan_messages<'a>(&'a self, scan: &'a MessageScan) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>> {
        let scan = scan.clone();
        self.read(move |c| reads::scan_messages(c, &scan))
    }

    fn delete_messages<'a>(
        &'a self,
        room: RoomId,
        seqs: &'a [Seq],
        event: &'a ComplianceEvent,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>> {
        let (seqs, event) = (seqs.to_vec(), event.clone());
        self.write(move |c| ops::delete_messages(c, room, &seqs, &event))
    }

    fn set_followed(&self, user: UserId, room: RoomId, follow: bool) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |c| ops::set_followed(c, user, room, follow))
    }

    fn followed(&self, user: UserId) -> BoxFuture<'_, StoreResult<Vec<Followed>>> {
        self.read(move |c| reads::followed(c, user))
    }

    fn set_read(&self, user: UserId, room: RoomId, seq: Seq) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |c| ops::set_read(c, user, room, seq))
    }

    fn add_invitations<'a>(
        &'a self,
        room: RoomId,
        users: &'a [UserId],
        ts: Millis,
    ) -> BoxFuture<'a, StoreResult<Vec<Invitation>>> {
        let users = users.to_vec();
        self.write(move |c| ops::add_invitations(c, room, &users, ts))
    }

    fn invitations_after(&self, user: UserId, after: i64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<Invitation>>> {
        self.read(move |c| reads::invitations_after(c, user, after, limit))
    }

    fn delete_invitation(&self, user: UserId, id: i64) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |c| ops::delete_invitation(c, user, id))
    }

    fn count_alerts_after(&self, room: RoomId, after: Seq) -> BoxFuture<'_, StoreResult<u64>> {
        self.read(move |c| reads::count_alerts_after(c, room, after))
    }

    fn insert_file<'a>(&'a self, file: &'a FileMeta, event: &'a ComplianceEvent) -> BoxFuture<'a, StoreResult<FileId>> {
        let (file, event) = (file.clone(), event.clone());
        self.write(move |c| ops::insert_file(c, &file, &event))
    }

    fn get_file(&self, id: FileId) -> BoxFuture<'_, StoreResult<Option<FileMeta>>> {
        self.read(move |c| reads::get_file(c, id))
    }

    fn room_files(&self, room: RoomId) -> BoxFuture<'_, StoreResult<Vec<FileMeta>>> {
        self.read(move |c| reads::room_files(c, room))
    }

    fn record_compliance(&self, events: Vec<ComplianceEvent>) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |c| {
            for e in &events {
                ops::record_event(c, e)?;
            }
            Ok(())
        })
    }

    fn compliance_events(&self, after: i64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<(i64, ComplianceEvent)>>> {
        self.read(move |c| reads::compliance_events(c, after, limit))
    }

    fn open_participations(&self) -> BoxFuture<'_, StoreResult<Vec<OpenParticipation>>> {
        self.read(reads::open_participations)
    }

    fn clear_open_participations(&self) -> BoxFuture<'_, StoreResult<()>> {
        self.write(ops::clear_open_participations)
    }

    fn compliance_config(&self) -> BoxFuture<'_, StoreResult<Option<ComplianceConfig>>> {
        self.read(processing::config)
    }

    fn compliance_state(&self) -> BoxFuture<'_, StoreResult<ComplianceState>> {
        self.read(processing::state)
    }

    fn acquire_compliance_lease<'a>(
        &'a self,
        holder: &'a str,
        now: Millis,
        ttl_ms: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let holder = holder.to_owned();
        self.write(move |c| processing::acquire_lease_w(c, &holder, now, ttl_ms))
    }

    fn renew_compliance_lease<'a>(
        &'a self,
        holder: &'a str,
        now: Millis,
        ttl_ms: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let holder = holder.to_owned();
        self.write(move |c| processing::renew_lease_w(c, &holder, now, ttl_ms))
    }

    fn release_compliance_lease<'a>(&'a self, holder: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        let holder = holder.to_owned();
        self.write(move |c| processing::release_lease_w(c, &holder))
    }

    fn next_compliance_batch(&self, max_events: u32) -> BoxFuture<'_, StoreResult<Option<BatchRange>>> {
        self.read(move |c| processing::next_batch(c, max_events))
    }

    fn compliance_batch_page(
        &self,
        batch: BatchRange,
        cursor: (RoomId, i64),
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<(i64, ComplianceEvent)>>> {
        self.read(move |c| processing::batch_page(c, batch, cursor, limit))
    }

    fn begin_compliance_publish<'a>(
        &'a self,
        intent: &'a PublishIntent,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let intent = intent.clone();
        self.write(move |c| processing::begin_publish_w(c, &intent, now))
    }

    fn finish_compliance_run<'a>(
        &'a self,
        run: &'a ComplianceRun,
        batch: Option<BatchRange>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        let run = run.clone();
        self.write(move |c| processing::finish_run_w(c, &run, batch))
    }

    fn compliance_runs(&self, limit: u32) -> BoxFuture<'_, StoreResult<Vec<ComplianceRun>>> {
        self.read(move |c| processing::runs(c, limit))
    }

    fn prune_compliance_events(&self, limit: u32) -> BoxFuture<'_, StoreResult<u64>> {
        self.write(move |c| processing::prune_w(c, limit))
    }

    fn import_batch(&self, batch: ImportBatch) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |c| ops::import_batch(c, &batch))
    }

    fn finish_import(&self) -> BoxFuture<'_, StoreResult<()>> {
        // The message indexes put off, then the search index caught up with every message (the
        // indexer has been indexing beside the import all along, on its own connection).
        let indexes = self.write(|c| ops::finish_message_indexes(c.chat));
        let index = self.indexer.shared();
        Box::pin(async move {
            indexes.await?;
            tokio::task::spawn_blocking(move || index.wait_caught_up())
                .await
                .map_err(|e| StoreError::Unavailable(format!("the search indexing task failed: {e}")))?
        })
    }

    fn snapshot(&self) -> BoxFuture<'_, StoreResult<StoreSnapshot>> {
        let (chat, compliance) = (self.readers.chat.clone(), self.readers.compliance.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || crate::snapshot::take(&chat, &compliance))
                .await
                .map_err(|e| StoreError::Unavailable(format!("the snapshot task failed: {e}")))?
        })
    }

    fn ping(&self) -> BoxFuture<'_, StoreResult<()>> {
        if !self.writer.is_running() {
            return Box::pin(async { Err(StoreError::Unavailable("the store writer has stopped".into())) });
        }
        // A real write to both files, committed and synced like a post: a read-only directory,
        // a full disk or a failing device shows here, not only on the next post.
        let write = self.write(|c| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            c.comp
                .execute(
                    "INSERT INTO health_probe (id, at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    [now],
                )
                .map_err(crate::conv::unavailable)?;
            ops::put_meta(c, "health_probe", &now.to_string())
        });
        let read = self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(crate::conv::unavailable));
        Box::pin(async move {
            write.await?;
            read.await
        })
    }

    fn sizes(&self) -> BoxFuture<'_, StoreResult<Vec<(String, u64)>>> {
        let files = [self.readers.chat.clone(), self.readers.compliance.clone(), self.readers.search.clone()];
        Box::pin(async move {
            tokio::task::spawn_blocking(move || files.iter().map(|db| db_size(db)).collect())
                .await
                .map_err(|e| StoreError::Unavailable(format!("the size task failed: {e}")))?
        })
    }
}

/// A database file's bytes with its write-ahead log and shared-memory index (absent ones count 0).
fn db_size(db: &Path) -> StoreResult<(String, u64)> {
    let name = db.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut bytes = 0;
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        match std::fs::metadata(&path) {
            Ok(m) => bytes += m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !suffix.is_empty() => {}
            Err(e) => return Err(StoreError::Unavailable(format!("cannot read the size of {}: {e}", path.display()))),
        }
    }
    Ok((name, bytes))
}
