//! Rooms, their participants, following and invitations.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::*;

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

/// A participant as a room's roster holds it.
pub type SharedParticipant = Shared<Participant>;

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

/// A room directory search (`GET /api/v1/rooms`): every filter given must match; fields left
/// out are not filtered on. One type for the route's parameters, the client and the core.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RoomSearch {
    /// Text in the name or description (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Category id or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<Privacy>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[param(rename = "type")]
    pub room_type: Option<RoomType>,
    /// Add-in name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addin: Option<String>,
    /// The room's own invitations setting (`inherit` or `off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitations: Option<RoomInvitations>,
    /// Administrators: rooms whose member list names this principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Administrators: rooms whose manager list names this principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// Administrators: only disabled (true) or enabled (false) rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Administrators: rooms whose kept messages (text and story titles, in UTF-8) take more
    /// than this many MB (1 MB = 1048576 bytes); 0 means any content at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_larger_than_mb: Option<u64>,
    /// Only rooms the caller manages.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub managed: bool,
    /// Cursor: the `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    /// Page size, 1–500 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}
