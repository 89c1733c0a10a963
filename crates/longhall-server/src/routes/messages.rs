//! History, posting over HTTP, content search, and the administrators' content actions
//! (remove or replace messages, clear a room).

use axum::extract::State;
use axum::http::StatusCode;
use longhall_core::service::{HistoryQuery, MessageSearch};
use longhall_types::api::{
    Affected, ClearRoom, HistoryPage, PostRequest, Posted, RemoveMessages, RemovedMessages, SearchResults,
};
use longhall_types::{ErrorBody, ErrorCode};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json, Path, Query};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Messages before this sequence number (scrolling back).
    pub before: Option<i64>,
    /// Messages after this sequence number (catching up).
    pub after: Option<i64>,
    /// Messages around this time (ms since 1970).
    pub around: Option<i64>,
    /// Page size, 1–500 (default: `default_chat_history`).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A page of history, oldest first. With no cursor: the latest messages.
#[utoipa::path(get, path = "/api/v1/rooms/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path), HistoryParams), responses((status = 200, body = HistoryPage), (status = "default", body = ErrorBody)))]
pub async fn history(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<HistoryParams>,
) -> ApiResult<Json<HistoryPage>> {
    let query = match (q.before, q.after, q.around) {
        (None, None, None) => HistoryQuery::Latest,
        (Some(b), None, None) => HistoryQuery::Before(b),
        (None, Some(a), None) => HistoryQuery::After(a),
        (None, None, Some(t)) => HistoryQuery::Around(t),
        _ => return Err(ApiError::new(ErrorCode::InvalidRequest, "Give at most one of before, after and around.")),
    };
    Ok(Json(s.lh.history(&caller.actor, id, query, q.limit).await?))
}

/// Post as a member without joining (bots). Answers once the message is durable.
#[utoipa::path(post, path = "/api/v1/rooms/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = PostRequest, responses((status = 201, body = Posted), (status = "default", body = ErrorBody)))]
pub async fn post(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(req): Json<PostRequest>,
) -> ApiResult<(StatusCode, Json<Posted>)> {
    Ok((StatusCode::CREATED, Json(s.lh.post(&caller.actor, id, req, None).await?)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Text to find anywhere in a message (substrings and any language); at most 1024 bytes.
    pub q: Option<String>,
    /// Author login.
    pub author: Option<String>,
    /// From this time (ms since 1970), inclusive.
    pub from: Option<i64>,
    /// Up to this time (ms since 1970), inclusive.
    pub to: Option<i64>,
    /// Only this room.
    pub room: Option<i64>,
    /// At most this many results, 1–200 (default 200).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Search the content of every room the caller may read; newest first, capped.
#[utoipa::path(get, path = "/api/v1/search/messages", tag = "messages", security(("bearer" = [])), params(SearchParams),
    responses((status = 200, body = SearchResults), (status = "default", body = ErrorBody)))]
pub async fn search(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    let search = MessageSearch {
        text: q.q,
        author: q.author,
        from_ts: q.from,
        to_ts: q.to,
        rooms: q.room.into_iter().collect(),
        limit: q.limit,
    };
    Ok(Json(s.lh.search_messages(&caller.actor, search).await?))
}

/// Replace or delete the messages of a room chosen by sequence numbers, author, time range
/// and keywords (or only list them: `dry_run`); the compliance record keeps the originals.
#[utoipa::path(post, path = "/api/v1/admin/rooms/{id}/remove-messages", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = RemoveMessages, responses((status = 200, body = RemovedMessages), (status = "default", body = ErrorBody)))]
pub async fn remove_messages(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Json(req): Json<RemoveMessages>,
) -> ApiResult<Json<RemovedMessages>> {
    Ok(Json(s.lh.remove_messages(&c.actor, id, req).await?))
}

/// Delete a room's messages up to and including a time (or, with `dry_run`, count them).
#[utoipa::path(post, path = "/api/v1/admin/rooms/{id}/clear", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ClearRoom, responses((status = 200, body = Affected), (status = "default", body = ErrorBody)))]
pub async fn clear_room(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Json(req): Json<ClearRoom>,
) -> ApiResult<Json<Affected>> {
    if req.dry_run {
        return Ok(Json(s.lh.count_clearable(&c.actor, id, req.up_to).await?));
    }
    Ok(Json(s.lh.clear_room(&c.actor, id, req.up_to).await?))
}
