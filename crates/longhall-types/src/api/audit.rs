//! The audit log: one record per administrative change (who, when, from where, what, before
//! and after). Kept in the compliance store.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One administrative change as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecordView {
    /// Increasing; pass the last one seen as `after` to page on.
    pub id: i64,
    /// When the change was committed (milliseconds since 1970-01-01 UTC).
    pub ts: i64,
    /// Login of who made the change (`system@longhall.invalid` for the server itself).
    pub actor: String,
    /// The API token or sign-in session the change was made with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<i64>,
    /// The client's address (behind a trusted proxy, the one `X-Forwarded-For` names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What kind of object: `user`, `group`, `category`, `room`, `addin`, `policy`,
    /// `chat_config`, `compliance_config` or `token`.
    pub noun: String,
    /// The object: a login, a name, a scope or a token id (its name at the time).
    pub object: String,
    /// The object's id, for the nouns that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<i64>,
    /// `create`, `update` or `delete`.
    pub operation: String,
    /// The object's wire view before the change (absent for a create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub before: Option<serde_json::Value>,
    /// The object's wire view after the change (absent for a delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub after: Option<serde_json::Value>,
    /// What the views can't show, such as `password changed` (secrets are never recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
