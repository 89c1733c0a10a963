//! Sign-in, sign-out, who am I, tokens.

use axum::extract::State;
use axum::http::StatusCode;
use longhall_types::ErrorBody;
use longhall_types::api::{ChangePassword, Me, SignInRequest, SignInResponse};

use crate::AppState;
use crate::auth::{Caller, Peer};
use crate::error::{ApiResult, Json};

/// Exchange login and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = "account", request_body = SignInRequest,
    responses((status = 200, body = SignInResponse), (status = "default", body = ErrorBody)))]
pub async fn sign_in(
    State(s): State<AppState>,
    Peer(source): Peer,
    Json(req): Json<SignInRequest>,
) -> ApiResult<Json<SignInResponse>> {
    let (token, me) = s.lh.sign_in(&req.login, &req.password, source).await?;
    Ok(Json(SignInResponse { token, me }))
}

/// Revoke the token used for this call.
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = "account", security(("bearer" = [])),
    responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn sign_out(State(s): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    s.lh.sign_out(&caller.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the caller is, with the effective policy and configuration.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = "default", body = ErrorBody)))]
pub async fn me(State(s): State<AppState>, caller: Caller) -> Json<Me> {
    Json(s.lh.me(&caller.actor))
}

/// Change the caller's own password (the current one is required).
#[utoipa::path(put, path = "/api/v1/me/password", tag = "account", security(("bearer" = [])), request_body = ChangePassword,
    responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn change_password(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<ChangePassword>,
) -> ApiResult<StatusCode> {
    s.lh.change_password(&caller.actor, Some(caller.token_ref.id), &req.current, &req.new).await?;
    Ok(StatusCode::NO_CONTENT)
}
