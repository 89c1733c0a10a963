//! The processing cycle: every `run_interval`, one server of the pool takes the lease, finishes
//! an interrupted publication if there is one, then hands the waiting events to the adapter in
//! batches (each batch: one conversation per room, rooms by id, events by id) until none wait.
//!
//! # Exactly once, across crashes
//!
//! A file-writing adapter writes its files under temporary names (`Output`). Then, for each
//! batch:
//!
//! 1. every temporary file is synced (`fsync`);
//! 2. the store records the *publishing intent*: "batch B (events after W up to L) publishes
//!    T1→F1 … Tn→Fn" — only if this server holds the lease and the watermark is still W;
//! 3. each temporary file is renamed to its final name, then the folders are synced;
//! 4. one store transaction moves the watermark from W to L, clears the intent and appends the
//!    run record.
//!
//! At the start of every cycle (under the lease), an intent left by a crash is completed: a
//! temporary file still present is renamed, one whose final file exists was already renamed,
//! then step 4 runs. The batch is never handed to the adapter again. Temporary files without
//! an intent (a crash before step 2) are deleted, and their batch simply runs again — with the
//! same batch id, hence the same file names. Should a file of an intent be gone under both
//! names (removed by hand), that batch runs again over exactly the same events and its files
//! replace the ones already published.
//!
//! A run that fails (the adapter refuses, the disk is full) marks nothing: its run record
//! carries the error and the batch is retried next cycle. The `command` adapter writes no
//! files: its delivery is at least once (a crash after the program succeeded and before step
//! 4 runs the batch again; `LONGHALL_BATCH_ID` lets the program recognise it).
//!
//! Processed events are pruned in chunks after each cycle (and at the start of the next, for
//! whatever a crash left), never in the commit itself, so no single store transaction grows
//! with the batch.
//!
//! # Memory
//!
//! The adapter runs on a blocking thread and reads the batch through an [`EventSource`] fed by
//! a bounded channel; events are read from the store page by page in (room, id) order and
//! names are resolved as they go, so a batch of any size takes the same memory.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use longhall_core::model::{
    BatchRange, ComplianceConfig, ComplianceEvent, ComplianceKind, ComplianceRun, FileId, FileMeta, Millis,
    PublishFile, PublishIntent, RoomId, UserId,
};
use longhall_core::ports::{BoxFuture, Clock, ComplianceRunner, RunnerHealth, Store};
use longhall_core::{CoreError, CoreResult, Longhall, StoreError};
use longhall_types::ErrorCode;
use longhall_types::api::{Privacy, RoomType};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use crate::adapter::{Adapter, AdapterConfig, AdapterError, Output, StagedFile};
use crate::adapters::xml::WORK_FOLDER_PREFIX;
use crate::batch::{BatchInfo, Conversation, Event, EventSource, FileInfo, RoomInfo, Sender, SourceError};

/// Builds the adapter a configuration names (`xml`, `jsonl`, `eml`, `command`); by default
/// [`crate::adapters::build`].
pub type AdapterFactory = Arc<dyn Fn(&str) -> Result<Box<dyn Adapter>, AdapterError> + Send + Sync>;

/// Applies a stylesheet to the sample batch: the output, or the error (naming the line).
pub type StylesheetTester = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// The points of a batch's publication where the crash tests stop a processor dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The adapter wrote its temporary files; nothing is synced.
    AfterTranslate,
    /// The temporary files are synced; no intent is recorded.
    AfterFsync,
    /// The intent is recorded; no file is renamed.
    AfterIntent,
    /// The first file is renamed, the others not (batches with two files or more).
    BetweenRenames,
    /// Every file is renamed; the watermark has not moved.
    AfterRenames,
    /// The commit went through, but the process "died" before it could answer.
    AfterCommit,
}

/// Tunables of a processor.
#[derive(Clone)]
pub struct ProcessorSettings {
    /// This server's name in the lease and the run history; unique per process.
    pub server_id: String,
    /// The deployment's domain, for `ma-chan://<domain>/<room id>` URIs.
    pub domain: String,
    /// The file store's folder (the manifest copies attachments from `<files_dir>/<key>`).
    pub files_dir: PathBuf,
    /// How long the lease lasts without renewal; renewed every third of it while running.
    pub lease_ttl_ms: i64,
    /// The most events in one batch; a larger backlog is processed in several.
    pub max_batch_events: u32,
    /// Events read from the store at a time.
    pub page_events: u32,
    /// Chunks of events in flight between the store reader and the adapter.
    pub feed_chunks: usize,
    /// Builds adapters by name.
    pub adapters: AdapterFactory,
    /// Tests stylesheets against the sample batch.
    pub stylesheet_tester: StylesheetTester,
}

impl ProcessorSettings {
    /// The defaults: the built-in adapters (XSLT in the running program's `xslt-worker`
    /// subcommand), a 15-second lease, batches of at most 100,000 events.
    pub fn new(server_id: String, domain: String, files_dir: PathBuf) -> ProcessorSettings {
        let xslt = crate::adapters::BuildOptions::default().xslt;
        ProcessorSettings {
            server_id,
            domain,
            files_dir,
            lease_ttl_ms: 15_000,
            max_batch_events: 100_000,
            page_events: 1000,
            feed_chunks: 16,
            adapters: Arc::new(crate::adapters::build),
            stylesheet_tester: Arc::new(move |text: &str| {
                crate::xslt::test_stylesheet(&xslt, text).map_err(|e| e.to_string())
            }),
        }
    }
}

/// A server id for the lease and the run history: host, process id and a random part, so two
/// processes never share one (a restarted server is a new holder).
pub fn new_server_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "longhall".into());
    format!("{host}:{}:{}", std::process::id(), random_hex())
}

fn random_hex() -> String {
    let mut b = [0u8; 4];
    // A clash only costs a temporary-file name or a server name; never fatal.
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Raised while the timer loop runs; lowered when the loop's future ends or is dropped.
struct RunningFlag(Arc<AtomicBool>);

impl RunningFlag {
    fn raise(flag: Arc<AtomicBool>) -> RunningFlag {
        flag.store(true, Ordering::SeqCst);
        RunningFlag(flag)
    }
}

impl Drop for RunningFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Why a batch did not complete.
enum Halt {
    /// A simulated crash (`crash_at`): stop at once, clean nothing up, keep the lease.
    Crash(Step),
    /// The run failed; the message goes into its run record.
    Failed(String),
}

impl From<CoreError> for Halt {
    fn from(e: CoreError) -> Self {
        Halt::Failed(e.message)
    }
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Self {
        Halt::Failed(format!("the compliance store failed: {e}"))
    }
}

/// The processing cycle of one server.
pub struct Processor {
    lh: Arc<Longhall>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: ProcessorSettings,
    /// One cycle at a time on this server (timer and "run now").
    cycle: tokio::sync::Mutex<()>,
    changed: Notify,
    stopping: AtomicBool,
    /// The timer loop (`run`) is running: set when it starts, cleared when it ends however it
    /// ends (a panic too), for readiness.
    running: Arc<AtomicBool>,
    /// When the latest cycle ended (ms since 1970; 0: none yet).
    last_cycle: AtomicI64,
    /// When this processor was made: the first run is due one interval later when the pool
    /// has never run one.
    created: Millis,
    /// Test hook: stop dead at this step of the first batch that reaches it, as if the process
    /// had been killed there (no cleanup, the lease is kept). `None` in production.
    pub crash_at: Option<Step>,
}

impl Processor {
    pub fn new(
        lh: Arc<Longhall>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: ProcessorSettings,
    ) -> Processor {
        Processor {
            created: clock.now_ms(),
            lh,
            store,
            clock,
            settings,
            cycle: tokio::sync::Mutex::new(()),
            changed: Notify::new(),
            stopping: AtomicBool::new(false),
            running: Arc::new(AtomicBool::new(false)),
            last_cycle: AtomicI64::new(0),
            crash_at: None,
        }
    }

    /// Makes this processor the one `lh`'s services call (run now, test a stylesheet…).
    pub fn register(self: &Arc<Self>) -> bool {
        let weak: Weak<dyn ComplianceRunner> = Arc::downgrade(self) as Weak<dyn ComplianceRunner>;
        self.lh.set_compliance_runner(weak)
    }

    pub fn server_id(&self) -> &str {
        &self.settings.server_id
    }

    /// Asks the timer loop to end; a batch being processed finishes first.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The timer loop: runs a cycle whenever one is due (one `run_interval` after the latest
    /// run of any server of the pool), re-reading the configuration when it changes and at
    /// least every minute. Returns after `stop`.
    /// Readiness counts the loop as running from this call (not from its first poll) until the
    /// returned future ends or is dropped.
    pub fn run(self: Arc<Self>) -> impl std::future::Future<Output = ()> + Send + 'static {
        let running = RunningFlag::raise(self.running.clone());
        async move {
            let _running = running;
            self.run_loop().await;
        }
    }

    async fn run_loop(&self) {
        let started = self.created;
        let mut last_attempt: Option<Millis> = None;
        while !self.stopping() {
            // Register for a change before reading, so none is missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wait = match self.due_in(started, last_attempt).await {
                Ok(Some(0)) => {
                    last_attempt = Some(self.clock.now_ms());
                    match self.run_cycle().await {
                        Ok(runs) => {
                            let events: u64 = runs.iter().map(|r| r.events).sum();
                            tracing::info!(events, runs = runs.len(), "compliance run finished");
                        }
                        Err(e) => tracing::warn!(error = %e, "compliance run did not happen"),
                    }
                    continue;
                }
                Ok(Some(ms)) => ms.min(60_000),
                Ok(None) => 60_000,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the compliance configuration failed");
                    60_000
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                _ = changed => {}
            }
        }
    }

    /// Milliseconds until the next run is due; `None` when processing is off.
    async fn due_in(&self, started: Millis, last_attempt: Option<Millis>) -> CoreResult<Option<i64>> {
        let config = self.lh.compliance_config_or_default().await?;
        if !config.enabled {
            return Ok(None);
        }
        let interval = (config.run_interval_secs as i64).saturating_mul(1000);
        let last_run = self.store.compliance_runs(1).await?.first().map(|r| r.started);
        let mut next = last_run.unwrap_or(started).saturating_add(interval);
        if let Some(t) = last_attempt {
            // A cycle that could not run (another server's lease, a store failure) is not
            // retried at once.
            next = next.max(t + interval.min(60_000));
        }
        Ok(Some((next - self.clock.now_ms()).max(0)))
    }

    /// One cycle: take the lease, complete an interrupted publication, then process batches
    /// until no event waits. Returns the run records written, in order.
    pub async fn run_cycle(&self) -> CoreResult<Vec<ComplianceRun>> {
        if self.stopping() {
            return Err(CoreError::new(
                ErrorCode::ShuttingDown,
                "The server is stopping; run compliance after it restarts.",
            ));
        }
        let _one = self.cycle.lock().await;
        let config = self.lh.compliance_config_or_default().await?;
        if !config.enabled {
            return Err(CoreError::new(
                ErrorCode::ComplianceDisabled,
                "Compliance processing is off; turn it on with PUT /api/v1/admin/compliance/config {\"enabled\": true}.",
            ));
        }
        let me = self.settings.server_id.clone();
        let ttl = self.settings.lease_ttl_ms;
        if !self.store.acquire_compliance_lease(&me, self.clock.now_ms(), ttl).await? {
            let holder = self.store.compliance_state().await?.lease.map(|l| l.holder).unwrap_or_default();
            return Err(CoreError::new(
                ErrorCode::InUse,
                format!("Server {holder} is processing compliance events right now; try again when it has finished."),
            ));
        }
        let lost = Arc::new(AtomicBool::new(false));
        let keeper = tokio::spawn(keep_lease(self.store.clone(), self.clock.clone(), me.clone(), ttl, lost.clone()));
        let result = self.cycle_locked(&config, &lost).await;
        keeper.abort();
        self.last_cycle.store(self.clock.now_ms(), Ordering::SeqCst);
        match result {
            Ok(runs) => {
                if let Err(e) = self.store.release_compliance_lease(&me).await {
                    tracing::warn!(error = %e, "releasing the compliance lease failed; it expires by itself");
                }
                self.prune().await;
                Ok(runs)
            }
            Err(step) => Err(CoreError::new(
                ErrorCode::Internal,
                format!("compliance processing was stopped dead at {step:?} (crash test)"),
            )),
        }
    }

    fn output_dir(&self, config: &ComplianceConfig) -> PathBuf {
        PathBuf::from(config.output_dir.clone().unwrap_or_else(|| self.lh.settings().compliance_output_dir.clone()))
    }

    fn adapter_config(&self, config: &ComplianceConfig) -> AdapterConfig {
        AdapterConfig {
            output_dir: self.output_dir(config),
            one_chat_room_per_output_file: config.one_chat_room_per_output_file,
            add_chat_room_details: config.add_chat_room_details,
            add_user_details: config.add_user_details,
            create_file_attachments_manifest: config.create_file_attachments_manifest,
            custom_configuration: config.custom_configuration.clone(),
            command: config.command.clone(),
            files_dir: self.settings.files_dir.clone(),
        }
    }

    fn build_adapter(&self, config: &ComplianceConfig) -> Result<Box<dyn Adapter>, String> {
        let mut adapter = (self.settings.adapters)(&config.adapter).map_err(|e| e.to_string())?;
        adapter.configure(&self.adapter_config(config)).map_err(|e| e.to_string())?;
        Ok(adapter)
    }

    /// The cycle under the lease. `Err` only for a simulated crash; failures are run records.
    async fn cycle_locked(&self, config: &ComplianceConfig, lost: &AtomicBool) -> Result<Vec<ComplianceRun>, Step> {
        let mut runs = Vec::new();
        let mut adapter: Option<Box<dyn Adapter>> = None;
        let output_dir = self.output_dir(config);
        let started = self.clock.now_ms();
        let state = match self.store.compliance_state().await {
            Ok(s) => s,
            Err(e) => return Ok(vec![self.failed_run(started, None, Halt::from(e).message()).await]),
        };
        if let Some(intent) = state.intent {
            match self.recover(&intent).await {
                Ok(Some(run)) => runs.push(run),
                Ok(None) => {
                    // A file is gone under both names: publish the same events again.
                    let run = self.batch(config, &mut adapter, intent.batch, &output_dir).await?;
                    let failed = run.error.is_some();
                    runs.push(run);
                    if failed {
                        return Ok(runs);
                    }
                }
                Err(why) => {
                    runs.push(self.failed_run(started, Some((&intent.batch_id, intent.batch)), why).await);
                    return Ok(runs);
                }
            }
        }
        // With no intent left, every temporary file is a leftover of an unpublished batch.
        remove_temporaries(&output_dir).await;
        loop {
            if self.stopping() || lost.load(Ordering::SeqCst) {
                break;
            }
            // Turned off meanwhile: stop after the batch just done.
            if !runs.is_empty() && !self.lh.compliance_config_or_default().await.is_ok_and(|c| c.enabled) {
                break;
            }
            let batch = match self.store.next_compliance_batch(self.settings.max_batch_events.max(1)).await {
                Ok(Some(b)) => b,
                Ok(None) => {
                    if runs.is_empty() {
                        runs.push(self.empty_run(started).await);
                    }
                    break;
                }
                Err(e) => {
                    runs.push(self.failed_run(started, None, Halt::from(e).message()).await);
                    break;
                }
            };
            let run = self.batch(config, &mut adapter, batch, &output_dir).await?;
            let failed = run.error.is_some();
            runs.push(run);
            if failed {
                break;
            }
        }
        Ok(runs)
    }

    fn crash(&self, step: Step) -> Result<(), Halt> {
        if self.crash_at == Some(step) { Err(Halt::Crash(step)) } else { Ok(()) }
    }

    /// Processes one batch; the run record written (with its error, if it failed).
    async fn batch(
        &self,
        config: &ComplianceConfig,
        adapter: &mut Option<Box<dyn Adapter>>,
        batch: BatchRange,
        output_dir: &Path,
    ) -> Result<ComplianceRun, Step> {
        let started = self.clock.now_ms();
        let batch_id = batch_id(&batch);
        match self.publish(config, adapter, batch, &batch_id, output_dir, started).await {
            Ok(run) => Ok(run),
            Err(Halt::Crash(step)) => Err(step),
            Err(Halt::Failed(why)) => {
                tracing::warn!(batch = %batch_id, error = %why, "compliance batch failed; it is retried next run");
                Ok(self.failed_run(started, Some((&batch_id, batch)), why).await)
            }
        }
    }

    async fn publish(
        &self,
        config: &ComplianceConfig,
        adapter_slot: &mut Option<Box<dyn Adapter>>,
        batch: BatchRange,
        batch_id: &str,
        output_dir: &Path,
        started: Millis,
    ) -> Result<ComplianceRun, Halt> {
        let adapter = match adapter_slot.take() {
            Some(a) => a,
            None => self.build_adapter(config).map_err(Halt::Failed)?,
        };
        let info = BatchInfo {
            id: batch_id.to_owned(),
            first_event: batch.first,
            last_event: batch.last,
            events: batch.events,
            domain: self.settings.domain.clone(),
        };
        // A per-attempt part in the temporary names: a stale attempt elsewhere in the pool can
        // never touch this one's files.
        let out = Output::new(output_dir, &format!("{batch_id}.{}", random_hex()));
        let (tx, rx) = mpsc::channel(self.settings.feed_chunks.max(1));
        let translate = tokio::task::spawn_blocking(move || {
            let mut adapter = adapter;
            let mut out = out;
            let mut source = ChannelSource::new(rx);
            let result = adapter.translate(&info, &mut source, &mut out);
            (adapter, out, result, source.finished)
        });
        let fed = self.feed(batch, tx).await;
        let (adapter, out, result, finished) =
            translate.await.map_err(|e| Halt::Failed(format!("the adapter stopped unexpectedly: {e}")))?;
        let files = out.into_files();
        let outcome = match (fed, result) {
            (Err(why), _) => Err(why),
            (Ok(_), Err(e)) => Err(format!("the {} adapter failed: {e}", adapter.name())),
            (Ok(n), Ok(())) if !finished => {
                Err(format!("the {} adapter stopped after {n} of {} events", adapter.name(), batch.events))
            }
            (Ok(n), Ok(())) if n != batch.events => {
                Err(format!("the batch should hold {} events but {n} were read", batch.events))
            }
            (Ok(_), Ok(())) => Ok(()),
        };
        *adapter_slot = Some(adapter);
        if let Err(why) = outcome {
            remove_files(files.iter().map(|f| f.temp.clone()).collect()).await;
            return Err(Halt::Failed(why));
        }
        self.crash(Step::AfterTranslate)?;
        if let Err(e) = sync_files(files.iter().map(|f| f.temp.clone()).collect()).await {
            remove_files(files.iter().map(|f| f.temp.clone()).collect()).await;
            return Err(Halt::Failed(format!("writing the output failed: {e}")));
        }
        self.crash(Step::AfterFsync)?;
        if !files.is_empty() {
            let intent = PublishIntent {
                batch_id: batch_id.to_owned(),
                batch,
                holder: self.settings.server_id.clone(),
                started,
                files: files.iter().map(publish_file).collect::<Result<_, _>>().map_err(Halt::Failed)?,
            };
            if let Err(e) = self.store.begin_compliance_publish(&intent, self.clock.now_ms()).await {
                remove_files(files.iter().map(|f| f.temp.clone()).collect()).await;
                return Err(Halt::Failed(format!("the batch could not be published: {e}")));
            }
            self.crash(Step::AfterIntent)?;
            // From here on the files belong to the intent: a failure leaves them for the
            // next cycle's recovery, and nothing is removed.
            let between = (self.crash_at == Some(Step::BetweenRenames) && files.len() >= 2).then_some(1);
            if let Some(done) = rename_all(intent.files.clone(), between).await.map_err(Halt::Failed)? {
                debug_assert_eq!(done, 1);
                return Err(Halt::Crash(Step::BetweenRenames));
            }
            self.crash(Step::AfterRenames)?;
        }
        let run = ComplianceRun {
            id: 0,
            server: self.settings.server_id.clone(),
            started,
            finished: self.clock.now_ms(),
            batch_id: Some(batch_id.to_owned()),
            first_event: Some(batch.first),
            last_event: Some(batch.last),
            events: batch.events,
            files: files.len() as u64,
            recovered: false,
            error: None,
        };
        let id = self.store.finish_compliance_run(&run, Some(batch)).await?;
        self.crash(Step::AfterCommit)?;
        Ok(ComplianceRun { id, ..run })
    }

    /// Completes the publication an interrupted run recorded. `Ok(None)` when a file is gone
    /// under both names (the batch must be published again).
    async fn recover(&self, intent: &PublishIntent) -> Result<Option<ComplianceRun>, String> {
        tracing::info!(batch = %intent.batch_id, by = %intent.holder, "completing an interrupted compliance publication");
        let missing = rename_all(intent.files.clone(), None).await;
        match missing {
            Err(why) if why.starts_with(MISSING) => {
                tracing::warn!(batch = %intent.batch_id, "{why}; publishing the batch again");
                return Ok(None);
            }
            Err(why) => return Err(why),
            Ok(_) => {}
        }
        let run = ComplianceRun {
            id: 0,
            server: self.settings.server_id.clone(),
            started: intent.started,
            finished: self.clock.now_ms(),
            batch_id: Some(intent.batch_id.clone()),
            first_event: Some(intent.batch.first),
            last_event: Some(intent.batch.last),
            events: intent.batch.events,
            files: intent.files.len() as u64,
            recovered: true,
            error: None,
        };
        match self.store.finish_compliance_run(&run, Some(intent.batch)).await {
            Ok(id) => Ok(Some(ComplianceRun { id, ..run })),
            Err(e) => Err(format!("completing batch {} failed: {e}", intent.batch_id)),
        }
    }

    async fn empty_run(&self, started: Millis) -> ComplianceRun {
        let run = ComplianceRun {
            server: self.settings.server_id.clone(),
            started,
            finished: self.clock.now_ms(),
            ..Default::default()
        };
        match self.store.finish_compliance_run(&run, None).await {
            Ok(id) => ComplianceRun { id, ..run },
            Err(e) => ComplianceRun { error: Some(format!("recording the run failed: {e}")), ..run },
        }
    }

    async fn failed_run(&self, started: Millis, batch: Option<(&str, BatchRange)>, why: String) -> ComplianceRun {
        let run = ComplianceRun {
            id: 0,
            server: self.settings.server_id.clone(),
            started,
            finished: self.clock.now_ms(),
            batch_id: batch.map(|(id, _)| id.to_owned()),
            first_event: batch.map(|(_, b)| b.first),
            last_event: batch.map(|(_, b)| b.last),
            events: 0,
            files: 0,
            recovered: false,
            error: Some(why),
        };
        match self.store.finish_compliance_run(&run, None).await {
            Ok(id) => ComplianceRun { id, ..run },
            Err(e) => {
                tracing::error!(error = %e, "recording a failed compliance run failed");
                run
            }
        }
    }

    /// Deletes processed events, a chunk per store call.
    async fn prune(&self) {
        loop {
            match self.store.prune_compliance_events(10_000).await {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "pruning processed compliance events failed; retried next run");
                    return;
                }
            }
        }
    }

    /// Reads the batch in (room, id) order and sends it to the adapter conversation by
    /// conversation. Returns how many events were sent.
    async fn feed(&self, batch: BatchRange, tx: mpsc::Sender<Feed>) -> Result<u64, String> {
        let mut resolver = Resolver::new(self);
        let mut cursor: (RoomId, i64) = (RoomId::MIN, i64::MIN);
        let mut room: Option<RoomId> = None;
        let mut chunk: Vec<Event> = Vec::new();
        let mut sent = 0u64;
        loop {
            let page = match self.store.compliance_batch_page(batch, cursor, self.settings.page_events.max(1)).await {
                Ok(p) => p,
                Err(e) => {
                    let why = format!("reading the batch failed: {e}");
                    let _ = tx.send(Feed::Failed(why.clone())).await;
                    return Err(why);
                }
            };
            let Some((last_id, last)) = page.last() else { break };
            cursor = (last.room, *last_id);
            for (id, e) in page {
                let event = match resolver.event(id, &e).await {
                    Ok(ev) => ev,
                    Err(why) => {
                        let _ = tx.send(Feed::Failed(why.clone())).await;
                        return Err(why);
                    }
                };
                if room != Some(e.room) {
                    if !chunk.is_empty() && tx.send(Feed::Events(std::mem::take(&mut chunk))).await.is_err() {
                        return Ok(sent);
                    }
                    room = Some(e.room);
                    let conversation = Conversation { room: resolver.room(e.room, &e.room_name), first: event.clone() };
                    if tx.send(Feed::Conversation(Box::new(conversation))).await.is_err() {
                        return Ok(sent);
                    }
                }
                chunk.push(event);
                sent += 1;
                if chunk.len() >= CHUNK && tx.send(Feed::Events(std::mem::take(&mut chunk))).await.is_err() {
                    return Ok(sent);
                }
            }
        }
        if !chunk.is_empty() && tx.send(Feed::Events(chunk)).await.is_err() {
            return Ok(sent);
        }
        let _ = tx.send(Feed::End).await;
        Ok(sent)
    }
}

impl Halt {
    fn message(self) -> String {
        match self {
            Halt::Failed(m) => m,
            Halt::Crash(step) => format!("stopped at {step:?}"),
        }
    }
}

/// `<first>-<last>`, each zero-padded to 20 digits so names sort in event order.
pub fn batch_id(batch: &BatchRange) -> String {
    format!("{:020}-{:020}", batch.first, batch.last)
}

/// Renews the lease every third of its lifetime; raises `lost` if it could not.
async fn keep_lease(store: Arc<dyn Store>, clock: Arc<dyn Clock>, me: String, ttl: i64, lost: Arc<AtomicBool>) {
    let every = Duration::from_millis((ttl / 3).max(1) as u64);
    loop {
        tokio::time::sleep(every).await;
        match store.renew_compliance_lease(&me, clock.now_ms(), ttl).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("the compliance lease ran out; this run stops after its current batch");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "renewing the compliance lease failed"),
        }
    }
}

// ---- files

const MISSING: &str = "missing:";

fn publish_file(f: &StagedFile) -> Result<PublishFile, String> {
    let text = |p: &Path| p.to_str().map(str::to_owned).ok_or_else(|| format!("{} is not a UTF-8 path", p.display()));
    Ok(PublishFile { temp: text(&f.temp)?, final_path: text(&f.final_path)? })
}

/// Syncs each file's contents to disk.
async fn sync_files(paths: Vec<PathBuf>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || {
        for p in &paths {
            std::fs::File::open(p)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

async fn remove_files(paths: Vec<PathBuf>) {
    let _ = tokio::task::spawn_blocking(move || {
        for p in paths {
            let _ = std::fs::remove_file(p);
        }
    })
    .await;
}

/// Removes every temporary output file (`.tmp-*`) of the folder, and every XSLT work folder
/// (`.xslt-work-*`, raw XML of an interrupted batch) after stopping a worker still running on it.
async fn remove_temporaries(dir: &Path) {
    let dir = dir.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || {
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                tracing::info!(file = %entry.path().display(), "removing an unpublished compliance file");
                let _ = std::fs::remove_file(entry.path());
            } else if name.starts_with(WORK_FOLDER_PREFIX) && entry.file_type().is_ok_and(|t| t.is_dir()) {
                if crate::xslt::stop_stale_worker(&entry.path()) {
                    tracing::warn!(folder = %entry.path().display(), "stopped an XSLT worker left by an earlier run");
                }
                tracing::info!(folder = %entry.path().display(), "removing an XSLT work folder of an interrupted batch");
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    })
    .await;
}

/// Renames each temporary file to its final name (one whose temporary is gone but whose final
/// file exists was renamed before), then syncs the folders. With `stop_after = Some(n)`, stops
/// after `n` renames and answers `Some(n)` (the crash test between renames). An error starting
/// with `MISSING` means a file exists under neither name.
async fn rename_all(files: Vec<PublishFile>, stop_after: Option<usize>) -> Result<Option<usize>, String> {
    tokio::task::spawn_blocking(move || {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut missing = Vec::new();
        for (i, f) in files.iter().enumerate() {
            if stop_after == Some(i) {
                return Ok(Some(i));
            }
            let (temp, fin) = (Path::new(&f.temp), Path::new(&f.final_path));
            match std::fs::rename(temp, fin) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !fin.exists() {
                        missing.push(f.final_path.clone());
                    }
                }
                Err(e) => return Err(format!("publishing {} failed: {e}", f.final_path)),
            }
            if let Some(d) = fin.parent()
                && !dirs.iter().any(|x| x == d)
            {
                dirs.push(d.to_path_buf());
            }
        }
        for d in &dirs {
            std::fs::File::open(d)
                .and_then(|f| f.sync_all())
                .map_err(|e| format!("syncing {} failed: {e}", d.display()))?;
        }
        if !missing.is_empty() {
            return Err(format!(
                "{MISSING} {} is gone under both its temporary and its final name",
                missing.join(", ")
            ));
        }
        Ok(None)
    })
    .await
    .unwrap_or_else(|e| Err(format!("publishing stopped unexpectedly: {e}")))
}

// ---- the feed

/// Events per message on the feed channel.
const CHUNK: usize = 256;

enum Feed {
    Conversation(Box<Conversation>),
    Events(Vec<Event>),
    End,
    Failed(String),
}

/// The adapter's side of the feed.
struct ChannelSource {
    rx: mpsc::Receiver<Feed>,
    events: VecDeque<Event>,
    /// A message read while finishing a conversation, for the next call.
    pending: Option<Feed>,
    in_conversation: bool,
    /// The end of the batch was reached.
    finished: bool,
}

impl ChannelSource {
    fn new(rx: mpsc::Receiver<Feed>) -> ChannelSource {
        ChannelSource { rx, events: VecDeque::new(), pending: None, in_conversation: false, finished: false }
    }

    fn recv(&mut self) -> Result<Feed, SourceError> {
        match self.pending.take().or_else(|| self.rx.blocking_recv()) {
            Some(Feed::Failed(why)) => Err(SourceError(why)),
            Some(msg) => Ok(msg),
            None => Err(SourceError("the batch ended early".into())),
        }
    }
}

impl EventSource for ChannelSource {
    fn next_conversation(&mut self) -> Result<Option<Conversation>, SourceError> {
        self.events.clear();
        self.in_conversation = false;
        if self.finished {
            return Ok(None);
        }
        loop {
            match self.recv()? {
                Feed::Conversation(c) => {
                    self.in_conversation = true;
                    return Ok(Some(*c));
                }
                // The rest of a conversation the adapter did not read to its end.
                Feed::Events(_) => continue,
                Feed::End => {
                    self.finished = true;
                    return Ok(None);
                }
                Feed::Failed(why) => return Err(SourceError(why)),
            }
        }
    }

    fn next_event(&mut self) -> Result<Option<Event>, SourceError> {
        loop {
            if !self.in_conversation {
                return Ok(None);
            }
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            match self.recv()? {
                Feed::Events(v) => self.events.extend(v),
                other => {
                    self.pending = Some(other);
                    self.in_conversation = false;
                }
            }
        }
    }
}

// ---- names, resolved at processing time

struct Resolver<'a> {
    p: &'a Processor,
    users: HashMap<UserId, Sender>,
    files: HashMap<FileId, Option<FileMeta>>,
}

fn privacy_text(p: Privacy) -> &'static str {
    match p {
        Privacy::Open => "open",
        Privacy::Closed => "closed",
        Privacy::Secret => "secret",
    }
}

fn room_type_text(t: RoomType) -> &'static str {
    match t {
        RoomType::Normal => "normal",
        RoomType::Auditorium => "auditorium",
    }
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl<'a> Resolver<'a> {
    fn new(p: &'a Processor) -> Resolver<'a> {
        Resolver { p, users: HashMap::new(), files: HashMap::new() }
    }

    /// The room as it is now; the event's name snapshot when it no longer exists.
    fn room(&self, id: RoomId, snapshot: &str) -> RoomInfo {
        let uri = format!("ma-chan://{}/{id}", self.p.settings.domain);
        match self.p.lh.archive_room(id) {
            Some(r) => RoomInfo {
                id,
                uri,
                name: r.room.name,
                category: r.category,
                privacy: privacy_text(r.room.privacy).into(),
                room_type: room_type_text(r.room.room_type).into(),
                description: r.room.description,
                logged: r.chat_history,
            },
            None => RoomInfo {
                id,
                uri,
                name: snapshot.to_owned(),
                category: String::new(),
                privacy: String::new(),
                room_type: String::new(),
                description: String::new(),
                logged: false,
            },
        }
    }

    /// The user as they are now; the event's login snapshot when they no longer exist.
    fn sender(&mut self, id: UserId, snapshot: &str) -> Sender {
        if let Some(s) = self.users.get(&id) {
            return s.clone();
        }
        let s = match self.p.lh.archive_user(id) {
            Some(u) => Sender {
                id,
                login: u.user.login,
                display_name: u.user.display_name,
                email: u.user.email,
                site: u.user.site,
                groups: u.groups,
                internal: true,
            },
            None => Sender {
                id,
                login: snapshot.to_owned(),
                display_name: snapshot.to_owned(),
                email: String::new(),
                site: None,
                groups: Vec::new(),
                internal: true,
            },
        };
        self.users.insert(id, s.clone());
        s
    }

    async fn file(&mut self, detail: &Value) -> Result<Option<FileInfo>, String> {
        let Some(id) = detail["file_id"].as_i64() else { return Ok(None) };
        if !self.files.contains_key(&id) {
            let meta = self.p.store.get_file(id).await.map_err(|e| format!("reading file {id} failed: {e}"))?;
            self.files.insert(id, meta);
        }
        Ok(Some(match &self.files[&id] {
            Some(m) => FileInfo {
                id,
                name: m.name.clone(),
                key: m.key.clone(),
                size: m.size,
                content_type: m.content_type.clone(),
            },
            // The file went with its room: what the event recorded.
            None => FileInfo {
                id,
                name: text(detail, "name"),
                key: text(detail, "key"),
                size: detail["size"].as_u64().unwrap_or(0),
                content_type: text(detail, "content_type"),
            },
        }))
    }

    async fn event(&mut self, id: i64, e: &ComplianceEvent) -> Result<Event, String> {
        let sender = self.sender(e.user, &e.user_login);
        let d = &e.detail;
        let file = match e.kind {
            ComplianceKind::FileUpload | ComplianceKind::FileDownload => self.file(d).await?,
            _ => None,
        };
        let content = match e.kind {
            ComplianceKind::Join | ComplianceKind::Part => String::new(),
            ComplianceKind::Chat => text(d, "text"),
            ComplianceKind::Backchat => backchat_content(d),
            ComplianceKind::FileUpload | ComplianceKind::FileDownload => match &file {
                Some(f) => stored_file_name(&f.key, &f.name),
                None => stored_file_name(&text(d, "key"), &text(d, "name")),
            },
            ComplianceKind::MessageReplaced | ComplianceKind::MessageRemoved => text(d, "original"),
            ComplianceKind::RoomCleared => {
                format!("{} message(s) up to {} cleared", d["count"].as_u64().unwrap_or(0), text(d, "up_to"))
            }
        };
        Ok(Event { id, kind: e.kind, ts: e.ts, sender, seq: e.seq, content, file, detail: e.detail.clone() })
    }
}

/// BACKCHAT `content`: the history that was returned, one line per message
/// (`[<seq>] <author login>: <text>`), as recorded (see `MAX_BACKCHAT_RECORD_BYTES`), then a
/// line counting the messages not recorded, if any. An event recorded before histories were
/// kept gives its summary instead.
fn backchat_content(d: &Value) -> String {
    let Some(history) = d["history"].as_array() else {
        return format!(
            "{} message(s), {} to {}, via {}",
            d["count"].as_u64().unwrap_or(0),
            text(d, "from_seq"),
            text(d, "to_seq"),
            text(d, "via")
        );
    };
    let mut lines: Vec<String> =
        history.iter().map(|m| format!("[{}] {}: {}", text(m, "seq"), text(m, "author"), text(m, "text"))).collect();
    let omitted = d["history_omitted"].as_u64().unwrap_or(0);
    if omitted > 0 {
        lines.push(format!("[… {omitted} more message(s) returned, not recorded]"));
    }
    lines.join("\n")
}

/// A file event's `content`: the stored file's name, as the original's `<GUID>.<ext>`: the
/// file-store key and the extension of the user's file name.
fn stored_file_name(key: &str, name: &str) -> String {
    format!("{key}{}", crate::attachments::extension(name))
}

// ---- the port

impl ComplianceRunner for Processor {
    fn run_now(&self) -> BoxFuture<'_, CoreResult<Vec<ComplianceRun>>> {
        Box::pin(self.run_cycle())
    }

    fn check_config<'a>(&'a self, config: &'a ComplianceConfig) -> BoxFuture<'a, CoreResult<()>> {
        Box::pin(async move {
            let adapter_config = self.adapter_config(config);
            let factory = self.settings.adapters.clone();
            let name = config.adapter.clone();
            // Configuring may compile a stylesheet or look at the folder: off the async threads.
            let checked = tokio::task::spawn_blocking(move || {
                let mut adapter = factory(&name).map_err(|e| e.to_string())?;
                adapter.configure(&adapter_config).map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(format!("checking the configuration stopped unexpectedly: {e}")));
            checked.map_err(|why| CoreError::invalid(format!("The compliance configuration can't work: {why}")))
        })
    }

    fn config_changed(&self) {
        self.changed.notify_waiters();
    }

    fn health(&self) -> RunnerHealth {
        let last = self.last_cycle.load(Ordering::SeqCst);
        RunnerHealth {
            running: self.running.load(Ordering::SeqCst) && !self.stopping(),
            last_cycle: (last > 0).then_some(last),
        }
    }

    fn test_stylesheet<'a>(&'a self, stylesheet: &'a str) -> BoxFuture<'a, CoreResult<String>> {
        Box::pin(async move {
            let tester = self.settings.stylesheet_tester.clone();
            let text = stylesheet.to_owned();
            tokio::task::spawn_blocking(move || tester(&text))
                .await
                .unwrap_or_else(|e| Err(format!("the stylesheet test stopped unexpectedly: {e}")))
                .map_err(CoreError::invalid)
        })
    }
}
