//! The writer task and its group commit.
//!
//! Every write is a job sent to one task that owns the write connection. The task takes
//! whatever is queued (up to `MAX_BATCH` jobs) and runs them in one transaction, each inside
//! its own savepoint so a failing job (a name conflict) is undone alone, commits, and only
//! then answers each job: one WAL flush covers many writes (joins' compliance records, posts,
//! read positions). The core already hands posts over in batches (`commit_posts`), so a burst
//! of posts is one transaction either way.
//!
//! Each transaction first takes the store's advisory write lock: writers of one database
//! (today one server, later a pool) commit one at a time, so compliance event ids and message
//! ids become visible in increasing order, as the processing rules require.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use longhall_core::ports::BoxFuture;
use longhall_core::{StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

use crate::conn::{Conn, describe, is_db_error};
use crate::schema::WRITE_LOCK;

/// Enough to amortise a commit over a burst, small enough that one batch never holds the
/// write lock for long.
const MAX_BATCH: usize = 1024;

/// What a store call runs: a function of a connection (the write connection for a write, a
/// pooled one for a read) and the call's own data.
pub(crate) type ConnFn<D, T> = for<'c> fn(&'c Conn, &'c D) -> BoxFuture<'c, StoreResult<T>>;

trait Job: Send {
    /// Runs the job's statements; may run again (alone) if its batch had to be retried.
    fn run<'a>(&'a mut self, c: &'a Conn) -> BoxFuture<'a, StoreResult<()>>;
    /// Answers the caller once the outcome is final (committed, or failed and undone).
    fn finish(self: Box<Self>, outcome: StoreResult<()>);
}

struct TypedJob<D, T> {
    data: D,
    f: ConnFn<D, T>,
    out: Option<T>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<D: Send + Sync, T: Send> Job for TypedJob<D, T> {
    fn run<'a>(&'a mut self, c: &'a Conn) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.out = None;
            let out = (self.f)(c, &self.data).await?;
            self.out = Some(out);
            Ok(())
        })
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
    tx: mpsc::UnboundedSender<Box<dyn Job>>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    pub(crate) fn start(url: String, conn: Conn) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(url, Some(conn), rx));
        Writer { tx, task }
    }

    /// Queues the job at once (so writes issued one after another commit in that order, even
    /// if their futures are awaited together) and resolves when its batch is committed or it
    /// failed and was undone.
    pub(crate) fn submit<D, T>(&self, data: D, f: ConnFn<D, T>) -> BoxFuture<'static, StoreResult<T>>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let sent = self.tx.send(Box::new(TypedJob { data, f, out: None, reply })).is_ok();
        Box::pin(async move {
            if !sent {
                return Err(StoreError::Unavailable("the store is closed".into()));
            }
            rx.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the store writer stopped".into())))
        })
    }

    pub(crate) fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Lets the task finish the queued jobs, then waits for it.
    pub(crate) async fn stop(self) {
        let Writer { tx, task } = self;
        drop(tx);
        if task.await.is_err() {
            tracing::error!("the postgresql writer task failed");
        }
    }
}

async fn run(url: String, mut conn: Option<Conn>, mut rx: mpsc::UnboundedReceiver<Box<dyn Job>>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A connection the server closed (restart, failover) is replaced before the next batch.
        if conn.as_ref().is_none_or(Conn::is_closed) {
            conn = match Conn::connect_writer(&url).await {
                Ok(c) => Some(c),
                Err(e) => {
                    for job in batch.drain(..) {
                        job.finish(Err(e.clone()));
                    }
                    continue;
                }
            };
        }
        let Some(c) = conn.as_ref() else { continue };
        match run_batch(c, &mut batch).await {
            BatchOutcome::Committed(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    job.finish(outcome);
                }
            }
            BatchOutcome::Retry(why) => {
                tracing::warn!(error = %why, jobs = batch.len(), "write batch failed; retrying each job alone");
                // Nothing was committed: a connection lost before the commit is replaced and
                // every job runs again.
                if c.is_closed() {
                    conn = Conn::connect_writer(&url).await.ok();
                }
                for mut job in batch.drain(..) {
                    let outcome = match conn.as_ref() {
                        Some(c) => run_alone(c, job.as_mut()).await,
                        None => Err(why.clone()),
                    };
                    job.finish(outcome);
                }
            }
            BatchOutcome::Unknown(why) => {
                tracing::error!(error = %why, jobs = batch.len(), "the connection failed during a commit");
                for job in batch.drain(..) {
                    job.finish(Err(why.clone()));
                }
            }
        }
    }
}

enum BatchOutcome {
    /// Committed; one outcome per job (a failed job was rolled back to its savepoint).
    Committed(Vec<StoreResult<()>>),
    /// Nothing was committed; every job may run again.
    Retry(StoreError),
    /// The connection broke during the commit: whether it happened is unknown, so no job is
    /// retried (that could write twice) and every caller gets the error.
    Unknown(StoreError),
}

async fn begin(c: &Conn) -> StoreResult<()> {
    c.batch(&format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")).await
}

async fn rollback(c: &Conn) {
    let _ = c.client.batch_execute("ROLLBACK").await;
}

async fn run_job(c: &Conn, job: &mut dyn Job) -> StoreResult<()> {
    AssertUnwindSafe(job.run(c))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("a write job panicked".into())))
}

/// Commits, after `before` (statements that end the last savepoint).
async fn commit(c: &Conn, before: &str) -> Result<(), BatchOutcome> {
    match c.client.batch_execute(&format!("{before}COMMIT")).await {
        Ok(()) => Ok(()),
        // The server refused the commit (or what came before it): it rolled back, nothing
        // was written.
        Err(e) if is_db_error(&e) => {
            rollback(c).await;
            Err(BatchOutcome::Retry(StoreError::Unavailable(format!("postgresql: {}", describe(&e)))))
        }
        Err(e) => Err(BatchOutcome::Unknown(StoreError::Unavailable(format!("postgresql: {}", describe(&e))))),
    }
}

async fn run_batch(c: &Conn, batch: &mut [Box<dyn Job>]) -> BatchOutcome {
    // A lone job needs no savepoint: if it fails, the whole transaction is rolled back.
    let alone = batch.len() == 1;
    let mut outcomes: Vec<StoreResult<()>> = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        // What must run before this job: BEGIN and the write lock for the first, then ending
        // the previous job's savepoint (undoing it if it failed), and this job's savepoint.
        // It is sent together with the job's first statement (the client pipelines them and
        // the server runs them in order), so the boundary costs no round trip of its own.
        let mut boundary = String::new();
        match outcomes.last() {
            None => boundary.push_str(&format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK});")),
            Some(Err(_)) => boundary.push_str("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job;"),
            Some(Ok(())) => boundary.push_str("RELEASE SAVEPOINT job;"),
        }
        if !alone {
            boundary.push_str(" SAVEPOINT job;");
        }
        let (ready, outcome) = futures_util::join!(c.batch(&boundary), run_job(c, job.as_mut()));
        if let Err(e) = ready {
            // The job ran in an aborted transaction: nothing of the batch counts.
            rollback(c).await;
            return BatchOutcome::Retry(e);
        }
        if c.is_closed() {
            let e = outcome.err().unwrap_or_else(|| StoreError::Unavailable("the connection closed".into()));
            return BatchOutcome::Retry(e);
        }
        outcomes.push(outcome);
    }
    if alone {
        if outcomes[0].is_err() {
            rollback(c).await;
            return BatchOutcome::Committed(outcomes);
        }
        return match commit(c, "").await {
            Ok(()) => BatchOutcome::Committed(outcomes),
            Err(o) => o,
        };
    }
    let end = if outcomes.last().is_some_and(Result::is_err) {
        "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job; "
    } else {
        "RELEASE SAVEPOINT job; "
    };
    match commit(c, end).await {
        Ok(()) => BatchOutcome::Committed(outcomes),
        Err(o) => o,
    }
}

async fn run_alone(c: &Conn, job: &mut dyn Job) -> StoreResult<()> {
    if c.is_closed() {
        return Err(StoreError::Unavailable("the connection to PostgreSQL closed".into()));
    }
    if let Err(e) = begin(c).await {
        rollback(c).await;
        return Err(e);
    }
    if let Err(e) = run_job(c, job).await {
        rollback(c).await;
        return Err(e);
    }
    match commit(c, "").await {
        Ok(()) => Ok(()),
        Err(BatchOutcome::Retry(e) | BatchOutcome::Unknown(e)) => Err(e),
        Err(BatchOutcome::Committed(_)) => Ok(()),
    }
}
