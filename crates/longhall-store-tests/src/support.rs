//! Builders and small helpers shared by the cases.

use longhall_core::model::*;
use longhall_core::ports::Store;
use longhall_core::principal::Principal;
use longhall_core::{StoreError, StoreResult};
use longhall_types::api::{Privacy, RoomInvitations, RoomType};
use serde_json::json;

pub fn user(login: &str) -> User {
    User {
        id: 0,
        login: login.to_owned(),
        display_name: format!("Display {login}"),
        email: login.to_owned(),
        site: None,
        disabled: false,
        admin: false,
        policy: None,
    }
}

pub fn group(name: &str, members: Vec<Principal>) -> Group {
    Group { id: 0, name: name.to_owned(), members }
}

pub fn category(name: &str) -> Category {
    Category {
        id: 0,
        name: name.to_owned(),
        description: format!("about {name}"),
        invitations: true,
        file_upload: true,
        chat_history: true,
        allowed: vec![Principal::Everyone],
        denied: Vec::new(),
        creators: Vec::new(),
    }
}

pub fn room(name: &str, category: CategoryId) -> Room {
    Room {
        id: 0,
        name: name.to_owned(),
        description: format!("about {name}"),
        category,
        privacy: Privacy::Closed,
        room_type: RoomType::Normal,
        invitations: RoomInvitations::Inherit,
        addin: None,
        disabled: false,
        members: Vec::new(),
        managers: Vec::new(),
        presenters: Vec::new(),
    }
}

pub fn post(room: RoomId, author: UserId, ts: Millis, text: &str) -> NewPost {
    NewPost {
        room,
        author,
        author_login: format!("user{author}@example.org"),
        room_name: format!("room {room}"),
        ts,
        text: text.to_owned(),
        alert: false,
        story_title: None,
        file: None,
        keep: true,
    }
}

pub fn event(kind: ComplianceKind, room: RoomId, user: UserId, ts: Millis) -> ComplianceEvent {
    ComplianceEvent {
        kind,
        ts,
        room,
        room_name: format!("room {room}"),
        user,
        user_login: format!("user{user}@example.org"),
        seq: None,
        detail: json!({ "reason": "test" }),
    }
}

pub fn query(rooms: &[RoomId], text: Option<&str>) -> SearchQuery {
    SearchQuery {
        rooms: rooms.to_vec(),
        text: text.map(str::to_owned),
        author: None,
        from_ts: None,
        to_ts: None,
        limit: 100,
    }
}

pub fn texts(messages: &[StoredMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

pub fn seqs(messages: &[StoredMessage]) -> Vec<Seq> {
    messages.iter().map(|m| m.seq).collect()
}

#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(r: StoreResult<T>, what: &str) {
    match r {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(r: StoreResult<T>, what: &str) {
    match r {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Two users, one category and two rooms in it: enough for message cases.
pub struct World {
    pub alice: UserId,
    pub bob: UserId,
    pub category: CategoryId,
    pub room_a: RoomId,
    pub room_b: RoomId,
}

pub async fn world<S: Store>(s: &S) -> World {
    let alice = s.insert_user(&user("alice@example.org"), "hash-a").await.unwrap();
    let bob = s.insert_user(&user("bob@example.org"), "hash-b").await.unwrap();
    let category = s.insert_category(&category("General")).await.unwrap();
    let room_a = s.insert_room(&room("Alpha", category)).await.unwrap();
    let room_b = s.insert_room(&room("Beta", category)).await.unwrap();
    World { alice, bob, category, room_a, room_b }
}

/// Posts `texts` to `room` by `author`, one batch, timestamps `ts0`, `ts0 + 1000`, …
pub async fn post_all<S: Store>(s: &S, room: RoomId, author: UserId, ts0: Millis, texts: &[&str]) -> Vec<Seq> {
    let posts = texts.iter().enumerate().map(|(i, t)| post(room, author, ts0 + 1000 * i as i64, t)).collect();
    s.commit_posts(posts).await.unwrap()
}

/// Every compliance event recorded so far.
pub async fn all_events<S: Store>(s: &S) -> Vec<(i64, ComplianceEvent)> {
    let mut out = Vec::new();
    loop {
        let after = out.last().map(|(id, _)| *id).unwrap_or(0);
        let page = s.compliance_events(after, 500).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

pub async fn room_of<S: Store>(s: &S, id: RoomId) -> Option<(Room, Seq)> {
    s.load_catalog().await.unwrap().rooms.into_iter().find(|(r, _)| r.id == id)
}
