//! Administrators' content actions: replace or remove messages, clear a room. Authors can
//! never remove their own messages; the compliance store keeps the originals.
//!
//! Both walk a room in batches of [`CONTENT_BATCH`] messages, one store write each, so a
//! room with millions of messages never holds the writer for long and posting goes on
//! meanwhile. Joined clients get a live frame per batch.

use std::collections::HashSet;

use longhall_types::ErrorCode;
use longhall_types::api::{Affected, KeywordMatch, MessageView, RemoveMessages, RemovedMessages};
use longhall_types::limits::{MAX_LIST_ITEMS, MAX_SEARCH_TEXT_BYTES};
use longhall_types::ws::ServerFrame;
use serde_json::json;

use super::views::message_view;
use super::{Actor, Longhall, not_found};
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::ports::Note;

/// The text a replaced message shows when the administrator gives none (the original
/// product's was "This message was replaced by the Persistent Chat administrator.").
pub const DEFAULT_REPLACEMENT: &str = "This message was replaced by an administrator.";

/// Messages read, changed or deleted per store call of a content action.
pub const CONTENT_BATCH: u32 = 500;

/// Most affected messages a removal lists in its answer.
pub const REMOVAL_PREVIEW: usize = 100;

/// Which texts a removal's keywords select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    words: Vec<String>,
    mode: KeywordMatch,
    case_sensitive: bool,
}

impl Keywords {
    /// `None` when `keywords` holds no word (then every text matches).
    pub fn new(keywords: &str, mode: KeywordMatch, case_sensitive: bool) -> Option<Keywords> {
        let fold = |w: &str| if case_sensitive { w.to_owned() } else { w.to_lowercase() };
        let words: Vec<String> = match mode {
            // The phrase's words in order, separated by any run of white space.
            KeywordMatch::Phrase => vec![fold(&keywords.split_whitespace().collect::<Vec<_>>().join(" "))],
            _ => keywords.split_whitespace().map(fold).collect(),
        };
        if words.iter().all(|w| w.is_empty()) {
            return None;
        }
        Some(Keywords { words, mode, case_sensitive })
    }

    /// Whether `text` is selected: keywords are substrings (a keyword inside a longer word
    /// counts), compared with Unicode case folding unless case-sensitive.
    pub fn matches(&self, text: &str) -> bool {
        let text = if self.case_sensitive { text.to_owned() } else { text.to_lowercase() };
        match self.mode {
            KeywordMatch::All => self.words.iter().all(|w| text.contains(w.as_str())),
            KeywordMatch::Any => self.words.iter().any(|w| text.contains(w.as_str())),
            KeywordMatch::Phrase => {
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                text.contains(self.words[0].as_str())
            }
        }
    }
}

/// What to do with the selected messages.
enum Action {
    Replace(String),
    Delete,
}

impl Longhall {
    /// Replaces (with `req.replacement` or [`DEFAULT_REPLACEMENT`]) or deletes the messages
    /// of a room that every given selector matches; a dry run only reports them.
    pub async fn remove_messages(
        &self,
        actor: &Actor,
        room: RoomId,
        req: RemoveMessages,
    ) -> CoreResult<RemovedMessages> {
        actor.require_admin()?;
        if req.seqs.len() > MAX_LIST_ITEMS {
            return Err(CoreError::invalid("Name at most 1000 messages by sequence number."));
        }
        if req.delete && req.replacement.is_some() {
            return Err(CoreError::invalid("Give either a replacement text or delete, not both."));
        }
        if let Some(t) = &req.replacement {
            crate::rules::check_post(t, None)?;
        }
        if req.keywords.as_ref().is_some_and(|k| k.len() > MAX_SEARCH_TEXT_BYTES) {
            return Err(CoreError::new(ErrorCode::TooLong, "Give at most 1024 bytes of keywords."));
        }
        if let (Some(from), Some(to)) = (req.from, req.to)
            && from > to
        {
            return Err(CoreError::invalid("The start of the time range is after its end."));
        }
        let keywords = req.keywords.as_deref().and_then(|k| Keywords::new(k, req.match_mode, req.case_sensitive));
        let seqs: HashSet<Seq> = req.seqs.iter().copied().collect();
        if seqs.is_empty() && req.author.is_none() && req.from.is_none() && req.to.is_none() && keywords.is_none() {
            return Err(CoreError::invalid(
                "Choose the messages: give sequence numbers, an author, a time range or keywords \
                 (to empty a room, clear it).",
            ));
        }
        let (r, _) = self.access(actor, room)?;
        let author = match &req.author {
            Some(login) => Some(
                self.cat()
                    .user_by_login(login)
                    .map(|u| u.id)
                    .ok_or_else(|| not_found(ErrorCode::UserNotFound, "such user"))?,
            ),
            None => None,
        };
        let action = match (req.delete, req.replacement) {
            (true, _) => Action::Delete,
            (false, Some(t)) => Action::Replace(t),
            (false, None) => Action::Replace(DEFAULT_REPLACEMENT.to_owned()),
        };
        let event = match &action {
            Action::Delete => self.compliance_event(ComplianceKind::MessageRemoved, &r, actor.id(), None, json!({})),
            Action::Replace(_) => {
                self.compliance_event(ComplianceKind::MessageReplaced, &r, actor.id(), None, json!({}))
            }
        };

        // With sequence numbers, the walk covers only their span.
        let mut after = seqs.iter().min().map(|s| s - 1).unwrap_or(0).max(0);
        let last = seqs.iter().max().copied();
        let mut count = 0u64;
        let mut shown: Vec<MessageView> = Vec::new();
        loop {
            let scan = MessageScan { room, after, author, from_ts: req.from, to_ts: req.to, limit: CONTENT_BATCH };
            let page = self.store.scan_messages(&scan).await?;
            let Some(end) = page.last().map(|m| m.seq) else { break };
            let full = page.len() as u32 == CONTENT_BATCH;
            after = end;
            let chosen: Vec<StoredMessage> = page
                .into_iter()
                .filter(|m| seqs.is_empty() || seqs.contains(&m.seq))
                .filter(|m| keywords.as_ref().is_none_or(|k| k.matches(&m.text)))
                .collect();
            if !chosen.is_empty() {
                let changed = if req.dry_run {
                    chosen
                } else {
                    let chosen: Vec<Seq> = chosen.iter().map(|m| m.seq).collect();
                    self.apply(&action, room, &chosen, &event).await?
                };
                count += changed.len() as u64;
                let cat = self.cat();
                let room_left = REMOVAL_PREVIEW.saturating_sub(shown.len());
                shown.extend(changed.into_iter().take(room_left).map(|m| message_view(&cat, m)));
            }
            if !full || last.is_some_and(|l| after >= l) {
                break;
            }
        }
        if count == 0
            && !seqs.is_empty()
            && author.is_none()
            && req.from.is_none()
            && req.to.is_none()
            && keywords.is_none()
        {
            return Err(CoreError::new(ErrorCode::MessageNotFound, "None of those messages exist in this room."));
        }
        Ok(RemovedMessages { count, dry_run: req.dry_run, messages: shown })
    }

    /// Changes one batch and tells the joined clients; returns the messages as they were.
    async fn apply(
        &self,
        action: &Action,
        room: RoomId,
        seqs: &[Seq],
        event: &ComplianceEvent,
    ) -> CoreResult<Vec<StoredMessage>> {
        let (before, frame) = match action {
            Action::Replace(text) => {
                let before = self.store.replace_messages(room, seqs, text, event).await?;
                let cat = self.cat();
                let messages = before
                    .iter()
                    .cloned()
                    .map(|m| message_view(&cat, StoredMessage { text: text.clone(), replaced: true, ..m }))
                    .collect();
                (before, ServerFrame::MessagesReplaced { room, messages })
            }
            Action::Delete => {
                let before = self.store.delete_messages(room, seqs, event).await?;
                let seqs = before.iter().map(|m| m.seq).collect();
                (before, ServerFrame::MessagesRemoved { room, seqs })
            }
        };
        self.hub.invalidate_cache(room);
        if !before.is_empty() {
            self.announce(room, &frame);
            match &frame {
                ServerFrame::MessagesRemoved { seqs, .. } => {
                    for part in seqs.chunks(Note::MAX_SEQS) {
                        self.tell_pool(|from| Note::Removed { from, room, seqs: part.to_vec() }).await;
                    }
                }
                _ => self.tell_pool(|from| Note::Replaced { from, room }).await,
            }
        }
        Ok(before)
    }

    /// Deletes a room's messages up to and including `up_to` (ms since 1970; a time in the
    /// future means now, so the walk ends while people keep posting).
    pub async fn clear_room(&self, actor: &Actor, room: RoomId, up_to: Millis) -> CoreResult<Affected> {
        actor.require_admin()?;
        let (r, _) = self.access(actor, room)?;
        let up_to = up_to.min(self.now());
        let event = self.compliance_event(ComplianceKind::RoomCleared, &r, actor.id(), None, json!({ "up_to": up_to }));
        let mut count = 0;
        loop {
            let n = self.store.clear_room(room, up_to, CONTENT_BATCH, &event).await?;
            count += n;
            self.hub.invalidate_cache(room);
            if n < u64::from(CONTENT_BATCH) {
                break;
            }
        }
        self.announce(room, &ServerFrame::RoomCleared { room, up_to });
        self.tell_pool(|from| Note::Cleared { from, room, up_to }).await;
        Ok(Affected { count })
    }

    /// How many messages `clear_room` would delete now (the original's -WhatIf).
    pub async fn count_clearable(&self, actor: &Actor, room: RoomId, up_to: Millis) -> CoreResult<Affected> {
        actor.require_admin()?;
        self.access(actor, room)?;
        let count = self.store.count_messages_up_to(room, up_to.min(self.now())).await?;
        Ok(Affected { count })
    }

    /// Sends a frame to every connection joined to the room.
    pub(super) fn announce(&self, room: RoomId, frame: &ServerFrame) {
        let bytes = crate::live::encode(frame);
        for conn in self.hub.members(room) {
            conn.send(bytes.clone());
        }
    }
}
