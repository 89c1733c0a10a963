//! Categories, add-ins, policies and configuration: the administrators' catalog.

use longhall_types::ErrorCode;
use longhall_types::api::{
    AddinUpdate, AddinView, CategoryUpdate, CategoryView, ConfigPut, ConfigView, ListEdit, NewAddin, NewCategory,
    PolicyPut, PolicyView,
};

use super::views::{addin_view, category_view, config_view, policy_view};
use super::{Actor, Longhall, apply_edit, not_found};
use crate::catalog::Catalog;
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::principal::Principal;
use crate::rules;

/// A list without repeated entries, in first-seen order.
fn dedup(list: Vec<Principal>) -> Vec<Principal> {
    let mut out = Vec::with_capacity(list.len());
    apply_edit(&mut out, None, &[], list);
    out
}

/// A list edit with its principals resolved: (replace, remove, add).
pub(super) type ResolvedEdit = (Option<Vec<Principal>>, Vec<Principal>, Vec<Principal>);

/// Resolves the three parts of a list edit against the catalog.
pub(super) fn resolve_edit(cat: &Catalog, edit: &ListEdit) -> CoreResult<ResolvedEdit> {
    let replace = edit.replace.as_deref().map(|r| cat.resolve_all(r)).transpose()?;
    Ok((replace, cat.resolve_all(&edit.remove)?, cat.resolve_all(&edit.add)?))
}

pub(super) fn name_taken(name: &str) -> CoreError {
    CoreError::new(
        ErrorCode::NameTaken,
        format!("\"{name}\" is already the name of a room or category; choose another name."),
    )
}

fn parse_scope(scope: &str, tags_allowed: bool) -> CoreResult<Scope> {
    match Scope::parse(scope) {
        Some(Scope::Tag(_)) if !tags_allowed => {
            Err(CoreError::invalid("Configuration has global and site scopes only: write global or site:<name>."))
        }
        Some(s) => Ok(s),
        None => Err(CoreError::invalid(format!(
            "\"{scope}\" is not a scope; write global, site:<name>{}.",
            if tags_allowed { " or tag:<name>" } else { "" }
        ))),
    }
}

impl Longhall {
    // ---- categories

    pub async fn create_category(&self, actor: &Actor, new: NewCategory) -> CoreResult<CategoryView> {
        actor.require_admin()?;
        rules::check_name("category name", &new.name)?;
        rules::check_description(&new.description)?;
        let _guard = self.write_lock.lock().await;
        let mut category = {
            let cat = self.cat();
            if cat.name_in_use(&new.name, None, None) {
                return Err(name_taken(&new.name));
            }
            Category {
                id: 0,
                name: new.name,
                description: new.description,
                invitations: new.invitations,
                file_upload: new.file_upload,
                chat_history: new.chat_history.unwrap_or(true),
                allowed: dedup(cat.resolve_all(&new.allowed_members)?),
                denied: dedup(cat.resolve_all(&new.denied_members)?),
                creators: dedup(cat.resolve_all(&new.creators)?),
            }
        };
        category.id = self.store.insert_category(&category).await?;
        let mut cat = self.cat_mut();
        cat.categories.insert(category.id, category.clone());
        Ok(category_view(&cat, &category))
    }

    pub async fn update_category(
        &self,
        actor: &Actor,
        id_or_name: &str,
        upd: CategoryUpdate,
    ) -> CoreResult<CategoryView> {
        actor.require_admin()?;
        let _guard = self.write_lock.lock().await;
        let mut c = self.cat().find_category(id_or_name)?.clone();
        {
            let cat = self.cat();
            if let Some(n) = upd.name {
                rules::check_name("category name", &n)?;
                if cat.name_in_use(&n, None, Some(c.id)) {
                    return Err(name_taken(&n));
                }
                c.name = n;
            }
            if let Some(d) = upd.description {
                rules::check_description(&d)?;
                c.description = d;
            }
            c.invitations = upd.invitations.unwrap_or(c.invitations);
            c.file_upload = upd.file_upload.unwrap_or(c.file_upload);
            c.chat_history = upd.chat_history.unwrap_or(c.chat_history);
            for (edit, list) in [
                (&upd.allowed_members, &mut c.allowed),
                (&upd.denied_members, &mut c.denied),
                (&upd.creators, &mut c.creators),
            ] {
                if let Some(e) = edit {
                    let (replace, remove, add) = resolve_edit(&cat, e)?;
                    apply_edit(list, replace, &remove, add);
                }
            }
        }
        self.store.update_category(&c).await?;
        let rooms: Vec<RoomId> = {
            let mut cat = self.cat_mut();
            cat.categories.insert(c.id, c.clone());
            cat.rooms.values().filter(|r| r.category == c.id).map(|r| r.id).collect()
        };
        drop(_guard);
        // Scope may have shrunk: whoever lost access is removed from the rooms at once; the
        // rest see the rooms' new settings (file upload, history, invitations).
        self.recheck_rooms(&rooms).await;
        for id in rooms {
            let room = self.cat().rooms.get(&id).cloned();
            if let Some(room) = room {
                self.announce_room_change(&room);
            }
        }
        Ok(category_view(&self.cat(), &c))
    }

    /// Removes a category; only an empty one.
    pub async fn delete_category(&self, actor: &Actor, id_or_name: &str) -> CoreResult<()> {
        actor.require_admin()?;
        let _guard = self.write_lock.lock().await;
        let id = self.cat().find_category(id_or_name)?.id;
        let rooms = self.cat().rooms.values().filter(|r| r.category == id).count();
        if rooms > 0 {
            return Err(CoreError::new(
                ErrorCode::CategoryNotEmpty,
                format!(
                    "The category still holds {rooms} room(s); delete them or move them to another category first."
                ),
            ));
        }
        self.store.delete_category(id).await?;
        self.cat_mut().categories.remove(&id);
        Ok(())
    }

    pub fn get_category(&self, actor: &Actor, id_or_name: &str) -> CoreResult<CategoryView> {
        actor.require_admin()?;
        let cat = self.cat();
        Ok(category_view(&cat, cat.find_category(id_or_name)?))
    }

    /// Administrators see every category; others the ones they may create rooms in.
    pub fn list_categories(&self, actor: &Actor) -> CoreResult<Vec<CategoryView>> {
        let cat = self.cat();
        let me = Principal::User(actor.id());
        let containers = cat.containers(&me);
        let mut list: Vec<CategoryView> = cat
            .categories
            .values()
            .filter(|c| {
                actor.is_admin()
                    || (c.creators.iter().any(|p| containers.contains(p)) && rules::in_scope(c, &containers))
            })
            .map(|c| category_view(&cat, c))
            .collect();
        list.sort_by_key(|c| c.id);
        Ok(list)
    }

    // ---- add-ins

    pub async fn create_addin(&self, actor: &Actor, new: NewAddin) -> CoreResult<AddinView> {
        actor.require_admin()?;
        rules::check_addin(&new.name, &new.url)?;
        let _guard = self.write_lock.lock().await;
        if self.cat().addin_by_name(&new.name).is_some() {
            return Err(CoreError::new(ErrorCode::NameTaken, format!("The add-in {} already exists.", new.name)));
        }
        let mut addin = Addin { id: 0, name: new.name, url: new.url };
        addin.id = self.store.insert_addin(&addin).await?;
        self.cat_mut().addins.insert(addin.id, addin.clone());
        Ok(addin_view(&addin))
    }

    pub async fn update_addin(&self, actor: &Actor, name: &str, upd: AddinUpdate) -> CoreResult<AddinView> {
        actor.require_admin()?;
        let _guard = self.write_lock.lock().await;
        let mut addin = self
            .cat()
            .addin_by_name(name)
            .cloned()
            .ok_or_else(|| not_found(ErrorCode::AddinNotFound, "such add-in"))?;
        if let Some(n) = upd.name {
            if self.cat().addin_by_name(&n).is_some_and(|a| a.id != addin.id) {
                return Err(CoreError::new(ErrorCode::NameTaken, format!("The add-in {n} already exists.")));
            }
            addin.name = n;
        }
        if let Some(u) = upd.url {
            addin.url = u;
        }
        rules::check_addin(&addin.name, &addin.url)?;
        self.store.update_addin(&addin).await?;
        self.cat_mut().addins.insert(addin.id, addin.clone());
        Ok(addin_view(&addin))
    }

    pub async fn delete_addin(&self, actor: &Actor, name: &str) -> CoreResult<()> {
        actor.require_admin()?;
        let _guard = self.write_lock.lock().await;
        let id = self
            .cat()
            .addin_by_name(name)
            .map(|a| a.id)
            .ok_or_else(|| not_found(ErrorCode::AddinNotFound, "such add-in"))?;
        let users = self.cat().rooms.values().filter(|r| r.addin == Some(id)).count();
        if users > 0 {
            return Err(CoreError::new(
                ErrorCode::InUse,
                format!("{users} room(s) still show this add-in; pick another add-in for them first."),
            ));
        }
        self.store.delete_addin(id).await?;
        self.cat_mut().addins.remove(&id);
        Ok(())
    }

    /// Add-ins are public knowledge to signed-in users (the room-management page lists them).
    pub fn list_addins(&self) -> Vec<AddinView> {
        let mut list: Vec<AddinView> = self.cat().addins.values().map(addin_view).collect();
        list.sort_by_key(|a| a.id);
        list
    }

    // ---- policies

    pub async fn put_policy(&self, actor: &Actor, scope: &str, put: PolicyPut) -> CoreResult<PolicyView> {
        actor.require_admin()?;
        let scope = parse_scope(scope, true)?;
        rules::check_description(&put.description)?;
        let policy = Policy { scope, enable_persistent_chat: put.enable_persistent_chat, description: put.description };
        let _guard = self.write_lock.lock().await;
        self.store.put_policy(&policy).await?;
        self.cat_mut().policies.insert(policy.scope.clone(), policy.clone());
        drop(_guard);
        self.recheck_all_rooms().await;
        Ok(policy_view(&policy))
    }

    /// Removes a site or tag policy; removing the global one resets it to "off".
    pub async fn delete_policy(&self, actor: &Actor, scope: &str) -> CoreResult<()> {
        actor.require_admin()?;
        let scope = parse_scope(scope, true)?;
        let _guard = self.write_lock.lock().await;
        if !self.cat().policies.contains_key(&scope) {
            return Err(not_found(ErrorCode::PolicyNotFound, &format!("policy {scope}")));
        }
        self.store.delete_policy(&scope).await?;
        {
            let mut cat = self.cat_mut();
            cat.policies.remove(&scope);
            if let Scope::Tag(t) = &scope {
                // Users granted a removed tag policy fall back to their site or global policy.
                for u in cat.users.values_mut() {
                    if u.policy.as_deref() == Some(t.as_str()) {
                        u.policy = None;
                    }
                }
            }
        }
        drop(_guard);
        self.recheck_all_rooms().await;
        Ok(())
    }

    pub fn list_policies(&self, actor: &Actor) -> CoreResult<Vec<PolicyView>> {
        actor.require_admin()?;
        let mut list: Vec<PolicyView> = self.cat().policies.values().map(policy_view).collect();
        list.sort_by(|a, b| a.scope.cmp(&b.scope));
        Ok(list)
    }

    // ---- configuration

    pub async fn put_config(&self, actor: &Actor, scope: &str, put: ConfigPut) -> CoreResult<ConfigView> {
        actor.require_admin()?;
        let scope = parse_scope(scope, false)?;
        let _guard = self.write_lock.lock().await;
        let mut c = self.cat().configs.get(&scope).cloned().unwrap_or_else(|| Config::defaults(scope.clone()));
        if let Some(v) = put.default_chat_history {
            rules::check_range("default_chat_history", v, rules::CHAT_HISTORY_RANGE)?;
            c.default_chat_history = v;
        }
        if let Some(v) = put.max_file_size_kb {
            rules::check_range("max_file_size_kb", v, rules::MAX_FILE_SIZE_KB_RANGE)?;
            c.max_file_size_kb = v;
        }
        if let Some(v) = put.participant_update_limit {
            rules::check_range("participant_update_limit", v, rules::PARTICIPANT_UPDATE_LIMIT_RANGE)?;
            c.participant_update_limit = v;
        }
        if let Some(v) = put.room_management_url {
            if !v.is_empty() {
                if v.chars().count() > 255 {
                    return Err(CoreError::new(
                        ErrorCode::TooLong,
                        "room_management_url is limited to 255 characters.",
                    ));
                }
                rules::check_http_url("room_management_url", &v)?;
            }
            c.room_management_url = v;
        }
        self.store.put_config(&c).await?;
        self.apply_config(|cat| {
            cat.configs.insert(c.scope.clone(), c.clone());
        });
        Ok(config_view(&c))
    }

    /// Removes a site configuration; removing global resets it to the defaults.
    pub async fn delete_config(&self, actor: &Actor, scope: &str) -> CoreResult<()> {
        actor.require_admin()?;
        let scope = parse_scope(scope, false)?;
        let _guard = self.write_lock.lock().await;
        if !self.cat().configs.contains_key(&scope) {
            return Err(not_found(ErrorCode::ConfigNotFound, &format!("configuration {scope}")));
        }
        self.store.delete_config(&scope).await?;
        self.apply_config(|cat| {
            cat.configs.remove(&scope);
        });
        Ok(())
    }

    fn apply_config(&self, change: impl FnOnce(&mut Catalog)) {
        let mut cat = self.cat_mut();
        change(&mut cat);
        self.hub.set_limits(cat.max_chat_history(), cat.participant_update_limit());
    }

    pub fn list_configs(&self, actor: &Actor) -> CoreResult<Vec<ConfigView>> {
        actor.require_admin()?;
        let cat = self.cat();
        let mut list: Vec<ConfigView> = cat.configs.values().map(config_view).collect();
        if !cat.configs.contains_key(&Scope::Global) {
            list.push(config_view(&Config::defaults(Scope::Global)));
        }
        list.sort_by(|a, b| a.scope.cmp(&b.scope));
        Ok(list)
    }
}
