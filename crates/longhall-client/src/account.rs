//! Sign-in, sign-out, who am I, password, tokens (`/api/v1/auth`, `/me`, `/tokens`).

use longhall_types::api::{ChangePassword, Me, SignInRequest, SignInResponse};
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
}
