//! Conversions between the model and rows.

use longhall_core::StoreError;
use longhall_core::model::{ComplianceEvent, ComplianceKind, StoredMessage};
use longhall_types::api::FileRef;
use tokio_postgres::Row;

pub(crate) use longhall_core::stored::*;

/// Reads a column, a type mismatch being a corrupt value rather than a panic.
pub(crate) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a Row, i: usize) -> Result<T, StoreError> {
    r.try_get(i).map_err(|e| corrupt(format!("column {i}: {e}")))
}

/// Columns of a message row with its file, in the order `message_row` reads them.
macro_rules! message_select {
    () => {
        "SELECT m.room_id, m.seq, m.ts, m.author, m.text, m.alert, m.story_title, m.replaced, \
         f.id, f.name, f.size, f.content_type \
         FROM chat.messages m LEFT JOIN chat.files f ON f.id = m.file_id "
    };
}
pub(crate) use message_select;

pub(crate) fn message_row(r: &Row) -> Result<StoredMessage, StoreError> {
    let file_id: Option<i64> = get(r, 8)?;
    let file = match file_id {
        Some(id) => Some(FileRef { id, name: get(r, 9)?, size: get::<i64>(r, 10)? as u64, content_type: get(r, 11)? }),
        None => None,
    };
    Ok(StoredMessage {
        room: get(r, 0)?,
        seq: get(r, 1)?,
        ts: get(r, 2)?,
        author: get(r, 3)?,
        text: get(r, 4)?,
        alert: get(r, 5)?,
        story_title: get(r, 6)?,
        replaced: get(r, 7)?,
        file,
    })
}

pub(crate) fn message_rows(rows: &[Row]) -> Result<Vec<StoredMessage>, StoreError> {
    rows.iter().map(message_row).collect()
}

/// Columns of a compliance event row, in the order `event_row` reads them.
macro_rules! event_columns {
    () => {
        "id, kind, ts, room_id, room_name, user_id, user_login, seq, detail"
    };
}
pub(crate) use event_columns;

pub(crate) fn event_row(r: &Row) -> Result<(i64, ComplianceEvent), StoreError> {
    let id: i64 = get(r, 0)?;
    let kind: String = get(r, 1)?;
    let kind = ComplianceKind::parse(&kind).ok_or_else(|| corrupt(format!("compliance kind {kind:?}")))?;
    Ok((
        id,
        ComplianceEvent {
            kind,
            ts: get(r, 2)?,
            room: get(r, 3)?,
            room_name: get(r, 4)?,
            user: get(r, 5)?,
            user_login: get(r, 6)?,
            seq: get(r, 7)?,
            detail: get(r, 8)?,
        },
    ))
}

pub(crate) fn event_rows(rows: &[Row]) -> Result<Vec<(i64, ComplianceEvent)>, StoreError> {
    rows.iter().map(event_row).collect()
}
