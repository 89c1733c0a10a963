//! Policies; scopes `global`, `site:<name>`, `tag:<name>` (`/api/v1/admin/policies`).

use longhall_types::api::*;
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    pub async fn list_policies(&self) -> Result<Vec<PolicyView>, ClientError> {
        self.get(self.admin(&["policies"])).await
    }

    pub async fn put_policy(&self, scope: &str, req: &PolicyPut) -> Result<PolicyView, ClientError> {
        self.send_json(Method::PUT, self.admin(&["policies", scope]), req).await
    }

    pub async fn delete_policy(&self, scope: &str) -> Result<(), ClientError> {
        self.delete(self.admin(&["policies", scope])).await
    }
}
