//! A server's part in a pool of servers on PostgreSQL: its id, the pool's settings (state,
//! active server list, members) kept in memory and in a file of the data directory, the
//! registry heartbeat, pool changes sent to the other servers over HTTP with the
//! administrator's token, and the switch between the primary and the backup database
//! (docs/operations.md, "A pool of servers").
//!
//! The settings live in every server's file as well as in the database, so that a failover
//! works while the primary is down: the administrator's change reaches the servers of the list
//! this server knows, each checks nothing but the revision, writes its file and reopens its
//! services on the other database.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use anyhow::Context;
use longhall_core::ports::{BoxFuture, PoolAgent, PoolChange};
use longhall_core::{CoreError, Longhall, StoreError};
use longhall_store_postgres::PgStore;
use longhall_types::ErrorCode;
use longhall_types::api::{Pool, PoolChangeResult, PoolMember, PoolReach, PoolServer, PoolSettings, PoolState};
use tokio::sync::watch;

/// How often a server renews its heartbeat and reads the pool's settings from the database.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A server whose heartbeat is older than this is shown `down` (and its id may be taken).
pub const STALE_MS: i64 = 10_000;
/// How long a pool change waits for each other server.
const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// The file of the data directory holding this server's id when the configuration names none.
pub const SERVER_ID_FILE: &str = "server-id";

/// This server's id: the configured one, else the one kept in the data directory (generated
/// and written there at first start).
pub fn server_id(configured: &str, data_dir: &Path) -> anyhow::Result<String> {
    if !configured.is_empty() {
        return Ok(configured.to_owned());
    }
    let file = data_dir.join(SERVER_ID_FILE);
    match std::fs::read_to_string(&file) {
        Ok(id) if longhall_core::service::valid_server_id(id.trim()) => Ok(id.trim().to_owned()),
        Ok(id) => anyhow::bail!(
            "{} holds {:?}, which is not a server id; remove the file (a new id is generated) or set server_id",
            file.display(),
            id.trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = longhall_compliance::processor::new_server_id();
            write_atomically(&file, id.as_bytes()).with_context(|| format!("writing {}", file.display()))?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

/// Writes `bytes` to `path` through a temporary file, synced, then renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// What a server uses while connected to one database.
struct Attached {
    store: Arc<PgStore>,
    lh: Weak<Longhall>,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// The pool as one server takes part in it.
pub struct PoolMembership {
    id: String,
    /// One process's random id, so a second live process with the same server id is refused.
    instance: String,
    url: Mutex<String>,
    file: PathBuf,
    primary_url: String,
    backup_url: String,
    settings: Mutex<PoolSettings>,
    /// The database the services use now.
    database: Mutex<PoolState>,
    /// The database the settings want; the deployment reopens its services when it differs.
    wanted: watch::Sender<PoolState>,
    attached: Mutex<Option<Attached>>,
    /// One pool change at a time from this server.
    changing: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PoolMembership {
    /// Loads the pool settings this server last knew (`pool-<id>.json` in the data
    /// directory; a new server starts in `normal` with every server active).
    pub fn load(
        id: String,
        url: String,
        data_dir: &Path,
        primary_url: String,
        backup_url: String,
    ) -> anyhow::Result<Arc<PoolMembership>> {
        let file = data_dir.join(format!("pool-{}.json", id.replace(':', "_")));
        let settings = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice::<PoolSettings>(&bytes)
                .with_context(|| format!("reading the pool settings in {}", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PoolSettings {
                revision: 0,
                state: PoolState::Normal,
                active: None,
                members: Vec::new(),
                changed_at: 0,
                changed_by: String::new(),
            },
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        };
        if settings.state == PoolState::FailedOver && backup_url.is_empty() {
            anyhow::bail!(
                "the pool state in {} is failed_over but postgres_backup_url is not set; set it to the backup database",
                file.display()
            );
        }
        let state = settings.state;
        let instance = longhall_compliance::processor::new_server_id();
        Ok(Arc::new(PoolMembership {
            id,
            instance,
            url: Mutex::new(url),
            file,
            primary_url,
            backup_url,
            settings: Mutex::new(settings),
            database: Mutex::new(state),
            wanted: watch::channel(state).0,
            attached: Mutex::new(None),
            changing: tokio::sync::Mutex::new(()),
        }))
    }

    /// The database the settings want the services on.
    pub fn wanted_database(&self) -> PoolState {
        *self.wanted.borrow()
    }

    /// Resolves when the settings want a database other than `current`, with that one.
    pub async fn switch_requested(&self, current: PoolState) -> PoolState {
        let mut rx = self.wanted.subscribe();
        let wanted = rx.wait_for(|s| *s != current).await.map(|s| *s);
        match wanted {
            Ok(s) => s,
            Err(_) => std::future::pending().await,
        }
    }

    /// The URL of the database of `state`.
    pub fn database_url(&self, state: PoolState) -> &str {
        match state {
            PoolState::Normal => &self.primary_url,
            PoolState::FailedOver => &self.backup_url,
        }
    }

    pub fn set_url(&self, url: String) {
        *lock(&self.url) = url;
    }

    /// Starts using `store` (the database of `database`) with the services `lh`: registers
    /// this server (refused when another live server has its id), takes newer settings from
    /// the database or stores this server's, and starts the heartbeat.
    pub async fn attach(
        self: &Arc<Self>,
        store: Arc<PgStore>,
        lh: &Arc<Longhall>,
        database: PoolState,
    ) -> anyhow::Result<()> {
        let url = lock(&self.url).clone();
        // A process of this id that died a moment ago (a crash, then a restart by the service
        // manager) still looks alive until its heartbeat is stale: wait for that, no longer.
        let give_up = std::time::Instant::now() + Duration::from_millis(STALE_MS as u64 + 2_000);
        for attempt in 0.. {
            match store.register_server(&self.id, &url, &self.instance, STALE_MS).await {
                Ok(()) => break,
                Err(StoreError::Conflict(_)) if std::time::Instant::now() < give_up => {
                    if attempt == 0 {
                        tracing::warn!(server = %self.id, "this server id looks held by a running server; waiting for its heartbeat to go stale");
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(anyhow::anyhow!("registering in the pool: {e}")),
            }
        }
        lh.close_interrupted_participations()
            .await
            .map_err(|e| anyhow::anyhow!("closing the participations a crash left open: {e}"))?;
        *lock(&self.database) = database;
        let stored = store.pool_settings().await.map_err(|e| anyhow::anyhow!("reading the pool settings: {e}"))?;
        let mine = lock(&self.settings).clone();
        match stored {
            Some(s) if s.revision > mine.revision => {
                self.take(s, false);
            }
            _ if mine.revision > 0 => {
                // Records the change in the history of the database now in use.
                let by = mine.changed_by.clone();
                if let Err(e) = store.put_pool_settings(&mine, &by).await {
                    tracing::warn!(error = %e, "the pool settings could not be stored in the database");
                }
            }
            _ => {}
        }
        let heartbeat = tokio::spawn(heartbeat(Arc::downgrade(self), store.clone(), Arc::downgrade(lh)));
        let old = lock(&self.attached).replace(Attached { store, lh: Arc::downgrade(lh), heartbeat });
        if let Some(old) = old {
            old.heartbeat.abort();
        }
        tracing::info!(server = %self.id, database = database.as_str(), "in the pool");
        if !self.accepts_clients() {
            lh.drain_clients().await;
        }
        Ok(())
    }

    /// Stops using the database (before the services close or switch): stops the heartbeat
    /// and, when `leaving`, removes this server from the registry.
    pub async fn detach(&self, leaving: bool) {
        let attached = lock(&self.attached).take();
        if let Some(a) = attached {
            a.heartbeat.abort();
            let _ = a.heartbeat.await;
            if leaving {
                let _ = a.store.unregister_server(&self.id, &self.instance).await;
            }
        }
    }

    fn store(&self) -> Option<Arc<PgStore>> {
        lock(&self.attached).as_ref().map(|a| a.store.clone())
    }

    /// Takes newer settings: writes the file, drains this server if the list leaves it out,
    /// and asks for the other database if the state names it. Returns whether they were newer.
    fn take(&self, new: PoolSettings, store_them: bool) -> bool {
        {
            let mut cur = lock(&self.settings);
            if new.revision <= cur.revision {
                return false;
            }
            if let Err(e) = self.write_file(&new) {
                tracing::error!(error = %e, file = %self.file.display(), "the pool settings could not be saved");
            }
            *cur = new.clone();
        }
        tracing::info!(revision = new.revision, state = new.state.as_str(), active = ?new.active, "pool settings taken");
        let database = *lock(&self.database);
        if new.state != database {
            self.wanted.send_replace(new.state);
        } else if let Some(store) = store_them.then(|| self.store()).flatten() {
            tokio::spawn(async move {
                if let Err(e) = store.put_pool_settings(&new, &new.changed_by).await {
                    tracing::warn!(error = %e, "the pool settings could not be stored in the database");
                }
            });
        }
        if !self.accepts_clients() {
            let lh = lock(&self.attached).as_ref().and_then(|a| a.lh.upgrade());
            if let Some(lh) = lh {
                tokio::spawn(async move { lh.drain_clients().await });
            }
        }
        true
    }

    fn write_file(&self, s: &PoolSettings) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(s)?;
        write_atomically(&self.file, &bytes)?;
        Ok(())
    }

    /// Keeps the members (the registry's servers and addresses) for when the database is down.
    fn remember_members(&self, members: Vec<PoolMember>) {
        let mut cur = lock(&self.settings);
        if cur.members != members {
            cur.members = members;
            let copy = cur.clone();
            drop(cur);
            if let Err(e) = self.write_file(&copy) {
                tracing::warn!(error = %e, "the pool members could not be saved");
            }
        }
    }

    fn members(&self) -> Vec<PoolMember> {
        lock(&self.settings).members.clone()
    }
}

/// Renews the heartbeat with the live connections, remembers the members, and takes settings
/// a server stored in the database while this one could not be reached.
async fn heartbeat(me: Weak<PoolMembership>, store: Arc<PgStore>, lh: Weak<Longhall>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (Some(me), Some(lh)) = (me.upgrade(), lh.upgrade()) else { return };
        let connections = lh.hub.connection_count() as u64;
        drop(lh);
        match store.heartbeat(&me.id, &me.instance, connections).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(server = %me.id, "another process took this server's id in the pool; stop one of them")
            }
            Err(e) => {
                tracing::warn!(error = %e, "the pool heartbeat failed");
                continue;
            }
        }
        if let Ok(servers) = store.pool_servers(STALE_MS).await {
            me.remember_members(servers.into_iter().map(|s| PoolMember { id: s.id, url: s.url }).collect());
        }
        if let Ok(Some(s)) = store.pool_settings().await {
            me.take(s, false);
        }
    }
}

fn pool_error(code: ErrorCode, message: String) -> CoreError {
    CoreError::new(code, message)
}

impl PoolAgent for PoolMembership {
    fn server_id(&self) -> String {
        self.id.clone()
    }

    fn accepts_clients(&self) -> bool {
        lock(&self.settings).active.as_ref().is_none_or(|list| list.iter().any(|id| id == &self.id))
    }

    fn pool(&self) -> BoxFuture<'_, longhall_core::error::CoreResult<Pool>> {
        Box::pin(async move {
            let settings = lock(&self.settings).clone();
            let is_active = |id: &str| settings.active.as_ref().is_none_or(|l| l.iter().any(|a| a == id));
            let registry = match self.store() {
                Some(store) => store.pool_servers(STALE_MS).await.ok(),
                None => None,
            };
            let servers = match registry {
                Some(rows) => rows
                    .into_iter()
                    .map(|r| PoolServer {
                        active: is_active(&r.id),
                        state: if r.up { "up" } else { "down" }.into(),
                        id: r.id,
                        url: r.url,
                        started: Some(r.started),
                        heartbeat: Some(r.heartbeat),
                        connections: Some(r.connections),
                    })
                    .collect(),
                None => settings
                    .members
                    .iter()
                    .map(|m| PoolServer {
                        id: m.id.clone(),
                        url: m.url.clone(),
                        state: "unknown".into(),
                        active: is_active(&m.id),
                        started: None,
                        heartbeat: None,
                        connections: None,
                    })
                    .collect(),
            };
            Ok(Pool { this_server: self.id.clone(), database: *lock(&self.database), settings, servers })
        })
    }

    fn change<'a>(
        &'a self,
        change: PoolChange,
        by: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, longhall_core::error::CoreResult<PoolChangeResult>> {
        Box::pin(async move {
            let _one = self.changing.lock().await;
            // The registry, when it can be read, has the servers started since the last heartbeat.
            let store = self.store();
            if let Some(store) = &store
                && let Ok(servers) = store.pool_servers(STALE_MS).await
            {
                self.remember_members(servers.into_iter().map(|s| PoolMember { id: s.id, url: s.url }).collect());
            }
            let mut new = lock(&self.settings).clone();
            // The database may have seen a newer revision than this server (from another).
            if let Some(store) = &store
                && let Ok(Some(stored)) = store.pool_settings().await
            {
                new.revision = new.revision.max(stored.revision);
            }
            match change {
                PoolChange::State(state) => {
                    if state == PoolState::FailedOver && self.backup_url.is_empty() {
                        return Err(pool_error(
                            ErrorCode::NotAPool,
                            format!(
                                "Server {} has no backup database; set postgres_backup_url on every server of the pool.",
                                self.id
                            ),
                        ));
                    }
                    if let Err(e) = longhall_store_postgres::check_writable(self.database_url(state)).await {
                        return Err(pool_error(
                            ErrorCode::PoolDatabaseUnavailable,
                            format!("The {} database can't be used: {e}.", database_name(state)),
                        ));
                    }
                    new.state = state;
                }
                PoolChange::Active(list) => new.active = list,
            }
            new.revision += 1;
            new.changed_at =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            new.changed_by = by.to_owned();
            let mut reached = Vec::new();
            for m in self.members().into_iter().filter(|m| m.id != self.id) {
                let outcome = send(&m.url, token, &new).await;
                if let Err(e) = &outcome {
                    tracing::warn!(server = %m.id, error = %e, "a server of the pool did not take the change");
                }
                reached.push(PoolReach { id: m.id, ok: outcome.is_ok(), error: outcome.err() });
            }
            self.take(new.clone(), true);
            reached.insert(0, PoolReach { id: self.id.clone(), ok: true, error: None });
            Ok(PoolChangeResult { settings: new, servers: reached })
        })
    }

    fn find_token_elsewhere<'a>(
        &'a self,
        hash: &'a str,
    ) -> BoxFuture<'a, longhall_core::error::CoreResult<Option<longhall_core::model::TokenRecord>>> {
        Box::pin(async move {
            let other = match *lock(&self.database) {
                PoolState::Normal => PoolState::FailedOver,
                PoolState::FailedOver => PoolState::Normal,
            };
            let url = self.database_url(other);
            if url.is_empty() {
                return Ok(None);
            }
            Ok(longhall_store_postgres::find_token_at(url, hash).await?)
        })
    }

    fn adopt(&self, settings: PoolSettings) -> BoxFuture<'_, longhall_core::error::CoreResult<()>> {
        Box::pin(async move {
            if settings.state == PoolState::FailedOver && self.backup_url.is_empty() {
                return Err(pool_error(
                    ErrorCode::NotAPool,
                    format!("Server {} has no backup database; set its postgres_backup_url.", self.id),
                ));
            }
            self.take(settings, true);
            Ok(())
        })
    }
}

fn database_name(state: PoolState) -> &'static str {
    match state {
        PoolState::Normal => "primary (postgres_url)",
        PoolState::FailedOver => "backup (postgres_backup_url)",
    }
}

/// Sends the settings to one server with the administrator's token.
async fn send(url: &str, token: &str, settings: &PoolSettings) -> Result<(), String> {
    let client =
        longhall_client::Client::builder(url).token(token).timeout(REACH_TIMEOUT).build().map_err(|e| e.to_string())?;
    client.put_pool_settings(settings).await.map_err(|e| e.to_string())
}
