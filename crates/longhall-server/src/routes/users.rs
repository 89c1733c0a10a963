//! Users and domains (administrators; users may read their own).

use axum::extract::State;
use axum::http::StatusCode;
use longhall_types::ErrorBody;
use longhall_types::api::*;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json, Path, Query};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Text in the login/name or display name.
    pub filter: Option<String>,
    /// Cursor: the `next` of the previous page.
    #[serde(default)]
    pub after: i64,
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// List users.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = Page<UserView>), (status = "default", body = ErrorBody)))]
pub async fn list_users(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<Page<UserView>>> {
    Ok(Json(s.lh.list_users(&c.actor, q.filter.as_deref(), q.after, q.limit.unwrap_or(100))?))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = UserView), (status = "default", body = ErrorBody)))]
pub async fn create_user(
    State(s): State<AppState>,
    c: Caller,
    Json(req): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    Ok((StatusCode::CREATED, Json(s.lh.create_user(&c.actor, req).await?)))
}

/// A user by login (users may read their own).
#[utoipa::path(get, path = "/api/v1/admin/users/{login}", tag = "admin", security(("bearer" = [])), params(("login" = String, Path)),
    responses((status = 200, body = UserView), (status = "default", body = ErrorBody)))]
pub async fn get_user(State(s): State<AppState>, c: Caller, Path(login): Path<String>) -> ApiResult<Json<UserView>> {
    Ok(Json(s.lh.get_user(&c.actor, &login)?))
}

/// Change a user: names, site, disabled, administrator, password, granted policy.
#[utoipa::path(patch, path = "/api/v1/admin/users/{login}", tag = "admin", security(("bearer" = [])),
    params(("login" = String, Path)), request_body = UserUpdate, responses((status = 200, body = UserView), (status = "default", body = ErrorBody)))]
pub async fn update_user(
    State(s): State<AppState>,
    c: Caller,
    Path(login): Path<String>,
    Json(req): Json<UserUpdate>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(s.lh.update_user(&c.actor, &login, req).await?))
}

/// Remove a user: its tokens (its connections end) and the list entries naming it; what it
/// posted stays, attributed to its login.
#[utoipa::path(delete, path = "/api/v1/admin/users/{login}", tag = "admin", security(("bearer" = [])),
    params(("login" = String, Path)), responses((status = 200, body = UserRemoved), (status = "default", body = ErrorBody)))]
pub async fn remove_user(
    State(s): State<AppState>,
    c: Caller,
    Path(login): Path<String>,
) -> ApiResult<Json<UserRemoved>> {
    Ok(Json(s.lh.remove_user(&c.actor, &login).await?))
}

/// A user's effective policy and configuration, each value with the scope that gave it.
#[utoipa::path(get, path = "/api/v1/admin/users/{login}/effective", tag = "admin", security(("bearer" = [])),
    params(("login" = String, Path)), responses((status = 200, body = UserEffective), (status = "default", body = ErrorBody)))]
pub async fn effective_user(
    State(s): State<AppState>,
    c: Caller,
    Path(login): Path<String>,
) -> ApiResult<Json<UserEffective>> {
    Ok(Json(s.lh.effective_user(&c.actor, &login)?))
}

/// The domains of the directory (implicit principals: `domain:<name>`), with user counts.
#[utoipa::path(get, path = "/api/v1/admin/domains", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<DomainView>), (status = "default", body = ErrorBody)))]
pub async fn list_domains(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Vec<DomainView>>> {
    Ok(Json(s.lh.list_domains(&c.actor)?))
}
