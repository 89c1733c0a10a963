//! Liveness and readiness.

use axum::extract::State;
use longhall_types::api::Health;
use longhall_types::{ErrorBody, ErrorCode};

use crate::AppState;
use crate::error::{ApiError, ApiResult, Json};

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// The store answers and migrations are applied.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult<Json<Health>> {
    s.lh.ready().await.map_err(|e| ApiError::new(ErrorCode::StoreUnavailable, e.message))?;
    Ok(Json(Health { status: "ready".into() }))
}
