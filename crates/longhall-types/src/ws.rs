//! WebSocket frames. Every frame is a JSON object with a `type`. A request carries a
//! client-chosen `id` that its answer (or `error` frame) echoes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{
    HistoryPage, InvitationView, MessageView, Participant, Posted, RoomView, SharedMessage, SharedParticipant,
};

/// One room to join; `after_seq` resumes after a reconnect (the answer then carries the
/// messages after that sequence number instead of the latest backchat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinTarget {
    pub room: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<i64>,
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Join one or many rooms (batch join at sign-in).
    Join {
        id: String,
        rooms: Vec<JoinTarget>,
        /// Backchat size, 1–500; defaults to `default_chat_history`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backchat: Option<u32>,
    },
    /// Leave one or many rooms.
    Leave { id: String, rooms: Vec<i64> },
    /// Post to a joined room.
    Post {
        id: String,
        room: i64,
        text: String,
        #[serde(default)]
        alert: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        story_title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<i64>,
    },
    /// A page of history: exactly one of `before_seq`, `after_seq`, `around_ts`, or none for
    /// the latest.
    History {
        id: String,
        room: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_seq: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_seq: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        around_ts: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Record how far the user has read a room (drives unread counts).
    Read { id: String, room: i64, seq: i64 },
    /// Liveness check; answered with `pong`.
    Ping { id: String },
}

/// The result of joining one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JoinedRoom {
    pub room: RoomView,
    /// Backchat (or the messages after `after_seq`), oldest first.
    #[schema(value_type = Vec<MessageView>)]
    pub messages: Vec<SharedMessage>,
    /// Older (or, when resuming, further) messages exist beyond `messages`.
    pub has_more: bool,
    /// Connected participants; absent in a large room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Participant>>)]
    pub participants: Option<Vec<SharedParticipant>>,
}

/// A room that could not be joined, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JoinFailure {
    pub room: i64,
    pub code: String,
    pub message: String,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Sent once after the connection is authenticated.
    Ready { connection: u64, login: String },
    /// Answer to `join`.
    Joined { id: String, rooms: Vec<JoinedRoom>, failed: Vec<JoinFailure> },
    /// Answer to `leave`.
    Left { id: String, rooms: Vec<i64> },
    /// Answer to `post`: the message is durable and has this sequence number.
    Posted {
        id: String,
        #[serde(flatten)]
        posted: Posted,
    },
    /// Answer to `history`.
    History {
        id: String,
        #[serde(flatten)]
        page: HistoryPage,
    },
    /// Answer to `read`.
    ReadAck { id: String },
    /// Answer to `ping`.
    Pong { id: String },
    /// A request failed.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        code: String,
        message: String,
    },
    /// A new message in a joined room, in sequence order.
    Message(MessageView),
    /// An administrator replaced the text of these messages of a joined room (each as it
    /// now reads, `replaced` set).
    MessagesReplaced { room: i64, messages: Vec<MessageView> },
    /// An administrator deleted these messages of a joined room outright.
    MessagesRemoved { room: i64, seqs: Vec<i64> },
    /// An administrator cleared a joined room: its messages posted at or before `up_to`
    /// (ms since 1970) are gone.
    RoomCleared { room: i64, up_to: i64 },
    /// Someone joined a (small) room.
    ParticipantJoined { room: i64, participant: Participant },
    /// Someone left a (small) room.
    ParticipantLeft { room: i64, participant: Participant },
    /// The room became large (no more participant frames) or small again (then with the
    /// whole participant list, so clients can show it again).
    RoomLarge {
        room: i64,
        large: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participants: Option<Vec<Participant>>,
    },
    /// The room's settings changed.
    RoomChanged { room: RoomView },
    /// The room was disabled; the connection is no longer joined to it.
    RoomDisabled { room: i64 },
    /// The room was deleted; the connection is no longer joined to it.
    RoomDeleted { room: i64 },
    /// The user lost access to the room and was removed from it.
    Kicked { room: i64, reason: String },
    /// A new invitation for the user.
    Invitation(InvitationView),
    /// The server is about to close the connection, with the reason code.
    Closing { code: String, message: String },
}
