//! The administrators' API: users, groups, categories, add-ins, policies, configuration,
//! content actions, the compliance record and compliance processing.

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

/// The domains of the directory (implicit principals: `domain:<name>`), with user counts.
#[utoipa::path(get, path = "/api/v1/admin/domains", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<DomainView>), (status = "default", body = ErrorBody)))]
pub async fn list_domains(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Vec<DomainView>>> {
    Ok(Json(s.lh.list_domains(&c.actor)?))
}

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

/// Remove or replace messages of a room; the compliance record keeps the originals.
#[utoipa::path(post, path = "/api/v1/admin/rooms/{id}/remove-messages", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = RemoveMessages, responses((status = 200, body = Affected), (status = "default", body = ErrorBody)))]
pub async fn remove_messages(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Json(req): Json<RemoveMessages>,
) -> ApiResult<Json<Affected>> {
    Ok(Json(s.lh.remove_messages(&c.actor, id, &req.seqs, req.replacement).await?))
}

/// Delete a room's messages up to and including a time.
#[utoipa::path(post, path = "/api/v1/admin/rooms/{id}/clear", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ClearRoom, responses((status = 200, body = Affected), (status = "default", body = ErrorBody)))]
pub async fn clear_room(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Json(req): Json<ClearRoom>,
) -> ApiResult<Json<Affected>> {
    Ok(Json(s.lh.clear_room(&c.actor, id, req.up_to).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only events with a greater id.
    #[serde(default)]
    pub after: i64,
    /// At most this many, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Recorded compliance events, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/compliance/events", tag = "admin", security(("bearer" = [])), params(EventParams),
    responses((status = 200, body = Vec<ComplianceEventView>), (status = "default", body = ErrorBody)))]
pub async fn compliance_events(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<EventParams>,
) -> ApiResult<Json<Vec<ComplianceEventView>>> {
    Ok(Json(s.lh.compliance_events(&c.actor, q.after, q.limit.unwrap_or(100)).await?))
}

/// How compliance events are processed.
#[utoipa::path(get, path = "/api/v1/admin/compliance/config", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ComplianceConfigView), (status = "default", body = ErrorBody)))]
pub async fn get_compliance_config(State(s): State<AppState>, c: Caller) -> ApiResult<Json<ComplianceConfigView>> {
    Ok(Json(s.lh.get_compliance_config(&c.actor).await?))
}

/// Change how compliance events are processed (values checked; with processing on, the adapter
/// must accept the configuration).
#[utoipa::path(put, path = "/api/v1/admin/compliance/config", tag = "admin", security(("bearer" = [])),
    request_body = ComplianceConfigPut, responses((status = 200, body = ComplianceConfigView), (status = "default", body = ErrorBody)))]
pub async fn put_compliance_config(
    State(s): State<AppState>,
    c: Caller,
    Json(req): Json<ComplianceConfigPut>,
) -> ApiResult<Json<ComplianceConfigView>> {
    Ok(Json(s.lh.put_compliance_config(&c.actor, req).await?))
}

/// Process the waiting compliance events now; answers what the run did.
#[utoipa::path(post, path = "/api/v1/admin/compliance/run", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ComplianceRunReport), (status = "default", body = ErrorBody)))]
pub async fn run_compliance(State(s): State<AppState>, c: Caller) -> ApiResult<Json<ComplianceRunReport>> {
    Ok(Json(s.lh.run_compliance_now(&c.actor).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    /// At most this many, 1–500 (default 20).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The latest compliance runs, newest first.
#[utoipa::path(get, path = "/api/v1/admin/compliance/runs", tag = "admin", security(("bearer" = [])), params(RunParams),
    responses((status = 200, body = Vec<ComplianceRunView>), (status = "default", body = ErrorBody)))]
pub async fn compliance_runs(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<RunParams>,
) -> ApiResult<Json<Vec<ComplianceRunView>>> {
    Ok(Json(s.lh.compliance_runs(&c.actor, q.limit.unwrap_or(20)).await?))
}

/// Apply an XSLT stylesheet to sample compliance data: its output, or the error naming the line.
#[utoipa::path(post, path = "/api/v1/admin/compliance/test-stylesheet", tag = "admin", security(("bearer" = [])),
    request_body = StylesheetTest, responses((status = 200, body = StylesheetOutput), (status = "default", body = ErrorBody)))]
pub async fn test_stylesheet(
    State(s): State<AppState>,
    c: Caller,
    Json(req): Json<StylesheetTest>,
) -> ApiResult<Json<StylesheetOutput>> {
    Ok(Json(s.lh.test_compliance_stylesheet(&c.actor, &req.stylesheet).await?))
}
