//! Categories: the containers of rooms whose principal lists are the ethical wall.

use longhall_types::ErrorCode;
use longhall_types::api::{CategoryUpdate, CategoryView, ListEdit, NewCategory};

use super::views::category_view;
use super::{Actor, Longhall, apply_edit};
use crate::catalog::Catalog;
use crate::change::CatalogChange;
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

pub(super) fn parse_scope(scope: &str, tags_allowed: bool) -> CoreResult<Scope> {
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
        category.id = self.commit_change(actor, CatalogChange::InsertCategory { category: category.clone() }).await?.id;
        Ok(category_view(&self.cat(), &category))
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
        self.commit_change(actor, CatalogChange::UpdateCategory { category: c.clone() }).await?;
        let rooms: Vec<RoomId> = {
            let cat = self.cat();
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
        self.commit_change(actor, CatalogChange::DeleteCategory { id }).await?;
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

    // ---- policies

    // ---- configuration
}
