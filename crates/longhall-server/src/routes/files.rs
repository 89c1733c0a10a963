//! File upload and download, streamed both ways.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use longhall_types::api::FileRef;
use longhall_types::{ErrorBody, ErrorCode};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json, Path, Query};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name (any directory part is dropped); at most 255 characters.
    #[param(min_length = 1, max_length = 255)]
    pub name: String,
}

/// Upload a file to a room whose category allows files. The body is the raw file; its size
/// limit (`max_file_size_kb`) is enforced while it streams.
#[utoipa::path(post, path = "/api/v1/rooms/{id}/files", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path), UploadParams), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FileRef), (status = "default", body = ErrorBody)))]
pub async fn upload(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<UploadParams>,
    req: Request,
) -> ApiResult<(StatusCode, Json<FileRef>)> {
    let limit = s.lh.upload_limit(&caller.actor, id)?;
    if let Some(len) =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("The file is larger than the {} KB allowed; compress or split it.", limit / 1024),
        ));
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    // A body that does not arrive in time is the client's doing, not the store's: remember it
    // to answer with `timeout`.
    let timed_out = std::sync::Arc::new(std::sync::OnceLock::new());
    let seen = timed_out.clone();
    let body = req.into_body().into_data_stream().map_err(move |e| {
        if let Some(limit) = crate::listener::body_timed_out(&e) {
            let _ = seen.set(limit);
        }
        std::io::Error::other(e)
    });
    match s.lh.upload(&caller.actor, id, &q.name, &content_type, Box::pin(body)).await {
        Ok(file) => Ok((StatusCode::CREATED, Json(file))),
        Err(e) => match timed_out.get() {
            Some(limit) => Err(crate::listener::body_timeout_error(*limit)),
            None => Err(e.into()),
        },
    }
}

/// Download a file; allowed to whoever may read its room.
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = "default", body = ErrorBody)))]
pub async fn download(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Response> {
    let (meta, stream) = s.lh.download(&caller.actor, id).await?;
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&meta.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
    // Served as an attachment so a browser never renders uploaded HTML in our origin.
    let ascii: String =
        meta.name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_ ".contains(c) { c } else { '_' }).collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(resp)
}
