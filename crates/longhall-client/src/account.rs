//! Sign-in, sign-out, who am I, password, tokens (`/api/v1/auth`, `/me`, `/tokens`).

use longhall_types::api::{ApiTokenCreated, ChangePassword, Me, NewApiToken, SignInRequest, SignInResponse, TokenView};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// Exchanges login and password for a bearer token (use it with [`Client::with_token`]).
    pub async fn sign_in(&self, login: &str, password: &str) -> Result<SignInResponse, ClientError> {
        let body = SignInRequest { login: login.to_owned(), password: password.to_owned() };
        self.send_json(Method::POST, self.api(&["auth", "sign-in"]), &body).await
    }

    /// Revokes the token this client uses.
    pub async fn sign_out(&self) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::POST, self.api(&["auth", "sign-out"]))).await
    }

    /// Who the caller is, with the policy and configuration in force for them.
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.get(self.api(&["me"])).await
    }

    /// Changes the caller's own password.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<(), ClientError> {
        let body = ChangePassword { current: current.to_owned(), new: new.to_owned() };
        self.call_empty(self.request(Method::PUT, self.api(&["me", "password"])).json(&body)).await
    }

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
