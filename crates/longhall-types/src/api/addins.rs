//! Add-ins: web pages a room shows beside its chat.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
