//! HTTP request and response bodies under `/api/v1`.
//!
//! Times are milliseconds since 1970-01-01 UTC. Principals are written as strings:
//! `user:alice@example.org`, `group:traders`, `domain:example.org`, `everyone`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Room privacy: who finds the room and who may join it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Privacy {
    /// Everyone in the category's scope finds, joins, reads and posts.
    Open,
    /// Everyone in scope finds it; members join, read and post.
    #[default]
    Closed,
    /// Only members find it; to anyone else it does not exist.
    Secret,
}

/// Room type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomType {
    /// Every reader may post.
    #[default]
    Normal,
    /// Only presenters post; everyone else reads.
    Auditorium,
}

/// A room's invitation setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomInvitations {
    /// Follow the category's invitations switch.
    #[default]
    Inherit,
    /// Never send invitations for this room.
    Off,
}

/// Edit of a principal list: `replace` (if given) first, then `remove`, then `add`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEdit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 1000)]
    pub replace: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 1000)]
    pub remove: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 1000)]
    pub add: Vec<String>,
}

/// A page of results with the cursor to pass as `after` for the next page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

// ----------------------------------------------------------------------------------------------
// Authentication

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

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    /// The user (bot) the token acts as; defaults to the caller.
    #[serde(default)]
    pub login: Option<String>,
    #[schema(min_length = 1, max_length = 256, pattern = r"^\S(.*\S)?$")]
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenCreated {
    pub id: i64,
    /// Shown once; only its hash is stored.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub login: String,
    /// `session` or `api`.
    pub kind: String,
    pub label: String,
    pub created: i64,
}

// ----------------------------------------------------------------------------------------------
// Directory: users, groups

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub disabled: bool,
    pub admin: bool,
    /// Name of the user-scope (tag) policy granted, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// `name@domain`.
    #[schema(max_length = 256, pattern = r"^[^@\s]+@[^@\s]+$")]
    pub login: String,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub display_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub site: Option<String>,
    /// Omit for an account that signs in only with API tokens (bots, load tests).
    #[serde(default)]
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[serde(default)]
    #[schema(max_length = 256)]
    pub display_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub email: Option<String>,
    /// Empty string clears the site.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub site: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub admin: Option<bool>,
    #[serde(default)]
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
    /// Grant a user-scope policy by name; empty string removes the grant.
    #[serde(default)]
    pub policy: Option<String>,
}

/// A domain principal: every user whose login ends in `@<domain>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainView {
    pub domain: String,
    pub users: u32,
}

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

// ----------------------------------------------------------------------------------------------
// Categories, add-ins, policies, configuration

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddinView {
    pub id: i64,
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddin {
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    #[schema(max_length = 255, pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$")]
    pub url: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddinUpdate {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 50)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 255, pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$")]
    pub url: Option<String>,
}

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

// ----------------------------------------------------------------------------------------------
// Rooms

/// The caller's standing in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct RoomRoles {
    pub member: bool,
    pub manager: bool,
    pub presenter: bool,
    /// May join and read now.
    pub can_read: bool,
    /// May post now.
    pub can_post: bool,
    /// May edit the room's settings and lists.
    pub can_manage: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category_id: i64,
    pub category: String,
    pub privacy: Privacy,
    #[serde(rename = "type")]
    pub room_type: RoomType,
    pub invitations: RoomInvitations,
    /// Whether invitations are actually sent (category on and room Inherit).
    pub invitations_active: bool,
    pub file_upload: bool,
    pub chat_history: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addin: Option<AddinView>,
    pub disabled: bool,
    /// Users connected to the room right now.
    pub participant_count: u32,
    /// Last message sequence number (0 for a room without messages).
    pub last_seq: i64,
    pub roles: RoomRoles,
    /// Lists are shown to managers and administrators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presenters: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    #[schema(min_length = 1, max_length = 256, pattern = r"^\S(.*\S)?$")]
    pub name: String,
    /// Category id or name.
    pub category: String,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub description: String,
    #[serde(default)]
    pub privacy: Privacy,
    #[serde(default, rename = "type")]
    pub room_type: RoomType,
    #[serde(default)]
    pub invitations: RoomInvitations,
    /// Add-in name.
    #[serde(default)]
    pub addin: Option<String>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub members: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub managers: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub presenters: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomUpdate {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256, pattern = r"^\S(.*\S)?$")]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub description: Option<String>,
    /// Category id or name: moves the room (purging out-of-scope list entries).
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub privacy: Option<Privacy>,
    #[serde(default, rename = "type")]
    pub room_type: Option<RoomType>,
    #[serde(default)]
    pub invitations: Option<RoomInvitations>,
    /// Add-in name; empty string removes the add-in.
    #[serde(default)]
    pub addin: Option<String>,
    /// Managers may set true; only administrators may set false.
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub members: Option<ListEdit>,
    #[serde(default)]
    pub managers: Option<ListEdit>,
    #[serde(default)]
    pub presenters: Option<ListEdit>,
}

/// What a category move removed from the room's lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomUpdated {
    pub room: RoomView,
    /// Entries dropped because they are out of the new category's scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purged: Vec<String>,
}

impl Default for RoomView {
    fn default() -> Self {
        RoomView {
            id: 0,
            name: String::new(),
            description: String::new(),
            category_id: 0,
            category: String::new(),
            privacy: Privacy::Closed,
            room_type: RoomType::Normal,
            invitations: RoomInvitations::Inherit,
            invitations_active: false,
            file_upload: false,
            chat_history: true,
            addin: None,
            disabled: false,
            participant_count: 0,
            last_seq: 0,
            roles: RoomRoles::default(),
            members: None,
            managers: None,
            presenters: None,
        }
    }
}

/// A user who is connected to a room right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Participant {
    pub login: String,
    pub display_name: String,
}

/// A value held once and shared by every frame that carries it: a room's roster and its recent
/// messages are copied into each join answer as pointers, not as strings. On the wire it is
/// exactly the value it wraps.
#[derive(Debug, PartialEq, Eq)]
pub struct Shared<T>(pub std::sync::Arc<T>);

/// A participant as a room's roster holds it.
pub type SharedParticipant = Shared<Participant>;
/// A message as a room's recent-message cache holds it.
pub type SharedMessage = Shared<MessageView>;

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> From<T> for Shared<T> {
    fn from(v: T) -> Self {
        Shared(std::sync::Arc::new(v))
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::borrow::Borrow<T> for Shared<T> {
    fn borrow(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shared<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Shared::from)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Participants {
    pub count: u32,
    /// True when the room is "large": above `participant_update_limit`, no list is sent.
    pub large: bool,
    pub participants: Vec<Participant>,
}

/// A user eligible for a room's (or category's) lists, groups expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EligibleUser {
    pub login: String,
    pub display_name: String,
}

// ----------------------------------------------------------------------------------------------
// Messages, history, search

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileRef {
    pub id: i64,
    pub name: String,
    pub size: u64,
    pub content_type: String,
}

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

// ----------------------------------------------------------------------------------------------
// Following, invitations

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FollowedRoom {
    pub room: i64,
    pub name: String,
    pub last_seq: i64,
    pub read_seq: i64,
    pub unread: i64,
    /// Kept alert messages above the read position.
    #[serde(default)]
    pub unread_alerts: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    /// Per-user increasing id.
    pub id: i64,
    pub room: i64,
    pub room_name: String,
    pub ts: i64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadPosition {
    pub seq: i64,
}

// ----------------------------------------------------------------------------------------------
// Administration of content and compliance

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

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// One check of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadinessCheck {
    /// `store`, `poster` or `compliance_processor`.
    pub name: String,
    /// `ok`, `failed`, or `absent` (not run by this server; never makes it unready).
    pub state: String,
    /// Whether a failure of this check makes the server unready (503).
    pub required: bool,
    /// What was found, for people (the store's error, the processor's last cycle…).
    pub detail: String,
}

/// The answer of `/readyz`: 200 when every required check is `ok`, 503 otherwise. A 503 also
/// carries `code` (`store_unavailable` when the store fails, else `not_ready`) and `message`,
/// like every error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    pub checks: Vec<ReadinessCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The size of one part of the stores on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StorePartSize {
    /// `chat.db`, `compliance.db` (each with its write-ahead log) or `files`.
    pub name: String,
    pub bytes: u64,
}

/// Compliance processing as `GET /api/v1/admin/status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceStatus {
    /// Processing is turned on in the configuration.
    pub enabled: bool,
    /// Recorded events not yet processed (the backlog).
    pub waiting_events: u64,
    /// The latest run of any server of the pool, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<ComplianceRunView>,
}

/// `GET /api/v1/admin/status`: what an operator looks at first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServerStatus {
    /// The server's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// When the server started, ms since 1970, and seconds since.
    pub started: i64,
    pub uptime_secs: u64,
    /// Live WebSocket connections, and the most this server accepts (absent: no limit known).
    pub connections: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// Joined participants, summed over rooms (a user in two rooms counts twice).
    pub participants: u64,
    /// Rooms with at least one participant.
    pub active_rooms: u64,
    /// The checks of `/readyz`, and whether all required ones are `ok`.
    pub ready: bool,
    pub checks: Vec<ReadinessCheck>,
    /// Bytes on disk, per part.
    pub store_sizes: Vec<StorePartSize>,
    pub compliance: ComplianceStatus,
}
