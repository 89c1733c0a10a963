//! Builders and small helpers shared by the cases.

use longhall_core::change::{CatalogChange, ChangeOutcome};
use longhall_core::model::*;
use longhall_core::ports::{BoxFuture, Store};
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

/// The per-object writes of earlier versions, each one `Store::commit_change` without an audit
/// record: the cases read as before, and every write goes through the one path.
pub trait CatalogWrites: Store {
    fn change(&self, change: CatalogChange) -> BoxFuture<'_, StoreResult<ChangeOutcome>>;

    fn insert_user<'a>(&'a self, user: &'a User, password_hash: &'a str) -> BoxFuture<'a, StoreResult<UserId>> {
        Box::pin(async move {
            self.change(CatalogChange::InsertUser { user: user.clone(), password_hash: password_hash.to_owned() })
                .await
                .map(|o| o.id)
        })
    }

    fn update_user<'a>(&'a self, user: &'a User) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.change(CatalogChange::UpdateUser { user: user.clone(), password_hash: None }).await.map(|_| ())
        })
    }

    /// Sets the password of a user as it is stored now.
    fn set_password<'a>(&'a self, user: UserId, password_hash: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let data = self.load_catalog().await?;
            let u = data
                .users
                .into_iter()
                .find(|u| u.id == user)
                .ok_or_else(|| StoreError::NotFound(format!("user {user}")))?;
            self.change(CatalogChange::UpdateUser { user: u, password_hash: Some(password_hash.to_owned()) })
                .await
                .map(|_| ())
        })
    }

    fn insert_group<'a>(&'a self, group: &'a Group) -> BoxFuture<'a, StoreResult<GroupId>> {
        Box::pin(async move { self.change(CatalogChange::InsertGroup { group: group.clone() }).await.map(|o| o.id) })
    }

    fn update_group<'a>(&'a self, group: &'a Group) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.change(CatalogChange::UpdateGroup { group: group.clone() }).await.map(|_| ()) })
    }

    fn delete_group<'a>(&'a self, id: GroupId) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.change(CatalogChange::DeleteGroup { id }).await.map(|_| ()) })
    }

    fn insert_category<'a>(&'a self, category: &'a Category) -> BoxFuture<'a, StoreResult<CategoryId>> {
        Box::pin(async move {
            self.change(CatalogChange::InsertCategory { category: category.clone() }).await.map(|o| o.id)
        })
    }

    fn update_category<'a>(&'a self, category: &'a Category) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(
            async move { self.change(CatalogChange::UpdateCategory { category: category.clone() }).await.map(|_| ()) },
        )
    }

    fn delete_category<'a>(&'a self, id: CategoryId) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.change(CatalogChange::DeleteCategory { id }).await.map(|_| ()) })
    }

    fn insert_room<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, StoreResult<RoomId>> {
        Box::pin(async move { self.change(CatalogChange::InsertRoom { room: room.clone() }).await.map(|o| o.id) })
    }

    fn update_room<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.change(CatalogChange::UpdateRoom { room: room.clone() }).await.map(|_| ()) })
    }

    fn delete_room<'a>(&'a self, id: RoomId) -> BoxFuture<'a, StoreResult<Vec<String>>> {
        Box::pin(async move { self.change(CatalogChange::DeleteRoom { id }).await.map(|o| o.removed_files) })
    }

    fn insert_addin<'a>(&'a self, addin: &'a Addin) -> BoxFuture<'a, StoreResult<AddinId>> {
        Box::pin(async move { self.change(CatalogChange::InsertAddin { addin: addin.clone() }).await.map(|o| o.id) })
    }

    fn update_addin<'a>(&'a self, addin: &'a Addin) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.change(CatalogChange::UpdateAddin { addin: addin.clone() }).await.map(|_| ()) })
    }

    fn delete_addin<'a>(&'a self, id: AddinId) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.change(CatalogChange::DeleteAddin { id }).await.map(|_| ()) })
    }

    fn put_policy<'a>(&'a self, policy: &'a Policy) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.change(CatalogChange::PutPolicy { policy: policy.clone() }).await.map(|_| ()) })
    }

    fn delete_policy<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.change(CatalogChange::DeletePolicy { scope: scope.clone() }).await.map(|_| ()) })
    }

    fn put_config<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.change(CatalogChange::PutConfig { config: config.clone() }).await.map(|_| ()) })
    }

    fn delete_config<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.change(CatalogChange::DeleteConfig { scope: scope.clone() }).await.map(|_| ()) })
    }

    fn put_compliance_config<'a>(&'a self, config: &'a ComplianceConfig) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(
            async move { self.change(CatalogChange::PutComplianceConfig { config: config.clone() }).await.map(|_| ()) },
        )
    }

    fn insert_token<'a>(&'a self, token: &'a TokenRecord) -> BoxFuture<'a, StoreResult<TokenId>> {
        Box::pin(async move { self.change(CatalogChange::InsertToken { token: token.clone() }).await.map(|o| o.id) })
    }

    fn delete_token<'a>(&'a self, id: TokenId) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move { self.change(CatalogChange::DeleteToken { id }).await.map(|o| o.found) })
    }
}

impl<S: Store + ?Sized> CatalogWrites for S {
    fn change(&self, change: CatalogChange) -> BoxFuture<'_, StoreResult<ChangeOutcome>> {
        Box::pin(async move { self.commit_change(&change, None).await })
    }
}
