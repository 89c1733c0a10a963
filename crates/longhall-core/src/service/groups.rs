//! Groups: nested membership of users and groups.

use longhall_types::ErrorCode;
use longhall_types::api::{GroupCheck, GroupUpdate, GroupView, NewGroup, Page};

use super::users::page;
use super::{Actor, Longhall, apply_edit, not_found};
use crate::change::CatalogChange;
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::principal::Principal;
use crate::rules;

/// Group names are written after `group:`, so they can't hold a ':' themselves.
fn check_group_name(name: &str) -> CoreResult<()> {
    rules::check_name("group name", name)?;
    if name.contains(':') {
        return Err(CoreError::invalid("A group name must not contain ':'."));
    }
    Ok(())
}

impl Longhall {
    fn resolve_group_members(&self, written: &[String]) -> CoreResult<Vec<Principal>> {
        let mut list = Vec::new();
        apply_edit(&mut list, None, &[], self.cat().resolve_all(written)?);
        if let Some(bad) = list.iter().find(|p| !matches!(p, Principal::User(_) | Principal::Group(_))) {
            return Err(CoreError::invalid(format!(
                "A group holds users and groups only; {} can't be a member.",
                self.cat().written(bad)
            )));
        }
        Ok(list)
    }

    fn group_view(&self, g: &Group) -> GroupView {
        GroupView { id: g.id, name: g.name.clone(), members: self.cat().written_list(&g.members) }
    }

    pub async fn create_group(&self, actor: &Actor, new: NewGroup) -> CoreResult<GroupView> {
        actor.require_admin()?;
        check_group_name(&new.name)?;
        let _guard = self.write_lock.lock().await;
        if self.cat().group_by_name(&new.name).is_some() {
            return Err(CoreError::new(ErrorCode::NameTaken, format!("The group {} already exists.", new.name)));
        }
        let members = self.resolve_group_members(&new.members)?;
        let mut group = Group { id: 0, name: new.name, members };
        group.id = self.commit_change(actor, CatalogChange::InsertGroup { group: group.clone() }).await?.id;
        drop(_guard);
        // Membership may have changed: every joined connection is checked again.
        self.recheck_all_rooms().await;
        Ok(self.group_view(&group))
    }

    pub async fn update_group(&self, actor: &Actor, name: &str, upd: GroupUpdate) -> CoreResult<GroupView> {
        actor.require_admin()?;
        let _guard = self.write_lock.lock().await;
        let mut group =
            self.cat().group_by_name(name).cloned().ok_or_else(|| not_found(ErrorCode::GroupNotFound, "such group"))?;
        if let Some(n) = upd.name {
            check_group_name(&n)?;
            if self.cat().group_by_name(&n).is_some_and(|g| g.id != group.id) {
                return Err(CoreError::new(ErrorCode::NameTaken, format!("The group {n} already exists.")));
            }
            group.name = n;
        }
        if let Some(edit) = upd.members {
            let replace = edit.replace.as_deref().map(|r| self.resolve_group_members(r)).transpose()?;
            let remove = self.resolve_group_members(&edit.remove)?;
            let add = self.resolve_group_members(&edit.add)?;
            apply_edit(&mut group.members, replace, &remove, add);
        }
        self.commit_change(actor, CatalogChange::UpdateGroup { group: group.clone() }).await?;
        drop(_guard);
        // Membership may have changed: every joined connection is checked again.
        self.recheck_all_rooms().await;
        Ok(self.group_view(&group))
    }

    pub async fn delete_group(&self, actor: &Actor, name: &str) -> CoreResult<()> {
        actor.require_admin()?;
        let _guard = self.write_lock.lock().await;
        let id = self
            .cat()
            .group_by_name(name)
            .map(|g| g.id)
            .ok_or_else(|| not_found(ErrorCode::GroupNotFound, "such group"))?;
        self.commit_change(actor, CatalogChange::DeleteGroup { id }).await?;
        drop(_guard);
        self.recheck_all_rooms().await;
        Ok(())
    }

    /// AffCheck: group cycles, dangling members and list entries, and users whose group
    /// membership in memory differs from what the store holds now.
    pub async fn check_groups(&self, actor: &Actor) -> CoreResult<GroupCheck> {
        actor.require_admin()?;
        let stored = crate::catalog::Catalog::from_data(self.store.load_catalog().await?).0;
        let cat = self.cat();
        let (cycles, dangling_members, dangling_list_entries) = cat.check_groups();
        let mut ids: Vec<UserId> = cat.users.keys().chain(stored.users.keys()).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut membership_differences = Vec::new();
        for id in ids {
            let (memory, store) = (cat.group_names_of(id), stored.group_names_of(id));
            if memory != store {
                let login = cat.author(id).or_else(|| stored.author(id)).map(|u| u.login.clone()).unwrap_or_default();
                membership_differences.push(format!("{login}: memory {memory:?}, store {store:?}"));
            }
        }
        Ok(GroupCheck {
            consistent: dangling_members.is_empty()
                && dangling_list_entries.is_empty()
                && membership_differences.is_empty(),
            cycles,
            dangling_members,
            dangling_list_entries,
            membership_differences,
        })
    }

    pub fn get_group(&self, actor: &Actor, name: &str) -> CoreResult<GroupView> {
        actor.require_admin()?;
        let g =
            self.cat().group_by_name(name).cloned().ok_or_else(|| not_found(ErrorCode::GroupNotFound, "such group"))?;
        Ok(self.group_view(&g))
    }

    pub fn list_groups(
        &self,
        actor: &Actor,
        filter: Option<&str>,
        after: i64,
        limit: u32,
    ) -> CoreResult<Page<GroupView>> {
        actor.require_admin()?;
        crate::rules::check_page_limit(limit)?;
        let f = filter.map(str::to_lowercase);
        let mut groups: Vec<Group> = self
            .cat()
            .groups
            .values()
            .filter(|g| g.id > after)
            .filter(|g| f.as_ref().is_none_or(|f| g.name.to_lowercase().contains(f)))
            .cloned()
            .collect();
        groups.sort_by_key(|g| g.id);
        let views = groups.iter().map(|g| self.group_view(g)).collect();
        Ok(page(views, limit, |g| g.id))
    }
}
