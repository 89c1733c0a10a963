//! Room directory, room management, participants, following and read positions.

use axum::extract::State;
use axum::http::StatusCode;
use longhall_types::ErrorBody;
use longhall_types::api::{
    EligibleUser, FollowedRoom, InvitationView, NewRoom, Page, Participants, ReadPosition, RoomSearch, RoomUpdate,
    RoomUpdated, RoomView,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json, Path, Query};

/// Search the room directory (visibility rules apply; administrators see every room).
#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])), params(RoomSearch),
    responses((status = 200, body = Page<RoomView>), (status = "default", body = ErrorBody)))]
pub async fn search_rooms(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<RoomSearch>,
) -> ApiResult<Json<Page<RoomView>>> {
    Ok(Json(s.lh.search_rooms(&caller.actor, &q).await?))
}

/// Create a room in a category where the caller is a creator; the caller becomes a manager.
#[utoipa::path(post, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])), request_body = NewRoom,
    responses((status = 201, body = RoomView), (status = "default", body = ErrorBody)))]
pub async fn create_room(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<NewRoom>,
) -> ApiResult<(StatusCode, Json<RoomView>)> {
    Ok((StatusCode::CREATED, Json(s.lh.create_room(&caller.actor, req).await?)))
}

/// Room details (a secret room the caller can't see answers `room_not_found`).
#[utoipa::path(get, path = "/api/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = RoomView), (status = "default", body = ErrorBody)))]
pub async fn get_room(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Json<RoomView>> {
    Ok(Json(s.lh.get_room(&caller.actor, id)?))
}

/// Change a room (managers and administrators); a category change moves it and purges
/// list entries outside the new category's scope.
#[utoipa::path(patch, path = "/api/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = RoomUpdate, responses((status = 200, body = RoomUpdated), (status = "default", body = ErrorBody)))]
pub async fn update_room(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(req): Json<RoomUpdate>,
) -> ApiResult<Json<RoomUpdated>> {
    Ok(Json(s.lh.update_room(&caller.actor, id, req).await?))
}

/// Delete a room and its content (administrators).
#[utoipa::path(delete, path = "/api/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn delete_room(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    s.lh.delete_room(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who is connected to the room (no list in a large room).
#[utoipa::path(get, path = "/api/v1/rooms/{id}/participants", tag = "rooms", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Participants), (status = "default", body = ErrorBody)))]
pub async fn participants(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Participants>> {
    Ok(Json(s.lh.participants(&caller.actor, id)?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EligibleQuery {
    /// Only users who may present (auditorium presenters).
    #[serde(default)]
    pub presenters: bool,
    /// Text in the login or display name.
    pub filter: Option<String>,
    /// At most this many, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Users who may be put on the room's lists, groups expanded (managers).
#[utoipa::path(get, path = "/api/v1/rooms/{id}/eligible", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path), EligibleQuery), responses((status = 200, body = Vec<EligibleUser>), (status = "default", body = ErrorBody)))]
pub async fn eligible(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<EligibleQuery>,
) -> ApiResult<Json<Vec<EligibleUser>>> {
    Ok(Json(s.lh.eligible_for_room(&caller.actor, id, q.presenters, q.filter.as_deref(), q.limit.unwrap_or(100))?))
}

/// Follow a room (every client of the user sees it, with unread counts).
#[utoipa::path(put, path = "/api/v1/rooms/{id}/follow", tag = "following", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn follow(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    s.lh.set_follow(&caller.actor, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop following a room.
#[utoipa::path(delete, path = "/api/v1/rooms/{id}/follow", tag = "following", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn unfollow(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    s.lh.set_follow(&caller.actor, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Record how far the caller has read the room.
#[utoipa::path(put, path = "/api/v1/rooms/{id}/read", tag = "following", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = ReadPosition, responses((status = 204), (status = "default", body = ErrorBody)))]
pub async fn mark_read(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(req): Json<ReadPosition>,
) -> ApiResult<StatusCode> {
    s.lh.mark_read(&caller.actor, id, req.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Followed rooms with unread counts.
#[utoipa::path(get, path = "/api/v1/followed", tag = "following", security(("bearer" = [])),
    responses((status = 200, body = Vec<FollowedRoom>), (status = "default", body = ErrorBody)))]
pub async fn followed(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<FollowedRoom>>> {
    Ok(Json(s.lh.followed(&caller.actor).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InvitationQuery {
    /// Only invitations with a greater id.
    #[serde(default)]
    pub after: i64,
    /// At most this many, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Invitations newer than `after`.
#[utoipa::path(get, path = "/api/v1/invitations", tag = "following", security(("bearer" = [])), params(InvitationQuery),
    responses((status = 200, body = Vec<InvitationView>), (status = "default", body = ErrorBody)))]
pub async fn invitations(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<InvitationQuery>,
) -> ApiResult<Json<Vec<InvitationView>>> {
    Ok(Json(s.lh.invitations(&caller.actor, q.after, q.limit.unwrap_or(100)).await?))
}

/// Dismisses one of the caller's invitations (204 also when there is none by that id).
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "following", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The invitation's id")),
    responses((status = 204, description = "Dismissed"), (status = "default", body = ErrorBody)))]
pub async fn dismiss_invitation(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    s.lh.dismiss_invitation(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
