//! Administrators' content actions: replace or remove messages, clear a room. Authors can
//! never remove their own messages; the compliance store keeps the originals.

use longhall_types::ErrorCode;
use longhall_types::api::Affected;
use serde_json::json;

use super::{Actor, Longhall};
use crate::error::{CoreError, CoreResult};
use crate::model::*;

/// The text a removed message shows.
pub const REMOVED_TEXT: &str = "This message was removed by an administrator.";

impl Longhall {
    /// Replaces (with `replacement`) or removes (default notice) messages of a room.
    pub async fn remove_messages(
        &self,
        actor: &Actor,
        room: RoomId,
        seqs: &[Seq],
        replacement: Option<String>,
    ) -> CoreResult<Affected> {
        actor.require_admin()?;
        if seqs.is_empty() || seqs.len() > longhall_types::limits::MAX_LIST_ITEMS {
            return Err(CoreError::invalid("Name 1 to 1000 messages by sequence number."));
        }
        if let Some(t) = &replacement {
            crate::rules::check_post(t, None)?;
        }
        let (r, _) = self.access(actor, room)?;
        let (kind, text) = match replacement {
            Some(t) => (ComplianceKind::MessageReplaced, t),
            None => (ComplianceKind::MessageRemoved, REMOVED_TEXT.to_owned()),
        };
        let event = self.compliance_event(kind, &r, actor.id(), None, json!({}));
        let changed = self.store.replace_messages(room, seqs, &text, &event).await?;
        if changed.is_empty() {
            return Err(CoreError::new(ErrorCode::MessageNotFound, "None of those messages exist in this room."));
        }
        self.hub.invalidate_cache(room);
        Ok(Affected { count: changed.len() as u64 })
    }

    /// Deletes a room's messages up to and including `up_to` (ms since 1970).
    pub async fn clear_room(&self, actor: &Actor, room: RoomId, up_to: Millis) -> CoreResult<Affected> {
        actor.require_admin()?;
        let (r, _) = self.access(actor, room)?;
        let event = self.compliance_event(ComplianceKind::RoomCleared, &r, actor.id(), None, json!({ "up_to": up_to }));
        let count = self.store.clear_room(room, up_to, &event).await?;
        self.hub.invalidate_cache(room);
        Ok(Affected { count })
    }
}
