//! Room management: create, edit, move, disable, delete; directory search; eligibility.

use std::collections::HashSet;

use longhall_types::ErrorCode;
use longhall_types::api::{
    EligibleUser, NewRoom, Page, Participant, Participants, Privacy, RoomSearch, RoomType, RoomUpdate, RoomUpdated,
    RoomView,
};
use longhall_types::ws::ServerFrame;

use super::categories::{name_taken, resolve_edit};
use super::users::page;
use super::views::room_view;
use super::{Actor, Longhall, apply_edit, not_found};
use crate::catalog::Catalog;
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::principal::Principal;
use crate::rules::{self, Access};

/// Rooms in one directory page when the search names no `limit`.
pub const DEFAULT_ROOM_PAGE: u32 = 100;

fn forbidden_manage() -> CoreError {
    CoreError::new(ErrorCode::Forbidden, "Only the room's managers (or an administrator) may change it.")
}

/// The ethical wall: every principal put on a room's list must be in its category's scope.
fn check_wall(cat: &Catalog, category: &Category, list: &str, principals: &[Principal]) -> CoreResult<()> {
    for p in principals {
        if !rules::in_scope(category, &cat.containers(p)) {
            return Err(CoreError::new(
                ErrorCode::OutOfScope,
                format!(
                    "{} is outside the scope of category \"{}\" and can't be one of the room's {list}; \
                     an administrator can widen the category's allowed members.",
                    cat.written(p),
                    category.name
                ),
            ));
        }
    }
    Ok(())
}

/// Presenters exist only in auditoriums and must be members unless the room is Open.
fn check_presenters(cat: &Catalog, room: &Room, added: &[Principal]) -> CoreResult<()> {
    if added.is_empty() {
        return Ok(());
    }
    if room.room_type != RoomType::Auditorium {
        return Err(CoreError::new(
            ErrorCode::InvalidPresenter,
            "Only auditorium rooms have presenters; make the room an auditorium first.",
        ));
    }
    if room.privacy == Privacy::Open {
        return Ok(());
    }
    for p in added {
        // Covered when a member entry contains it: itself, a group it sits in (transitively),
        // its domain, or everyone.
        let covered = cat.containers(p).iter().any(|c| room.members.contains(c));
        if !covered {
            return Err(CoreError::new(
                ErrorCode::InvalidPresenter,
                format!("{} must be a member of the room before becoming a presenter.", cat.written(p)),
            ));
        }
    }
    Ok(())
}

impl Longhall {
    /// The caller's access to a room, or "not found" when they can't see it at all.
    pub(super) fn access(&self, actor: &Actor, room: RoomId) -> CoreResult<(Room, Access)> {
        let cat = self.cat();
        let r = cat.rooms.get(&room).ok_or_else(|| CoreError::room_not_found(room))?;
        let c = cat.categories.get(&r.category).ok_or_else(|| CoreError::room_not_found(room))?;
        let access = Access::of(c, r, &cat.affiliations(actor.id()), actor.is_admin());
        if !access.can_view() {
            return Err(CoreError::room_not_found(room));
        }
        Ok((r.clone(), access))
    }

    /// The caller's access to a room they may read (join, history, files), or why not.
    pub(super) fn readable(&self, actor: &Actor, room: RoomId) -> CoreResult<(Room, Access)> {
        let (r, access) = self.access(actor, room)?;
        if !access.can_read() {
            return Err(access.read_denied(room));
        }
        Ok((r, access))
    }

    fn view_of(&self, actor: &Actor, room: &Room) -> RoomView {
        let cat = self.cat();
        let access = match cat.categories.get(&room.category) {
            Some(c) => Access::of(c, room, &cat.affiliations(actor.id()), actor.is_admin()),
            None => return RoomView::default(),
        };
        room_view(&cat, &self.hub, room, &access)
    }

    pub fn get_room(&self, actor: &Actor, room: RoomId) -> CoreResult<RoomView> {
        let (r, _) = self.access(actor, room)?;
        Ok(self.view_of(actor, &r))
    }

    /// A room by name, with the same visibility as by id.
    pub fn find_room(&self, actor: &Actor, name: &str) -> CoreResult<RoomView> {
        let id = self.cat().room_by_name(name).map(|r| r.id);
        let id = id.ok_or_else(|| not_found(ErrorCode::RoomNotFound, &format!("room named \"{name}\"")))?;
        self.get_room(actor, id).map_err(|_| not_found(ErrorCode::RoomNotFound, &format!("room named \"{name}\"")))
    }

    pub async fn create_room(&self, actor: &Actor, new: NewRoom) -> CoreResult<RoomView> {
        if !actor.is_admin() {
            self.require_chat(actor)?;
        }
        self.rate_limit(actor, super::throttle::Operation::CreateRoom)?;
        rules::check_name("room name", &new.name)?;
        rules::check_description(&new.description)?;
        let _guard = self.write_lock.lock().await;
        let mut room = {
            let cat = self.cat();
            let category = cat.find_category(&new.category)?.clone();
            if !actor.is_admin() {
                let me = cat.containers(&Principal::User(actor.id()));
                if !category.creators.iter().any(|p| me.contains(p)) || !rules::in_scope(&category, &me) {
                    return Err(CoreError::new(
                        ErrorCode::Forbidden,
                        format!(
                            "You may not create rooms in category \"{}\"; ask an administrator to add you to its creators.",
                            category.name
                        ),
                    ));
                }
            }
            if cat.name_in_use(&new.name, None, None) {
                return Err(name_taken(&new.name));
            }
            let addin = match new.addin.as_deref().filter(|a| !a.is_empty()) {
                Some(a) => Some(
                    cat.addin_by_name(a)
                        .map(|a| a.id)
                        .ok_or_else(|| not_found(ErrorCode::AddinNotFound, "such add-in"))?,
                ),
                None => None,
            };
            let mut managers = cat.resolve_all(&new.managers)?;
            if !actor.is_admin() && !managers.contains(&Principal::User(actor.id())) {
                // A creator becomes a manager. Administrators manage every room already and
                // need not be in the category's scope, so they are not added.
                managers.push(Principal::User(actor.id()));
            }
            let mut room = Room {
                id: 0,
                name: new.name,
                description: new.description,
                category: category.id,
                privacy: new.privacy,
                room_type: new.room_type,
                invitations: new.invitations,
                addin,
                disabled: false,
                members: vec![],
                managers: vec![],
                presenters: vec![],
            };
            apply_edit(&mut room.members, None, &[], cat.resolve_all(&new.members)?);
            apply_edit(&mut room.managers, None, &[], managers);
            check_wall(&cat, &category, "members", &room.members)?;
            check_wall(&cat, &category, "managers", &room.managers)?;
            let presenters = cat.resolve_all(&new.presenters)?;
            check_wall(&cat, &category, "presenters", &presenters)?;
            check_presenters(&cat, &room, &presenters)?;
            apply_edit(&mut room.presenters, None, &[], presenters);
            room
        };
        room.id = self.commit_change(actor, crate::change::CatalogChange::InsertRoom { room: room.clone() }).await?.id;
        drop(_guard);
        self.invite_new_members(actor, &room, &[]).await;
        Ok(self.view_of(actor, &room))
    }

    pub async fn update_room(&self, actor: &Actor, id: RoomId, upd: RoomUpdate) -> CoreResult<RoomUpdated> {
        let _guard = self.write_lock.lock().await;
        let (before, access) = self.access(actor, id)?;
        if !access.can_manage() {
            return Err(forbidden_manage());
        }
        if !actor.is_admin() {
            self.require_chat(actor)?;
        }
        let mut room = before.clone();
        let mut purged = Vec::new();
        {
            let cat = self.cat();
            if let Some(n) = upd.name {
                rules::check_name("room name", &n)?;
                if cat.name_in_use(&n, Some(id), None) {
                    return Err(name_taken(&n));
                }
                room.name = n;
            }
            if let Some(d) = upd.description {
                rules::check_description(&d)?;
                room.description = d;
            }
            room.privacy = upd.privacy.unwrap_or(room.privacy);
            room.room_type = upd.room_type.unwrap_or(room.room_type);
            if room.room_type == RoomType::Normal {
                // Presenters mean something only in an auditorium; kept, they would silently
                // become presenters again if the room were made an auditorium later.
                room.presenters.clear();
            }
            room.invitations = upd.invitations.unwrap_or(room.invitations);
            if let Some(a) = upd.addin {
                room.addin = if a.is_empty() {
                    None
                } else {
                    Some(
                        cat.addin_by_name(&a)
                            .map(|a| a.id)
                            .ok_or_else(|| not_found(ErrorCode::AddinNotFound, "such add-in"))?,
                    )
                };
            }
            match upd.disabled {
                Some(false) if before.disabled && !actor.is_admin() => {
                    return Err(CoreError::new(
                        ErrorCode::AdminRequired,
                        "Only an administrator may enable a disabled room.",
                    ));
                }
                Some(d) => room.disabled = d,
                None => {}
            }
            if let Some(target) = upd.category {
                let target = cat.find_category(&target)?.clone();
                if target.id != room.category {
                    if !actor.is_admin() {
                        let me = cat.containers(&Principal::User(actor.id()));
                        if !target.creators.iter().any(|p| me.contains(p)) || !rules::in_scope(&target, &me) {
                            return Err(CoreError::new(
                                ErrorCode::Forbidden,
                                format!(
                                    "Moving a room needs you to be a creator in category \"{}\"; ask an administrator.",
                                    target.name
                                ),
                            ));
                        }
                    }
                    room.category = target.id;
                    // A move purges every list entry outside the new category's scope.
                    for list in [&mut room.members, &mut room.managers, &mut room.presenters] {
                        list.retain(|p| {
                            let keep = rules::in_scope(&target, &cat.containers(p));
                            // A principal on several lists is reported once.
                            if !keep && !purged.contains(&cat.written(p)) {
                                purged.push(cat.written(p));
                            }
                            keep
                        });
                    }
                }
            }
            let category = cat.categories.get(&room.category).cloned().ok_or_else(|| CoreError::room_not_found(id))?;
            for (edit, list, name) in
                [(&upd.members, &mut room.members, "members"), (&upd.managers, &mut room.managers, "managers")]
            {
                if let Some(e) = edit {
                    let (replace, remove, add) = resolve_edit(&cat, e)?;
                    check_wall(&cat, &category, name, &add)?;
                    check_wall(&cat, &category, name, replace.as_deref().unwrap_or_default())?;
                    apply_edit(list, replace, &remove, add);
                }
            }
            if let Some(e) = &upd.presenters {
                let (replace, remove, add) = resolve_edit(&cat, e)?;
                let mut added: Vec<Principal> = add.clone();
                added.extend(replace.clone().unwrap_or_default());
                check_wall(&cat, &category, "presenters", &added)?;
                check_presenters(&cat, &room, &added)?;
                apply_edit(&mut room.presenters, replace, &remove, add);
            }
        }
        if room != before {
            self.commit_change(actor, crate::change::CatalogChange::UpdateRoom { room: room.clone() }).await?;
        }
        drop(_guard);
        if room.disabled && !before.disabled {
            self.evict_room(&room, ServerFrame::RoomDisabled { room: id }).await;
        } else {
            self.recheck_rooms(&[id]).await;
            self.announce_room_change(&room);
        }
        self.invite_new_members(actor, &room, &before.members).await;
        Ok(RoomUpdated { room: self.view_of(actor, &room), purged })
    }

    /// Deletes a room with its content (administrators only).
    pub async fn delete_room(&self, actor: &Actor, id: RoomId) -> CoreResult<()> {
        actor.require_admin()?;
        let _guard = self.write_lock.lock().await;
        let (room, _) = self.access(actor, id)?;
        let file_keys = self.commit_change(actor, crate::change::CatalogChange::DeleteRoom { id }).await?.removed_files;
        drop(_guard);
        for key in file_keys {
            if let Err(e) = self.files.remove(key).await {
                tracing::warn!(room = id, error = %e, "a deleted room's file could not be removed");
            }
        }
        self.evict_room(&room, ServerFrame::RoomDeleted { room: id }).await;
        self.hub.remove_room(id);
        Ok(())
    }

    /// Tells every joined connection about the room's new settings, each with its own roles.
    pub(super) fn announce_room_change(&self, room: &Room) {
        let cat = self.cat();
        let Some(c) = cat.categories.get(&room.category) else {
            return;
        };
        for conn in self.hub.members(room.id) {
            let admin = cat.users.get(&conn.user).is_some_and(|u| u.admin);
            let access = Access::of(c, room, &cat.affiliations(conn.user), admin);
            let frame = ServerFrame::RoomChanged { room: room_view(&cat, &self.hub, room, &access) };
            conn.send(crate::live::encode(&frame));
        }
    }

    /// Gives an invitation to every user newly entitled by the room's member list, when the
    /// room's invitations are active; pushes it to those online. The caller who made the change
    /// knows already, and users whose policy has persistent chat off can't use one.
    async fn invite_new_members(&self, actor: &Actor, room: &Room, members_before: &[Principal]) {
        let users: Vec<UserId> = {
            let cat = self.cat();
            let Some(category) = cat.categories.get(&room.category) else {
                return;
            };
            if !rules::invitations_active(category, room) || room.disabled {
                return;
            }
            let before: HashSet<UserId> = members_before.iter().flat_map(|p| cat.expand_users(p)).collect();
            let mut after: Vec<UserId> = room
                .members
                .iter()
                .flat_map(|p| cat.expand_users(p))
                .filter(|u| !before.contains(u) && *u != actor.id())
                .filter(|u| cat.users.get(u).is_some_and(|user| cat.effective_policy(user).enable_persistent_chat))
                .filter(|u| Access::of(category, room, &cat.affiliations(*u), false).can_read())
                .collect();
            after.sort_unstable();
            after.dedup();
            after
        };
        if users.is_empty() {
            return;
        }
        match self.store.add_invitations(room.id, &users, self.now()).await {
            Ok(invitations) => {
                let pairs: Vec<(UserId, i64)> = invitations.iter().map(|i| (i.user, i.id)).collect();
                let ts = invitations.first().map_or(0, |i| i.ts);
                for part in pairs.chunks(crate::ports::Note::MAX_SEQS) {
                    let invitations = part.to_vec();
                    self.tell_pool(|from| crate::ports::Note::Invited { from, room: room.id, ts, invitations }).await;
                }
                for inv in invitations {
                    let view = longhall_types::api::InvitationView {
                        id: inv.id,
                        room: room.id,
                        room_name: room.name.clone(),
                        ts: inv.ts,
                    };
                    self.hub.send_to_user(inv.user, &ServerFrame::Invitation(view));
                }
            }
            Err(e) => {
                tracing::error!(room = room.id, error = %e, "invitations could not be stored")
            }
        }
    }

    /// The room directory with visibility rules (administrators see everything).
    pub async fn search_rooms(&self, actor: &Actor, q: &RoomSearch) -> CoreResult<Page<RoomView>> {
        let admin_only =
            q.member.is_some() || q.manager.is_some() || q.disabled.is_some() || q.content_larger_than_mb.is_some();
        if admin_only {
            actor.require_admin()?;
        }
        let limit = q.limit.unwrap_or(DEFAULT_ROOM_PAGE);
        rules::check_page_limit(limit)?;
        let after = q.after.unwrap_or(0);
        // The store keeps each room's content size; only this filter asks it.
        let larger: Option<HashSet<RoomId>> = match q.content_larger_than_mb {
            Some(mb) => {
                let bytes = mb.checked_mul(1 << 20).ok_or_else(|| {
                    CoreError::invalid("content_larger_than_mb is beyond any store; give a smaller number of MB.")
                })?;
                Some(self.store.rooms_larger_than(bytes).await?.into_iter().map(|(id, _)| id).collect())
            }
            None => None,
        };
        let cat = self.cat();
        let aff = cat.affiliations(actor.id());
        let category = q.category.as_deref().map(|c| cat.find_category(c).map(|c| c.id)).transpose()?;
        let addin = match q.addin.as_deref() {
            Some(a) => Some(
                cat.addin_by_name(a).map(|a| a.id).ok_or_else(|| not_found(ErrorCode::AddinNotFound, "such add-in"))?,
            ),
            None => None,
        };
        let member = q.member.as_deref().map(|p| cat.resolve(p)).transpose()?;
        let manager = q.manager.as_deref().map(|p| cat.resolve(p)).transpose()?;
        let text = q.q.as_deref().map(str::to_lowercase);
        let mut rooms: Vec<&Room> = cat
            .rooms
            .values()
            .filter(|r| r.id > after)
            .filter(|r| larger.as_ref().is_none_or(|l| l.contains(&r.id)))
            .filter(|r| q.invitations.is_none_or(|i| r.invitations == i))
            .filter(|r| category.is_none_or(|c| r.category == c))
            .filter(|r| q.privacy.is_none_or(|p| r.privacy == p))
            .filter(|r| q.room_type.is_none_or(|t| r.room_type == t))
            .filter(|r| addin.is_none_or(|a| r.addin == Some(a)))
            .filter(|r| q.disabled.is_none_or(|d| r.disabled == d))
            .filter(|r| member.as_ref().is_none_or(|m| r.members.contains(m)))
            .filter(|r| manager.as_ref().is_none_or(|m| r.managers.contains(m)))
            .filter(|r| {
                text.as_ref()
                    .is_none_or(|t| r.name.to_lowercase().contains(t) || r.description.to_lowercase().contains(t))
            })
            .collect();
        rooms.sort_by_key(|r| r.id);
        let mut views = Vec::new();
        let limit = limit as usize;
        for r in rooms {
            let Some(c) = cat.categories.get(&r.category) else {
                continue;
            };
            let access = Access::of(c, r, &aff, actor.is_admin());
            let visible = if q.managed { access.manager && access.in_scope } else { access.can_find() };
            if visible {
                views.push(room_view(&cat, &self.hub, r, &access));
                if views.len() > limit {
                    break;
                }
            }
        }
        Ok(page(views, limit as u32, |v| v.id))
    }

    /// Who is connected to the room (none listed in a large room).
    pub fn participants(&self, actor: &Actor, room: RoomId) -> CoreResult<Participants> {
        self.require_chat(actor)?;
        self.readable(actor, room)?;
        let (count, large, participants) = self.hub.participants(room);
        Ok(Participants { count, large, participants })
    }

    /// Users who may be put on the room's lists (presenters: who may present), groups expanded.
    pub fn eligible_for_room(
        &self,
        actor: &Actor,
        room: RoomId,
        presenters: bool,
        filter: Option<&str>,
        limit: u32,
    ) -> CoreResult<Vec<EligibleUser>> {
        let (r, access) = self.access(actor, room)?;
        if !access.can_manage() {
            return Err(forbidden_manage());
        }
        rules::check_page_limit(limit)?;
        let cat = self.cat();
        let c = cat.categories.get(&r.category).ok_or_else(|| CoreError::room_not_found(room))?;
        Ok(eligible(&cat, c, filter, limit, |u| {
            !presenters || r.privacy == Privacy::Open || cat.affiliations(u).matches_any(&r.members)
        }))
    }

    /// Users in a category's scope (administrators only).
    pub fn eligible_for_category(
        &self,
        actor: &Actor,
        category: &str,
        filter: Option<&str>,
        limit: u32,
    ) -> CoreResult<Vec<EligibleUser>> {
        actor.require_admin()?;
        rules::check_page_limit(limit)?;
        let cat = self.cat();
        let c = cat.find_category(category)?;
        Ok(eligible(&cat, c, filter, limit, |_| true))
    }
}

fn eligible(
    cat: &Catalog,
    c: &Category,
    filter: Option<&str>,
    limit: u32,
    extra: impl Fn(UserId) -> bool,
) -> Vec<EligibleUser> {
    let f = filter.map(str::to_lowercase);
    let mut ids: Vec<UserId> = c.allowed.iter().flat_map(|p| cat.expand_users(p)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| cat.users.get(&id))
        .filter(|u| !u.disabled)
        .filter(|u| rules::in_scope(c, &cat.containers(&Principal::User(u.id))))
        .filter(|u| f.as_ref().is_none_or(|f| u.login.contains(f) || u.display_name.to_lowercase().contains(f)))
        .filter(|u| extra(u.id))
        .take(limit as usize)
        .map(|u| EligibleUser { login: u.login.clone(), display_name: u.display_name.clone() })
        .collect()
}

impl Longhall {
    pub(super) fn participant_of(&self, user: UserId) -> Participant {
        let cat = self.cat();
        let u = cat.users.get(&user);
        Participant {
            login: u.map(|u| u.login.clone()).unwrap_or_default(),
            display_name: u.map(|u| u.display_name.clone()).unwrap_or_default(),
        }
    }
}
