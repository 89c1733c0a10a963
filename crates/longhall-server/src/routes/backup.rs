//! Online backup: the whole deployment as one archive, streamed while users keep chatting.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use longhall_types::ErrorBody;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

/// Download a backup of the deployment (administrators). The archive's format is described
/// in docs/operations.md; `longhall backup` saves and verifies it, `longhall restore` restores it.
#[utoipa::path(get, path = "/api/v1/admin/backup", tag = "admin", security(("bearer" = [])),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = "default", body = ErrorBody)))]
pub async fn backup(State(s): State<AppState>, c: Caller) -> ApiResult<Response> {
    let stream = s.lh.backup(&c.actor).await?;
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"longhall.backup\""));
    Ok(resp)
}
