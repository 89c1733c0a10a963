//! Add-ins.

use axum::extract::State;
use axum::http::StatusCode;
use longhall_types::ErrorBody;
use longhall_types::api::*;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json, Path};

/// Register an add-in.
#[utoipa::path(post, path = "/api/v1/admin/addins", tag = "admin", security(("bearer" = [])), request_body = NewAddin,
    responses((status = 201, body = AddinView), (status = "default", body = ErrorBody)))]
pub async fn create_addin(
    State(s): State<AppState>,
    c: Caller,
    Json(req): Json<NewAddin>,
) -> ApiResult<(StatusCode, Json<AddinView>)> {
    Ok((StatusCode::CREATED, Json(s.lh.create_addin(&c.actor, req).await?)))
}

/// Change an add-in.
#[utoipa::path(patch, path = "/api/v1/admin/addins/{name}", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = AddinUpdate, responses((status = 200, body = AddinView), (status = "default", body = ErrorBody)))]
pub async fn update_addin(
    State(s): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    Json(req): Json<AddinUpdate>,
) -> ApiResult<Json<AddinView>> {
    Ok(Json(s.lh.update_addin(&c.actor, &name, req).await?))
}

/// Remove an add-in no room uses.
#[utoipa::path(delete, path = "/api/v1/admin/addins/{name}", tag = "admin", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn delete_addin(State(s): State<AppState>, c: Caller, Path(name): Path<String>) -> ApiResult<StatusCode> {
    s.lh.delete_addin(&c.actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Registered add-ins.
#[utoipa::path(get, path = "/api/v1/addins", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = Vec<AddinView>), (status = "default", body = ErrorBody)))]
pub async fn addins(State(s): State<AppState>, _caller: Caller) -> Json<Vec<AddinView>> {
    Json(s.lh.list_addins())
}
