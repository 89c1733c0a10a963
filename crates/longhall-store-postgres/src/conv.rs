//! Conversions between the model and rows.

use longhall_core::StoreError;
use longhall_core::model::{ComplianceEvent, ComplianceKind, Scope, StoredMessage, TokenKind};
use longhall_core::principal::Principal;
use longhall_types::api::{FileRef, Privacy, RoomInvitations, RoomType};
use tokio_postgres::Row;

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("unreadable stored value: {what}"))
}

/// The uniqueness key of a name: Unicode lower case, so "Café" and "CAFÉ" clash.
pub(crate) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

pub(crate) fn quoted(what: &str, name: &str) -> String {
    format!("the {what} \"{name}\"")
}

pub(crate) fn principal_text(p: &Principal) -> String {
    match p {
        Principal::User(id) => format!("user:{id}"),
        Principal::Group(id) => format!("group:{id}"),
        Principal::Domain(d) => format!("domain:{d}"),
        Principal::Everyone => "everyone".to_owned(),
    }
}

pub(crate) fn parse_principal(s: &str) -> Result<Principal, StoreError> {
    let p = match s.split_once(':') {
        None if s == "everyone" => Some(Principal::Everyone),
        Some(("user", id)) => id.parse().ok().map(Principal::User),
        Some(("group", id)) => id.parse().ok().map(Principal::Group),
        Some(("domain", d)) => Some(Principal::Domain(d.to_owned())),
        _ => None,
    };
    p.ok_or_else(|| corrupt(format!("principal {s:?}")))
}

pub(crate) fn privacy_text(p: Privacy) -> &'static str {
    match p {
        Privacy::Open => "open",
        Privacy::Closed => "closed",
        Privacy::Secret => "secret",
    }
}

pub(crate) fn parse_privacy(s: &str) -> Result<Privacy, StoreError> {
    match s {
        "open" => Ok(Privacy::Open),
        "closed" => Ok(Privacy::Closed),
        "secret" => Ok(Privacy::Secret),
        _ => Err(corrupt(format!("privacy {s:?}"))),
    }
}

pub(crate) fn room_type_text(t: RoomType) -> &'static str {
    match t {
        RoomType::Normal => "normal",
        RoomType::Auditorium => "auditorium",
    }
}

pub(crate) fn parse_room_type(s: &str) -> Result<RoomType, StoreError> {
    match s {
        "normal" => Ok(RoomType::Normal),
        "auditorium" => Ok(RoomType::Auditorium),
        _ => Err(corrupt(format!("room type {s:?}"))),
    }
}

pub(crate) fn invitations_text(i: RoomInvitations) -> &'static str {
    match i {
        RoomInvitations::Inherit => "inherit",
        RoomInvitations::Off => "off",
    }
}

pub(crate) fn parse_invitations(s: &str) -> Result<RoomInvitations, StoreError> {
    match s {
        "inherit" => Ok(RoomInvitations::Inherit),
        "off" => Ok(RoomInvitations::Off),
        _ => Err(corrupt(format!("room invitations {s:?}"))),
    }
}

pub(crate) fn parse_token_kind(s: &str) -> Result<TokenKind, StoreError> {
    match s {
        "session" => Ok(TokenKind::Session),
        "api" => Ok(TokenKind::Api),
        _ => Err(corrupt(format!("token kind {s:?}"))),
    }
}

pub(crate) fn parse_scope(s: &str) -> Result<Scope, StoreError> {
    Scope::parse(s).ok_or_else(|| corrupt(format!("scope {s:?}")))
}

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
