//! The chat configuration; scopes `global`, `site:<name>` (`/api/v1/admin/config`).

use longhall_types::api::*;
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    pub async fn list_config(&self) -> Result<Vec<ConfigView>, ClientError> {
        self.get(self.admin(&["config"])).await
    }

    pub async fn put_config(&self, scope: &str, req: &ConfigPut) -> Result<ConfigView, ClientError> {
        self.send_json(Method::PUT, self.admin(&["config", scope]), req).await
    }

    pub async fn delete_config(&self, scope: &str) -> Result<(), ClientError> {
        self.delete(self.admin(&["config", scope])).await
    }
}
