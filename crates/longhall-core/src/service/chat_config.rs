//! The chat configuration at global and site scope (ranges validated).

use longhall_types::ErrorCode;
use longhall_types::api::{ConfigPut, ConfigView};

use super::categories::parse_scope;
use super::views::config_view;
use super::{Actor, Longhall, not_found};
use crate::change::CatalogChange;
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::rules;

impl Longhall {
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
        self.commit_change(actor, CatalogChange::PutConfig { config: c.clone() }).await?;
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
        self.commit_change(actor, CatalogChange::DeleteConfig { scope }).await?;
        Ok(())
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
