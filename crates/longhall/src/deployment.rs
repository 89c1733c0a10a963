//! Opening a deployment from its configuration, in one place: the binary's `serve` and every
//! test harness call [`Deployment::open`], so what a test runs is wired as a server is.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use longhall_bus_nats::NatsBus;
use longhall_compliance::processor::{Processor, ProcessorSettings, new_server_id};
use longhall_core::ports::{Clock, Store, SystemClock};
use longhall_core::service::FirstStart;
use longhall_core::{Longhall, Settings};
use longhall_server::TransportSettings;
use longhall_store_postgres::{PgBus, PgStore};
use longhall_store_sqlite::{DirFileStore, SqliteStore};

use crate::config::{BusBackend, Config, StoreBackend};

pub mod pool;

use pool::PoolMembership;

/// What a deployment takes besides its configuration: the limits of this process (derived from
/// the machine by `serve`, small in tests), the clock, and whether it runs its compliance
/// processor. Values the configuration holds (allowed origins, trusted proxies, the compliance
/// output folder) are taken from the configuration, not from here.
#[derive(Clone)]
pub struct Tuning {
    pub core: Settings,
    pub transport: TransportSettings,
    pub clock: Arc<dyn Clock>,
    /// Start the compliance processor (a test that drives its own processor turns it off).
    pub compliance_processor: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            core: Settings::default(),
            transport: TransportSettings::default(),
            clock: Arc::new(SystemClock),
            compliance_processor: true,
        }
    }
}

impl Tuning {
    /// The limits of a server process on this machine: raises the open-file limit to its hard
    /// limit and sizes the connection caps and the password-check pool from it and the CPUs.
    pub fn for_this_process() -> Tuning {
        // Each connection is a file descriptor: allow as many as the hard limit does.
        let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
        tracing::info!(nofile, "open-file limit");
        let core = Settings {
            max_connections: max_connections(nofile),
            // Each check holds ~19 MiB; more at once than there are CPUs only adds memory.
            password_checks: std::thread::available_parallelism().map_or(2, |n| n.get()).min(8),
            ..Settings::default()
        };
        let transport =
            TransportSettings { max_http_connections: max_http_connections(nofile), ..TransportSettings::default() };
        Tuning { core, transport, ..Tuning::default() }
    }
}

/// One open deployment: the services over its stores, and its compliance processor.
pub struct Deployment {
    pub lh: Arc<Longhall>,
    pub store: Arc<dyn Store>,
    /// The same stores, of their backend's type, for closing them.
    stores: Stores,
    /// The data directory, absolute.
    pub data_dir: PathBuf,
    admin_login: String,
    transport: TransportSettings,
    processor: Option<RunningProcessor>,
    /// This server's part in a pool (PostgreSQL), and what reopening on another database needs.
    pool: Option<PoolPart>,
}

/// What a server of a pool keeps to reopen its services on the other database.
struct PoolPart {
    membership: Arc<PoolMembership>,
    config: Config,
    tuning: Tuning,
    /// The database the services use now.
    database: longhall_types::api::PoolState,
}

impl Deployment {
    /// Opens the stores named by `config` (creating the data directory), starts the services
    /// and, if `tuning` says so, the compliance processor.
    pub async fn open(config: &Config, mut tuning: Tuning) -> anyhow::Result<Deployment> {
        let membership = match config.store {
            StoreBackend::Sqlite => None,
            StoreBackend::Postgres => {
                std::fs::create_dir_all(&config.data_dir)
                    .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
                let id = pool::server_id(&config.server_id, &config.data_dir)?;
                tuning.core.server_id = Some(id.clone());
                let url = if config.advertise_url.is_empty() {
                    format!("http://{}", config.listen)
                } else {
                    config.advertise_url.clone()
                };
                Some(PoolMembership::load(
                    id,
                    url,
                    &config.data_dir,
                    config.postgres_url.clone(),
                    config.postgres_backup_url.clone(),
                )?)
            }
        };
        let database = membership.as_ref().map(|m| m.wanted_database()).unwrap_or_default();
        let (stores, data_dir) = match &membership {
            Some(m) => open_store_at(config, m.database_url(database)).await?,
            None => open_store(config).await?,
        };
        let postgres_url = membership.as_ref().map_or(config.postgres_url.as_str(), |m| m.database_url(database));
        let mut deployment = Deployment::start(config, tuning.clone(), stores, data_dir, postgres_url).await?;
        if let Some(membership) = membership {
            deployment.lh.set_pool_agent(membership.clone());
            deployment.pool = Some(PoolPart { membership, config: config.clone(), tuning, database });
        }
        Ok(deployment)
    }

    /// Starts the services (and the processor) over opened stores; `postgres_url` is the database
    /// they are on (the primary or, failed over, the backup), whose notifications a pool follows.
    async fn start(
        config: &Config,
        tuning: Tuning,
        stores: Stores,
        data_dir: PathBuf,
        postgres_url: &str,
    ) -> anyhow::Result<Deployment> {
        let store = stores.store();
        let files = DirFileStore::new(data_dir.join("files"));
        let settings = Settings {
            compliance_output_dir: data_dir.join("compliance-output").to_string_lossy().into_owned(),
            allowed_origins: config.allowed_origins.clone(),
            ..tuning.core
        };
        let lh = Longhall::start(store.clone(), Arc::new(files), tuning.clock.clone(), settings)
            .await
            .map_err(|e| anyhow::anyhow!("starting: {e}"))?;
        if let Stores::Postgres(pg) = &stores {
            join_pool(&lh, pg, config, postgres_url);
        }
        let processor = tuning.compliance_processor.then(|| {
            let settings = ProcessorSettings::new(new_server_id(), config.domain.clone(), data_dir.join("files"));
            RunningProcessor::start(&lh, store.clone(), tuning.clock.clone(), settings)
        });
        let transport = TransportSettings { trusted_proxies: config.trusted_proxy_addresses(), ..tuning.transport };
        Ok(Deployment {
            lh,
            store,
            stores,
            data_dir,
            admin_login: config.admin_login.clone(),
            transport,
            processor,
            pool: None,
        })
    }

    /// On a new deployment, creates the administrator of the configuration (with `password`, or
    /// a generated one) and the global policy; `None` when the deployment already has them.
    pub async fn first_start(&self, password: Option<String>) -> anyhow::Result<Option<FirstStart>> {
        self.lh.first_start(&self.admin_login, password).await.map_err(|e| anyhow::anyhow!("first start: {e}"))
    }

    /// Serves HTTP and WebSocket on `listener` until `shutdown` completes, then lets the
    /// compliance processor finish its batch (up to 30 s).
    ///
    /// A server of a pool registers in it first, and when the pool state changes it stops
    /// serving (telling its clients to reconnect), reopens its services on the other database
    /// and serves again on the same socket (connections arriving meanwhile wait in its backlog).
    pub async fn serve(
        mut self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Some(part) = self.pool.take() else {
            let served = longhall_server::serve_with(listener, self.lh, self.transport, shutdown).await;
            if let Some(p) = self.processor {
                p.stop(Duration::from_secs(30)).await;
            }
            return served;
        };
        self.serve_in_pool(part, listener, shutdown).await
    }

    async fn serve_in_pool(
        mut self,
        mut part: PoolPart,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stopping, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            stopping.send_replace(true);
        });
        if part.config.advertise_url.is_empty() {
            part.membership.set_url(format!("http://{}", listener.local_addr()?));
        }
        let listener = listener.into_std()?;
        loop {
            let pg = match &self.stores {
                Stores::Postgres(pg) => pg.clone(),
                Stores::Sqlite(_) => unreachable!("a pool is on PostgreSQL"),
            };
            if let Err(e) = part.membership.attach(pg, &self.lh, part.database).await {
                part.membership.detach(false).await;
                self.close().await;
                return Err(std::io::Error::other(format!("{e:#}")));
            }
            let membership = part.membership.clone();
            let current = part.database;
            let mut generation_stop = stop.clone();
            let switch = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let switching = switch.clone();
            let until = async move {
                tokio::select! {
                    _ = generation_stop.wait_for(|s| *s) => {}
                    _ = membership.switch_requested(current) => switching.store(true, std::sync::atomic::Ordering::SeqCst),
                }
            };
            let copy = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
            let served = longhall_server::serve_with(copy, self.lh.clone(), self.transport.clone(), until).await;
            if let Some(p) = self.processor.take() {
                p.stop(Duration::from_secs(30)).await;
            }
            if !switch.load(std::sync::atomic::Ordering::SeqCst) || served.is_err() {
                part.membership.detach(true).await;
                self.close().await;
                return served;
            }
            // The pool state changed: the same server, on the other database.
            part.membership.detach(false).await;
            let target = part.membership.wanted_database();
            tracing::warn!(from = current.as_str(), to = target.as_str(), "pool state changed: switching databases");
            self.pool = None;
            let (lh, store, stores) = (self.lh.clone(), self.store.clone(), self.stores.clone());
            drop((lh, store));
            let data_dir = self.data_dir.clone();
            drop(self);
            stores.close().await;
            self = loop {
                let opened = async {
                    let url = part.membership.database_url(target);
                    let (stores, _) = open_store_at(&part.config, url).await?;
                    Deployment::start(&part.config, part.tuning.clone(), stores, data_dir.clone(), url).await
                };
                match opened.await {
                    Ok(d) => break d,
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "the pool's other database can't be opened yet; retrying");
                        if *stop.borrow() {
                            return Ok(());
                        }
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            };
            self.lh.set_pool_agent(part.membership.clone());
            part.database = target;
        }
    }

    /// Stops a deployment that is not serving: the processor, the services, then the stores
    /// (waiting, up to 10 s, for background tasks to let go of them), so the data directory
    /// is free for another process at once.
    pub async fn close(self) {
        if let Some(p) = self.processor {
            p.stop(Duration::from_secs(30)).await;
        }
        drop(self.lh);
        drop(self.store);
        self.stores.close().await;
    }
}

/// Makes the server one of the pool of servers on its PostgreSQL database: it announces its
/// commits and follows the others' over the configured bus.
fn join_pool(lh: &Arc<Longhall>, pg: &PgStore, config: &Config, postgres_url: &str) {
    match config.bus {
        BusBackend::Postgres => {
            pg.announce_commits();
            lh.attach_bus(Arc::new(PgBus::new(postgres_url)));
        }
        BusBackend::Nats => lh.attach_bus(Arc::new(NatsBus::new(&config.nats_url))),
    }
    tracing::info!(bus = ?config.bus, "serving as one server of a pool on the database");
}

/// The open stores of a deployment, of the backend its configuration names.
#[derive(Clone)]
pub enum Stores {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl Stores {
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Stores::Sqlite(s) => s.clone(),
            Stores::Postgres(s) => s.clone(),
        }
    }

    /// Closes the stores once nothing else holds them (waiting up to 10 s for background tasks
    /// to let go), so the data directory or database is free for another process at once.
    pub async fn close(self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut stores = self;
        loop {
            stores = match stores {
                Stores::Sqlite(s) => match Arc::try_unwrap(s) {
                    Ok(s) => return s.close(),
                    Err(still) => Stores::Sqlite(still),
                },
                Stores::Postgres(s) => match Arc::try_unwrap(s) {
                    Ok(s) => return s.close().await,
                    Err(still) => Stores::Postgres(still),
                },
            };
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("the stores were still in use at close; they close with their last user");
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Opens the stores `config` names, without starting a server (`serve` does it through
/// [`Deployment::open`]; the offline commands, export and import, directly). Returns them and
/// the absolute data directory (which holds the uploaded files with either backend).
pub async fn open_store(config: &Config) -> anyhow::Result<(Stores, PathBuf)> {
    open_store_at(config, &config.postgres_url).await
}

/// `open_store`, with `postgres_url` standing for the configuration's (the pool's backup
/// database while the pool is failed over).
async fn open_store_at(config: &Config, postgres_url: &str) -> anyhow::Result<(Stores, PathBuf)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let data_dir = std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let stores = match config.store {
        StoreBackend::Sqlite => Stores::Sqlite(Arc::new(
            SqliteStore::open(&data_dir)
                .map_err(|e| anyhow::anyhow!("opening the stores in {}: {e}", config.data_dir.display()))?,
        )),
        // The URL may hold a password: the error names the database only through its own message.
        StoreBackend::Postgres => Stores::Postgres(Arc::new(
            PgStore::open(postgres_url)
                .await
                .map_err(|e| anyhow::anyhow!("opening the PostgreSQL stores (postgres_url): {e}"))?,
        )),
    };
    Ok((stores, data_dir))
}

/// The compliance processor task of a running deployment.
struct RunningProcessor {
    processor: Arc<Processor>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningProcessor {
    /// Starts the processor (a new server id per process) and hands it to the services.
    fn start(
        lh: &Arc<Longhall>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: ProcessorSettings,
    ) -> RunningProcessor {
        tracing::info!(server = %settings.server_id, "compliance processor ready");
        let processor = Arc::new(Processor::new(lh.clone(), store, clock, settings));
        processor.register();
        let task = tokio::spawn(processor.clone().run());
        RunningProcessor { processor, task }
    }

    /// Lets a batch being processed finish (for up to `grace`), then returns. A batch cut off
    /// by the deadline is safe: it is completed or processed again at the next start.
    async fn stop(self, grace: Duration) {
        self.processor.stop();
        if tokio::time::timeout(grace, self.task).await.is_err() {
            tracing::warn!("a compliance batch was still running at stop; it is completed at the next start");
        }
    }
}

/// Live connections allowed under an open-file limit: the stores, the file store, the
/// compliance worker and HTTP requests keep a reserve of descriptors (a quarter, at most 1024).
fn max_connections(nofile: u64) -> usize {
    if nofile == 0 {
        return usize::MAX; // the limit could not be read: don't guess
    }
    let reserve = (nofile / 4).min(1024);
    usize::try_from(nofile - reserve).unwrap_or(usize::MAX)
}

/// HTTP connections (not WebSocket sessions) allowed at once: half of the descriptor reserve
/// that `max_connections` keeps back, at most 512.
fn max_http_connections(nofile: u64) -> usize {
    if nofile == 0 {
        return TransportSettings::default().max_http_connections;
    }
    usize::try_from((nofile / 4).min(1024) / 2).unwrap_or(512).clamp(16, 512)
}

#[cfg(test)]
mod tests {
    use super::{max_connections, max_http_connections};

    #[test]
    fn connection_cap_keeps_a_descriptor_reserve_for_the_stores() {
        assert_eq!(max_connections(20_000), 18_976, "1024 kept back under a large limit");
        assert_eq!(max_connections(1_024), 768, "a quarter kept back under a small one");
        assert_eq!(max_connections(0), usize::MAX, "an unreadable limit imposes none");
    }

    #[test]
    fn http_connections_take_half_of_the_reserve() {
        assert_eq!(max_http_connections(20_000), 512);
        assert_eq!(max_http_connections(1_024), 128);
        assert_eq!(max_http_connections(0), 512, "the default when the limit is unknown");
    }
}
