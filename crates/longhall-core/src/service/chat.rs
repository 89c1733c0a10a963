//! Joining, leaving, posting, history and content search — the hot paths.

use std::sync::Arc;

use longhall_types::ErrorCode;
use longhall_types::api::{
    HistoryPage, MessageView, PostRequest, Posted, SearchResults, SharedMessage, SharedParticipant,
};
use longhall_types::limits::{MAX_HISTORY_PAGE, MAX_LIST_ITEMS, MAX_SEARCH_RESULTS};
use longhall_types::ws::{JoinFailure, JoinTarget, JoinedRoom, ServerFrame};
use serde_json::json;
use tokio::sync::oneshot;

use super::views::{message_view, room_view};
use super::{Actor, Longhall, PostJob};
use crate::error::{CoreError, CoreResult};
use crate::live::{Connection, Snapshot, TokenRef, Window, encode};
use crate::model::*;
use crate::rules::{self, Access};

/// A post queued for commit.
pub struct PendingPost {
    room: RoomId,
    ts: Millis,
    rx: oneshot::Receiver<CoreResult<Seq>>,
}

impl PendingPost {
    /// Resolves once the post is durable (or failed, and nothing was kept).
    pub async fn durable(self) -> CoreResult<Posted> {
        let seq = self.rx.await.map_err(|_| posts_unavailable())??;
        Ok(Posted { room: self.room, seq, ts: self.ts })
    }
}

fn posts_unavailable() -> CoreError {
    CoreError::new(ErrorCode::StoreUnavailable, "The server is not accepting posts right now; try again shortly.")
}

/// Which page of a room's history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryQuery {
    Latest,
    Before(Seq),
    After(Seq),
    Around(Millis),
}

/// A room of a join request, registered and read, waiting for the request's one record.
struct RegisteredJoin {
    room: Room,
    access: Access,
    messages: Vec<SharedMessage>,
    has_more: bool,
    participants: Option<Vec<SharedParticipant>>,
}

/// A content search as a client asks it.
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    pub text: Option<String>,
    /// Author login.
    pub author: Option<String>,
    pub from_ts: Option<Millis>,
    pub to_ts: Option<Millis>,
    /// Restrict to these rooms (default: every readable room).
    pub rooms: Vec<RoomId>,
    pub limit: Option<u32>,
}

fn count_in_range(what: &str, n: Option<u32>, default: u32, max: u32) -> CoreResult<u32> {
    let n = n.unwrap_or(default);
    rules::check_range(what, n, 1..=max)?;
    Ok(n)
}

impl Longhall {
    pub(super) fn compliance_event(
        &self,
        kind: ComplianceKind,
        room: &Room,
        actor_id: UserId,
        seq: Option<Seq>,
        detail: serde_json::Value,
    ) -> ComplianceEvent {
        let user_login = self.cat().users.get(&actor_id).map(|u| u.login.clone()).unwrap_or_default();
        ComplianceEvent {
            kind,
            ts: self.now(),
            room: room.id,
            room_name: room.name.clone(),
            user: actor_id,
            user_login,
            seq,
            detail,
        }
    }

    fn backchat_event<M: std::borrow::Borrow<MessageView>>(
        &self,
        room: &Room,
        user: UserId,
        messages: &[M],
        why: &str,
    ) -> Option<ComplianceEvent> {
        let (first, last) = (messages.first()?.borrow(), messages.last()?.borrow());
        // What was returned, as the original archives it; bounded so a large backchat of long
        // messages can't swell the compliance store: later messages are counted, not copied.
        let mut budget = longhall_types::limits::MAX_BACKCHAT_RECORD_BYTES;
        let mut history = Vec::new();
        for m in messages.iter().map(|m| m.borrow()) {
            let size = m.author.len() + m.text.len();
            if size > budget {
                break;
            }
            budget -= size;
            history.push(json!({ "seq": m.seq, "ts": m.ts, "author": m.author, "text": m.text }));
        }
        let omitted = messages.len() - history.len();
        Some(self.compliance_event(
            ComplianceKind::Backchat,
            room,
            user,
            None,
            json!({
                "from_seq": first.seq, "to_seq": last.seq, "count": messages.len(), "via": why,
                "history": history, "history_omitted": omitted,
            }),
        ))
    }

    async fn ensure_cache(&self, room: RoomId) -> CoreResult<()> {
        if self.hub.cache_loaded(room) {
            return Ok(());
        }
        let cap = self.hub.cache_cap();
        let stored = self.store.latest_messages(room, cap).await?;
        let complete = (stored.len() as u32) < cap;
        let views = {
            let cat = self.cat();
            stored.into_iter().map(|m| message_view(&cat, m)).collect()
        };
        self.hub.fill_cache(room, views, complete);
        Ok(())
    }

    async fn read_window(&self, room: RoomId, window: Window, up_to: Seq) -> CoreResult<(Vec<MessageView>, bool)> {
        let (mut stored, n) = match window {
            Window::Latest(n) => (self.store.messages_before(room, up_to + 1, n + 1).await?, n),
            Window::After(after, n) => {
                // Later messages reach the connection live; never send them twice.
                let mut m = self.store.messages_after(room, after, n + 1).await?;
                m.retain(|m| m.seq <= up_to);
                (m, n)
            }
        };
        let has_more = stored.len() > n as usize;
        if has_more {
            match window {
                Window::Latest(_) => {
                    stored.remove(0);
                }
                Window::After(..) => {
                    stored.pop();
                }
            }
        }
        let cat = self.cat();
        Ok((stored.into_iter().map(|m| message_view(&cat, m)).collect(), has_more))
    }

    /// Joins one or many rooms on a connection. Each room answers with its backchat (or, with
    /// `after_seq`, what the connection missed); rooms that can't be joined are listed with
    /// the reason. JOIN and BACKCHAT compliance events are durable before the answer.
    pub async fn join(
        &self,
        actor: &Actor,
        conn: &Arc<Connection>,
        request_id: String,
        targets: Vec<JoinTarget>,
        backchat: Option<u32>,
    ) -> CoreResult<()> {
        self.require_chat(actor)?;
        self.rate_limit(actor, super::throttle::Operation::Join)?;
        if targets.is_empty() || targets.len() > MAX_LIST_ITEMS {
            return Err(CoreError::invalid(format!("Join 1 to {MAX_LIST_ITEMS} rooms at a time.")));
        }
        let default = self.cat().effective_config(actor.user.site.as_deref()).default_chat_history;
        let n = count_in_range("backchat", backchat, default, MAX_HISTORY_PAGE)?;
        let mut targets = targets;
        let mut seen = std::collections::HashSet::new();
        targets.retain(|t| seen.insert(t.room));
        let mut ready = Vec::new();
        let mut failed = Vec::new();
        let me = SharedParticipant::from(self.participant_of(actor.id()));
        for target in targets {
            match self.register_join(actor, conn, &me, target, n).await {
                Ok(r) => ready.push(r),
                Err(e) => {
                    failed.push(JoinFailure { room: target.room, code: e.code.as_str().into(), message: e.message })
                }
            }
        }
        // One durable record of every JOIN (and backchat shown) of the request: one commit
        // per request, not one per room.
        let mut events = Vec::new();
        for r in &ready {
            events.push(self.compliance_event(
                ComplianceKind::Join,
                &r.room,
                actor.id(),
                None,
                self.connection_detail(conn.id, None),
            ));
            events.extend(self.backchat_event(&r.room, actor.id(), &r.messages, "join"));
        }
        if !events.is_empty()
            && let Err(e) = self.store.record_compliance(events).await
        {
            // Nothing was acknowledged: undo the registrations without PART records.
            let e = CoreError::from(e);
            for r in ready.drain(..) {
                self.hub.leave(conn, r.room.id, None);
                failed.push(JoinFailure { room: r.room.id, code: e.code.as_str().into(), message: e.message.clone() });
            }
        }
        let ids: Vec<RoomId> = ready.iter().map(|r| r.room.id).collect();
        let joined = {
            let cat = self.cat();
            ready
                .into_iter()
                .map(|r| JoinedRoom {
                    room: room_view(&cat, &self.hub, &r.room, &r.access),
                    messages: r.messages,
                    has_more: r.has_more,
                    participants: r.participants,
                })
                .collect()
        };
        conn.send(encode(&ServerFrame::Joined { id: request_id, rooms: joined, failed }));
        for id in ids {
            self.hub.activate(conn, id);
        }
        Ok(())
    }

    /// Registers the connection in one room (pending) and reads what it is to be shown.
    async fn register_join(
        &self,
        actor: &Actor,
        conn: &Arc<Connection>,
        me: &SharedParticipant,
        target: JoinTarget,
        n: u32,
    ) -> CoreResult<RegisteredJoin> {
        let (room, access) = self.readable(actor, target.room)?;
        self.ensure_cache(room.id).await?;
        let window = match target.after_seq {
            Some(after) => Window::After(after.max(0), MAX_HISTORY_PAGE),
            None => Window::Latest(n),
        };
        let outcome =
            self.hub.join(conn, room.id, me.clone(), window).ok_or_else(|| CoreError::room_not_found(room.id))?;
        // Access may have been taken away while this connection was registering, before the
        // kick pass could see it: check again now that it is registered.
        if let Err(e) = self.readable(actor, room.id) {
            self.hub.leave(conn, room.id, None);
            return Err(e);
        }
        let read = match outcome.snapshot {
            Snapshot::Ready { messages, has_more } => Ok((messages, has_more)),
            Snapshot::FromStore { up_to } => self
                .read_window(room.id, window, up_to)
                .await
                .map(|(messages, more)| (messages.into_iter().map(SharedMessage::from).collect(), more)),
        };
        match read {
            Ok((messages, has_more)) => {
                Ok(RegisteredJoin { room, access, messages, has_more, participants: outcome.participants })
            }
            Err(e) => {
                self.hub.leave(conn, room.id, None);
                Err(e)
            }
        }
    }

    /// Leaves rooms; answers with the rooms actually left.
    pub async fn leave(&self, actor: &Actor, conn: &Connection, rooms: &[RoomId]) -> Vec<RoomId> {
        let mut left = Vec::new();
        for &room in rooms {
            if self.part(actor.id(), conn, room, None, "left").await {
                left.push(room);
            }
        }
        left
    }

    /// Removes a connection from a room and records PART; `notice` goes to the connection.
    async fn part(
        &self,
        user: UserId,
        conn: &Connection,
        room: RoomId,
        notice: Option<&ServerFrame>,
        reason: &str,
    ) -> bool {
        if self.hub.leave(conn, room, notice).is_none() {
            return false;
        }
        let r = self.cat().rooms.get(&room).cloned();
        if let Some(r) = r {
            self.record_part(&r, user, conn, reason).await;
        }
        true
    }

    /// The detail of a JOIN (no reason) or PART event: the connection, in a pool the server,
    /// and the reason.
    fn connection_detail(&self, connection: u64, reason: Option<&str>) -> serde_json::Value {
        let mut detail = json!({ "connection": connection });
        if let Some(server) = &self.settings.server_id {
            detail["server"] = json!(server);
        }
        if let Some(reason) = reason {
            detail["reason"] = json!(reason);
        }
        detail
    }

    async fn record_part(&self, room: &Room, user: UserId, conn: &Connection, reason: &str) {
        let detail = self.connection_detail(conn.id, Some(reason));
        let ev = self.compliance_event(ComplianceKind::Part, room, user, None, detail);
        if let Err(e) = self.store.record_compliance(vec![ev]).await {
            tracing::error!(room = room.id, error = %e, "PART event could not be recorded");
        }
    }

    /// JOINs a crash of the previous run left without a PART get it now (reason `server
    /// restarted`), as the original closed its sessions; called before serving (by `start`,
    /// or for a server of a pool by the binary once the server holds its id in the registry).
    ///
    /// In a pool, only this server's own (by the range of its connection ids): the others'
    /// are open on servers still running. Their PART records close them in the store.
    pub async fn close_interrupted_participations(&self) -> CoreResult<()> {
        let mut open = self.store.open_participations().await?;
        let pooled = self.settings.server_id.is_some();
        if pooled {
            let own = super::connection_id_base(self.settings.server_id.as_deref()) >> super::CONNECTION_ID_BITS;
            open.retain(|p| (p.connection as u64) >> super::CONNECTION_ID_BITS == own);
        }
        if open.is_empty() {
            return Ok(());
        }
        let rooms: Vec<_> = {
            let cat = self.cat();
            open.iter().filter_map(|p| cat.rooms.get(&p.room).cloned().map(|room| (room, *p))).collect()
        };
        let events: Vec<_> = rooms
            .iter()
            .map(|(room, p)| {
                let detail = self.connection_detail(p.connection as u64, Some("server restarted"));
                self.compliance_event(ComplianceKind::Part, room, p.user, None, detail)
            })
            .collect();
        self.store.record_compliance(events).await?;
        if !pooled {
            // Also those of rooms deleted since (no PART is recorded for them).
            self.store.clear_open_participations().await?;
        }
        tracing::info!(count = open.len(), "closed the participations a crash left open (PART, server restarted)");
        Ok(())
    }

    /// A connection ended: leave every room (recording PART) and forget it.
    pub async fn disconnect(&self, conn: &Connection, reason: &str) {
        for room in conn.joined_rooms() {
            self.part(conn.user, conn, room, None, reason).await;
        }
        self.hub.disconnect(conn.id);
    }

    /// Posts a message. Over a connection the room must be joined there; over the API a member
    /// may post without joining. Resolves once the message is durable, with its sequence number.
    pub async fn post(
        &self,
        actor: &Actor,
        room: RoomId,
        req: PostRequest,
        via: Option<&Connection>,
    ) -> CoreResult<Posted> {
        self.submit_post(actor, room, req, via).await?.durable().await
    }

    /// Checks and queues a post for the next group commit, in call order; the returned
    /// handle resolves once it is durable. A connection submits its posts one after another
    /// and awaits them concurrently, so its messages keep their order without waiting in turn.
    pub async fn submit_post(
        &self,
        actor: &Actor,
        room: RoomId,
        req: PostRequest,
        via: Option<&Connection>,
    ) -> CoreResult<PendingPost> {
        self.require_chat(actor)?;
        rules::check_post(&req.text, req.story_title.as_deref())?;
        let (r, access) = self.access(actor, room)?;
        if let Some(conn) = via
            && !conn.is_joined(room)
        {
            return Err(CoreError::new(ErrorCode::NotJoined, "Join the room on this connection before posting to it."));
        }
        if !access.can_post() {
            return Err(access.post_denied(room));
        }
        let (keep, file) = {
            let cat = self.cat();
            let keep = cat.categories.get(&r.category).is_none_or(|c| c.chat_history);
            (keep, req.file)
        };
        let file_ref = match file {
            Some(id) => {
                let meta = self.store.get_file(id).await?.filter(|f| f.room == room);
                let meta = meta.ok_or_else(|| {
                    CoreError::new(ErrorCode::FileNotFound, "Attach a file uploaded to this same room.")
                })?;
                Some(longhall_types::api::FileRef {
                    id: meta.id,
                    name: meta.name,
                    size: meta.size,
                    content_type: meta.content_type,
                })
            }
            None => None,
        };
        let ts = self.now();
        let post = NewPost {
            room,
            author: actor.id(),
            author_login: actor.user.login.clone(),
            room_name: r.name.clone(),
            ts,
            text: req.text.clone(),
            alert: req.alert,
            story_title: req.story_title.clone(),
            file,
            keep,
        };
        let view = MessageView {
            room,
            seq: 0,
            ts,
            author: actor.user.login.clone(),
            author_name: actor.user.display_name.clone(),
            text: req.text,
            alert: req.alert,
            story_title: req.story_title,
            file: file_ref,
            replaced: false,
        };
        let (tx, rx) = oneshot::channel();
        self.poster
            .send(PostJob { post, view, reply: tx, accepted: std::time::Instant::now() })
            .await
            .map_err(|_| posts_unavailable())?;
        Ok(PendingPost { room, ts, rx })
    }

    /// A page of a room's history, oldest first. Reading history is a BACKCHAT event.
    pub async fn history(
        &self,
        actor: &Actor,
        room: RoomId,
        query: HistoryQuery,
        limit: Option<u32>,
    ) -> CoreResult<HistoryPage> {
        self.require_chat(actor)?;
        self.rate_limit(actor, super::throttle::Operation::History)?;
        let (r, _) = self.readable(actor, room)?;
        let default = self.cat().effective_config(actor.user.site.as_deref()).default_chat_history;
        let n = count_in_range("limit", limit, default, MAX_HISTORY_PAGE)?;
        let (mut stored, direction_older) = match query {
            HistoryQuery::Latest => (self.store.latest_messages(room, n + 1).await?, true),
            HistoryQuery::Before(s) => (self.store.messages_before(room, s, n + 1).await?, true),
            HistoryQuery::After(s) => (self.store.messages_after(room, s, n + 1).await?, false),
            HistoryQuery::Around(t) => (self.store.messages_around(room, t, n).await?, true),
        };
        let around = matches!(query, HistoryQuery::Around(_));
        let has_more = if around { self.more_around(room, &stored).await? } else { stored.len() > n as usize };
        if has_more && !around {
            if direction_older {
                stored.remove(0);
            } else {
                stored.pop();
            }
        }
        let messages: Vec<MessageView> = {
            let cat = self.cat();
            stored.into_iter().map(|m| message_view(&cat, m)).collect()
        };
        if let Some(ev) = self.backchat_event(&r, actor.id(), &messages, "history") {
            self.store.record_compliance(vec![ev]).await?;
        }
        Ok(HistoryPage { room, messages, has_more })
    }

    /// Whether kept messages exist outside a window on either side.
    async fn more_around(&self, room: RoomId, window: &[StoredMessage]) -> CoreResult<bool> {
        let (Some(first), Some(last)) = (window.first(), window.last()) else { return Ok(false) };
        Ok(!self.store.messages_before(room, first.seq, 1).await?.is_empty()
            || !self.store.messages_after(room, last.seq, 1).await?.is_empty())
    }

    /// Content search over every room the caller may read (text, author, dates), newest first,
    /// capped; results read are BACKCHAT events.
    pub async fn search_messages(&self, actor: &Actor, q: MessageSearch) -> CoreResult<SearchResults> {
        self.require_chat(actor)?;
        self.rate_limit(actor, super::throttle::Operation::Search)?;
        let limit = count_in_range("limit", q.limit, MAX_SEARCH_RESULTS, MAX_SEARCH_RESULTS)?;
        if let Some(t) = &q.text
            && t.len() > 1024
        {
            return Err(CoreError::new(ErrorCode::TooLong, "Search for at most 1024 bytes of text."));
        }
        let (rooms, author) = {
            let cat = self.cat();
            let aff = cat.affiliations(actor.id());
            let rooms: Vec<RoomId> = cat
                .rooms
                .values()
                .filter(|r| q.rooms.is_empty() || q.rooms.contains(&r.id))
                .filter(|r| {
                    cat.categories
                        .get(&r.category)
                        .is_some_and(|c| c.chat_history && Access::of(c, r, &aff, actor.is_admin()).can_read())
                })
                .map(|r| r.id)
                .collect();
            let author = match &q.author {
                Some(login) => match cat.user_by_login(login) {
                    Some(u) => Some(u.id),
                    None => {
                        return Ok(SearchResults { messages: vec![], cap_hit: false });
                    }
                },
                None => None,
            };
            (rooms, author)
        };
        if rooms.is_empty() {
            return Ok(SearchResults { messages: vec![], cap_hit: false });
        }
        let text = q.text.filter(|t| !t.trim().is_empty());
        let query = SearchQuery { rooms, text, author, from_ts: q.from_ts, to_ts: q.to_ts, limit: limit + 1 };
        let mut found = self.store.search(&query).await?;
        let cap_hit = found.len() > limit as usize;
        found.truncate(limit as usize);
        let messages: Vec<MessageView> = {
            let cat = self.cat();
            found.into_iter().map(|m| message_view(&cat, m)).collect()
        };
        let mut events = Vec::new();
        let mut by_room: std::collections::BTreeMap<RoomId, Vec<MessageView>> = Default::default();
        for m in &messages {
            by_room.entry(m.room).or_default().push(m.clone());
        }
        for (room, mut ms) in by_room {
            ms.sort_by_key(|m| m.seq);
            let r = self.cat().rooms.get(&room).cloned();
            if let Some(r) = r {
                events.extend(self.backchat_event(&r, actor.id(), &ms, "search"));
            }
        }
        if !events.is_empty() {
            self.store.record_compliance(events).await?;
        }
        Ok(SearchResults { messages, cap_hit })
    }

    // ---- keeping live state in line with the rules

    /// Removes every joined connection that may no longer read the room ("kick").
    pub(super) async fn recheck_rooms(&self, rooms: &[RoomId]) {
        let mut kicks = Vec::new();
        {
            let cat = self.cat();
            let mut standing = std::collections::HashMap::new();
            for &room in rooms {
                let (Some(r), conns) = (cat.rooms.get(&room), self.hub.members(room)) else {
                    continue;
                };
                let Some(c) = cat.categories.get(&r.category) else {
                    continue;
                };
                for conn in conns {
                    // A user's standing is computed once per call, however many rooms they are in.
                    let (usable, admin, aff) = standing.entry(conn.user).or_insert_with(|| {
                        let user = cat.users.get(&conn.user);
                        let usable =
                            user.is_some_and(|u| !u.disabled && cat.effective_policy(u).enable_persistent_chat);
                        (usable, user.is_some_and(|u| u.admin), cat.affiliations(conn.user))
                    });
                    if !*usable || !Access::of(c, r, aff, *admin).can_read() {
                        kicks.push((conn, room));
                    }
                }
            }
        }
        for (conn, room) in kicks {
            let notice = ServerFrame::Kicked { room, reason: "You no longer have access to this room.".into() };
            self.part(conn.user, &conn, room, Some(&notice), "kicked").await;
        }
    }

    pub(super) async fn recheck_all_rooms(&self) {
        let rooms: Vec<RoomId> = self.cat().rooms.keys().copied().collect();
        self.recheck_rooms(&rooms).await;
    }

    /// Everyone leaves the room with `notice` (room disabled or deleted). `room` is its last
    /// state, so PART is recorded even when the room is already gone from the catalog.
    pub(super) async fn evict_room(&self, room: &Room, notice: ServerFrame) {
        for conn in self.hub.members(room.id) {
            if self.hub.leave(&conn, room.id, Some(&notice)).is_some() {
                self.record_part(room, conn.user, &conn, "room closed").await;
            }
        }
    }

    /// A user was disabled or lost the policy: every connection leaves every room; a disabled
    /// user's connections are closed.
    pub(super) async fn close_user_connections(&self, user: UserId, close: bool) {
        for conn in self.hub.connections_of(user) {
            for room in conn.joined_rooms() {
                let notice = ServerFrame::Kicked { room, reason: "Your account may no longer use chat rooms.".into() };
                self.part(user, &conn, room, Some(&notice), "kicked").await;
            }
            if close {
                conn.close(CoreError::new(
                    ErrorCode::AccountDisabled,
                    "This account was disabled by an administrator.",
                ));
            }
        }
    }

    /// Opens a live connection for the caller (policy must be on).
    pub fn connect(&self, actor: &Actor) -> CoreResult<(Arc<Connection>, tokio::sync::mpsc::Receiver<bytes::Bytes>)> {
        self.connect_with_token(actor, None)
    }

    /// As `connect`; with `token`, revoking that token or its expiry ends the connection.
    pub fn connect_with_token(
        &self,
        actor: &Actor,
        token: Option<TokenRef>,
    ) -> CoreResult<(Arc<Connection>, tokio::sync::mpsc::Receiver<bytes::Bytes>)> {
        self.require_chat(actor)?;
        if !self.accepts_clients() {
            return Err(CoreError::new(
                ErrorCode::ServerNotActive,
                "This server is not on the pool's active server list and takes no new connections; connect to another server of the pool.",
            ));
        }
        if self.hub.connection_count() >= self.settings.max_connections {
            return Err(CoreError::new(
                ErrorCode::ServerFull,
                "The server has as many live connections as it allows; try again shortly or use another server of the pool.",
            ));
        }
        Ok(self.hub.connect_with_token(
            actor.id(),
            token,
            self.settings.outbound_queue,
            self.settings.outbound_queue_bytes,
        ))
    }

    /// Records that the caller has read the room up to `seq` (drives unread counts).
    pub async fn mark_read(&self, actor: &Actor, room: RoomId, seq: Seq) -> CoreResult<()> {
        self.require_chat(actor)?;
        self.readable(actor, room)?;
        let seq = seq.clamp(0, self.hub.last_seq(room));
        self.store.set_read(actor.id(), room, seq).await?;
        Ok(())
    }
}
