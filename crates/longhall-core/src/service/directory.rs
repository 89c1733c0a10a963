//! Users and groups.

use longhall_types::ErrorCode;
use longhall_types::api::{GroupUpdate, GroupView, NewGroup, NewUser, Page, UserUpdate, UserView};
use longhall_types::limits::MAX_PRINCIPAL_CHARS;

use super::views::user_view;
use super::{Actor, Longhall, apply_edit, auth, not_found};
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::principal::{Principal, parse_login};
use crate::rules;

fn check_field(what: &str, v: &str) -> CoreResult<()> {
    if v.chars().count() > MAX_PRINCIPAL_CHARS {
        return Err(CoreError::new(
            ErrorCode::TooLong,
            format!("The {what} is longer than {MAX_PRINCIPAL_CHARS} characters; shorten it."),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(CoreError::invalid(format!("The {what} must not contain control characters.")));
    }
    Ok(())
}

/// Group names are written after `group:`, so they can't hold a ':' themselves.
fn check_group_name(name: &str) -> CoreResult<()> {
    rules::check_name("group name", name)?;
    if name.contains(':') {
        return Err(CoreError::invalid("A group name must not contain ':'."));
    }
    Ok(())
}

fn opt_site(site: Option<String>) -> Option<String> {
    site.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Longhall {
    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> CoreResult<UserView> {
        actor.require_admin()?;
        let (login, _) = parse_login(&new.login)
            .ok_or_else(|| CoreError::invalid(format!("\"{}\" is not a login; write it as name@domain.", new.login)))?;
        check_field("login", &login)?;
        let display_name = new.display_name.unwrap_or_else(|| login.split('@').next().unwrap_or_default().to_owned());
        let email = new.email.unwrap_or_default();
        for (what, v) in [("display name", &display_name), ("email", &email)] {
            check_field(what, v)?;
        }
        let site = opt_site(new.site);
        if let Some(s) = &site {
            check_field("site", s)?;
        }
        // An account without a password can't sign in with one; it uses API tokens.
        let hash = match new.password {
            Some(p) => {
                auth::check_password(&p, &login)?;
                self.hash_password(p).await?
            }
            None => String::new(),
        };
        let _guard = self.write_lock.lock().await;
        if self.cat().user_by_login(&login).is_some() {
            return Err(CoreError::new(ErrorCode::NameTaken, format!("The login {login} is already taken.")));
        }
        let mut user =
            User { id: 0, login, display_name, email, site, disabled: false, admin: new.admin, policy: None };
        user.id = self.store.insert_user(&user, &hash).await?;
        let mut cat = self.cat_mut();
        cat.logins.insert(user.login.clone(), user.id);
        cat.users.insert(user.id, user.clone());
        Ok(user_view(&user))
    }

    pub async fn update_user(&self, actor: &Actor, login: &str, upd: UserUpdate) -> CoreResult<UserView> {
        actor.require_admin()?;
        let hash = match upd.password {
            Some(p) => {
                auth::check_password(&p, login)?;
                Some(self.hash_password(p).await?)
            }
            None => None,
        };
        let _guard = self.write_lock.lock().await;
        let mut user =
            self.cat().user_by_login(login).cloned().ok_or_else(|| not_found(ErrorCode::UserNotFound, "such user"))?;
        if let Some(v) = upd.display_name {
            check_field("display name", &v)?;
            user.display_name = v;
        }
        if let Some(v) = upd.email {
            check_field("email", &v)?;
            user.email = v;
        }
        if let Some(v) = upd.site {
            check_field("site", &v)?;
            user.site = opt_site(Some(v));
        }
        if let Some(v) = upd.disabled {
            user.disabled = v;
        }
        if let Some(v) = upd.admin {
            if !v && user.id == actor.id() {
                return Err(CoreError::invalid(
                    "You cannot remove your own administrator role; ask another administrator.",
                ));
            }
            user.admin = v;
        }
        if let Some(v) = upd.policy {
            let v = v.trim().to_owned();
            if v.is_empty() {
                user.policy = None;
            } else {
                if !self.cat().policies.contains_key(&Scope::Tag(v.clone())) {
                    return Err(not_found(ErrorCode::PolicyNotFound, &format!("policy tag:{v}; create it first")));
                }
                user.policy = Some(v);
            }
        }
        self.store.update_user(&user).await?;
        if let Some(h) = hash {
            self.store.set_password(user.id, &h).await?;
            // A reset password signs out whoever knew the old one (API tokens stay).
            self.revoke_sessions(user.id, None).await?;
        }
        self.cat_mut().users.insert(user.id, user.clone());
        drop(_guard);
        // A disabled user, or one whose policy is now off, loses every live connection.
        if user.disabled || !self.cat().effective_policy(&user).enable_persistent_chat {
            self.close_user_connections(user.id, user.disabled).await;
        }
        Ok(user_view(&user))
    }

    pub fn get_user(&self, actor: &Actor, login: &str) -> CoreResult<UserView> {
        if !actor.is_admin() && !actor.user.login.eq_ignore_ascii_case(login) {
            return Err(CoreError::admin_required());
        }
        self.cat().user_by_login(login).map(user_view).ok_or_else(|| not_found(ErrorCode::UserNotFound, "such user"))
    }

    /// Users by id, `limit` from after `after`; `filter` matches login or display name.
    pub fn list_users(
        &self,
        actor: &Actor,
        filter: Option<&str>,
        after: i64,
        limit: u32,
    ) -> CoreResult<Page<UserView>> {
        actor.require_admin()?;
        crate::rules::check_page_limit(limit)?;
        let f = filter.map(str::to_lowercase);
        let cat = self.cat();
        let mut users: Vec<&User> = cat
            .users
            .values()
            .filter(|u| u.id > after)
            .filter(|u| f.as_ref().is_none_or(|f| u.login.contains(f) || u.display_name.to_lowercase().contains(f)))
            .collect();
        users.sort_by_key(|u| u.id);
        Ok(page(users.into_iter().map(user_view).collect(), limit, |u| u.id))
    }

    /// The domains of the directory's users, with how many users each holds.
    pub fn list_domains(&self, actor: &Actor) -> CoreResult<Vec<longhall_types::api::DomainView>> {
        actor.require_admin()?;
        let mut counts = std::collections::BTreeMap::<String, u32>::new();
        for u in self.cat().users.values() {
            *counts.entry(u.domain().to_owned()).or_default() += 1;
        }
        Ok(counts.into_iter().map(|(domain, users)| longhall_types::api::DomainView { domain, users }).collect())
    }

    // ---- groups

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
        group.id = self.store.insert_group(&group).await?;
        self.apply_group(&group);
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
        self.store.update_group(&group).await?;
        self.apply_group(&group);
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
        self.store.delete_group(id).await?;
        {
            let gone = Principal::Group(id);
            let mut cat = self.cat_mut();
            cat.groups.remove(&id);
            for g in cat.groups.values_mut() {
                g.members.retain(|p| *p != gone);
            }
            for c in cat.categories.values_mut() {
                for l in [&mut c.allowed, &mut c.denied, &mut c.creators] {
                    l.retain(|p| *p != gone);
                }
            }
            for r in cat.rooms.values_mut() {
                for l in [&mut r.members, &mut r.managers, &mut r.presenters] {
                    l.retain(|p| *p != gone);
                }
            }
            cat.reindex_groups();
        }
        drop(_guard);
        self.recheck_all_rooms().await;
        Ok(())
    }

    /// Applies a stored group to the catalog (call under the write lock).
    fn apply_group(&self, group: &Group) {
        let mut cat = self.cat_mut();
        cat.groups.insert(group.id, group.clone());
        cat.reindex_groups();
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

/// Cuts a sorted list to a page and sets the cursor when more remain.
pub(super) fn page<T>(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Page<T> {
    let limit = limit.clamp(1, longhall_types::limits::MAX_PAGE) as usize;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(&id)
    } else {
        None
    };
    Page { items, next }
}
