//! The chat configuration (global and site scopes).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfigView {
    /// `global` or `site:<name>`.
    pub scope: String,
    pub default_chat_history: u32,
    pub max_file_size_kb: u64,
    pub participant_update_limit: u32,
    pub room_management_url: String,
}

/// Fields left out keep their current value (or the default for a new scope).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigPut {
    #[serde(default)]
    #[schema(minimum = 1, maximum = 500)]
    pub default_chat_history: Option<u32>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 4194304)]
    pub max_file_size_kb: Option<u64>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000000)]
    pub participant_update_limit: Option<u32>,
    #[serde(default)]
    /// An http:// or https:// address; empty clears it.
    #[schema(max_length = 255, pattern = r"^([Hh][Tt][Tt][Pp][Ss]?://\S+)?$")]
    pub room_management_url: Option<String>,
}
