//! Add-ins: registered web pages a room shows beside its chat.

use longhall_types::ErrorCode;
use longhall_types::api::{AddinUpdate, AddinView, NewAddin};

use super::views::addin_view;
use super::{Actor, Longhall, not_found};
use crate::change::CatalogChange;
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::rules;

impl Longhall {
    pub async fn create_addin(&self, actor: &Actor, new: NewAddin) -> CoreResult<AddinView> {
        actor.require_admin()?;
        rules::check_addin(&new.name, &new.url)?;
        let _guard = self.write_lock.lock().await;
        if self.cat().addin_by_name(&new.name).is_some() {
            return Err(CoreError::new(ErrorCode::NameTaken, format!("The add-in {} already exists.", new.name)));
        }
        let mut addin = Addin { id: 0, name: new.name, url: new.url };
        addin.id = self.commit_change(actor, CatalogChange::InsertAddin { addin: addin.clone() }).await?.id;
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
        self.commit_change(actor, CatalogChange::UpdateAddin { addin: addin.clone() }).await?;
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
        self.commit_change(actor, CatalogChange::DeleteAddin { id }).await?;
        Ok(())
    }

    /// Add-ins are public knowledge to signed-in users (the room-management page lists them).
    pub fn list_addins(&self) -> Vec<AddinView> {
        let mut list: Vec<AddinView> = self.cat().addins.values().map(addin_view).collect();
        list.sort_by_key(|a| a.id);
        list
    }
}
