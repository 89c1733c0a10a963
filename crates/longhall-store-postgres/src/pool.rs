//! The pool's registry and settings in the database (chat migration 004): servers register
//! and renew a heartbeat; the pool's settings and their history. These are single statements
//! in autocommit on a pooled connection, outside the group commit: they touch only their own
//! tables and must not wait behind a burst of posts.

use longhall_core::{StoreError, StoreResult};
use longhall_types::api::PoolSettings;

use crate::conn::{Conn, DbResult, describe};
use crate::store::PgStore;

/// The database's clock in ms since 1970.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// One registered server as the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredServer {
    pub id: String,
    pub url: String,
    pub started: i64,
    pub heartbeat: i64,
    pub connections: u64,
    /// Its heartbeat is younger than the staleness bound asked for.
    pub up: bool,
}

/// A pool change as recorded in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolChangeRecord {
    pub ts: i64,
    pub actor: String,
    pub settings: PoolSettings,
}

struct Register {
    id: String,
    url: String,
    instance: String,
    stale_ms: i64,
}

async fn register(c: &Conn, r: &Register) -> StoreResult<Option<String>> {
    // Takes the id when it is free, stale (its server stopped heartbeating), or already ours.
    let taken = c
        .client
        .query_opt(
            &format!(
                "INSERT INTO chat.pool_servers (id, url, instance, started, heartbeat, connections) \
                 VALUES ($1, $2, $3, {NOW_MS}, {NOW_MS}, 0) \
                 ON CONFLICT (id) DO UPDATE SET url = excluded.url, instance = excluded.instance, \
                   started = excluded.started, heartbeat = excluded.heartbeat, connections = 0 \
                 WHERE chat.pool_servers.instance = excluded.instance \
                    OR chat.pool_servers.heartbeat < {NOW_MS} - $4 \
                 RETURNING id"
            ),
            &[&r.id, &r.url, &r.instance, &r.stale_ms],
        )
        .await
        .db()?;
    if taken.is_some() {
        return Ok(None);
    }
    let holder = c.client.query_opt("SELECT url FROM chat.pool_servers WHERE id = $1", &[&r.id]).await.db()?;
    Ok(Some(holder.map(|row| row.get::<_, String>(0)).unwrap_or_default()))
}

impl PgStore {
    /// Registers this server as `id`, reachable at `url`, for the process `instance`. Refused
    /// (`Conflict`) while another process holds the id with a heartbeat younger than
    /// `stale_ms`: two live servers of a pool must have distinct ids.
    pub async fn register_server(&self, id: &str, url: &str, instance: &str, stale_ms: i64) -> StoreResult<()> {
        let r = Register { id: id.into(), url: url.into(), instance: instance.into(), stale_ms };
        match self.read(r, |c, r| Box::pin(register(c, r))).await? {
            None => Ok(()),
            Some(holder) => Err(StoreError::Conflict(format!(
                "the server id {id:?} is in use by a running server (at {holder}); give each server of the pool its own server_id"
            ))),
        }
    }

    /// Renews this server's heartbeat with its load. `Ok(false)`: another process has taken
    /// the id meanwhile (this one's heartbeat had gone stale).
    pub async fn heartbeat(&self, id: &str, instance: &str, connections: u64) -> StoreResult<bool> {
        let d = (id.to_owned(), instance.to_owned(), i64::try_from(connections).unwrap_or(i64::MAX));
        self.read(d, |c, (id, instance, n)| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE chat.pool_servers SET heartbeat = {NOW_MS}, connections = $3 WHERE id = $1 AND instance = $2"
                );
                Ok(c.client.execute(&sql, &[id, instance, n]).await.db()? == 1)
            })
        })
        .await
    }

    /// Removes this server from the registry (a clean stop), if it still holds the id.
    pub async fn unregister_server(&self, id: &str, instance: &str) -> StoreResult<()> {
        self.read((id.to_owned(), instance.to_owned()), |c, (id, instance)| {
            Box::pin(async move {
                c.execute("DELETE FROM chat.pool_servers WHERE id = $1 AND instance = $2", &[id, instance])
                    .await
                    .db()?;
                Ok(())
            })
        })
        .await
    }

    /// Every registered server, by id; `up` when its heartbeat is younger than `stale_ms`.
    pub async fn pool_servers(&self, stale_ms: i64) -> StoreResult<Vec<RegisteredServer>> {
        self.read(stale_ms, |c, stale| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT id, url, started, heartbeat, connections, heartbeat >= {NOW_MS} - $1 \
                     FROM chat.pool_servers ORDER BY id"
                );
                let rows = c.client.query(&sql, &[stale]).await.db()?;
                Ok(rows
                    .iter()
                    .map(|r| RegisteredServer {
                        id: r.get(0),
                        url: r.get(1),
                        started: r.get(2),
                        heartbeat: r.get(3),
                        connections: u64::try_from(r.get::<_, i64>(4)).unwrap_or(0),
                        up: r.get(5),
                    })
                    .collect())
            })
        })
        .await
    }

    /// The pool's settings as last stored in this database.
    pub async fn pool_settings(&self) -> StoreResult<Option<PoolSettings>> {
        self.read((), |c, ()| {
            Box::pin(async move {
                let row = c.query_opt("SELECT settings FROM chat.pool_settings WHERE id = 1", &[]).await.db()?;
                row.map(|r| {
                    serde_json::from_value(r.get::<_, serde_json::Value>(0))
                        .map_err(|e| StoreError::Unavailable(format!("the stored pool settings can't be read: {e}")))
                })
                .transpose()
            })
        })
        .await
    }

    /// Stores the pool's settings if their revision is newer than the stored one, and
    /// records the change (with `actor`) in the pool history. `Ok(false)`: an equal or newer
    /// revision was stored already, nothing changed.
    pub async fn put_pool_settings(&self, settings: &PoolSettings, actor: &str) -> StoreResult<bool> {
        let json = serde_json::to_value(settings).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let revision = i64::try_from(settings.revision).unwrap_or(i64::MAX);
        self.read((json, revision, actor.to_owned()), |c, (json, revision, actor)| {
            Box::pin(async move {
                let sql = format!(
                    "WITH put AS ( \
                       INSERT INTO chat.pool_settings (id, revision, settings) VALUES (1, $2, $1) \
                       ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, settings = excluded.settings \
                       WHERE chat.pool_settings.revision < excluded.revision RETURNING revision) \
                     INSERT INTO chat.pool_history (ts, actor, revision, settings) \
                     SELECT {NOW_MS}, $3, $2, $1 FROM put RETURNING id"
                );
                Ok(c.client.query_opt(&sql, &[json, revision, actor]).await.db()?.is_some())
            })
        })
        .await
    }

    /// The latest pool changes recorded in this database, newest first.
    pub async fn pool_history(&self, limit: u32) -> StoreResult<Vec<PoolChangeRecord>> {
        self.read(i64::from(limit), |c, limit| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT ts, actor, settings FROM chat.pool_history ORDER BY id DESC LIMIT $1", &[limit])
                    .await
                    .db()?;
                rows.iter()
                    .map(|r| {
                        let settings = serde_json::from_value(r.get::<_, serde_json::Value>(2))
                            .map_err(|e| StoreError::Unavailable(format!("a stored pool change can't be read: {e}")))?;
                        Ok(PoolChangeRecord { ts: r.get(0), actor: r.get(1), settings })
                    })
                    .collect()
            })
        })
        .await
    }
}

/// Looks a token up by its hash in the database at `url` (one connection, closed after): how a
/// server of a pool authenticates an administrator against the other database while its own
/// is down.
pub async fn find_token_at(url: &str, hash: &str) -> StoreResult<Option<longhall_core::model::TokenRecord>> {
    let c = Conn::connect(url).await?;
    crate::reads::find_token(&c, &hash.to_owned()).await
}

/// Checks that the database at `url` can be reached and takes writes (it is a primary, not a
/// standby still in recovery), before a pool switches to it.
pub async fn check_writable(url: &str) -> StoreResult<()> {
    let c = Conn::connect(url).await?;
    let row = c.client.query_one("SELECT pg_is_in_recovery()", &[]).await.map_err(|e| {
        StoreError::Unavailable(format!("cannot ask PostgreSQL whether it is a standby: {}", describe(&e)))
    })?;
    if row.get::<_, bool>(0) {
        return Err(StoreError::Unavailable(
            "the database is a standby in recovery (read-only); promote it first (pg_ctl promote or SELECT pg_promote())"
                .into(),
        ));
    }
    Ok(())
}
