//! HTTP request and response bodies under `/api/v1`.
//!
//! Times are milliseconds since 1970-01-01 UTC. Principals are written as strings:
//! `user:alice@example.org`, `group:traders`, `domain:example.org`, `everyone`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod account;
mod addins;
mod audit;
mod categories;
mod chat_config;
mod compliance;
mod files;
mod groups;
mod health;
mod messages;
mod policies;
mod pool;
mod rooms;
mod status;
mod tokens;
mod usage;
mod users;

pub use account::*;
pub use addins::*;
pub use audit::*;
pub use categories::*;
pub use chat_config::*;
pub use compliance::*;
pub use files::*;
pub use groups::*;
pub use health::*;
pub use messages::*;
pub use policies::*;
pub use pool::*;
pub use rooms::*;
pub use status::*;
pub use tokens::*;
pub use usage::*;
pub use users::*;

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

/// A value held once and shared by every frame that carries it: a room's roster and its recent
/// messages are copied into each join answer as pointers, not as strings. On the wire it is
/// exactly the value it wraps.
#[derive(Debug, PartialEq, Eq)]
pub struct Shared<T>(pub std::sync::Arc<T>);

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
