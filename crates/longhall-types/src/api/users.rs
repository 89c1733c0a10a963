//! Users and the domains they belong to.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

/// What removing a user did besides removing the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserRemoved {
    pub login: String,
    /// API tokens and sign-in sessions revoked with it.
    pub tokens_revoked: u32,
    /// Lists that named the user, as `<noun> <name>: <list>` (e.g. `room Bonds: members`),
    /// from which the entry was removed.
    pub purged: Vec<String>,
}

/// One policy or configuration value of a user, with the scope that gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EffectiveSetting {
    /// `enable_persistent_chat`, `default_chat_history`, `max_file_size_kb`,
    /// `participant_update_limit` or `room_management_url`.
    pub name: String,
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    /// `tag:<name>` (granted to the user), `site:<name>`, `global`, or `default` when no
    /// scope sets it.
    pub source: String,
}

/// "Why can't Bob chat?": a user's effective policy and configuration, each value with its scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserEffective {
    pub login: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The tag policy granted to the user, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_policy: Option<String>,
    pub disabled: bool,
    /// Whether the user may use persistent chat now (enabled and the policy on).
    pub can_chat: bool,
    /// Why, in a sentence.
    pub reason: String,
    pub settings: Vec<EffectiveSetting>,
}
