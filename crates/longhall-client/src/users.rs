//! Users and domains (`/api/v1/admin/users`, `/admin/domains`).

use longhall_types::api::*;
use reqwest::Method;

use crate::{Client, ClientError, with_query};

/// A page of users or groups (`GET /api/v1/admin/users`, `/groups`).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Text in the login/name or display name.
    pub filter: Option<String>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<i64>,
    /// Page size, 1–500 (server default 100).
    pub limit: Option<u32>,
}

impl ListQuery {
    pub(crate) fn pairs(&self) -> [(&'static str, Option<String>); 3] {
        [
            ("filter", self.filter.clone()),
            ("after", self.after.map(|v| v.to_string())),
            ("limit", self.limit.map(|v| v.to_string())),
        ]
    }
}

impl Client {
    pub async fn list_users(&self, q: &ListQuery) -> Result<Page<UserView>, ClientError> {
        self.get(with_query(self.admin(&["users"]), &q.pairs())).await
    }

    pub async fn create_user(&self, req: &NewUser) -> Result<UserView, ClientError> {
        self.send_json(Method::POST, self.admin(&["users"]), req).await
    }

    /// A user by login (users may read their own).
    pub async fn get_user(&self, login: &str) -> Result<UserView, ClientError> {
        self.get(self.admin(&["users", login])).await
    }

    pub async fn update_user(&self, login: &str, req: &UserUpdate) -> Result<UserView, ClientError> {
        self.send_json(Method::PATCH, self.admin(&["users", login]), req).await
    }

    /// Removes a user (its tokens and the list entries naming it; what it posted stays).
    pub async fn remove_user(&self, login: &str) -> Result<UserRemoved, ClientError> {
        self.call(self.request(Method::DELETE, self.admin(&["users", login]))).await
    }

    /// A user's effective policy and configuration, each value with the scope that gave it.
    pub async fn effective_user(&self, login: &str) -> Result<UserEffective, ClientError> {
        self.get(self.admin(&["users", login, "effective"])).await
    }

    /// The directory's domains, with user counts.
    pub async fn list_domains(&self) -> Result<Vec<DomainView>, ClientError> {
        self.get(self.admin(&["domains"])).await
    }
}
