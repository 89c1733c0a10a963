//! The domain objects as the core and the stores hold them.

use longhall_types::api::{FileRef, Privacy, RoomInvitations, RoomType};

use crate::principal::Principal;

pub type UserId = i64;
pub type GroupId = i64;
pub type CategoryId = i64;
pub type RoomId = i64;
pub type AddinId = i64;
pub type FileId = i64;
pub type TokenId = i64;
/// Per-room dense message sequence number, starting at 1.
pub type Seq = i64;
/// Milliseconds since 1970-01-01 UTC.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub id: UserId,
    /// Lower-case `name@domain`.
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub site: Option<String>,
    pub disabled: bool,
    pub admin: bool,
    /// Name of the user-scope (tag) policy granted to this user.
    pub policy: Option<String>,
}

impl User {
    pub fn domain(&self) -> &str {
        self.login.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    /// Direct members: only `Principal::User` and `Principal::Group`.
    pub members: Vec<Principal>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Category {
    pub id: CategoryId,
    pub name: String,
    pub description: String,
    pub invitations: bool,
    pub file_upload: bool,
    pub chat_history: bool,
    pub allowed: Vec<Principal>,
    pub denied: Vec<Principal>,
    pub creators: Vec<Principal>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Room {
    pub id: RoomId,
    pub name: String,
    pub description: String,
    pub category: CategoryId,
    pub privacy: Privacy,
    pub room_type: RoomType,
    pub invitations: RoomInvitations,
    pub addin: Option<AddinId>,
    pub disabled: bool,
    pub members: Vec<Principal>,
    pub managers: Vec<Principal>,
    pub presenters: Vec<Principal>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Addin {
    pub id: AddinId,
    pub name: String,
    pub url: String,
}

/// Where a policy or configuration applies. Tag scopes exist for policies only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Scope {
    Global,
    Site(String),
    Tag(String),
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s.split_once(':') {
            None if s == "global" => Some(Scope::Global),
            Some(("site", n)) if !n.trim().is_empty() => Some(Scope::Site(n.trim().to_owned())),
            Some(("tag", n)) if !n.trim().is_empty() => Some(Scope::Tag(n.trim().to_owned())),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Site(n) => write!(f, "site:{n}"),
            Scope::Tag(n) => write!(f, "tag:{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub scope: Scope,
    pub enable_persistent_chat: bool,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    pub scope: Scope,
    pub default_chat_history: u32,
    pub max_file_size_kb: u64,
    pub participant_update_limit: u32,
    pub room_management_url: String,
}

impl Config {
    pub const DEFAULT_CHAT_HISTORY: u32 = 30;
    pub const MAX_FILE_SIZE_KB: u64 = 20_000;
    pub const PARTICIPANT_UPDATE_LIMIT: u32 = 75;

    pub fn defaults(scope: Scope) -> Config {
        Config {
            scope,
            default_chat_history: Self::DEFAULT_CHAT_HISTORY,
            max_file_size_kb: Self::MAX_FILE_SIZE_KB,
            participant_update_limit: Self::PARTICIPANT_UPDATE_LIMIT,
            room_management_url: String::new(),
        }
    }
}

/// A message about to be committed. The store assigns the sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    pub room: RoomId,
    pub author: UserId,
    /// Author login and room name at the time, kept in the compliance record.
    pub author_login: String,
    pub room_name: String,
    pub ts: Millis,
    pub text: String,
    pub alert: bool,
    pub story_title: Option<String>,
    pub file: Option<FileId>,
    /// False when the category keeps no history: the message gets a sequence number and a
    /// compliance record but is not kept for users.
    pub keep: bool,
}

/// A message as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub room: RoomId,
    pub seq: Seq,
    pub ts: Millis,
    pub author: UserId,
    pub text: String,
    pub alert: bool,
    pub story_title: Option<String>,
    pub file: Option<FileRef>,
    pub replaced: bool,
}

/// An uploaded file's metadata; the bytes live in the file store under `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub id: FileId,
    pub room: RoomId,
    pub uploader: UserId,
    pub key: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub ts: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TokenKind {
    /// Issued by sign-in; expires.
    Session,
    /// Long-lived token for bots, created by an administrator.
    Api,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    pub id: TokenId,
    pub user: UserId,
    pub kind: TokenKind,
    pub label: String,
    /// Hex SHA-256 of the token; the token itself is never stored.
    pub hash: String,
    pub created: Millis,
    pub expires: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub user: UserId,
    /// Per-user increasing id.
    pub id: i64,
    pub room: RoomId,
    pub ts: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    pub room: RoomId,
    pub read_seq: Seq,
}

/// Kinds of compliance events (compliance.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComplianceKind {
    Join,
    Part,
    Chat,
    Backchat,
    FileUpload,
    FileDownload,
    MessageReplaced,
    MessageRemoved,
    RoomCleared,
}

impl ComplianceKind {
    pub const ALL: [ComplianceKind; 9] = [
        ComplianceKind::Join,
        ComplianceKind::Part,
        ComplianceKind::Chat,
        ComplianceKind::Backchat,
        ComplianceKind::FileUpload,
        ComplianceKind::FileDownload,
        ComplianceKind::MessageReplaced,
        ComplianceKind::MessageRemoved,
        ComplianceKind::RoomCleared,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceKind::Join => "JOIN",
            ComplianceKind::Part => "PART",
            ComplianceKind::Chat => "CHAT",
            ComplianceKind::Backchat => "BACKCHAT",
            ComplianceKind::FileUpload => "FILEUPLOAD",
            ComplianceKind::FileDownload => "FILEDOWNLOAD",
            ComplianceKind::MessageReplaced => "MESSAGE_REPLACED",
            ComplianceKind::MessageRemoved => "MESSAGE_REMOVED",
            ComplianceKind::RoomCleared => "ROOM_CLEARED",
        }
    }

    pub fn parse(s: &str) -> Option<ComplianceKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A connection's stay in a room, opened by its JOIN event and not yet closed by a PART.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenParticipation {
    pub connection: i64,
    pub room: RoomId,
    pub user: UserId,
}

/// One compliance record. Names are snapshots taken when the event happened.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplianceEvent {
    pub kind: ComplianceKind,
    pub ts: Millis,
    pub room: RoomId,
    pub room_name: String,
    pub user: UserId,
    pub user_login: String,
    pub seq: Option<Seq>,
    /// Kind-specific detail: message text and flags, file name and size, range read, reason.
    pub detail: serde_json::Value,
}

/// A content search, already restricted to rooms the searcher may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub rooms: Vec<RoomId>,
    /// Substring to find (any language; case-insensitive for letters that have case).
    pub text: Option<String>,
    pub author: Option<UserId>,
    pub from_ts: Option<Millis>,
    pub to_ts: Option<Millis>,
    /// Newest first, at most this many.
    pub limit: u32,
}

/// One page of a walk through a room's kept messages (`Store::scan_messages`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageScan {
    pub room: RoomId,
    /// Only messages after this sequence number (0: from the start).
    pub after: Seq,
    pub author: Option<UserId>,
    /// Inclusive.
    pub from_ts: Option<Millis>,
    /// Inclusive.
    pub to_ts: Option<Millis>,
    pub limit: u32,
}

/// One room's figures in `Store::usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomUsage {
    pub room: RoomId,
    /// Kept messages in the window.
    pub messages: u64,
    /// The room's latest kept message, at any time.
    pub last_post: Option<Millis>,
}

/// What `Store::usage` counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFigures {
    /// Every room, by id.
    pub rooms: Vec<RoomUsage>,
    /// (author, messages) of every author with a message in the window, by id.
    pub users: Vec<(UserId, u64)>,
    /// (UTC day: days since 1970-01-01, messages) of every day with a message in the window,
    /// ascending.
    pub days: Vec<(i64, u64)>,
}

/// Everything the core keeps in memory, as loaded from the store at start.
#[derive(Debug, Clone, Default)]
pub struct CatalogData {
    pub users: Vec<User>,
    /// Removed accounts, kept so what they posted stays attributed to their login.
    pub removed_users: Vec<User>,
    pub groups: Vec<Group>,
    pub categories: Vec<Category>,
    /// Each room with its last assigned sequence number.
    pub rooms: Vec<(Room, Seq)>,
    pub addins: Vec<Addin>,
    pub policies: Vec<Policy>,
    pub configs: Vec<Config>,
}

// ---- compliance processing

/// The compliance adapters a configuration may name.
pub const COMPLIANCE_ADAPTERS: [&str; 4] = ["xml", "jsonl", "eml", "command"];

/// How compliance events are processed (global scope). Kept in the chat store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ComplianceConfig {
    /// Off by default: events are recorded either way, but only processed when on.
    pub enabled: bool,
    /// One of [`COMPLIANCE_ADAPTERS`].
    pub adapter: String,
    /// Absolute folder for the output; `None` means the server's default
    /// (`Settings::compliance_output_dir`).
    pub output_dir: Option<String>,
    /// Seconds between two runs, within [`ComplianceConfig::RUN_INTERVAL_RANGE`].
    pub run_interval_secs: u64,
    pub one_chat_room_per_output_file: bool,
    pub add_chat_room_details: bool,
    pub add_user_details: bool,
    pub create_file_attachments_manifest: bool,
    /// XSLT 1.0 stylesheet applied to the XML output.
    pub custom_configuration: Option<String>,
    /// Program and arguments of the `command` adapter.
    pub command: Vec<String>,
}

impl ComplianceConfig {
    /// 15 minutes.
    pub const DEFAULT_RUN_INTERVAL_SECS: u64 = 900;
    /// 1 minute to 30 days.
    pub const RUN_INTERVAL_RANGE: (u64, u64) = (60, 30 * 24 * 3600);
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        ComplianceConfig {
            enabled: false,
            adapter: "xml".into(),
            output_dir: None,
            run_interval_secs: Self::DEFAULT_RUN_INTERVAL_SECS,
            one_chat_room_per_output_file: false,
            add_chat_room_details: false,
            add_user_details: false,
            create_file_attachments_manifest: false,
            custom_configuration: None,
            command: Vec::new(),
        }
    }
}

/// A batch of compliance events: those with `after < id <= last` (`events` of them, the
/// first being `first`). Fixed once chosen: ids only grow, and unprocessed events are never
/// deleted, so the same range always holds the same events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRange {
    /// The watermark the batch starts from (the last processed event id, 0 at first).
    pub after: i64,
    pub first: i64,
    pub last: i64,
    pub events: u64,
}

/// Who may process compliance events right now: one server of the pool at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceLease {
    pub holder: String,
    pub expires: Millis,
}

/// One output file of a batch being published: written under `temp`, renamed to `final_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishFile {
    pub temp: String,
    pub final_path: String,
}

/// "Batch `batch_id` (`batch`) is publishing these files": recorded after the files are
/// written and synced, before the first rename, and cleared by the commit that marks the
/// batch processed. Whoever finds it finishes the renames and commits; it never re-runs the
/// batch (unless a file was lost outright, see `longhall-compliance::processor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishIntent {
    pub batch_id: String,
    pub batch: BatchRange,
    /// The server that recorded it.
    pub holder: String,
    /// When that run started.
    pub started: Millis,
    pub files: Vec<PublishFile>,
}

/// The processing state of the compliance store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComplianceState {
    /// Id of the last processed event (0: none yet).
    pub watermark: i64,
    pub lease: Option<ComplianceLease>,
    pub intent: Option<PublishIntent>,
}

/// The record of one processing run (one batch, or a run that found nothing or failed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComplianceRun {
    /// Assigned by the store.
    pub id: i64,
    /// The server that ran it.
    pub server: String,
    pub started: Millis,
    pub finished: Millis,
    /// `<first>-<last>` of the batch, when there was one.
    pub batch_id: Option<String>,
    pub first_event: Option<i64>,
    pub last_event: Option<i64>,
    /// Events handed to the adapter (0 when nothing was waiting).
    pub events: u64,
    /// Files published.
    pub files: u64,
    /// The batch was published by an interrupted run and completed by this one.
    pub recovered: bool,
    /// Why the run failed; its batch is retried next time.
    pub error: Option<String>,
}

// ---- export and import

/// What an import writes in one transaction: each object is put at its id (inserted, or
/// replacing the object that has that id), in this order, so a batch may name the users,
/// groups, categories and add-ins it also holds. Messages go to the sequence number they
/// carry, which must be free; a room's last sequence number only grows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportBatch {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub addins: Vec<Addin>,
    pub categories: Vec<Category>,
    /// Each room with the last sequence number it must have at least.
    pub rooms: Vec<(Room, Seq)>,
    pub policies: Vec<Policy>,
    pub configs: Vec<Config>,
    pub files: Vec<FileMeta>,
    pub messages: Vec<StoredMessage>,
}

impl ImportBatch {
    pub fn len(&self) -> usize {
        self.users.len()
            + self.groups.len()
            + self.addins.len()
            + self.categories.len()
            + self.rooms.len()
            + self.policies.len()
            + self.configs.len()
            + self.files.len()
            + self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
