//! Signing in and out, the caller's own account and password.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub login: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignInResponse {
    /// Bearer token for `Authorization: Bearer <token>` and the WebSocket.
    pub token: String,
    pub me: Me,
}

/// Who the caller is, with the policy and configuration in force for them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user: UserView,
    pub policy: EffectivePolicy,
    pub config: EffectiveConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EffectivePolicy {
    pub enable_persistent_chat: bool,
    /// The policy that decided: `global`, `site:<name>` or `tag:<name>`.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EffectiveConfig {
    pub default_chat_history: u32,
    pub max_file_size_kb: u64,
    pub participant_update_limit: u32,
    pub room_management_url: String,
    /// The configuration that decided: `global` or `site:<name>`.
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current: String,
    #[schema(min_length = 8, max_length = 1024)]
    pub new: String,
}
