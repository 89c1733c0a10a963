//! Followed rooms with unread counts, and invitations.

use longhall_types::api::{FollowedRoom, InvitationView};

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
        let mut out: Vec<FollowedRoom> = {
            let cat = self.cat();
            let aff = cat.affiliations(actor.id());
            follows
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
                        unread_alerts: 0,
                    })
                })
                .collect()
        };
        // Only rooms with unread messages can have unread alerts: read rooms cost no query.
        for f in out.iter_mut().filter(|f| f.unread > 0) {
            f.unread_alerts = self.store.count_alerts_after(f.room, f.read_seq).await?;
        }
        out.sort_by_key(|f| f.name.to_lowercase());
        Ok(out)
    }

    /// Dismisses one of the caller's invitations: it is no longer listed. Answers the same
    /// whether or not it existed (ids are the caller's own, so this tells nothing about rooms).
    /// A later invitation to the same room shows again.
    pub async fn dismiss_invitation(&self, actor: &Actor, id: i64) -> CoreResult<()> {
        self.require_chat(actor)?;
        self.store.delete_invitation(actor.id(), id).await?;
        Ok(())
    }

    /// Invitations with id greater than `after`, oldest first, of rooms the caller may still
    /// read: one of a room she was removed from (or that left her scope) vanishes, so a Secret
    /// room's later name is never shown to someone who can no longer see it.
    pub async fn invitations(&self, actor: &Actor, after: i64, limit: u32) -> CoreResult<Vec<InvitationView>> {
        self.require_chat(actor)?;
        crate::rules::check_page_limit(limit)?;
        let mut out = Vec::new();
        let mut after = after;
        // Stale invitations are skipped, not counted: read on until the page is full or the
        // stored list ends, so a page is never short while newer invitations remain.
        loop {
            let list = self.store.invitations_after(actor.id(), after, limit).await?;
            let exhausted = (list.len() as u32) < limit;
            let cat = self.cat();
            let aff = cat.affiliations(actor.id());
            for i in list {
                after = i.id;
                let Some(r) = cat.rooms.get(&i.room) else { continue };
                let Some(c) = cat.categories.get(&r.category) else { continue };
                if !Access::of(c, r, &aff, actor.is_admin()).can_read() {
                    continue;
                }
                out.push(InvitationView { id: i.id, room: i.room, room_name: r.name.clone(), ts: i.ts });
                if out.len() as u32 == limit {
                    return Ok(out);
                }
            }
            if exhausted {
                return Ok(out);
            }
        }
    }
}
