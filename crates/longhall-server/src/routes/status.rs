//! The operators' status page.

use axum::extract::State;
use longhall_types::ErrorBody;
use longhall_types::api::ServerStatus;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json};

/// Version, uptime, live connections and participants, the readiness checks, the stores' sizes
/// and the compliance backlog (administrators). `longhall status` prints it.
#[utoipa::path(get, path = "/api/v1/admin/status", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ServerStatus), (status = "default", body = ErrorBody)))]
pub async fn status(State(s): State<AppState>, c: Caller) -> ApiResult<Json<ServerStatus>> {
    Ok(Json(s.lh.status(&c.actor).await?))
}
