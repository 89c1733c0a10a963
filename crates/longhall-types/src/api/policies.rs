//! Persistent-chat policies (global, site and tag scopes).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// `global`, `site:<name>` or `tag:<name>`.
    pub scope: String,
    pub enable_persistent_chat: bool,
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyPut {
    pub enable_persistent_chat: bool,
    #[serde(default)]
    pub description: String,
}
