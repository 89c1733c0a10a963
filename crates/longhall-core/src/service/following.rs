//! Followed rooms with unread counts, and invitations.

use longhall_types::api::{FollowedRoom, InvitationView};
use longhall_types::limits::MAX_PAGE;

use super::{Actor, Longhall};
use crate::error::CoreResult;
use crate::model::*;
use crate::rules::Access;

impl Longhall {
    /// Follows a room the caller may read, or unfollows a room the caller can see.
    pub async fn set_follow(&self, actor: &Actor, room: RoomId, follow: bool) -> CoreResult<()> {
        self.require_chat(actor)?;
        // Unfollowing needs only that the room is visible, so a hidden room answers exactly
        // like a missing one.
        let (_, access) = self.access(actor, room)?;
        if follow && !access.can_read() {
            return Err(access.read_denied(room));
        }
        self.store.set_followed(actor.id(), room, follow).await?;
        Ok(())
    }

    /// The followed rooms the caller may still read, with unread counts.
    pub async fn followed(&self, actor: &Actor) -> CoreResult<Vec<FollowedRoom>> {
        self.require_chat(actor)?;
        let follows = self.store.followed(actor.id()).await?;
        let cat = self.cat();
        let aff = cat.affiliations(actor.id());
        let mut out: Vec<FollowedRoom> = follows
            .into_iter()
            .filter_map(|f| {
                let r = cat.rooms.get(&f.room)?;
                let c = cat.categories.get(&r.category)?;
                if !Access::of(c, r, &aff, actor.is_admin()).can_read() {
                    return None;
                }
                let last_seq = self.hub.last_seq(r.id);
                Some(FollowedRoom {
                    room: r.id,
                    name: r.name.clone(),
                    last_seq,
                    read_seq: f.read_seq,
                    unread: (last_seq - f.read_seq).max(0),
                })
            })
            .collect();
        out.sort_by_key(|f| f.name.to_lowercase());
        Ok(out)
    }

    /// Invitations with id greater than `after`, oldest first.
    pub async fn invitations(&self, actor: &Actor, after: i64, limit: u32) -> CoreResult<Vec<InvitationView>> {
        self.require_chat(actor)?;
        let list = self.store.invitations_after(actor.id(), after, limit.clamp(1, MAX_PAGE)).await?;
        let cat = self.cat();
        Ok(list
            .into_iter()
            .map(|i| InvitationView {
                id: i.id,
                room: i.room,
                room_name: cat.rooms.get(&i.room).map(|r| r.name.clone()).unwrap_or_default(),
                ts: i.ts,
            })
            .collect())
    }
}
