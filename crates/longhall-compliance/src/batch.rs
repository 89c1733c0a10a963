//! What an adapter receives: a batch of conversations, each a room's events in order, read
//! lazily so a batch of any size is written in constant memory.

use longhall_core::model::{ComplianceKind, Millis, RoomId, Seq, UserId};

/// The room of a conversation, with the details `add_chat_room_details` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub id: RoomId,
    /// `ma-chan://<domain>/<room id>`.
    pub uri: String,
    pub name: String,
    pub category: String,
    /// `open`, `closed` or `secret`.
    pub privacy: String,
    /// `normal` or `auditorium`.
    pub room_type: String,
    pub description: String,
    /// Whether the room's category keeps chat history.
    pub logged: bool,
}

/// Who caused an event, with the details `add_user_details` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub id: UserId,
    /// `name@domain`.
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub site: Option<String>,
    /// Names of the groups the user belongs to (transitively).
    pub groups: Vec<String>,
    /// Always true: Longhall has no federated users.
    pub internal: bool,
}

/// A file an event refers to (uploads and downloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub id: i64,
    /// The name the user gave the file.
    pub name: String,
    /// The file-store key; `<key>` is also the stored file name.
    pub key: String,
    pub size: u64,
    pub content_type: String,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The compliance store's event id (increasing).
    pub id: i64,
    pub kind: ComplianceKind,
    pub ts: Millis,
    pub sender: Sender,
    /// The message's sequence number (CHAT and content actions).
    pub seq: Option<Seq>,
    /// The text the XML `content` attribute carries: the message for CHAT, the original for a
    /// replaced/removed message, the stored file name (`<key>.<ext>`) for file events, the
    /// history returned for BACKCHAT; empty for JOIN/PART.
    pub content: String,
    pub file: Option<FileInfo>,
    /// The recorded detail, as stored.
    pub detail: serde_json::Value,
}

/// A conversation: one room's events of this batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub room: RoomInfo,
    /// The first event (the XML's `FirstMessage`); `EventSource::next_event` yields it again.
    pub first: Event,
}

/// Identifies a batch; output file names derive from it, so a retried batch writes the same names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    /// `<first event id>-<last event id>`, zero-padded so names sort in order.
    pub id: String,
    pub first_event: i64,
    pub last_event: i64,
    pub events: u64,
    /// The deployment's domain, used in `ma-chan://` URIs.
    pub domain: String,
}

#[derive(Debug, thiserror::Error)]
#[error("reading compliance events failed: {0}")]
pub struct SourceError(pub String);

/// The events of a batch, conversation by conversation (rooms by ascending id), each
/// conversation's events by ascending event id.
pub trait EventSource {
    /// Moves to the next conversation; `None` at the end of the batch.
    fn next_conversation(&mut self) -> Result<Option<Conversation>, SourceError>;
    /// The next event of the current conversation (starting with its first); `None` when the
    /// conversation ends.
    fn next_event(&mut self) -> Result<Option<Event>, SourceError>;
}

/// A batch held in memory (tests, sample data).
pub struct VecSource {
    conversations: std::vec::IntoIter<(RoomInfo, Vec<Event>)>,
    current: std::vec::IntoIter<Event>,
}

impl VecSource {
    /// Conversations with at least one event each.
    pub fn new(conversations: Vec<(RoomInfo, Vec<Event>)>) -> VecSource {
        let conversations: Vec<_> = conversations.into_iter().filter(|(_, e)| !e.is_empty()).collect();
        VecSource { conversations: conversations.into_iter(), current: Vec::new().into_iter() }
    }
}

impl EventSource for VecSource {
    fn next_conversation(&mut self) -> Result<Option<Conversation>, SourceError> {
        match self.conversations.next() {
            Some((room, events)) => {
                let first = events[0].clone();
                self.current = events.into_iter();
                Ok(Some(Conversation { room, first }))
            }
            None => Ok(None),
        }
    }

    fn next_event(&mut self) -> Result<Option<Event>, SourceError> {
        Ok(self.current.next())
    }
}
