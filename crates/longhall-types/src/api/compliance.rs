//! The compliance record, its configuration and processing runs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComplianceEventView {
    pub id: i64,
    /// `JOIN`, `PART`, `CHAT`, `BACKCHAT`, `FILEUPLOAD`, `FILEDOWNLOAD`, `MESSAGE_REPLACED`,
    /// `MESSAGE_REMOVED`, `ROOM_CLEARED`.
    pub kind: String,
    pub ts: i64,
    pub room: i64,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// Kind-specific detail (message text, file name, range read…).
    pub detail: serde_json::Value,
}

/// How compliance events are processed (global scope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceConfigView {
    /// Whether events are processed (they are recorded either way). Default false.
    pub enabled: bool,
    /// `xml` (default), `jsonl`, `eml` or `command`.
    pub adapter: String,
    /// Absolute folder the output goes to (default `<data_dir>/compliance-output`).
    pub output_dir: String,
    /// Seconds between runs, 60–2592000 (1 minute to 30 days). Default 900.
    pub run_interval_secs: u64,
    pub one_chat_room_per_output_file: bool,
    pub add_chat_room_details: bool,
    pub add_user_details: bool,
    pub create_file_attachments_manifest: bool,
    /// XSLT 1.0 stylesheet applied to the XML output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_configuration: Option<String>,
    /// Program and arguments of the `command` adapter.
    #[serde(default)]
    pub command: Vec<String>,
}

/// Fields left out keep their current value (or the default).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceConfigPut {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub adapter: Option<String>,
    /// An absolute path; `""` returns to the default.
    #[serde(default)]
    pub output_dir: Option<String>,
    #[serde(default)]
    pub run_interval_secs: Option<u64>,
    #[serde(default)]
    pub one_chat_room_per_output_file: Option<bool>,
    #[serde(default)]
    pub add_chat_room_details: Option<bool>,
    #[serde(default)]
    pub add_user_details: Option<bool>,
    #[serde(default)]
    pub create_file_attachments_manifest: Option<bool>,
    /// The stylesheet text; `""` removes it.
    #[serde(default)]
    pub custom_configuration: Option<String>,
    /// Program and arguments; `[]` removes them.
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

/// One compliance processing run: one batch of events, or a run that found none or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceRunView {
    pub id: i64,
    /// The server that ran it.
    pub server: String,
    /// Start and end, ms since 1970.
    pub started: i64,
    pub finished: i64,
    /// `<first event id>-<last event id>`, zero-padded; output file names derive from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<i64>,
    /// Events handed to the adapter.
    pub events: u64,
    /// Files published.
    pub files: u64,
    /// The batch had been published by an interrupted run; this run completed it.
    pub recovered: bool,
    /// Why the run failed (its events are retried next run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a run started by an administrator did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceRunReport {
    /// The runs of this cycle, in order: a recovered batch first, then one per batch (a
    /// backlog is processed in batches of at most 100000 events). One run with 0 events when
    /// nothing was waiting. The last one carries the error, if any.
    pub runs: Vec<ComplianceRunView>,
    pub events: u64,
    pub files: u64,
    /// The first error, if a run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StylesheetTest {
    /// An XSLT 1.0 stylesheet.
    pub stylesheet: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StylesheetOutput {
    /// The stylesheet's output on the sample batch.
    pub output: String,
}
