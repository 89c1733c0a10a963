//! Conversions between the model and SQLite rows, and SQLite errors to `StoreError`.

use longhall_core::StoreError;
use longhall_core::model::{ComplianceEvent, ComplianceKind, StoredMessage};
use longhall_types::api::FileRef;
use rusqlite::Row;
use rusqlite::ffi;

/// Adds `?`-friendly conversions of rusqlite results into store results.
pub(crate) trait DbResult<T> {
    /// Any failure is an outage (`Unavailable`).
    fn db(self) -> Result<T, StoreError>;
    /// A uniqueness failure is `Conflict(what)`.
    fn unique(self, what: impl FnOnce() -> String) -> Result<T, StoreError>;
    /// A foreign-key failure (a referenced row is missing) is `missing()`.
    fn missing(self, missing: impl FnOnce() -> StoreError) -> Result<T, StoreError>;
}

impl<T> DbResult<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(unavailable)
    }

    fn unique(self, what: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|e| match extended_code(&e) {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => StoreError::Conflict(what()),
            _ => unavailable(e),
        })
    }

    fn missing(self, missing: impl FnOnce() -> StoreError) -> Result<T, StoreError> {
        self.map_err(|e| match extended_code(&e) {
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => missing(),
            _ => unavailable(e),
        })
    }
}

pub(crate) fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

fn extended_code(e: &rusqlite::Error) -> Option<i32> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
        _ => None,
    }
}

pub(crate) use longhall_core::stored::*;

/// Columns of a message row with its file, in the order `message_row` reads them.
macro_rules! message_select {
    () => {
        "SELECT m.room_id, m.seq, m.ts, m.author, m.text, m.alert, m.story_title, m.replaced, \
         f.id, f.name, f.size, f.content_type \
         FROM messages m LEFT JOIN files f ON f.id = m.file_id "
    };
}
pub(crate) use message_select;

pub(crate) fn message_row(r: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    let file_id: Option<i64> = r.get(8)?;
    let file = match file_id {
        Some(id) => Some(FileRef { id, name: r.get(9)?, size: r.get::<_, i64>(10)? as u64, content_type: r.get(11)? }),
        None => None,
    };
    Ok(StoredMessage {
        room: r.get(0)?,
        seq: r.get(1)?,
        ts: r.get(2)?,
        author: r.get(3)?,
        text: r.get(4)?,
        alert: r.get(5)?,
        story_title: r.get(6)?,
        replaced: r.get(7)?,
        file,
    })
}

/// A compliance row as read, before its kind and detail are checked.
pub(crate) struct RawEvent {
    pub id: i64,
    pub kind: String,
    pub ts: i64,
    pub room: i64,
    pub room_name: String,
    pub user: i64,
    pub user_login: String,
    pub seq: Option<i64>,
    pub detail: String,
}

pub(crate) fn raw_event_row(r: &Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok(RawEvent {
        id: r.get(0)?,
        kind: r.get(1)?,
        ts: r.get(2)?,
        room: r.get(3)?,
        room_name: r.get(4)?,
        user: r.get(5)?,
        user_login: r.get(6)?,
        seq: r.get(7)?,
        detail: r.get(8)?,
    })
}

impl RawEvent {
    pub(crate) fn into_event(self) -> Result<(i64, ComplianceEvent), StoreError> {
        let kind =
            ComplianceKind::parse(&self.kind).ok_or_else(|| corrupt(format!("compliance kind {:?}", self.kind)))?;
        let detail = serde_json::from_str(&self.detail)
            .map_err(|e| corrupt(format!("compliance detail of event {}: {e}", self.id)))?;
        Ok((
            self.id,
            ComplianceEvent {
                kind,
                ts: self.ts,
                room: self.room,
                room_name: self.room_name,
                user: self.user,
                user_login: self.user_login,
                seq: self.seq,
                detail,
            },
        ))
    }
}
