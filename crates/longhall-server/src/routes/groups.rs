//! Groups and their nested members.

use axum::extract::State;
use axum::http::StatusCode;
use longhall_types::ErrorBody;
use longhall_types::api::*;

use super::users::ListParams;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json, Path, Query};

/// List groups.
#[utoipa::path(get, path = "/api/v1/admin/groups", tag = "admin", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = Page<GroupView>), (status = "default", body = ErrorBody)))]
pub async fn list_groups(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<Page<GroupView>>> {
    Ok(Json(s.lh.list_groups(&c.actor, q.filter.as_deref(), q.after, q.limit.unwrap_or(100))?))
}

/// Create a group (members: users and groups, nested).
#[utoipa::path(post, path = "/api/v1/admin/groups", tag = "admin", security(("bearer" = [])), request_body = NewGroup,
    responses((status = 201, body = GroupView), (status = "default", body = ErrorBody)))]
pub async fn create_group(
    State(s): State<AppState>,
    c: Caller,
    Json(req): Json<NewGroup>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    Ok((StatusCode::CREATED, Json(s.lh.create_group(&c.actor, req).await?)))
}

/// A group by name.
#[utoipa::path(get, path = "/api/v1/admin/groups/{name}", tag = "admin", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 200, body = GroupView), (status = "default", body = ErrorBody)))]
pub async fn get_group(State(s): State<AppState>, c: Caller, Path(name): Path<String>) -> ApiResult<Json<GroupView>> {
    Ok(Json(s.lh.get_group(&c.actor, &name)?))
}

/// Rename a group or edit its members.
#[utoipa::path(patch, path = "/api/v1/admin/groups/{name}", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = GroupUpdate, responses((status = 200, body = GroupView), (status = "default", body = ErrorBody)))]
pub async fn update_group(
    State(s): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    Json(req): Json<GroupUpdate>,
) -> ApiResult<Json<GroupView>> {
    Ok(Json(s.lh.update_group(&c.actor, &name, req).await?))
}

/// Delete a group (and every list entry naming it).
#[utoipa::path(delete, path = "/api/v1/admin/groups/{name}", tag = "admin", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn delete_group(State(s): State<AppState>, c: Caller, Path(name): Path<String>) -> ApiResult<StatusCode> {
    s.lh.delete_group(&c.actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// AffCheck: group cycles, list entries naming missing users or groups, and users whose group
/// membership in memory differs from what the store holds.
#[utoipa::path(get, path = "/api/v1/admin/group-check", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = GroupCheck), (status = "default", body = ErrorBody)))]
pub async fn check_groups(State(s): State<AppState>, c: Caller) -> ApiResult<Json<GroupCheck>> {
    Ok(Json(s.lh.check_groups(&c.actor).await?))
}
