//! A server among others on one store (a pool): what it learns from the bus.
//!
//! - Other servers' messages: a note says which room has committed messages up to which
//!   sequence number; the messages are read from the store and published to this server's hub
//!   in sequence order. Every publication of a pool server goes through
//!   [`Longhall::publish_in_order`] under one lock, so a gap (a message another server
//!   committed before this one's) is filled from the store first and a repeat is dropped:
//!   each connection receives each message once, in order.
//! - Other servers' catalog changes: a note carries the catalog's new revision; the changes
//!   after this server's revision are read from the store's change log, applied as a local
//!   change is, and have the same effects on live connections (kicks, evictions, sessions
//!   ended).
//! - A bus that (re)connects may have lost notes: the catalog and every room are caught up
//!   from the store.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::Poll;

use longhall_types::ErrorCode;
use longhall_types::api::{InvitationView, MessageView};
use longhall_types::ws::ServerFrame;
use tokio::sync::mpsc;

use super::Longhall;
use super::views::message_view;
use crate::change::CatalogChange;
use crate::error::{CoreError, CoreResult};
use crate::model::{Room, RoomId, Seq};
use crate::ports::{Bus, BusSignal, Note};

/// Messages read from the store at a time when filling a gap.
const FILL_PAGE: u32 = 500;
/// Logged catalog changes read at a time.
const CHANGE_PAGE: u32 = 500;

/// This server's place in a pool: its bus, and what orders its deliveries.
pub(super) struct Link {
    /// This server among the pool's (random, per start).
    id: u64,
    pub(super) bus: Arc<dyn Bus>,
    /// Held while publishing to the hub: the poster and the bus task both publish.
    pub(super) delivery: tokio::sync::Mutex<()>,
    work: mpsc::UnboundedSender<Work>,
}

enum Work {
    Signal(BusSignal),
    /// Changes a commit applied while catching up: their effects on live connections.
    Effects(Vec<Applied>),
}

/// A catalog change of another server, applied here.
pub(super) struct Applied {
    pub(super) change: CatalogChange,
    /// The room as it was before (a room update or deletion).
    before: Option<Room>,
}

impl Longhall {
    /// Joins a pool: listens to `bus` and announces this server's commits on it (where the
    /// store does not). Called once, right after `start`; a later call does nothing.
    pub fn attach_bus(self: &Arc<Self>, bus: Arc<dyn Bus>) {
        let mut signals = bus.subscribe();
        let (work, mut rx) = mpsc::unbounded_channel();
        let id = u64::from_le_bytes(super::auth::random_bytes::<8>());
        if self.remote.set(Link { id, bus, delivery: tokio::sync::Mutex::new(()), work }).is_err() {
            return;
        }
        let lh: Weak<Longhall> = Arc::downgrade(self);
        // Ends with the server: its `Link` holds the only sender of `rx`.
        tokio::spawn(async move {
            loop {
                let next = std::future::poll_fn(|cx| {
                    if let Poll::Ready(w) = rx.poll_recv(cx) {
                        return Poll::Ready(w);
                    }
                    signals.poll_recv(cx).map(|s| s.map(Work::Signal))
                })
                .await;
                let (Some(w), Some(lh)) = (next, lh.upgrade()) else { return };
                match w {
                    Work::Signal(s) => lh.on_signal(s).await,
                    Work::Effects(applied) => lh.carry_out(applied).await,
                }
            }
        });
    }

    /// Tells the other servers of the pool (if this is one) about a committed change.
    pub(super) async fn tell_pool(&self, note: impl FnOnce(u64) -> Note) {
        if let Some(link) = self.remote.get() {
            link.bus.publish(note(link.id)).await;
        }
    }

    /// Whether this server is one of a pool.
    pub fn is_pooled(&self) -> bool {
        self.remote.get().is_some()
    }

    /// The catalog revision this server's catalog reflects.
    pub fn catalog_revision(&self) -> i64 {
        self.revision.load(Ordering::Acquire)
    }

    async fn on_signal(&self, signal: BusSignal) {
        match signal {
            BusSignal::Note(Note::Message { room, seq }) => {
                if self.hub.room(room).is_none() {
                    // Perhaps a room created on another server whose note is still on its way.
                    self.sync_catalog().await;
                }
                if self.hub.room(room).is_some() && seq > self.hub.last_seq(room) {
                    self.deliver_up_to(room, seq).await;
                }
            }
            BusSignal::Note(Note::Catalog { revision }) => {
                if revision > self.catalog_revision() {
                    self.sync_catalog().await;
                }
            }
            // This server's own content notes: it told its connections already.
            BusSignal::Note(
                Note::Replaced { from, .. }
                | Note::Removed { from, .. }
                | Note::Cleared { from, .. }
                | Note::Invited { from, .. },
            ) if self.remote.get().is_some_and(|l| l.id == from) => {}
            BusSignal::Note(Note::Invited { room, ts, invitations, .. }) => {
                let Some(room_name) = self.cat().rooms.get(&room).map(|r| r.name.clone()) else { return };
                for (user, id) in invitations {
                    let view = InvitationView { id, room, room_name: room_name.clone(), ts };
                    self.hub.send_to_user(user, &ServerFrame::Invitation(view));
                }
            }
            BusSignal::Note(Note::Replaced { room, .. }) => self.hub.invalidate_cache(room),
            BusSignal::Note(Note::Removed { room, seqs, .. }) => {
                self.hub.invalidate_cache(room);
                self.announce(room, &ServerFrame::MessagesRemoved { room, seqs });
            }
            BusSignal::Note(Note::Cleared { room, up_to, .. }) => {
                self.hub.invalidate_cache(room);
                self.announce(room, &ServerFrame::RoomCleared { room, up_to });
            }
            BusSignal::Connected => {
                self.sync_catalog().await;
                match self.store.load_catalog().await {
                    Ok(data) => {
                        for (room, seq) in data.rooms {
                            if self.hub.room(room.id).is_some() && seq > self.hub.last_seq(room.id) {
                                self.deliver_up_to(room.id, seq).await;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "catching up after the bus reconnected: the store did not answer")
                    }
                }
            }
        }
    }

    /// Publishes what the room has committed up to `seq` and this hub has not yet published.
    async fn deliver_up_to(&self, room: RoomId, seq: Seq) {
        let Some(link) = self.remote.get() else { return };
        let _order = link.delivery.lock().await;
        let recipients = self.fill_from_store(room, seq).await;
        self.metrics.deliveries.fetch_add(recipients as u64, Ordering::Relaxed);
    }

    /// Publishes a message committed by this server, after any earlier ones of its room this
    /// hub has not published yet (committed by other servers); drops it if it was published
    /// already (read from the store after another server's note). The caller holds the
    /// delivery lock. Returns how many connections it was queued for.
    pub(super) async fn publish_in_order(&self, message: MessageView, keep: bool) -> usize {
        let (room, seq) = (message.room, message.seq);
        let mut recipients = 0;
        if seq > self.hub.last_seq(room) + 1 {
            recipients += self.fill_from_store(room, seq - 1).await;
        }
        if seq > self.hub.last_seq(room) {
            recipients += self.hub.publish(message, keep);
        }
        recipients
    }

    /// Publishes the room's kept messages after the hub's last sequence number, up to `up_to`,
    /// in order. A number without a kept message (a room without history, a removed message)
    /// has nothing to deliver. The caller holds the delivery lock.
    async fn fill_from_store(&self, room: RoomId, up_to: Seq) -> usize {
        let mut recipients = 0;
        loop {
            let last = self.hub.last_seq(room);
            if last >= up_to {
                return recipients;
            }
            let page = match self.store.messages_after(room, last, FILL_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    // Its members miss these until they resume (their next join reads the store).
                    tracing::warn!(room, error = %e, "messages of another server could not be read");
                    return recipients;
                }
            };
            let full = page.len() == FILL_PAGE as usize;
            let views: Vec<MessageView> = {
                let cat = self.cat();
                page.into_iter().filter(|m| m.seq <= up_to).map(|m| message_view(&cat, m)).collect()
            };
            let more = full && views.len() == FILL_PAGE as usize;
            for view in views {
                if view.seq > self.hub.last_seq(room) {
                    recipients += self.hub.publish(view, true);
                }
            }
            if !more {
                return recipients;
            }
        }
    }

    /// Reads and applies the catalog changes other servers committed, then carries out their
    /// effects on live connections.
    async fn sync_catalog(&self) {
        let applied = {
            let _write = self.write_lock.lock().await;
            let _revision = self.revision_lock.lock().await;
            self.apply_logged_changes().await
        };
        match applied {
            Ok(applied) => self.carry_out(applied).await,
            Err(e) => tracing::warn!(error = %e, "the catalog changes of other servers could not be read"),
        }
    }

    /// Applies the logged changes after this server's revision, in order, to the in-memory
    /// catalog. The caller holds `revision_lock`; the effects on live connections are the
    /// caller's to carry out (`carry_out`, or `pass_on` to the bus task).
    pub(super) async fn apply_logged_changes(&self) -> CoreResult<Vec<Applied>> {
        let mut applied = Vec::new();
        loop {
            let at = self.catalog_revision();
            let page = self.store.catalog_changes(at, CHANGE_PAGE).await?;
            let n = page.len();
            for logged in page {
                if logged.revision <= self.catalog_revision() {
                    continue;
                }
                let before = match &logged.change {
                    CatalogChange::UpdateRoom { room } => self.cat().rooms.get(&room.id).cloned(),
                    CatalogChange::DeleteRoom { id } => self.cat().rooms.get(id).cloned(),
                    _ => None,
                };
                self.apply_in_memory(&logged.change, logged.id);
                self.revision.store(logged.revision, Ordering::Release);
                applied.push(Applied { change: logged.change, before });
            }
            if n < CHANGE_PAGE as usize {
                return Ok(applied);
            }
        }
    }

    /// Hands changes applied while committing to the bus task, which carries out their effects.
    pub(super) fn pass_on(&self, applied: Vec<Applied>) {
        if let (false, Some(link)) = (applied.is_empty(), self.remote.get()) {
            let _ = link.work.send(Work::Effects(applied));
        }
    }

    /// What a change of another server does to this server's live connections: what the
    /// service that made it does on its own server after committing.
    async fn carry_out(&self, applied: Vec<Applied>) {
        use CatalogChange as C;
        let mut recheck_all = false;
        for Applied { change, before } in applied {
            match change {
                C::UpdateUser { user, .. } => {
                    let now = self.cat().users.get(&user.id).cloned();
                    if let Some(u) = now
                        && (u.disabled || !self.cat().effective_policy(&u).enable_persistent_chat)
                    {
                        self.close_user_connections(u.id, u.disabled).await;
                    }
                    recheck_all = true;
                }
                C::RemoveUser { id } => {
                    self.close_user_connections(id, false).await;
                    for conn in self.hub.connections_of(id) {
                        conn.close(CoreError::new(
                            ErrorCode::Unauthenticated,
                            "This account was removed by an administrator.",
                        ));
                    }
                    recheck_all = true;
                }
                C::UpdateRoom { room } => {
                    if room.disabled && !before.is_some_and(|b| b.disabled) {
                        self.evict_room(&room, ServerFrame::RoomDisabled { room: room.id }).await;
                    } else {
                        self.recheck_rooms(&[room.id]).await;
                        self.announce_room_change(&room);
                    }
                }
                C::DeleteRoom { id } => {
                    if let Some(room) = before {
                        self.evict_room(&room, ServerFrame::RoomDeleted { room: id }).await;
                    }
                    self.hub.remove_room(id);
                }
                C::DeleteToken { id } => {
                    for conn in self.hub.connections() {
                        if conn.token.is_some_and(|t| t.id == id) {
                            conn.close(CoreError::new(
                                ErrorCode::Unauthenticated,
                                "This session was signed out or its token revoked; sign in again.",
                            ));
                        }
                    }
                }
                C::InsertGroup { .. }
                | C::UpdateGroup { .. }
                | C::DeleteGroup { .. }
                | C::UpdateCategory { .. }
                | C::DeleteCategory { .. }
                | C::UpdateAddin { .. }
                | C::DeleteAddin { .. }
                | C::PutPolicy { .. }
                | C::DeletePolicy { .. }
                | C::PutConfig { .. }
                | C::DeleteConfig { .. } => recheck_all = true,
                C::PutComplianceConfig { .. } => {
                    // This server's processor follows the new schedule and settings too.
                    if let Some(runner) = self.compliance.get().and_then(Weak::upgrade) {
                        runner.config_changed();
                    }
                }
                C::InsertUser { .. }
                | C::InsertCategory { .. }
                | C::InsertRoom { .. }
                | C::InsertAddin { .. }
                | C::InsertToken { .. } => {}
            }
        }
        if recheck_all {
            self.recheck_all_rooms().await;
        }
    }
}
