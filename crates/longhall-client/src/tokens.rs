//! The caller's API tokens (`/api/v1/account/tokens`).

use longhall_types::api::*;
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// Tokens: every one for administrators, one's own otherwise.
    pub async fn list_tokens(&self) -> Result<Vec<TokenView>, ClientError> {
        self.get(self.api(&["tokens"])).await
    }

    /// Creates a long-lived API token (administrators); the token is shown only here.
    pub async fn create_token(&self, req: &NewApiToken) -> Result<ApiTokenCreated, ClientError> {
        self.send_json(Method::POST, self.api(&["tokens"]), req).await
    }

    pub async fn revoke_token(&self, id: i64) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::DELETE, self.api(&["tokens", &id.to_string()]))).await
    }
}
