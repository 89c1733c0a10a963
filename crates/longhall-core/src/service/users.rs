//! Users: accounts, sites, granted policies; the domains they belong to.

use longhall_types::ErrorCode;
use longhall_types::api::{EffectiveSetting, NewUser, Page, UserEffective, UserRemoved, UserUpdate, UserView};
use longhall_types::limits::MAX_PRINCIPAL_CHARS;

use super::views::user_view;
use super::{Actor, Longhall, auth, not_found};
use crate::change::CatalogChange;
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::principal::{Principal, parse_login};

pub(super) fn check_field(what: &str, v: &str) -> CoreResult<()> {
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
        user.id =
            self.commit_change(actor, CatalogChange::InsertUser { user: user.clone(), password_hash: hash }).await?.id;
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
        let reset = hash.is_some();
        self.commit_change(actor, CatalogChange::UpdateUser { user: user.clone(), password_hash: hash }).await?;
        drop(_guard);
        if reset {
            // A reset password signs out whoever knew the old one (API tokens stay).
            self.revoke_sessions(user.id, None).await?;
        }
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

    /// Removes an account: its tokens (its live connections end), its follows and invitations,
    /// and every list entry naming it (reported). What it posted stays, attributed to its
    /// login; its compliance records stay.
    pub async fn remove_user(&self, actor: &Actor, login: &str) -> CoreResult<UserRemoved> {
        actor.require_admin()?;
        let guard = self.write_lock.lock().await;
        let user =
            self.cat().user_by_login(login).cloned().ok_or_else(|| not_found(ErrorCode::UserNotFound, "such user"))?;
        if user.id == actor.id() {
            return Err(CoreError::invalid("You cannot remove your own account; ask another administrator."));
        }
        let purged = self.cat().lists_naming(&Principal::User(user.id));
        let outcome = self.commit_change(actor, CatalogChange::RemoveUser { id: user.id }).await?;
        drop(guard);
        // Parts its rooms (others see it leave), then ends its connections.
        self.close_user_connections(user.id, false).await;
        for conn in self.hub.connections_of(user.id) {
            conn.close(CoreError::new(ErrorCode::Unauthenticated, "This account was removed by an administrator."));
        }
        if !purged.is_empty() {
            self.recheck_all_rooms().await;
        }
        Ok(UserRemoved { login: user.login, tokens_revoked: outcome.tokens_removed, purged })
    }

    /// A user's effective policy and configuration, each value with the scope that gave it.
    pub fn effective_user(&self, actor: &Actor, login: &str) -> CoreResult<UserEffective> {
        actor.require_admin()?;
        let cat = self.cat();
        let user = cat.user_by_login(login).ok_or_else(|| not_found(ErrorCode::UserNotFound, "such user"))?;
        let tag = user.policy.as_ref().map(|t| Scope::Tag(t.clone()));
        let site = user.site.as_ref().map(|s| Scope::Site(s.clone()));
        let policy = [tag, site.clone(), Some(Scope::Global)].into_iter().flatten().find_map(|s| cat.policies.get(&s));
        let (chat_on, policy_source) =
            policy.map_or((false, "default".to_owned()), |p| (p.enable_persistent_chat, p.scope.to_string()));
        let config = site.iter().chain([&Scope::Global]).find_map(|s| cat.configs.get(s));
        let (c, config_source) = match config {
            Some(c) => (c.clone(), c.scope.to_string()),
            None => (Config::defaults(Scope::Global), "default".to_owned()),
        };
        let setting = |name: &str, value: serde_json::Value, source: &str| EffectiveSetting {
            name: name.into(),
            value,
            source: source.into(),
        };
        let reason = if user.disabled {
            "The account is disabled; enable it (users set --disabled false).".to_owned()
        } else if !chat_on && policy_source == "default" {
            "No policy applies and persistent chat is off by default; set the global, a site or a tag policy."
                .to_owned()
        } else if !chat_on {
            format!("The {policy_source} policy turns persistent chat off.")
        } else {
            format!("The {policy_source} policy turns persistent chat on.")
        };
        Ok(UserEffective {
            login: user.login.clone(),
            site: user.site.clone(),
            granted_policy: user.policy.clone(),
            disabled: user.disabled,
            can_chat: chat_on && !user.disabled,
            reason,
            settings: vec![
                setting("enable_persistent_chat", chat_on.into(), &policy_source),
                setting("default_chat_history", c.default_chat_history.into(), &config_source),
                setting("max_file_size_kb", c.max_file_size_kb.into(), &config_source),
                setting("participant_update_limit", c.participant_update_limit.into(), &config_source),
                setting("room_management_url", c.room_management_url.clone().into(), &config_source),
            ],
        })
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
