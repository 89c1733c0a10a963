//! API tokens: long-lived credentials for bots and scripts.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    /// The user (bot) the token acts as; defaults to the caller.
    #[serde(default)]
    pub login: Option<String>,
    #[schema(min_length = 1, max_length = 256, pattern = r"^\S(.*\S)?$")]
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenCreated {
    pub id: i64,
    /// Shown once; only its hash is stored.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub login: String,
    /// `session` or `api`.
    pub kind: String,
    pub label: String,
    pub created: i64,
}
