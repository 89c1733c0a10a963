//! Live state of this server: connections, who is joined where, each room's recent
//! messages, and ordered fan-out.
//!
//! Ordering and exactly-once delivery rest on three facts:
//! - messages are published by one task (the poster's delivery stage) in commit order, under
//!   the room's lock;
//! - a joining connection is registered *pending* under the same lock at the moment its
//!   backchat snapshot is taken, so every later message is buffered for it;
//! - the join answer is queued before the buffer is flushed, on the connection's one queue.
//!
//! Frames are serialised once per delivery and shared as `Bytes` by every recipient. Each
//! connection has a bounded queue; a connection that lets it fill is closed as a slow
//! consumer and resumes from its last sequence number when it reconnects.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use longhall_types::ErrorCode;
use longhall_types::api::{MessageView, Participant, SharedMessage, SharedParticipant};
use longhall_types::ws::ServerFrame;
use tokio::sync::{Notify, mpsc};

use crate::error::CoreError;
use crate::model::{Millis, RoomId, Seq, TokenId, UserId};

pub type ConnId = u64;

/// Serialises a frame once; the bytes are shared by every recipient.
pub fn encode(frame: &ServerFrame) -> Bytes {
    // Serialising our own types to JSON cannot fail (no non-string map keys, no NaN floats).
    let bytes = serde_json::to_vec(frame).unwrap_or_default();
    // A frame lives until every recipient's socket has taken it: it keeps none of the
    // serialiser's spare capacity (up to as much again as the frame, for a join answer).
    Bytes::from(bytes.into_boxed_slice())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The token a connection was opened with: revoking it, or its expiry, ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRef {
    pub id: TokenId,
    pub expires: Option<Millis>,
}

/// One client connection's outbound side.
pub struct Connection {
    pub id: ConnId,
    pub user: UserId,
    pub token: Option<TokenRef>,
    tx: mpsc::Sender<Bytes>,
    closing: Mutex<Option<CoreError>>,
    closed: AtomicBool,
    notify: Notify,
    joined: Mutex<HashSet<RoomId>>,
    /// Bytes queued for this connection and not yet written, frames held in pending join
    /// buffers included.
    queued_bytes: AtomicUsize,
    /// Above this many queued bytes the connection is closed as a slow consumer (one frame
    /// larger than this still goes out when nothing else is queued).
    max_queued_bytes: usize,
}

fn slow_consumer() -> CoreError {
    CoreError::new(
        ErrorCode::SlowConsumer,
        "The connection fell too far behind and was closed; read faster (or ask for less at a time), reconnect and resume from your last sequence numbers.",
    )
}

impl Connection {
    /// Queues a frame; a queue full in frames or bytes closes the connection as a slow
    /// consumer. Nothing more is queued once the connection is closing.
    pub fn send(&self, frame: Bytes) -> bool {
        self.charge(frame.len()) && self.enqueue_charged(frame)
    }

    /// Counts `len` more bytes against the queue's bound; closes the connection when it
    /// would pass it.
    fn charge(&self, len: usize) -> bool {
        if self.is_closing() {
            return false;
        }
        let before = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.max_queued_bytes {
            self.written(len);
            self.close(slow_consumer());
            return false;
        }
        true
    }

    /// Queues a frame whose bytes were already counted by `charge`.
    fn enqueue_charged(&self, frame: Bytes) -> bool {
        let len = frame.len();
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(e) => {
                self.written(len);
                if matches!(e, mpsc::error::TrySendError::Full(_)) {
                    self.close(slow_consumer());
                }
                false
            }
        }
    }

    /// The transport wrote (or dropped) `len` queued bytes.
    pub fn written(&self, len: usize) {
        self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Acquire)
    }

    /// Asks the transport to close the connection with this reason (first reason wins).
    pub fn close(&self, reason: CoreError) {
        let mut slot = lock(&self.closing);
        if slot.is_none() {
            *slot = Some(reason);
            self.closed.store(true, Ordering::Release);
            self.notify.notify_waiters();
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Resolves with the reason once `close` was called.
    pub async fn closing(&self) -> CoreError {
        loop {
            // Register interest before checking, so a close between the two is not missed.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(reason) = lock(&self.closing).clone() {
                return reason;
            }
            notified.await;
        }
    }

    pub fn joined_rooms(&self) -> Vec<RoomId> {
        lock(&self.joined).iter().copied().collect()
    }

    pub fn is_joined(&self, room: RoomId) -> bool {
        lock(&self.joined).contains(&room)
    }
}

struct Member {
    conn: Arc<Connection>,
    /// While the join answer is being prepared, live frames wait here (counted against the
    /// connection's queue bound, so a slow join can't grow it without limit).
    pending: Option<Vec<Bytes>>,
}

impl Member {
    /// Sends a live frame, or holds it while the join answer is prepared.
    fn deliver(&mut self, frame: &Bytes) {
        match &mut self.pending {
            Some(buf) => {
                if self.conn.charge(frame.len()) {
                    buf.push(frame.clone());
                }
            }
            None => {
                self.conn.send(frame.clone());
            }
        }
    }

    /// Gives back the bytes of frames held for a join that will never be answered.
    fn discard_pending(&mut self) {
        if let Some(buf) = self.pending.take() {
            self.conn.written(buf.iter().map(Bytes::len).sum());
        }
    }
}

#[derive(Default)]
struct RoomState {
    members: HashMap<ConnId, Member>,
    /// Connected users and how many of their connections are joined.
    users: HashMap<UserId, (u32, SharedParticipant)>,
    large: bool,
    /// The latest messages, oldest first.
    cache: VecDeque<SharedMessage>,
    cache_loaded: bool,
    /// The cache holds every kept message of the room.
    cache_complete: bool,
}

/// One room's live state.
pub struct RoomLive {
    last_seq: AtomicI64,
    state: Mutex<RoomState>,
}

impl RoomLive {
    pub fn last_seq(&self) -> Seq {
        self.last_seq.load(Ordering::Acquire)
    }
}

/// What a joining connection gets from the cache, or the range to read from the store.
pub enum Snapshot {
    Ready {
        messages: Vec<SharedMessage>,
        has_more: bool,
    },
    /// Read from the store: kept messages with seq ≤ `up_to` (the rest arrive live).
    FromStore {
        up_to: Seq,
    },
}

/// What the caller asked to see on join.
#[derive(Debug, Clone, Copy)]
pub enum Window {
    Latest(u32),
    After(Seq, u32),
}

pub struct JoinOutcome {
    pub snapshot: Snapshot,
    pub participants: Option<Vec<SharedParticipant>>,
    pub first_of_user: bool,
}

/// Open connections, by id and by user.
#[derive(Default)]
struct Conns {
    by_id: HashMap<ConnId, Arc<Connection>>,
    by_user: HashMap<UserId, Vec<Arc<Connection>>>,
}

/// The live state of every room and connection of this server.
pub struct Hub {
    rooms: RwLock<HashMap<RoomId, Arc<RoomLive>>>,
    conns: RwLock<Conns>,
    next_conn: AtomicU64,
    cache_cap: AtomicU32,
    update_limit: AtomicU32,
}

impl Hub {
    pub fn new(rooms: impl IntoIterator<Item = (RoomId, Seq)>, cache_cap: u32, update_limit: u32) -> Hub {
        let rooms = rooms
            .into_iter()
            .map(|(id, seq)| (id, Arc::new(RoomLive { last_seq: AtomicI64::new(seq), state: Mutex::default() })))
            .collect();
        Hub {
            rooms: RwLock::new(rooms),
            conns: RwLock::default(),
            next_conn: AtomicU64::new(1),
            cache_cap: AtomicU32::new(cache_cap),
            update_limit: AtomicU32::new(update_limit),
        }
    }

    /// Numbers the connections from `first` on (a server of a pool has a range of its own).
    pub fn start_connection_ids_at(&self, first: u64) {
        self.next_conn.store(first, Ordering::Relaxed);
    }

    pub fn set_limits(&self, cache_cap: u32, update_limit: u32) {
        self.cache_cap.store(cache_cap, Ordering::Relaxed);
        self.update_limit.store(update_limit, Ordering::Relaxed);
    }

    pub fn cache_cap(&self) -> u32 {
        self.cache_cap.load(Ordering::Relaxed)
    }

    pub fn room(&self, id: RoomId) -> Option<Arc<RoomLive>> {
        self.rooms.read().unwrap_or_else(|e| e.into_inner()).get(&id).cloned()
    }

    pub fn add_room(&self, id: RoomId, last_seq: Seq) {
        self.rooms
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_insert_with(|| Arc::new(RoomLive { last_seq: AtomicI64::new(last_seq), state: Mutex::default() }));
    }

    pub fn last_seq(&self, room: RoomId) -> Seq {
        self.room(room).map(|r| r.last_seq()).unwrap_or(0)
    }

    /// Connected users in the room.
    pub fn participant_count(&self, room: RoomId) -> u32 {
        self.room(room).map(|r| lock(&r.state).users.len() as u32).unwrap_or(0)
    }

    pub fn participants(&self, room: RoomId) -> (u32, bool, Vec<Participant>) {
        let Some(r) = self.room(room) else {
            return (0, false, vec![]);
        };
        let st = lock(&r.state);
        let list = if st.large { vec![] } else { st.users.values().map(|(_, p)| Participant::clone(p)).collect() };
        (st.users.len() as u32, st.large, list)
    }

    /// Rooms with at least one participant, and participants summed over rooms.
    pub fn occupancy(&self) -> (u64, u64) {
        let rooms: Vec<Arc<RoomLive>> =
            self.rooms.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let counts = rooms.iter().map(|r| lock(&r.state).users.len() as u64).filter(|&n| n > 0);
        counts.fold((0, 0), |(rooms, users), n| (rooms + 1, users + n))
    }

    /// Users with at least one connection joined to the room.
    pub fn joined_users(&self, room: RoomId) -> Vec<UserId> {
        self.room(room).map(|r| lock(&r.state).users.keys().copied().collect()).unwrap_or_default()
    }

    // ---- connections

    /// Registers a connection whose queue holds at most `queue_frames` frames and
    /// `queue_bytes` bytes.
    pub fn connect(
        &self,
        user: UserId,
        queue_frames: usize,
        queue_bytes: usize,
    ) -> (Arc<Connection>, mpsc::Receiver<Bytes>) {
        self.connect_with_token(user, None, queue_frames, queue_bytes)
    }

    /// As `connect`, for a connection that ends with its token (revoked or expired).
    pub fn connect_with_token(
        &self,
        user: UserId,
        token: Option<TokenRef>,
        queue_frames: usize,
        queue_bytes: usize,
    ) -> (Arc<Connection>, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(queue_frames);
        let conn = Arc::new(Connection {
            id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            user,
            token,
            tx,
            closing: Mutex::new(None),
            closed: AtomicBool::new(false),
            notify: Notify::new(),
            joined: Mutex::default(),
            queued_bytes: AtomicUsize::new(0),
            max_queued_bytes: queue_bytes,
        });
        let mut conns = self.conns.write().unwrap_or_else(|e| e.into_inner());
        conns.by_id.insert(conn.id, conn.clone());
        conns.by_user.entry(user).or_default().push(conn.clone());
        (conn, rx)
    }

    pub fn disconnect(&self, conn: ConnId) {
        let mut conns = self.conns.write().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = conns.by_id.remove(&conn)
            && let Some(list) = conns.by_user.get_mut(&c.user)
        {
            list.retain(|other| other.id != conn);
            if list.is_empty() {
                conns.by_user.remove(&c.user);
            }
        }
    }

    pub fn connections(&self) -> Vec<Arc<Connection>> {
        self.conns.read().unwrap_or_else(|e| e.into_inner()).by_id.values().cloned().collect()
    }

    /// The connections whose token expired by `now`: a walk under the read lock that copies
    /// only those (it runs every second over every connection).
    pub fn expired_connections(&self, now: Millis) -> Vec<Arc<Connection>> {
        let conns = self.conns.read().unwrap_or_else(|e| e.into_inner());
        conns.by_id.values().filter(|c| c.token.and_then(|t| t.expires).is_some_and(|e| e <= now)).cloned().collect()
    }

    pub fn connection_count(&self) -> usize {
        self.conns.read().unwrap_or_else(|e| e.into_inner()).by_id.len()
    }

    pub fn connections_of(&self, user: UserId) -> Vec<Arc<Connection>> {
        self.conns.read().unwrap_or_else(|e| e.into_inner()).by_user.get(&user).cloned().unwrap_or_default()
    }

    /// The user's connections opened with this token.
    pub fn connections_of_token(&self, user: UserId, token: TokenId) -> Vec<Arc<Connection>> {
        self.connections_of(user).into_iter().filter(|c| c.token.is_some_and(|t| t.id == token)).collect()
    }

    /// Sends a frame to every connection of a user.
    pub fn send_to_user(&self, user: UserId, frame: &ServerFrame) {
        let conns = self.connections_of(user);
        if !conns.is_empty() {
            let bytes = encode(frame);
            for c in conns {
                c.send(bytes.clone());
            }
        }
    }

    // ---- the recent-message cache

    pub fn cache_loaded(&self, room: RoomId) -> bool {
        self.room(room).is_some_and(|r| lock(&r.state).cache_loaded)
    }

    /// Installs messages read from the store, merged with any published meanwhile.
    pub fn fill_cache(&self, room: RoomId, fetched: Vec<MessageView>, complete: bool) {
        let Some(r) = self.room(room) else { return };
        let cap = self.cache_cap() as usize;
        let mut st = lock(&r.state);
        if st.cache_loaded {
            return;
        }
        let newer: Vec<SharedMessage> = st.cache.drain(..).collect();
        let last_fetched = fetched.last().map(|m| m.seq).unwrap_or(0);
        st.cache.extend(fetched.into_iter().map(SharedMessage::from));
        st.cache.extend(newer.into_iter().filter(|m| m.seq > last_fetched));
        st.cache_complete = complete;
        while st.cache.len() > cap {
            st.cache.pop_front();
            st.cache_complete = false;
        }
        st.cache_loaded = true;
    }

    /// Forgets the cache (after an administrator changed or removed content).
    pub fn invalidate_cache(&self, room: RoomId) {
        if let Some(r) = self.room(room) {
            let mut st = lock(&r.state);
            st.cache.clear();
            st.cache_loaded = false;
            st.cache_complete = false;
        }
    }

    // ---- publishing

    /// Delivers a committed message to every joined connection, in the order of calls;
    /// returns how many it was queued for. `keep` is false for rooms that keep no history:
    /// delivered, never cached.
    pub fn publish(&self, message: MessageView, keep: bool) -> usize {
        let Some(r) = self.room(message.room) else {
            return 0;
        };
        let seq = message.seq;
        let cap = self.cache_cap() as usize;
        let frame = encode(&ServerFrame::Message(message.clone()));
        let message = SharedMessage::from(message);
        let mut st = lock(&r.state);
        r.last_seq.fetch_max(seq, Ordering::AcqRel);
        for m in st.members.values_mut() {
            m.deliver(&frame);
        }
        if keep {
            st.cache.push_back(message);
            while st.cache.len() > cap {
                st.cache.pop_front();
                st.cache_complete = false;
            }
        }
        st.members.len()
    }

    /// Registers `conn` in the room as pending and takes its snapshot atomically.
    pub fn join(
        &self,
        conn: &Arc<Connection>,
        room: RoomId,
        who: SharedParticipant,
        window: Window,
    ) -> Option<JoinOutcome> {
        let r = self.room(room)?;
        let limit = self.update_limit.load(Ordering::Relaxed) as usize;
        let mut st = lock(&r.state);
        let up_to = r.last_seq();
        let snapshot = snapshot_of(&st, window, up_to);
        // Joining again on the same connection refreshes the snapshot; it is still one participant.
        let previous = st.members.insert(conn.id, Member { conn: conn.clone(), pending: Some(Vec::new()) });
        let rejoin = previous.is_some();
        if let Some(mut previous) = previous {
            previous.discard_pending();
        }
        lock(&conn.joined).insert(room);
        let first_of_user = !rejoin && {
            let entry = st.users.entry(conn.user).or_insert((0, who.clone()));
            entry.0 += 1;
            entry.0 == 1
        };
        if st.users.len() > limit && !st.large {
            st.large = true;
            let frame = encode(&ServerFrame::RoomLarge { room, large: true, participants: None });
            for (id, m) in st.members.iter_mut() {
                if *id != conn.id {
                    m.deliver(&frame);
                }
            }
        }
        if first_of_user && !st.large {
            let frame = encode(&ServerFrame::ParticipantJoined { room, participant: Participant::clone(&who) });
            for (id, m) in st.members.iter_mut() {
                if *id != conn.id {
                    m.deliver(&frame);
                }
            }
        }
        let participants = (!st.large).then(|| st.users.values().map(|(_, p)| p.clone()).collect());
        Some(JoinOutcome { snapshot, participants, first_of_user })
    }

    /// Ends the pending state: queued live frames follow the join answer already sent.
    pub fn activate(&self, conn: &Connection, room: RoomId) {
        let Some(r) = self.room(room) else { return };
        let mut st = lock(&r.state);
        if let Some(m) = st.members.get_mut(&conn.id)
            && let Some(buf) = m.pending.take()
        {
            for f in buf {
                conn.enqueue_charged(f);
            }
        }
    }

    /// Removes `conn` from the room. Returns whether it was joined and whether that was the
    /// user's last connection there. `notice` is sent to the connection itself first.
    pub fn leave(&self, conn: &Connection, room: RoomId, notice: Option<&ServerFrame>) -> Option<bool> {
        let r = self.room(room)?;
        let limit = self.update_limit.load(Ordering::Relaxed) as usize;
        let mut st = lock(&r.state);
        lock(&conn.joined).remove(&room);
        st.members.remove(&conn.id)?.discard_pending();
        if let Some(n) = notice {
            conn.send(encode(n));
        }
        let mut last_of_user = false;
        let mut left = None;
        if let Some(entry) = st.users.get_mut(&conn.user) {
            entry.0 -= 1;
            if entry.0 == 0 {
                last_of_user = true;
                left = st.users.remove(&conn.user).map(|(_, p)| p);
            }
        }
        // Hysteresis: a large room becomes small again only below 80 % of the limit.
        let became_small = st.large && st.users.len() * 5 < limit * 4;
        if became_small {
            st.large = false;
        }
        if let (Some(p), false) = (left, st.large) {
            let frame = encode(&ServerFrame::ParticipantLeft { room, participant: Participant::clone(&p) });
            for m in st.members.values_mut() {
                m.deliver(&frame);
            }
        }
        if became_small {
            let list = st.users.values().map(|(_, p)| Participant::clone(p)).collect();
            let frame = encode(&ServerFrame::RoomLarge { room, large: false, participants: Some(list) });
            for m in st.members.values_mut() {
                m.deliver(&frame);
            }
        }
        Some(last_of_user)
    }

    /// Connections joined to a room.
    pub fn members(&self, room: RoomId) -> Vec<Arc<Connection>> {
        self.room(room).map(|r| lock(&r.state).members.values().map(|m| m.conn.clone()).collect()).unwrap_or_default()
    }

    pub fn remove_room(&self, room: RoomId) {
        self.rooms.write().unwrap_or_else(|e| e.into_inner()).remove(&room);
    }

    pub fn is_large(&self, room: RoomId) -> bool {
        self.room(room).is_some_and(|r| lock(&r.state).large)
    }
}

fn snapshot_of(st: &RoomState, window: Window, up_to: Seq) -> Snapshot {
    if !st.cache_loaded {
        return Snapshot::FromStore { up_to };
    }
    let cache = &st.cache;
    match window {
        Window::Latest(n) => {
            let n = n as usize;
            if cache.len() >= n || st.cache_complete {
                let skip = cache.len().saturating_sub(n);
                let messages: Vec<SharedMessage> = cache.iter().skip(skip).cloned().collect();
                let has_more = skip > 0 || !st.cache_complete;
                Snapshot::Ready { messages, has_more }
            } else {
                Snapshot::FromStore { up_to }
            }
        }
        Window::After(after, n) => {
            let covers = st.cache_complete || cache.front().is_some_and(|m| m.seq <= after + 1) || after >= up_to;
            if covers {
                let newer: Vec<SharedMessage> = cache.iter().filter(|m| m.seq > after).cloned().collect();
                let has_more = newer.len() > n as usize;
                Snapshot::Ready { messages: newer.into_iter().take(n as usize).collect(), has_more }
            } else {
                Snapshot::FromStore { up_to }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(room: RoomId, seq: Seq) -> MessageView {
        MessageView {
            room,
            seq,
            ts: seq,
            author: "a@x.org".into(),
            author_name: "A".into(),
            text: format!("m{seq}"),
            alert: false,
            story_title: None,
            file: None,
            replaced: false,
        }
    }

    fn who(n: &str) -> SharedParticipant {
        Participant { login: n.into(), display_name: n.into() }.into()
    }

    fn drain(rx: &mut mpsc::Receiver<Bytes>) -> Vec<serde_json::Value> {
        let mut out = vec![];
        while let Ok(b) = rx.try_recv() {
            out.push(serde_json::from_slice(&b).unwrap());
        }
        out
    }

    #[test]
    fn pending_joiner_gets_live_messages_only_after_activation_in_order() {
        let hub = Hub::new([(1, 0)], 30, 75);
        hub.fill_cache(1, vec![], true);
        let (a, mut rx) = hub.connect(10, 100, usize::MAX);
        let out = hub.join(&a, 1, who("a"), Window::Latest(30)).unwrap();
        assert!(matches!(out.snapshot, Snapshot::Ready { ref messages, has_more: false } if messages.is_empty()));
        hub.publish(msg(1, 1), true);
        hub.publish(msg(1, 2), true);
        assert!(drain(&mut rx).is_empty(), "nothing before the join answer");
        a.send(Bytes::from_static(b"{\"type\":\"joined\"}"));
        hub.activate(&a, 1);
        hub.publish(msg(1, 3), true);
        let got: Vec<String> = drain(&mut rx).iter().map(|v| format!("{}{}", v["type"], v["seq"])).collect();
        assert_eq!(got, ["\"joined\"null", "\"message\"1", "\"message\"2", "\"message\"3"]);
    }

    #[test]
    fn backchat_comes_from_cache_and_unkept_messages_are_not_cached() {
        let hub = Hub::new([(1, 0)], 3, 75);
        hub.fill_cache(1, vec![], true);
        for s in 1..=4 {
            hub.publish(msg(1, s), true);
        }
        hub.publish(msg(1, 5), false);
        let (a, _rx) = hub.connect(10, 100, usize::MAX);
        let out = hub.join(&a, 1, who("a"), Window::Latest(2)).unwrap();
        match out.snapshot {
            Snapshot::Ready { messages, has_more } => {
                assert_eq!(messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 4]);
                assert!(has_more);
            }
            Snapshot::FromStore { .. } => panic!("cache should serve"),
        }
        // Asking for more than the cache holds after trimming goes to the store.
        let (b, _rx) = hub.connect(11, 100, usize::MAX);
        assert!(matches!(
            hub.join(&b, 1, who("b"), Window::Latest(10)).unwrap().snapshot,
            Snapshot::FromStore { up_to: 5 }
        ));
        assert_eq!(hub.last_seq(1), 5);
    }

    #[test]
    fn fill_cache_merges_messages_published_while_loading() {
        let hub = Hub::new([(1, 2)], 30, 75);
        hub.publish(msg(1, 3), true); // published while the store read was in flight
        hub.fill_cache(1, vec![msg(1, 1), msg(1, 2), msg(1, 3)], true);
        let (a, _rx) = hub.connect(10, 100, usize::MAX);
        match hub.join(&a, 1, who("a"), Window::After(1, 10)).unwrap().snapshot {
            Snapshot::Ready { messages, .. } => {
                assert_eq!(messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [2, 3])
            }
            Snapshot::FromStore { .. } => panic!("cache covers"),
        }
    }

    #[test]
    fn large_room_stops_notices_and_resumes_below_eighty_percent() {
        let hub = Hub::new([(1, 0)], 30, 5);
        hub.fill_cache(1, vec![], true);
        let mut conns = vec![];
        for u in 0..6 {
            let (c, rx) = hub.connect(u, 1000, usize::MAX);
            let out = hub.join(&c, 1, who(&format!("u{u}")), Window::Latest(1)).unwrap();
            hub.activate(&c, 1);
            assert_eq!(out.participants.is_none(), u == 5, "the 6th user makes the room large");
            conns.push((c, rx));
        }
        assert!(hub.is_large(1));
        let got = drain(&mut conns[0].1);
        let last = got.last().expect("frames for the first user");
        assert_eq!((last["type"].as_str(), last["large"].as_bool()), (Some("room_large"), Some(true)), "{got:?}");
        assert!(last.get("participants").is_none());
        // 6 -> 5 -> 4 users: still large (4 is 80 % of 5, not below it).
        for i in [5, 4] {
            let c = conns[i].0.clone();
            hub.leave(&c, 1, None);
        }
        assert!(hub.is_large(1));
        assert!(drain(&mut conns[0].1).is_empty(), "no leave notices in a large room");
        let c3 = conns[3].0.clone();
        hub.leave(&c3, 1, None); // 3 users < 4: small again
        assert!(!hub.is_large(1));
        let got = drain(&mut conns[0].1);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["type"], "participant_left");
        assert_eq!((got[1]["type"].as_str(), got[1]["large"].as_bool()), (Some("room_large"), Some(false)));
        assert_eq!(got[1]["participants"].as_array().map(Vec::len), Some(3), "the whole list again");
    }

    #[test]
    fn full_queue_closes_the_connection_as_slow_consumer() {
        let hub = Hub::new([(1, 0)], 30, 75);
        hub.fill_cache(1, vec![], true);
        let (a, _rx) = hub.connect(10, 2, usize::MAX);
        hub.join(&a, 1, who("a"), Window::Latest(1)).unwrap();
        hub.activate(&a, 1);
        for s in 1..=3 {
            hub.publish(msg(1, s), true);
        }
        assert!(a.is_closing());
        let reason = futures_now(a.closing());
        assert_eq!(reason.code, ErrorCode::SlowConsumer);
    }

    #[test]
    fn queued_bytes_are_bounded_and_given_back_as_they_are_written() {
        let hub = Hub::new([(1, 0)], 30, 75);
        let (a, mut rx) = hub.connect(10, 100, 1000);
        // One frame larger than the bound still goes out when nothing else is queued.
        assert!(a.send(Bytes::from(vec![b'x'; 1500])));
        assert!(!a.is_closing());
        let f = rx.try_recv().unwrap();
        a.written(f.len());
        assert_eq!(a.queued_bytes(), 0);
        assert!(a.send(Bytes::from(vec![b'x'; 600])));
        assert!(!a.send(Bytes::from(vec![b'x'; 600])), "1200 queued bytes pass the bound of 1000");
        assert_eq!(futures_now(a.closing()).code, ErrorCode::SlowConsumer);
        assert_eq!(a.queued_bytes(), 600, "the refused frame is not counted");
        assert!(!a.send(Bytes::from_static(b"{}")), "nothing more is queued once closing");
    }

    #[test]
    fn frames_held_for_a_pending_join_count_against_the_bound() {
        let hub = Hub::new([(1, 0)], 30, 75);
        hub.fill_cache(1, vec![], true);
        let (a, _rx) = hub.connect(10, 100, 20_000);
        hub.join(&a, 1, who("a"), Window::Latest(1)).unwrap();
        let mut big = msg(1, 1);
        big.text = "y".repeat(8_000);
        for s in 1..=2 {
            big.seq = s;
            hub.publish(big.clone(), false);
        }
        assert!(!a.is_closing(), "two held frames fit");
        assert!(a.queued_bytes() > 16_000);
        big.seq = 3;
        hub.publish(big.clone(), false);
        assert_eq!(futures_now(a.closing()).code, ErrorCode::SlowConsumer, "a third passes the bound");
        // Leaving before the answer gives the held bytes back.
        hub.leave(&a, 1, None);
        assert_eq!(a.queued_bytes(), 0);
    }

    #[test]
    fn joining_twice_on_one_connection_counts_one_participant() {
        let hub = Hub::new([(1, 0)], 30, 75);
        hub.fill_cache(1, vec![], true);
        let (a, _rx) = hub.connect(10, 100, usize::MAX);
        for _ in 0..2 {
            hub.join(&a, 1, who("a"), Window::Latest(5)).unwrap();
            hub.activate(&a, 1);
        }
        assert_eq!(hub.participant_count(1), 1);
        hub.leave(&a, 1, None);
        assert_eq!(hub.participant_count(1), 0, "no ghost participant after leaving");
    }

    #[test]
    fn frames_for_a_user_reach_all_and_only_their_open_connections() {
        let hub = Hub::new([], 30, 75);
        let (a1, mut rx1) = hub.connect(1, 10, usize::MAX);
        let (_a2, mut rx2) = hub.connect(1, 10, usize::MAX);
        let (_b, mut rxb) = hub.connect(2, 10, usize::MAX);
        hub.send_to_user(1, &ServerFrame::Pong { id: "x".into() });
        assert_eq!((drain(&mut rx1).len(), drain(&mut rx2).len(), drain(&mut rxb).len()), (1, 1, 0));
        hub.disconnect(a1.id);
        hub.send_to_user(1, &ServerFrame::Pong { id: "y".into() });
        assert_eq!((drain(&mut rx1).len(), drain(&mut rx2).len()), (0, 1));
        assert_eq!(hub.connection_count(), 2);
    }

    fn futures_now<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }
}
