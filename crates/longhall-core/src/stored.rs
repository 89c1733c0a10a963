//! The text forms in which every store backend keeps enums and principals, and the error a
//! backend reports for a stored value it can't read: one definition, so the backends' files
//! (and an export between them) agree.

use longhall_types::api::{Privacy, RoomInvitations, RoomType};

use crate::StoreError;
use crate::model::{Scope, TokenKind};
use crate::principal::Principal;

pub fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("unreadable stored value: {what}"))
}

/// The uniqueness key of a name: Unicode lower case, so "Café" and "CAFÉ" clash (SQLite's
/// NOCASE and PostgreSQL's default collations don't fold that way).
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

pub fn quoted(what: &str, name: &str) -> String {
    format!("the {what} \"{name}\"")
}

pub fn principal_text(p: &Principal) -> String {
    match p {
        Principal::User(id) => format!("user:{id}"),
        Principal::Group(id) => format!("group:{id}"),
        Principal::Domain(d) => format!("domain:{d}"),
        Principal::Everyone => "everyone".to_owned(),
    }
}

pub fn parse_principal(s: &str) -> Result<Principal, StoreError> {
    let p = match s.split_once(':') {
        None if s == "everyone" => Some(Principal::Everyone),
        Some(("user", id)) => id.parse().ok().map(Principal::User),
        Some(("group", id)) => id.parse().ok().map(Principal::Group),
        Some(("domain", d)) => Some(Principal::Domain(d.to_owned())),
        _ => None,
    };
    p.ok_or_else(|| corrupt(format!("principal {s:?}")))
}

pub fn privacy_text(p: Privacy) -> &'static str {
    match p {
        Privacy::Open => "open",
        Privacy::Closed => "closed",
        Privacy::Secret => "secret",
    }
}

pub fn parse_privacy(s: &str) -> Result<Privacy, StoreError> {
    match s {
        "open" => Ok(Privacy::Open),
        "closed" => Ok(Privacy::Closed),
        "secret" => Ok(Privacy::Secret),
        _ => Err(corrupt(format!("privacy {s:?}"))),
    }
}

pub fn room_type_text(t: RoomType) -> &'static str {
    match t {
        RoomType::Normal => "normal",
        RoomType::Auditorium => "auditorium",
    }
}

pub fn parse_room_type(s: &str) -> Result<RoomType, StoreError> {
    match s {
        "normal" => Ok(RoomType::Normal),
        "auditorium" => Ok(RoomType::Auditorium),
        _ => Err(corrupt(format!("room type {s:?}"))),
    }
}

pub fn invitations_text(i: RoomInvitations) -> &'static str {
    match i {
        RoomInvitations::Inherit => "inherit",
        RoomInvitations::Off => "off",
    }
}

pub fn parse_invitations(s: &str) -> Result<RoomInvitations, StoreError> {
    match s {
        "inherit" => Ok(RoomInvitations::Inherit),
        "off" => Ok(RoomInvitations::Off),
        _ => Err(corrupt(format!("room invitations {s:?}"))),
    }
}

pub fn parse_token_kind(s: &str) -> Result<TokenKind, StoreError> {
    match s {
        "session" => Ok(TokenKind::Session),
        "api" => Ok(TokenKind::Api),
        _ => Err(corrupt(format!("token kind {s:?}"))),
    }
}

pub fn parse_scope(s: &str) -> Result<Scope, StoreError> {
    Scope::parse(s).ok_or_else(|| corrupt(format!("scope {s:?}")))
}
