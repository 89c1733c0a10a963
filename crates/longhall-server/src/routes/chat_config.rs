//! The chat configuration (global and site scopes).

use axum::extract::State;
use axum::http::StatusCode;
use longhall_types::ErrorBody;
use longhall_types::api::*;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json, Path};

/// Every configuration scope.
#[utoipa::path(get, path = "/api/v1/admin/config", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<ConfigView>), (status = "default", body = ErrorBody)))]
pub async fn list_config(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Vec<ConfigView>>> {
    Ok(Json(s.lh.list_configs(&c.actor)?))
}

/// Set configuration values of a scope (ranges validated).
#[utoipa::path(put, path = "/api/v1/admin/config/{scope}", tag = "admin", security(("bearer" = [])),
    params(("scope" = String, Path)), request_body = ConfigPut, responses((status = 200, body = ConfigView), (status = "default", body = ErrorBody)))]
pub async fn put_config(
    State(s): State<AppState>,
    c: Caller,
    Path(scope): Path<String>,
    Json(req): Json<ConfigPut>,
) -> ApiResult<Json<ConfigView>> {
    Ok(Json(s.lh.put_config(&c.actor, &scope, req).await?))
}

/// Remove a configuration scope (global: back to the defaults).
#[utoipa::path(delete, path = "/api/v1/admin/config/{scope}", tag = "admin", security(("bearer" = [])),
    params(("scope" = String, Path)), responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn delete_config(State(s): State<AppState>, c: Caller, Path(scope): Path<String>) -> ApiResult<StatusCode> {
    s.lh.delete_config(&c.actor, &scope).await?;
    Ok(StatusCode::NO_CONTENT)
}
