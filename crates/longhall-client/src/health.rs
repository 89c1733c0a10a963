//! Liveness, readiness and the OpenAPI document.

use longhall_types::api::Health;

use crate::{Client, ClientError};

impl Client {
    /// The process answers (`/healthz`).
    pub async fn healthz(&self) -> Result<Health, ClientError> {
        self.get(self.url(&["healthz"])).await
    }

    /// The store answers and migrations are applied (`/readyz`); `store_unavailable` otherwise.
    pub async fn readyz(&self) -> Result<Health, ClientError> {
        self.get(self.url(&["readyz"])).await
    }

    /// The server's OpenAPI document (free-form JSON).
    pub async fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        self.get(self.api(&["openapi.json"])).await
    }
}
