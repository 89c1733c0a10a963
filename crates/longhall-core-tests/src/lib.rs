//! The harness for testing Longhall's services end to end over a real SQLite store, without
//! HTTP: a [`World`] is one deployment in a temporary directory, a [`Live`] is one client
//! connection whose frames are read back as JSON. The tests themselves are in `tests/`.

use std::sync::Arc;

use bytes::Bytes;
use longhall::{Config, Deployment, Tuning};
use longhall_core::live::Connection;
use longhall_core::model::User;
use longhall_core::{Actor, CoreResult, Longhall, Settings};
use longhall_types::ErrorCode;
use longhall_types::api::{
    CategoryUpdate, CategoryView, ComplianceEventView, GroupUpdate, ListEdit, NewCategory, NewGroup, NewRoom, NewUser,
    PolicyPut, PostRequest, Posted, Privacy, RoomSearch, RoomUpdate, RoomUpdated, RoomView, UserView,
};
use longhall_types::ws::JoinTarget;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::mpsc;

/// Every user the harness creates has this password.
pub const PASSWORD: &str = "correct horse battery staple";

/// One deployment: a `Longhall` over a fresh SQLite store and file store in a temporary
/// directory, removed when the world is dropped.
pub struct World {
    pub lh: Arc<Longhall>,
    /// The deployment itself: an administrator without an account.
    pub system: Actor,
    _dir: TempDir,
}

impl World {
    /// A deployment whose global policy enables persistent chat (as after first start).
    pub async fn new() -> World {
        let w = World::without_policy().await;
        w.put_policy("global", true).await;
        w
    }

    /// A brand-new deployment with no policy at all: persistent chat is off for everyone.
    pub async fn without_policy() -> World {
        World::with_settings(Settings::default()).await
    }

    /// A brand-new deployment (no policy) with these limits.
    pub async fn with_settings(settings: Settings) -> World {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = Config { data_dir: dir.path().join("data"), ..Config::default() };
        // The services alone: no compliance processor, as in a deployment whose processing is off.
        let tuning = Tuning { core: settings, compliance_processor: false, ..Tuning::default() };
        let deployment = Deployment::open(&config, tuning).await.expect("the deployment opens");
        World { lh: deployment.lh, system: Actor::system(), _dir: dir }
    }

    pub async fn put_policy(&self, scope: &str, enable: bool) {
        let put = PolicyPut { enable_persistent_chat: enable, description: format!("{scope} for a test") };
        self.lh.put_policy(&self.system, scope, put).await.expect("put policy");
    }

    /// Creates a user with the harness password.
    pub async fn create_user(&self, new: NewUser) -> UserView {
        let new = NewUser { password: Some(PASSWORD.into()), ..new };
        self.lh.create_user(&self.system, new).await.expect("create user")
    }

    /// Creates a user `name@domain` and returns them as the server sees them now.
    pub async fn user(&self, login: &str) -> Actor {
        let v = self.create_user(NewUser { login: login.into(), ..Default::default() }).await;
        self.actor(v.id)
    }

    /// Creates a user who belongs to `site`.
    pub async fn user_at(&self, login: &str, site: &str) -> Actor {
        let v = self.create_user(NewUser { login: login.into(), site: Some(site.into()), ..Default::default() }).await;
        self.actor(v.id)
    }

    /// Creates an administrator with an account.
    pub async fn admin_user(&self, login: &str) -> Actor {
        let v = self.create_user(NewUser { login: login.into(), admin: true, ..Default::default() }).await;
        self.actor(v.id)
    }

    /// The user as the server sees them now; panics when the account is gone or disabled.
    pub fn actor(&self, id: i64) -> Actor {
        self.lh.current_actor(id).expect("a usable account")
    }

    pub fn id_of(&self, login: &str) -> i64 {
        self.lh.get_user(&self.system, login).expect("a known login").id
    }

    /// The user with this login as the server sees them now.
    pub fn actor_of(&self, login: &str) -> Actor {
        self.actor(self.id_of(login))
    }

    /// The account as stored, whether or not its policy lets it use chat.
    pub fn account(&self, login: &str) -> Actor {
        let v = self.lh.get_user(&self.system, login).expect("a known login");
        let user = User {
            id: v.id,
            login: v.login,
            display_name: v.display_name,
            email: v.email,
            site: v.site,
            disabled: v.disabled,
            admin: v.admin,
            policy: v.policy,
        };
        Actor::of(user)
    }

    pub async fn group(&self, name: &str, members: &[&str]) {
        let new = NewGroup { name: name.into(), members: strings(members) };
        self.lh.create_group(&self.system, new).await.expect("create group");
    }

    /// Adds principals to a group.
    pub async fn add_to_group(&self, name: &str, members: &[&str]) {
        let upd = GroupUpdate { members: Some(add(members)), ..Default::default() };
        self.lh.update_group(&self.system, name, upd).await.expect("update group");
    }

    /// Replaces a group's members.
    pub async fn set_group(&self, name: &str, members: &[&str]) {
        let upd = GroupUpdate { members: Some(replace(members)), ..Default::default() };
        self.lh.update_group(&self.system, name, upd).await.expect("update group");
    }

    /// A category with the given scope lists (invitations and file upload off).
    pub async fn category(&self, name: &str, allowed: &[&str], denied: &[&str], creators: &[&str]) -> CategoryView {
        self.category_with(NewCategory {
            name: name.into(),
            allowed_members: strings(allowed),
            denied_members: strings(denied),
            creators: strings(creators),
            ..Default::default()
        })
        .await
    }

    pub async fn category_with(&self, new: NewCategory) -> CategoryView {
        self.lh.create_category(&self.system, new).await.expect("create category")
    }

    pub async fn update_category(&self, name: &str, upd: CategoryUpdate) -> CategoryView {
        self.lh.update_category(&self.system, name, upd).await.expect("update category")
    }

    /// Creates a room as the deployment's administrator.
    pub async fn room(&self, new: NewRoom) -> RoomView {
        self.lh.create_room(&self.system, new).await.expect("create room")
    }

    /// Changes a room as the deployment's administrator.
    pub async fn update_room(&self, room: i64, upd: RoomUpdate) -> RoomUpdated {
        self.lh.update_room(&self.system, room, upd).await.expect("update room")
    }

    /// The room as an administrator sees it, lists included.
    pub fn room_as_admin(&self, room: i64) -> RoomView {
        self.lh.get_room(&self.system, room).expect("the room exists")
    }

    /// Posts over the API (no connection) and waits until the message is durable.
    pub async fn say(&self, who: &Actor, room: i64, words: &str) -> Posted {
        self.lh.post(who, room, text(words), None).await.expect("post")
    }

    /// Whether `who` finds the room in the directory, searching the room's category.
    pub async fn finds(&self, who: &Actor, category: &str, room: i64) -> bool {
        let q = RoomSearch { category: Some(category.into()), limit: Some(500), ..Default::default() };
        let page = self.lh.search_rooms(who, &q).await.expect("search rooms");
        page.items.iter().any(|r| r.id == room)
    }

    /// Opens a live connection for `who`.
    pub fn connect(&self, who: &Actor) -> Live {
        let (conn, rx) = self.lh.connect(who).expect("connect");
        Live { conn, rx, actor: who.clone() }
    }

    /// Every compliance event recorded so far, oldest first.
    pub async fn compliance(&self) -> Vec<ComplianceEventView> {
        let mut all: Vec<ComplianceEventView> = Vec::new();
        loop {
            let after = all.last().map_or(0, |e| e.id);
            let page = self.lh.compliance_events(&self.system, after, 500).await.expect("compliance events");
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// How many PART events were recorded for `login` in `room`.
    pub async fn parts(&self, login: &str, room: i64) -> usize {
        self.compliance().await.iter().filter(|e| e.kind == "PART" && e.user == login && e.room == room).count()
    }
}

/// One client connection and what the server has sent it.
pub struct Live {
    pub conn: Arc<Connection>,
    pub actor: Actor,
    rx: mpsc::Receiver<Bytes>,
}

impl Live {
    /// Every frame queued for this connection so far, as JSON, oldest first.
    pub fn frames(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(bytes) = self.rx.try_recv() {
            out.push(serde_json::from_slice(&bytes).expect("frames are JSON"));
        }
        out
    }

    /// The queued frames of one type.
    pub fn frames_of(&mut self, kind: &str) -> Vec<Value> {
        self.frames().into_iter().filter(|f| f["type"] == kind).collect()
    }

    /// Joins rooms (latest backchat) and returns the server's `joined` answer.
    pub async fn join(&mut self, lh: &Longhall, rooms: &[i64]) -> Value {
        let targets = rooms.iter().map(|&room| JoinTarget { room, after_seq: None }).collect();
        lh.join(&self.actor, &self.conn, "join".into(), targets, None).await.expect("join request");
        let joined = self.frames_of("joined");
        assert_eq!(joined.len(), 1, "one answer to one join request");
        joined.into_iter().next().unwrap_or_default()
    }
}

/// `&["a", "b"]` as owned strings.
pub fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A list edit that adds these principals.
pub fn add(list: &[&str]) -> ListEdit {
    ListEdit { add: strings(list), ..Default::default() }
}

/// A list edit that removes these principals.
pub fn remove(list: &[&str]) -> ListEdit {
    ListEdit { remove: strings(list), ..Default::default() }
}

/// A list edit that replaces the list with these principals.
pub fn replace(list: &[&str]) -> ListEdit {
    ListEdit { replace: Some(strings(list)), ..Default::default() }
}

/// A room request with the fields most tests set.
pub fn new_room(name: &str, category: &str, privacy: Privacy, members: &[&str]) -> NewRoom {
    NewRoom { name: name.into(), category: category.into(), privacy, members: strings(members), ..Default::default() }
}

/// A plain text post.
pub fn text(words: &str) -> PostRequest {
    PostRequest { text: words.into(), ..Default::default() }
}

/// What a call returned, as a table row states it: `Ok(())` or the error code.
pub fn outcome<T>(result: &CoreResult<T>) -> Result<(), ErrorCode> {
    result.as_ref().map(|_| ()).map_err(|e| e.code)
}
