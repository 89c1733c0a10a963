//! The single writer thread and its group commit.
//!
//! Every write is a job sent to one thread that owns the write connections of both files.
//! The thread takes whatever is queued (up to `MAX_BATCH` jobs), runs the jobs in one
//! transaction per file, each inside its own savepoint so a failing job (a name conflict)
//! is undone alone, commits the compliance file and then the chat file, and only then
//! answers each job. Under load one fsync pair covers hundreds of posts; with a single
//! writer there is no lock contention and per-room sequence numbers are simply
//! `last_seq + 1` inside the transaction.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use longhall_core::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::search;

/// The write connections, as a job sees them.
pub(crate) struct Conns<'a> {
    pub chat: &'a Connection,
    /// `compliance.db`; a job writes its compliance events here.
    pub comp: &'a Connection,
}

/// Enough to amortise an fsync over a burst, small enough that one batch never holds the
/// write lock for long.
const MAX_BATCH: usize = 1024;

pub(crate) trait Job: Send {
    /// Runs the job's statements; may run again (alone) if its batch had to be retried.
    fn run(&mut self, c: &Conns<'_>) -> StoreResult<()>;
    /// Answers the caller once the outcome is final (committed, or failed and undone).
    fn finish(self: Box<Self>, outcome: StoreResult<()>);
}

struct TypedJob<T, F> {
    f: F,
    out: Option<T>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnMut(&Conns<'_>) -> StoreResult<T> + Send,
{
    fn run(&mut self, c: &Conns<'_>) -> StoreResult<()> {
        self.out = None;
        self.out = Some((self.f)(c)?);
        Ok(())
    }

    fn finish(self: Box<Self>, outcome: StoreResult<()>) {
        let TypedJob { out, reply, .. } = *self;
        let result =
            outcome.and_then(|()| out.ok_or_else(|| StoreError::Unavailable("write job produced no result".into())));
        // The caller may have stopped waiting; the write stands either way.
        let _ = reply.send(result);
    }
}

/// The sending side, held by the store.
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// `index` is told after every batch, so the search indexer picks up what was committed.
    pub(crate) fn start(chat: Connection, comp: Connection, index: Arc<search::Shared>) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("longhall-sqlite-writer".into())
            .spawn(move || run(chat, comp, rx, &index))?;
        Ok(Writer { tx: Some(tx), thread: Some(thread) })
    }

    /// Queues `f` and resolves when its batch is committed (or it failed and was undone).
    pub(crate) fn submit<T, F>(&self, f: F) -> impl Future<Output = StoreResult<T>> + Send + 'static
    where
        T: Send + 'static,
        F: FnMut(&Conns<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob { f, out: None, reply });
        let sent = match &self.tx {
            Some(tx) => tx.send(job).is_ok(),
            None => false,
        };
        async move {
            if !sent {
                return Err(StoreError::Unavailable("the store is closed".into()));
            }
            rx.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the store writer stopped".into())))
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Lets the thread finish the queued jobs, then waits for it so the files are closed.
    pub(crate) fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the sqlite writer thread panicked");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(chat: Connection, comp: Connection, rx: mpsc::Receiver<Box<dyn Job>>, index: &search::Shared) {
    let conns = Conns { chat: &chat, comp: &comp };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match run_batch(&conns, &mut batch) {
            BatchOutcome::Committed(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    job.finish(outcome);
                }
            }
            BatchOutcome::Retry(why) => {
                tracing::warn!(error = %why, jobs = batch.len(), "write batch failed; retrying each job alone");
                for mut job in batch {
                    let outcome = run_alone(&conns, job.as_mut());
                    job.finish(outcome);
                }
            }
            BatchOutcome::Failed(why) => {
                tracing::error!(error = %why, jobs = batch.len(), "write batch failed after the compliance commit");
                for job in batch {
                    job.finish(Err(why.clone()));
                }
            }
        }
        index.notify();
    }
    // Leave no WAL behind on a clean stop, so the directory is two self-contained files.
    if let Err(e) = chat.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "checkpoint of chat.db at shutdown failed");
    }
    if let Err(e) = comp.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "checkpoint of compliance.db at shutdown failed");
    }
}

enum BatchOutcome {
    /// Committed; one outcome per job (a failed job was rolled back to its savepoint).
    Committed(Vec<StoreResult<()>>),
    /// Nothing was committed; every job may run again.
    Retry(StoreError),
    /// The compliance file committed but the chat file did not; retrying would record the
    /// compliance events twice, so every job fails (the archive may hold events of writes
    /// reported as failed, never the reverse).
    Failed(StoreError),
}

fn exec(c: &Connection, sql: &str) -> StoreResult<()> {
    c.execute_batch(sql).map_err(crate::conv::unavailable)
}

fn rollback(c: &Conns<'_>) {
    for conn in [c.comp, c.chat] {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

fn begin(c: &Conns<'_>) -> StoreResult<()> {
    exec(c.comp, "BEGIN IMMEDIATE")?;
    if let Err(e) = exec(c.chat, "BEGIN IMMEDIATE") {
        rollback(c);
        return Err(e);
    }
    Ok(())
}

fn run_job(c: &Conns<'_>, job: &mut dyn Job) -> StoreResult<()> {
    catch_unwind(AssertUnwindSafe(|| job.run(c)))
        .unwrap_or_else(|_| Err(StoreError::Unavailable("a write job panicked".into())))
}

fn run_batch(c: &Conns<'_>, batch: &mut [Box<dyn Job>]) -> BatchOutcome {
    if let Err(e) = begin(c) {
        return BatchOutcome::Retry(e);
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        let step = (|| {
            exec(c.comp, "SAVEPOINT job")?;
            exec(c.chat, "SAVEPOINT job")?;
            let outcome = run_job(c, job.as_mut());
            // A failure that ended the transaction (disk full, I/O error) leaves nothing to
            // roll back to: the whole batch must be redone.
            if c.comp.is_autocommit() || c.chat.is_autocommit() {
                return Err(outcome
                    .err()
                    .unwrap_or_else(|| StoreError::Unavailable("a write job ended the transaction".into())));
            }
            if outcome.is_err() {
                exec(c.comp, "ROLLBACK TO job")?;
                exec(c.chat, "ROLLBACK TO job")?;
            }
            exec(c.comp, "RELEASE job")?;
            exec(c.chat, "RELEASE job")?;
            Ok(outcome)
        })();
        match step {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                rollback(c);
                return BatchOutcome::Retry(e);
            }
        }
    }
    // Compliance first: a crash between the two commits leaves a record of a change that
    // was never made, never a change without its record.
    if let Err(e) = exec(c.comp, "COMMIT") {
        rollback(c);
        return BatchOutcome::Retry(e);
    }
    if let Err(e) = exec(c.chat, "COMMIT") {
        rollback(c);
        return BatchOutcome::Failed(e);
    }
    BatchOutcome::Committed(outcomes)
}

fn run_alone(c: &Conns<'_>, job: &mut dyn Job) -> StoreResult<()> {
    begin(c)?;
    if let Err(e) = run_job(c, job) {
        rollback(c);
        return Err(e);
    }
    if let Err(e) = exec(c.comp, "COMMIT") {
        rollback(c);
        return Err(e);
    }
    if let Err(e) = exec(c.chat, "COMMIT") {
        rollback(c);
        return Err(e);
    }
    Ok(())
}
