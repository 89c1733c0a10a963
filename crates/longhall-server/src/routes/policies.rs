//! Persistent-chat policies.

use axum::extract::State;
use axum::http::StatusCode;
use longhall_types::ErrorBody;
use longhall_types::api::*;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json, Path};

/// Every policy (global, site:<name>, tag:<name>).
#[utoipa::path(get, path = "/api/v1/admin/policies", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<PolicyView>), (status = "default", body = ErrorBody)))]
pub async fn list_policies(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Vec<PolicyView>>> {
    Ok(Json(s.lh.list_policies(&c.actor)?))
}

/// Create or replace the policy of a scope.
#[utoipa::path(put, path = "/api/v1/admin/policies/{scope}", tag = "admin", security(("bearer" = [])),
    params(("scope" = String, Path)), request_body = PolicyPut, responses((status = 200, body = PolicyView), (status = "default", body = ErrorBody)))]
pub async fn put_policy(
    State(s): State<AppState>,
    c: Caller,
    Path(scope): Path<String>,
    Json(req): Json<PolicyPut>,
) -> ApiResult<Json<PolicyView>> {
    Ok(Json(s.lh.put_policy(&c.actor, &scope, req).await?))
}

/// Remove the policy of a scope (global: back to "off").
#[utoipa::path(delete, path = "/api/v1/admin/policies/{scope}", tag = "admin", security(("bearer" = [])),
    params(("scope" = String, Path)), responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn delete_policy(State(s): State<AppState>, c: Caller, Path(scope): Path<String>) -> ApiResult<StatusCode> {
    s.lh.delete_policy(&c.actor, &scope).await?;
    Ok(StatusCode::NO_CONTENT)
}
