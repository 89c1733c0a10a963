//! Groups (nested membership).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupView {
    pub id: i64,
    pub name: String,
    /// Direct members: `user:<login>` and `group:<name>` entries.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    #[schema(min_length = 1, max_length = 256, pattern = r"^\S(.*\S)?$")]
    pub name: String,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupUpdate {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256, pattern = r"^\S(.*\S)?$")]
    pub name: Option<String>,
    #[serde(default)]
    pub members: Option<ListEdit>,
}
