//! Messages: posting, history, search, and the administrators' content actions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;

/// A message as a room's recent-message cache holds it.
pub type SharedMessage = Shared<MessageView>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    pub room: i64,
    pub seq: i64,
    /// Server time, ms since 1970 UTC.
    pub ts: i64,
    /// Author login.
    pub author: String,
    pub author_name: String,
    pub text: String,
    #[serde(default)]
    pub alert: bool,
    /// Present for a story: its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileRef>,
    /// Set when an administrator replaced the text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replaced: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostRequest {
    /// Not blank; at most 16 KiB (16384 bytes) of UTF-8.
    #[schema(min_length = 1)]
    pub text: String,
    #[serde(default)]
    pub alert: bool,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub story_title: Option<String>,
    /// Id of a file uploaded to the same room, to attach.
    #[serde(default)]
    pub file: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Posted {
    pub room: i64,
    pub seq: i64,
    pub ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryPage {
    pub room: i64,
    /// Oldest first.
    pub messages: Vec<MessageView>,
    /// More messages exist in the paging direction.
    pub has_more: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    pub messages: Vec<MessageView>,
    /// The result cap was reached: narrow the search to see the rest.
    pub cap_hit: bool,
}

/// Remove or replace messages of one room.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveMessages {
    #[schema(min_items = 1, max_items = 1000)]
    pub seqs: Vec<i64>,
    /// If given, the text is replaced by it; otherwise a default notice replaces it.
    #[serde(default)]
    pub replacement: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearRoom {
    /// Delete messages up to and including this time (ms since 1970).
    pub up_to: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct Affected {
    pub count: u64,
}
