//! The pool: the servers sharing one PostgreSQL deployment (the registry), the active server
//! list, and the pool state (which database every server uses).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which database the servers of the pool use: the primary (`normal`) or the backup
/// (`failed_over`, after the backup was promoted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolState {
    #[default]
    Normal,
    FailedOver,
}

impl PoolState {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolState::Normal => "normal",
            PoolState::FailedOver => "failed_over",
        }
    }

    pub fn parse(s: &str) -> Option<PoolState> {
        match s {
            "normal" => Some(PoolState::Normal),
            "failed_over" | "failed-over" | "failedover" => Some(PoolState::FailedOver),
            _ => None,
        }
    }
}

/// One server as the pool knows it: how to reach it, and what it is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolMember {
    /// The server's id (`server_id`, unique in the pool).
    pub id: String,
    /// Where other servers and administrators reach its API (`advertise_url`).
    pub url: String,
}

/// The pool's settings as every server keeps them (in memory and in a file of its data
/// directory), so that they are known while the database is down. Newer revisions win.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolSettings {
    /// Increases with every change.
    pub revision: u64,
    pub state: PoolState,
    /// The servers that accept new client connections; absent: every server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Vec<String>>,
    /// The servers the pool knows, and their addresses.
    #[serde(default)]
    pub members: Vec<PoolMember>,
    /// When and by whom the latest change was made (ms since 1970, a login).
    #[serde(default)]
    pub changed_at: i64,
    #[serde(default)]
    pub changed_by: String,
}

/// One server of the pool, as `GET /api/v1/admin/pool` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolServer {
    pub id: String,
    pub url: String,
    /// `up` (its heartbeat is recent), `down` (stale), or `unknown` (the database can't be
    /// read, e.g. while the primary is down).
    pub state: String,
    /// On the active server list: accepts new client connections.
    pub active: bool,
    /// When it started and its latest heartbeat (ms since 1970), as the database has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<i64>,
    /// Live client connections at its latest heartbeat (its load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
}

/// `GET /api/v1/admin/pool`: the pool state, the active server list and every server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pool {
    /// The server that answered.
    pub this_server: String,
    pub settings: PoolSettings,
    /// The database this server uses now (it follows `settings.state` once switched).
    pub database: PoolState,
    pub servers: Vec<PoolServer>,
}

/// `PUT /api/v1/admin/pool/state`: switch every server of the pool to the other database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolStatePut {
    pub state: PoolState,
}

/// `PUT /api/v1/admin/pool/active`: the active server list; `null` makes every server active,
/// `[]` none (no server accepts new clients: the first step of a failback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveServersPut {
    #[schema(max_items = 64)]
    pub servers: Option<Vec<String>>,
}

/// How one server took a pool change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolReach {
    pub id: String,
    /// It took the change.
    pub ok: bool,
    /// Why not (unreachable, refused), when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer to a pool change: the new settings, and which servers took them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolChangeResult {
    pub settings: PoolSettings,
    pub servers: Vec<PoolReach>,
}
