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

/// How the keywords of a message removal must match a message's text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeywordMatch {
    /// Every keyword occurs in the text (the original's `All`, the default).
    #[default]
    All,
    /// At least one keyword occurs (the original's `Or`).
    Any,
    /// The keywords occur together, in order, as one phrase (the original's `Exact`).
    Phrase,
}

/// Remove or replace messages of one room, chosen by any combination of sequence numbers,
/// author, time range and keywords (all given selectors must match; at least one is needed).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveMessages {
    /// Only these messages (at most 1000).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 1000)]
    pub seqs: Vec<i64>,
    /// Only messages of this author (login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Only messages posted at or after this time (ms since 1970, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// Only messages posted at or before this time (ms since 1970, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    /// Keywords separated by spaces (at most 1024 bytes); matched as substrings of the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<String>,
    /// How the keywords must match.
    #[serde(default, rename = "match")]
    pub match_mode: KeywordMatch,
    /// Keywords match only with the same case (default: case-insensitive).
    #[serde(default)]
    pub case_sensitive: bool,
    /// If given, the text is replaced by it; otherwise the default notice replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// Delete the messages outright instead of leaving a replacement (not with `replacement`).
    #[serde(default)]
    pub delete: bool,
    /// Only report what would be affected; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a message removal did (or, for a dry run, would do).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemovedMessages {
    /// Messages affected.
    pub count: u64,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The first (at most 100) affected messages as they were before, oldest first.
    pub messages: Vec<MessageView>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearRoom {
    /// Delete messages up to and including this time (ms since 1970).
    pub up_to: i64,
    /// Only count what would be deleted; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct Affected {
    pub count: u64,
}
