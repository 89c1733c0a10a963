//! Persistent-chat policies at global, site and tag scope.

use longhall_types::ErrorCode;
use longhall_types::api::{PolicyPut, PolicyView};

use super::categories::parse_scope;
use super::views::policy_view;
use super::{Actor, Longhall, not_found};
use crate::change::CatalogChange;
use crate::error::CoreResult;
use crate::model::*;
use crate::rules;

impl Longhall {
    pub async fn put_policy(&self, actor: &Actor, scope: &str, put: PolicyPut) -> CoreResult<PolicyView> {
        actor.require_admin()?;
        let scope = parse_scope(scope, true)?;
        rules::check_description(&put.description)?;
        let policy = Policy { scope, enable_persistent_chat: put.enable_persistent_chat, description: put.description };
        let _guard = self.write_lock.lock().await;
        self.commit_change(actor, CatalogChange::PutPolicy { policy: policy.clone() }).await?;
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
        self.commit_change(actor, CatalogChange::DeletePolicy { scope }).await?;
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
}
