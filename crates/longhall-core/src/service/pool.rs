//! The pool (administrators): the servers sharing one PostgreSQL deployment, the active
//! server list and the pool state. The rules (who may, what is valid) are here; the pool's
//! I/O (the registry, the settings file, reaching the other servers, switching databases) is
//! the binary's [`PoolAgent`].

use std::sync::Arc;

use longhall_types::ErrorCode;
use longhall_types::api::{ActiveServersPut, Pool, PoolChangeResult, PoolSettings, PoolStatePut};

use super::{Actor, Longhall};
use crate::error::{CoreError, CoreResult};
use crate::live::TokenRef;
use crate::ports::{PoolAgent, PoolChange};

/// Most servers on the active server list (the original allowed 4 active + 4 standby).
pub const MAX_POOL_SERVERS: usize = 64;
/// Longest server id.
pub const MAX_SERVER_ID: usize = 128;

fn not_a_pool() -> CoreError {
    CoreError::new(
        ErrorCode::NotAPool,
        "This deployment is one server on SQLite; the active server list and the pool state apply to a pool of servers on PostgreSQL (store = \"postgres\").",
    )
}

/// Whether `id` can be a server id: 1–128 characters of letters, digits, `.`, `-`, `_`, `:`.
pub fn valid_server_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SERVER_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

impl Longhall {
    /// Hands the pool agent to the services (once; later calls are ignored and return false).
    pub fn set_pool_agent(&self, agent: Arc<dyn PoolAgent>) -> bool {
        self.pool.set(agent).is_ok()
    }

    fn pool_agent(&self) -> CoreResult<&Arc<dyn PoolAgent>> {
        self.pool.get().ok_or_else(not_a_pool)
    }

    /// Whether this server takes new client connections: always, unless it belongs to a pool
    /// whose active server list leaves it out.
    pub fn accepts_clients(&self) -> bool {
        self.pool.get().is_none_or(|p| p.accepts_clients())
    }

    /// Authenticates the caller of a pool operation: as every call, or, while the database in
    /// use can't be reached (`store_unavailable`), against the pool's other database, so that
    /// an administrator can fail the pool over while its primary is down. The account must be
    /// in this server's catalog and enabled.
    pub async fn authenticate_pool_caller(&self, token: &str) -> CoreResult<(Actor, TokenRef)> {
        let err = match self.authenticate_token(token).await {
            Err(e) if e.code == ErrorCode::StoreUnavailable && self.pool.get().is_some() => e,
            other => return other,
        };
        let unauthenticated = || {
            CoreError::new(
                ErrorCode::Unauthenticated,
                "The token is missing, expired or revoked; sign in again to get a new one.",
            )
        };
        if token.is_empty() || token.len() > 200 {
            return Err(unauthenticated());
        }
        let agent = self.pool_agent()?;
        let record = match agent.find_token_elsewhere(&super::auth::token_hash(token)).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(unauthenticated()),
            // Neither database answers: say so about the one in use.
            Err(_) => return Err(err),
        };
        if record.expires.is_some_and(|e| e <= self.now()) {
            return Err(unauthenticated());
        }
        let user = self.cat().users.get(&record.user).cloned().ok_or_else(unauthenticated)?;
        super::auth::check_enabled(&user)?;
        Ok((Actor::of(user), TokenRef { id: record.id, expires: record.expires }))
    }

    /// The pool, if this server belongs to one (for the status page).
    pub(super) async fn pool_if_any(&self) -> Option<Pool> {
        let agent = self.pool.get()?;
        match agent.pool().await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "the pool could not be read for the status page");
                None
            }
        }
    }

    /// The pool state, the active server list and every server with its state and load.
    pub async fn pool_view(&self, actor: &Actor) -> CoreResult<Pool> {
        actor.require_admin()?;
        self.pool_agent()?.pool().await
    }

    /// Switches every server of the pool to the database of `put.state` (failover, failback).
    /// `token` is the caller's: the other servers are reached with it.
    pub async fn set_pool_state(&self, actor: &Actor, token: &str, put: PoolStatePut) -> CoreResult<PoolChangeResult> {
        actor.require_admin()?;
        let agent = self.pool_agent()?;
        agent.change(PoolChange::State(put.state), &actor.user.login, token).await
    }

    /// Sets the active server list (`None`: every server). A server taken off closes its
    /// client connections, telling them to reconnect elsewhere.
    pub async fn set_active_servers(
        &self,
        actor: &Actor,
        token: &str,
        put: ActiveServersPut,
    ) -> CoreResult<PoolChangeResult> {
        actor.require_admin()?;
        let agent = self.pool_agent()?;
        let mut list = put.servers;
        if let Some(ids) = &mut list {
            if ids.len() > MAX_POOL_SERVERS {
                return Err(CoreError::new(
                    ErrorCode::TooLong,
                    format!("The active server list holds at most {MAX_POOL_SERVERS} servers."),
                ));
            }
            if let Some(bad) = ids.iter().find(|id| !valid_server_id(id)) {
                return Err(CoreError::new(
                    ErrorCode::InvalidValue,
                    format!(
                        "{bad:?} is not a server id; ids are 1–{MAX_SERVER_ID} letters, digits, '.', '-', '_' or ':' (see `longhall pool`)."
                    ),
                ));
            }
            let known = agent.pool().await?;
            if let Some(unknown) = ids.iter().find(|id| !known.servers.iter().any(|s| &s.id == *id)) {
                let names: Vec<&str> = known.servers.iter().map(|s| s.id.as_str()).collect();
                return Err(CoreError::new(
                    ErrorCode::InvalidValue,
                    format!(
                        "The pool has no server {unknown:?}; its servers are: {}. Start a server once to register it.",
                        names.join(", ")
                    ),
                ));
            }
            ids.sort();
            ids.dedup();
        }
        agent.change(PoolChange::Active(list), &actor.user.login, token).await
    }

    /// Takes the pool settings another server of the pool sent (administrators' token).
    pub async fn adopt_pool_settings(&self, actor: &Actor, settings: PoolSettings) -> CoreResult<()> {
        actor.require_admin()?;
        self.pool_agent()?.adopt(settings).await
    }

    /// Closes every client connection (recording their PART events), telling each to connect
    /// to another server: this server was taken off the active server list.
    pub async fn drain_clients(&self) {
        let reason = CoreError::new(
            ErrorCode::ServerNotActive,
            "This server was taken off the pool's active server list; connect to another server of the pool and resume from your last sequence numbers.",
        );
        for conn in self.hub.connections() {
            self.disconnect(&conn, "server taken off the active list").await;
            conn.close(reason.clone());
        }
    }
}
