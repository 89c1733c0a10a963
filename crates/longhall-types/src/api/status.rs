//! The operators' status page.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;

/// The size of one part of the stores on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StorePartSize {
    /// `chat.db`, `compliance.db` (each with its write-ahead log) or `files`.
    pub name: String,
    pub bytes: u64,
}

/// Compliance processing as `GET /api/v1/admin/status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceStatus {
    /// Processing is turned on in the configuration.
    pub enabled: bool,
    /// Recorded events not yet processed (the backlog).
    pub waiting_events: u64,
    /// The latest run of any server of the pool, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<ComplianceRunView>,
}

/// `GET /api/v1/admin/status`: what an operator looks at first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServerStatus {
    /// The server's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// When the server started, ms since 1970, and seconds since.
    pub started: i64,
    pub uptime_secs: u64,
    /// Live WebSocket connections, and the most this server accepts (absent: no limit known).
    pub connections: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// Joined participants, summed over rooms (a user in two rooms counts twice).
    pub participants: u64,
    /// Rooms with at least one participant.
    pub active_rooms: u64,
    /// The checks of `/readyz`, and whether all required ones are `ok`.
    pub ready: bool,
    pub checks: Vec<ReadinessCheck>,
    /// Bytes on disk, per part.
    pub store_sizes: Vec<StorePartSize>,
    pub compliance: ComplianceStatus,
    /// The pool this server belongs to (PostgreSQL deployments): its state, the active server
    /// list, every server with its state and load. Absent for one server on SQLite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Pool>,
}
