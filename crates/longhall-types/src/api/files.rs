//! Files attached to messages.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileRef {
    pub id: i64,
    pub name: String,
    pub size: u64,
    pub content_type: String,
}
