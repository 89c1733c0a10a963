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
