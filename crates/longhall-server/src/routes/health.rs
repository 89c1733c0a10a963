//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use longhall_types::api::{Health, Readiness};

use crate::AppState;
use crate::error::Json;

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Every readiness check: the store takes a durable write, the group-commit poster runs, the
/// compliance processor runs. 503 (`store_unavailable`, or `not_ready` for a stopped task) when
/// a required one fails; the body lists every check either way.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(s): State<AppState>) -> Response {
    let readiness = s.lh.readiness(false).await;
    let status = if readiness.code.is_none() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(readiness)).into_response()
}
