//! Liveness and readiness.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// One check of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadinessCheck {
    /// `store`, `poster` or `compliance_processor`.
    pub name: String,
    /// `ok`, `failed`, or `absent` (not run by this server; never makes it unready).
    pub state: String,
    /// Whether a failure of this check makes the server unready (503).
    pub required: bool,
    /// What was found, for people (the store's error, the processor's last cycle…).
    pub detail: String,
}

/// The answer of `/readyz`: 200 when every required check is `ok`, 503 otherwise. A 503 also
/// carries `code` (`store_unavailable` when the store fails, else `not_ready`) and `message`,
/// like every error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    pub checks: Vec<ReadinessCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
