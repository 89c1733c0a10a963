//! The caller's API tokens (for bots and scripts).

use axum::extract::State;
use axum::http::StatusCode;
use longhall_types::ErrorBody;
use longhall_types::api::*;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json, Path};

/// Tokens: all for administrators, one's own otherwise.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = "default", body = ErrorBody)))]
pub async fn list_tokens(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<TokenView>>> {
    Ok(Json(s.lh.list_tokens(&caller.actor).await?))
}

/// Create a long-lived API token for a bot (administrators). The token is shown once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "account", security(("bearer" = [])), request_body = NewApiToken,
    responses((status = 201, body = ApiTokenCreated), (status = "default", body = ErrorBody)))]
pub async fn create_token(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<NewApiToken>,
) -> ApiResult<(StatusCode, Json<ApiTokenCreated>)> {
    let created = s.lh.create_api_token(&caller.actor, req.login.as_deref(), &req.label).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke a token by id.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn revoke_token(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    s.lh.revoke_token(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
