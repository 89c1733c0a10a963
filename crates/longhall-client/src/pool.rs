//! The pool: servers, the active server list and the pool state (`/api/v1/admin/pool`).

use longhall_types::api::*;
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// The pool state, the active server list and every server with its state and load.
    pub async fn pool(&self) -> Result<Pool, ClientError> {
        self.get(self.admin(&["pool"])).await
    }

    /// Switches every server of the pool to the database of `state` (failover, failback).
    pub async fn put_pool_state(&self, state: PoolState) -> Result<PoolChangeResult, ClientError> {
        self.send_json(Method::PUT, self.admin(&["pool", "state"]), &PoolStatePut { state }).await
    }

    /// Sets the active server list (`None`: every server; an empty list: none).
    pub async fn put_active_servers(&self, servers: Option<Vec<String>>) -> Result<PoolChangeResult, ClientError> {
        self.send_json(Method::PUT, self.admin(&["pool", "active"]), &ActiveServersPut { servers }).await
    }

    /// Hands pool settings to this server (what a server does for the others of its pool).
    pub async fn put_pool_settings(&self, settings: &PoolSettings) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::PUT, self.admin(&["pool", "settings"])).json(settings)).await
    }
}
