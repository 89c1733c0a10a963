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

/// The consistency check of group expansion (the original's AffCheck).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupCheck {
    /// Nothing dangling and the memberships in memory are the store's. Cycles are tolerated
    /// (expansion stops at a group already seen), so they don't count against it.
    pub consistent: bool,
    /// Groups that contain themselves through their members, one list of names per cycle.
    pub cycles: Vec<Vec<String>>,
    /// Group members that name a user or group that does not exist, as `group <name>: <entry>`.
    pub dangling_members: Vec<String>,
    /// Category and room list entries that name a missing user or group, as
    /// `<noun> <name>: <list>: <entry>`.
    pub dangling_list_entries: Vec<String>,
    /// Users whose groups, expanded from the catalog in memory, differ from an expansion of
    /// what the store holds now, as `<login>: memory [..], store [..]`.
    pub membership_differences: Vec<String>,
}
