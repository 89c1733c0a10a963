//! Catalog changes as values: what every administrative write is, on its way through
//! `Longhall::commit_change` (service/catalog_write.rs) to the store and into memory, and the
//! audit record written with it. A change serialises (serde), so it can also travel to other
//! servers of a pool and carry a catalog revision.

use serde::{Deserialize, Serialize};

use crate::model::*;

/// One write to the catalog (directory, categories, rooms, add-ins, policies, configuration,
/// compliance configuration, tokens). Inserts carry the object with `id` 0; the store
/// assigns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CatalogChange {
    InsertUser {
        user: User,
        password_hash: String,
    },
    /// Updates the account; with `password_hash`, sets the password too.
    UpdateUser {
        user: User,
        password_hash: Option<String>,
    },
    /// Removes the account: its tokens, its follows, read positions and invitations, and every
    /// list entry naming it. Its login stays attached to what it posted (and is free again for
    /// a new account).
    RemoveUser {
        id: UserId,
    },
    InsertGroup {
        group: Group,
    },
    UpdateGroup {
        group: Group,
    },
    /// Removes the group and every list entry that names it.
    DeleteGroup {
        id: GroupId,
    },
    InsertCategory {
        category: Category,
    },
    UpdateCategory {
        category: Category,
    },
    DeleteCategory {
        id: CategoryId,
    },
    InsertRoom {
        room: Room,
    },
    UpdateRoom {
        room: Room,
    },
    /// Removes the room with its messages, follows, invitations and file records.
    DeleteRoom {
        id: RoomId,
    },
    InsertAddin {
        addin: Addin,
    },
    UpdateAddin {
        addin: Addin,
    },
    DeleteAddin {
        id: AddinId,
    },
    /// Inserts or replaces the policy of `policy.scope`.
    PutPolicy {
        policy: Policy,
    },
    DeletePolicy {
        scope: Scope,
    },
    /// Inserts or replaces the configuration of `config.scope`.
    PutConfig {
        config: Config,
    },
    DeleteConfig {
        scope: Scope,
    },
    PutComplianceConfig {
        config: ComplianceConfig,
    },
    InsertToken {
        token: TokenRecord,
    },
    DeleteToken {
        id: TokenId,
    },
}

/// What the store reports back about a committed change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeOutcome {
    /// The new id of an inserted object (0 for other changes).
    pub id: i64,
    /// Whether a `DeleteToken` found its token (other changes: always true).
    pub found: bool,
    /// File-store keys of a deleted room's files, so their bytes can be removed too.
    pub removed_files: Vec<String>,
    /// Tokens a `RemoveUser` deleted.
    pub tokens_removed: u32,
    /// The catalog revision the change made (0 from a store that logs no changes).
    pub revision: i64,
}

/// A committed catalog change as the store logs it for the other servers of a pool: its
/// revision, the change (secrets left out: no password hash) and the id an insert was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedChange {
    pub revision: i64,
    pub change: CatalogChange,
    pub id: i64,
}

impl CatalogChange {
    /// The change as it is logged for other servers: without password hashes (they read
    /// those from the store when someone signs in) or a token's hash.
    pub fn for_log(&self) -> CatalogChange {
        match self {
            CatalogChange::InsertUser { user, .. } => {
                CatalogChange::InsertUser { user: user.clone(), password_hash: String::new() }
            }
            CatalogChange::UpdateUser { user, .. } => {
                CatalogChange::UpdateUser { user: user.clone(), password_hash: None }
            }
            CatalogChange::InsertToken { token } => {
                CatalogChange::InsertToken { token: TokenRecord { hash: String::new(), ..token.clone() } }
            }
            other => other.clone(),
        }
    }

    /// Whether other servers must learn of the change: everything but a new token (tokens
    /// are read from the store when used; only their removal ends live sessions).
    pub fn is_logged(&self) -> bool {
        !matches!(self, CatalogChange::InsertToken { .. })
    }

    /// What the change writes over: two changes with the same key, validated against the same
    /// catalog, would overwrite each other. `None` for inserts (a name clash is the store's
    /// `Conflict`) and changes that read nothing first.
    pub fn object_key(&self) -> Option<(&'static str, String)> {
        use CatalogChange as C;
        Some(match self {
            C::UpdateUser { user, .. } => ("user", user.id.to_string()),
            C::RemoveUser { id } => ("user", id.to_string()),
            C::UpdateGroup { group } => ("group", group.id.to_string()),
            C::DeleteGroup { id } => ("group", id.to_string()),
            C::UpdateCategory { category } => ("category", category.id.to_string()),
            C::DeleteCategory { id } => ("category", id.to_string()),
            C::UpdateRoom { room } => ("room", room.id.to_string()),
            C::DeleteRoom { id } => ("room", id.to_string()),
            C::UpdateAddin { addin } => ("addin", addin.id.to_string()),
            C::DeleteAddin { id } => ("addin", id.to_string()),
            C::PutPolicy { policy } => ("policy", policy.scope.to_string()),
            C::DeletePolicy { scope } => ("policy", scope.to_string()),
            C::PutConfig { config } => ("config", config.scope.to_string()),
            C::DeleteConfig { scope } => ("config", scope.to_string()),
            C::InsertUser { .. }
            | C::InsertGroup { .. }
            | C::InsertCategory { .. }
            | C::InsertRoom { .. }
            | C::InsertAddin { .. }
            | C::PutComplianceConfig { .. }
            | C::InsertToken { .. }
            | C::DeleteToken { .. } => return None,
        })
    }
}

/// One record of the audit log (in the compliance store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Assigned by the store (increasing); ignored when written.
    pub id: i64,
    pub ts: Millis,
    /// Login of who made the change.
    pub actor: String,
    pub token_id: Option<TokenId>,
    /// The client's address, as text.
    pub source: Option<String>,
    pub noun: String,
    pub object: String,
    /// For an insert 0 here: the store writes the new id here and into `after.id`.
    pub object_id: Option<i64>,
    pub operation: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub note: Option<String>,
}

/// A selection of audit records: all given conditions hold; ids ascending after `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Actor login, exactly (case-insensitive).
    pub actor: Option<String>,
    /// Object name, login or scope, or `<noun>:<id>` (`room:12`), exactly (case-insensitive).
    pub object: Option<String>,
    /// `ts >= since`.
    pub since: Option<Millis>,
    /// `ts <= until`.
    pub until: Option<Millis>,
    pub after: i64,
    pub limit: u32,
}
