//! History, posting over HTTP and content search (`/api/v1/rooms/{id}/messages`,
//! `/api/v1/search/messages`).

use longhall_types::api::{
    Affected, ClearRoom, HistoryPage, PostRequest, Posted, RemoveMessages, RemovedMessages, SearchResults,
};
use reqwest::Method;

use crate::{Client, ClientError, with_query};

/// Where a page of history starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HistoryFrom {
    /// The latest messages.
    #[default]
    Latest,
    /// Messages before this sequence number (scrolling back).
    Before(i64),
    /// Messages after this sequence number (catching up).
    After(i64),
    /// Messages around this time (ms since 1970).
    Around(i64),
}

/// A content search (`GET /api/v1/search/messages`).
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    /// Text anywhere in a message; at most 1024 bytes.
    pub q: Option<String>,
    /// Author login.
    pub author: Option<String>,
    /// From this time (ms since 1970), inclusive.
    pub from: Option<i64>,
    /// Up to this time (ms since 1970), inclusive.
    pub to: Option<i64>,
    /// Only this room.
    pub room: Option<i64>,
    /// At most this many results, 1–200 (server default 200).
    pub limit: Option<u32>,
}

impl Client {
    /// A page of a room's history, oldest first.
    pub async fn history(&self, room: i64, from: HistoryFrom, limit: Option<u32>) -> Result<HistoryPage, ClientError> {
        let (key, value) = match from {
            HistoryFrom::Latest => ("before", None),
            HistoryFrom::Before(s) => ("before", Some(s)),
            HistoryFrom::After(s) => ("after", Some(s)),
            HistoryFrom::Around(t) => ("around", Some(t)),
        };
        let url = with_query(
            self.api(&["rooms", &room.to_string(), "messages"]),
            &[(key, value.map(|v| v.to_string())), ("limit", limit.map(|l| l.to_string()))],
        );
        self.get(url).await
    }

    /// Posts to a room without joining it (bots); answers once the message is durable.
    pub async fn post_message(&self, room: i64, req: &PostRequest) -> Result<Posted, ClientError> {
        self.send_json(Method::POST, self.api(&["rooms", &room.to_string(), "messages"]), req).await
    }

    /// Searches the content of every room the caller may read; newest first, capped.
    pub async fn search_messages(&self, q: &MessageSearch) -> Result<SearchResults, ClientError> {
        let url = with_query(
            self.api(&["search", "messages"]),
            &[
                ("q", q.q.clone()),
                ("author", q.author.clone()),
                ("from", q.from.map(|v| v.to_string())),
                ("to", q.to.map(|v| v.to_string())),
                ("room", q.room.map(|v| v.to_string())),
                ("limit", q.limit.map(|v| v.to_string())),
            ],
        );
        self.get(url).await
    }
}

impl Client {
    /// Replaces or deletes the messages of a room a selection chooses (or lists them, for a
    /// dry run); the compliance record keeps the originals.
    pub async fn remove_messages(&self, room: i64, req: &RemoveMessages) -> Result<RemovedMessages, ClientError> {
        self.send_json(Method::POST, self.admin(&["rooms", &room.to_string(), "remove-messages"]), req).await
    }

    /// Deletes a room's messages up to and including `req.up_to` (ms since 1970), or only
    /// counts them (`req.dry_run`).
    pub async fn clear_room(&self, room: i64, req: &ClearRoom) -> Result<Affected, ClientError> {
        self.send_json(Method::POST, self.admin(&["rooms", &room.to_string(), "clear"]), req).await
    }
}
