//! The pool: servers, the active server list and the pool state (administrators). These
//! routes authenticate also while the database in use is down (`PoolCaller`).

use axum::extract::State;
use axum::http::StatusCode;
use longhall_types::ErrorBody;
use longhall_types::api::*;

use crate::AppState;
use crate::auth::PoolCaller;
use crate::error::{ApiResult, Json};

/// The pool state, the active server list and every server with its state and load.
#[utoipa::path(get, path = "/api/v1/admin/pool", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Pool), (status = "default", body = ErrorBody)))]
pub async fn pool(State(s): State<AppState>, PoolCaller(c): PoolCaller) -> ApiResult<Json<Pool>> {
    Ok(Json(s.lh.pool_view(&c.actor).await?))
}

/// Switch every server of the pool to the primary (`normal`) or the backup (`failed_over`)
/// database. The server answering reaches the others with the caller's token.
#[utoipa::path(put, path = "/api/v1/admin/pool/state", tag = "admin", security(("bearer" = [])),
    request_body = PoolStatePut, responses((status = 200, body = PoolChangeResult), (status = "default", body = ErrorBody)))]
pub async fn put_pool_state(
    State(s): State<AppState>,
    PoolCaller(c): PoolCaller,
    Json(req): Json<PoolStatePut>,
) -> ApiResult<Json<PoolChangeResult>> {
    Ok(Json(s.lh.set_pool_state(&c.actor, &c.token, req).await?))
}

/// Set the active server list (`null`: every server; `[]`: none). A server taken off closes
/// its client connections with `server_not_active`.
#[utoipa::path(put, path = "/api/v1/admin/pool/active", tag = "admin", security(("bearer" = [])),
    request_body = ActiveServersPut, responses((status = 200, body = PoolChangeResult), (status = "default", body = ErrorBody)))]
pub async fn put_active_servers(
    State(s): State<AppState>,
    PoolCaller(c): PoolCaller,
    Json(req): Json<ActiveServersPut>,
) -> ApiResult<Json<PoolChangeResult>> {
    Ok(Json(s.lh.set_active_servers(&c.actor, &c.token, req).await?))
}

/// Take the pool settings another server of the pool sends (a newer revision only); how a
/// pool change reaches every server, also while the database is down.
#[utoipa::path(put, path = "/api/v1/admin/pool/settings", tag = "admin", security(("bearer" = [])),
    request_body = PoolSettings, responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn put_pool_settings(
    State(s): State<AppState>,
    PoolCaller(c): PoolCaller,
    Json(req): Json<PoolSettings>,
) -> ApiResult<StatusCode> {
    s.lh.adopt_pool_settings(&c.actor, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
