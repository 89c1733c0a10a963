//! Liveness, readiness and the OpenAPI document.

use longhall_types::api::{Health, Readiness};

use crate::{Client, ClientError};

impl Client {
    /// The process answers (`/healthz`).
    pub async fn healthz(&self) -> Result<Health, ClientError> {
        self.get(self.url(&["healthz"])).await
    }

    /// Every readiness check passes (`/readyz`): the checks. When one fails, the answer's
    /// `store_unavailable` or `not_ready` as `ClientError::Api`.
    pub async fn readyz(&self) -> Result<Readiness, ClientError> {
        self.get(self.url(&["readyz"])).await
    }

    /// The server's OpenAPI document (free-form JSON).
    pub async fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        self.get(self.api(&["openapi.json"])).await
    }
}
