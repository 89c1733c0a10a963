//! Categories: their settings and principal lists, and who is in their scope.

use axum::extract::State;
use axum::http::StatusCode;
use longhall_types::ErrorBody;
use longhall_types::api::*;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json, Path, Query};

/// Create a category.
#[utoipa::path(post, path = "/api/v1/admin/categories", tag = "admin", security(("bearer" = [])), request_body = NewCategory,
    responses((status = 201, body = CategoryView), (status = "default", body = ErrorBody)))]
pub async fn create_category(
    State(s): State<AppState>,
    c: Caller,
    Json(req): Json<NewCategory>,
) -> ApiResult<(StatusCode, Json<CategoryView>)> {
    Ok((StatusCode::CREATED, Json(s.lh.create_category(&c.actor, req).await?)))
}

/// A category by id or name.
#[utoipa::path(get, path = "/api/v1/admin/categories/{category}", tag = "admin", security(("bearer" = [])),
    params(("category" = String, Path)), responses((status = 200, body = CategoryView), (status = "default", body = ErrorBody)))]
pub async fn get_category(
    State(s): State<AppState>,
    c: Caller,
    Path(cat): Path<String>,
) -> ApiResult<Json<CategoryView>> {
    Ok(Json(s.lh.get_category(&c.actor, &cat)?))
}

/// Change a category's settings and lists (allowed, denied, creators).
#[utoipa::path(patch, path = "/api/v1/admin/categories/{category}", tag = "admin", security(("bearer" = [])),
    params(("category" = String, Path)), request_body = CategoryUpdate, responses((status = 200, body = CategoryView), (status = "default", body = ErrorBody)))]
pub async fn update_category(
    State(s): State<AppState>,
    c: Caller,
    Path(cat): Path<String>,
    Json(req): Json<CategoryUpdate>,
) -> ApiResult<Json<CategoryView>> {
    Ok(Json(s.lh.update_category(&c.actor, &cat, req).await?))
}

/// Delete an empty category.
#[utoipa::path(delete, path = "/api/v1/admin/categories/{category}", tag = "admin", security(("bearer" = [])),
    params(("category" = String, Path)), responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn delete_category(State(s): State<AppState>, c: Caller, Path(cat): Path<String>) -> ApiResult<StatusCode> {
    s.lh.delete_category(&c.actor, &cat).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Text in the login or display name.
    pub filter: Option<String>,
    /// At most this many, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Users in a category's scope (groups and domains expanded).
#[utoipa::path(get, path = "/api/v1/admin/categories/{category}/eligible", tag = "admin", security(("bearer" = [])),
    params(("category" = String, Path), FilterParams), responses((status = 200, body = Vec<EligibleUser>), (status = "default", body = ErrorBody)))]
pub async fn category_eligible(
    State(s): State<AppState>,
    c: Caller,
    Path(cat): Path<String>,
    Query(q): Query<FilterParams>,
) -> ApiResult<Json<Vec<EligibleUser>>> {
    Ok(Json(s.lh.eligible_for_category(&c.actor, &cat, q.filter.as_deref(), q.limit.unwrap_or(100))?))
}

/// Categories the caller may create rooms in (administrators: all).
#[utoipa::path(get, path = "/api/v1/categories", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = Vec<CategoryView>), (status = "default", body = ErrorBody)))]
pub async fn categories(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<CategoryView>>> {
    Ok(Json(s.lh.list_categories(&caller.actor)?))
}
