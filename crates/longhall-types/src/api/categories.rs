//! Categories: the containers of rooms that carry membership rules.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CategoryView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub invitations: bool,
    pub file_upload: bool,
    pub chat_history: bool,
    pub allowed_members: Vec<String>,
    pub denied_members: Vec<String>,
    pub creators: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    #[schema(min_length = 1, max_length = 256, pattern = r"^\S(.*\S)?$")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub description: String,
    #[serde(default)]
    pub invitations: bool,
    #[serde(default)]
    pub file_upload: bool,
    /// Defaults to true.
    #[serde(default)]
    pub chat_history: Option<bool>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub allowed_members: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub denied_members: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub creators: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryUpdate {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256, pattern = r"^\S(.*\S)?$")]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub description: Option<String>,
    #[serde(default)]
    pub invitations: Option<bool>,
    #[serde(default)]
    pub file_upload: Option<bool>,
    #[serde(default)]
    pub chat_history: Option<bool>,
    #[serde(default)]
    pub allowed_members: Option<ListEdit>,
    #[serde(default)]
    pub denied_members: Option<ListEdit>,
    #[serde(default)]
    pub creators: Option<ListEdit>,
}
