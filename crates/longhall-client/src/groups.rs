//! Groups (`/api/v1/admin/groups`).

use longhall_types::api::*;
use reqwest::Method;

use crate::users::ListQuery;
use crate::{Client, ClientError, with_query};

impl Client {
    pub async fn list_groups(&self, q: &ListQuery) -> Result<Page<GroupView>, ClientError> {
        self.get(with_query(self.admin(&["groups"]), &q.pairs())).await
    }

    pub async fn create_group(&self, req: &NewGroup) -> Result<GroupView, ClientError> {
        self.send_json(Method::POST, self.admin(&["groups"]), req).await
    }

    pub async fn get_group(&self, name: &str) -> Result<GroupView, ClientError> {
        self.get(self.admin(&["groups", name])).await
    }

    pub async fn update_group(&self, name: &str, req: &GroupUpdate) -> Result<GroupView, ClientError> {
        self.send_json(Method::PATCH, self.admin(&["groups", name]), req).await
    }

    pub async fn delete_group(&self, name: &str) -> Result<(), ClientError> {
        self.delete(self.admin(&["groups", name])).await
    }

    /// AffCheck: group cycles, dangling entries, memberships that differ from the store's.
    pub async fn check_groups(&self) -> Result<GroupCheck, ClientError> {
        self.get(self.admin(&["group-check"])).await
    }
}
