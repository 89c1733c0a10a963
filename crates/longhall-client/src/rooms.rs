//! The room directory, room management, participants, following, read positions and
//! invitations (`/api/v1/rooms`, `/followed`, `/invitations`, `/categories`, `/addins`).

use longhall_types::api::{
    EligibleUser, FollowedRoom, InvitationView, NewRoom, Page, Participants, ReadPosition, RoomUpdate, RoomUpdated,
    RoomView,
};
use reqwest::Method;

use crate::{Client, ClientError, with_query};

pub use longhall_types::api::RoomSearch;

/// Users eligible for a room's lists (`GET /api/v1/rooms/{id}/eligible`).
#[derive(Debug, Clone, Default)]
pub struct EligibleQuery {
    /// Only users who may present.
    pub presenters: bool,
    /// Text in the login or display name.
    pub filter: Option<String>,
    /// At most this many, 1–500 (server default 100).
    pub limit: Option<u32>,
}

/// The wire name of an enum value (its serde form).
fn wire<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned))
}

impl Client {
    /// Searches the room directory (visibility rules apply).
    pub async fn search_rooms(&self, q: &RoomSearch) -> Result<Page<RoomView>, ClientError> {
        let url = with_query(
            self.api(&["rooms"]),
            &[
                ("q", q.q.clone()),
                ("category", q.category.clone()),
                ("privacy", q.privacy.as_ref().and_then(wire)),
                ("type", q.room_type.as_ref().and_then(wire)),
                ("addin", q.addin.clone()),
                ("invitations", q.invitations.as_ref().and_then(wire)),
                ("member", q.member.clone()),
                ("manager", q.manager.clone()),
                ("disabled", q.disabled.map(|b| b.to_string())),
                ("content_larger_than_mb", q.content_larger_than_mb.map(|n| n.to_string())),
                ("managed", q.managed.then(|| "true".to_owned())),
                ("after", q.after.map(|a| a.to_string())),
                ("limit", q.limit.map(|l| l.to_string())),
            ],
        );
        self.get(url).await
    }

    /// Creates a room; the caller becomes a manager.
    pub async fn create_room(&self, req: &NewRoom) -> Result<RoomView, ClientError> {
        self.send_json(Method::POST, self.api(&["rooms"]), req).await
    }

    /// A room's details (a secret room the caller can't see is `room_not_found`).
    pub async fn get_room(&self, room: i64) -> Result<RoomView, ClientError> {
        self.get(self.api(&["rooms", &room.to_string()])).await
    }

    pub async fn update_room(&self, room: i64, req: &RoomUpdate) -> Result<RoomUpdated, ClientError> {
        self.send_json(Method::PATCH, self.api(&["rooms", &room.to_string()]), req).await
    }

    /// Deletes a room and its content (administrators).
    pub async fn delete_room(&self, room: i64) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::DELETE, self.api(&["rooms", &room.to_string()]))).await
    }

    /// Who is connected to the room.
    pub async fn participants(&self, room: i64) -> Result<Participants, ClientError> {
        self.get(self.api(&["rooms", &room.to_string(), "participants"])).await
    }

    /// Users who may be put on the room's lists (managers).
    pub async fn room_eligible(&self, room: i64, q: &EligibleQuery) -> Result<Vec<EligibleUser>, ClientError> {
        let url = with_query(
            self.api(&["rooms", &room.to_string(), "eligible"]),
            &[
                ("presenters", q.presenters.then(|| "true".to_owned())),
                ("filter", q.filter.clone()),
                ("limit", q.limit.map(|l| l.to_string())),
            ],
        );
        self.get(url).await
    }

    pub async fn follow(&self, room: i64) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::PUT, self.api(&["rooms", &room.to_string(), "follow"]))).await
    }

    pub async fn unfollow(&self, room: i64) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::DELETE, self.api(&["rooms", &room.to_string(), "follow"]))).await
    }

    /// Records that the caller has read the room up to `seq`.
    pub async fn mark_read(&self, room: i64, seq: i64) -> Result<(), ClientError> {
        let url = self.api(&["rooms", &room.to_string(), "read"]);
        self.call_empty(self.request(Method::PUT, url).json(&ReadPosition { seq })).await
    }

    /// Followed rooms with unread counts.
    pub async fn followed(&self) -> Result<Vec<FollowedRoom>, ClientError> {
        self.get(self.api(&["followed"])).await
    }

    /// Invitations with an id greater than `after`.
    pub async fn invitations(&self, after: i64, limit: Option<u32>) -> Result<Vec<InvitationView>, ClientError> {
        let url = with_query(
            self.api(&["invitations"]),
            &[("after", Some(after.to_string())), ("limit", limit.map(|l| l.to_string()))],
        );
        self.get(url).await
    }

    /// Dismisses one of the caller's invitations (also fine when it is gone already).
    pub async fn dismiss_invitation(&self, id: i64) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::DELETE, self.api(&["invitations", &id.to_string()]))).await
    }
}
