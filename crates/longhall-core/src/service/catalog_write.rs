//! The one way the catalog changes: `commit_change` writes a change and its audit record to the
//! store in one durable step, then applies the change in memory. Every service that changes
//! the directory, categories, rooms, add-ins, policies, configuration, the compliance
//! configuration or tokens builds a `CatalogChange` and hands it here; the audit record is
//! derived from the change (before and after as wire views), never written by a service.

use std::sync::atomic::Ordering;

use longhall_types::api::{GroupView, TokenView};
use serde_json::{Value, json};

use super::views::{addin_view, category_view, compliance_config_view, config_view, policy_view, user_view};
use super::{Actor, Longhall};
use crate::catalog::Catalog;
use crate::change::{AuditRecord, CatalogChange, ChangeOutcome};
use crate::error::{CoreError, CoreResult, StoreError};
use crate::model::*;
use crate::ports::Note;

fn to_json<T: serde::Serialize>(v: &T) -> Option<Value> {
    serde_json::to_value(v).ok()
}

fn group_json(cat: &Catalog, g: &Group) -> Option<Value> {
    to_json(&GroupView { id: g.id, name: g.name.clone(), members: cat.written_list(&g.members) })
}

/// A room's settings and lists (not its live figures, which change without an administrator).
fn room_json(cat: &Catalog, r: &Room) -> Option<Value> {
    Some(json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "category": cat.categories.get(&r.category).map(|c| c.name.clone()).unwrap_or_default(),
        "privacy": r.privacy,
        "room_type": r.room_type,
        "invitations": r.invitations,
        "addin": r.addin.and_then(|a| cat.addins.get(&a)).map(|a| a.name.clone()),
        "disabled": r.disabled,
        "members": cat.written_list(&r.members),
        "managers": cat.written_list(&r.managers),
        "presenters": cat.written_list(&r.presenters),
    }))
}

fn token_json(cat: &Catalog, t: &TokenRecord) -> Option<Value> {
    to_json(&TokenView {
        id: t.id,
        login: cat.author(t.user).map(|u| u.login.clone()).unwrap_or_default(),
        kind: t.kind.as_str().to_owned(),
        label: t.label.clone(),
        created: t.created,
    })
}

/// What an audit record says about a change: noun, object, id, before, after, note.
struct Described {
    noun: &'static str,
    object: String,
    id: Option<i64>,
    before: Option<Value>,
    after: Option<Value>,
    note: Option<String>,
}

impl Longhall {
    /// Writes `change` with its audit record (who: `actor`, with its token and source address),
    /// then applies it to the in-memory catalog. Callers validate first, holding `write_lock`
    /// when the validation read the catalog.
    pub(super) async fn commit_change(&self, actor: &Actor, change: CatalogChange) -> CoreResult<ChangeOutcome> {
        let record = self.audit_record(actor, &change).await?;
        self.commit(change, Some(&record)).await
    }

    /// As `commit_change` without an audit record: only for sign-in sessions (a token created
    /// by signing in and removed by signing out or by a password change, which is audited).
    pub(super) async fn commit_unaudited(&self, change: CatalogChange) -> CoreResult<ChangeOutcome> {
        self.commit(change, None).await
    }

    async fn commit(&self, change: CatalogChange, record: Option<&AuditRecord>) -> CoreResult<ChangeOutcome> {
        let revised = self.remote.get().is_some() && change.is_logged();
        let outcome = if revised {
            // In a pool: commit only over the newest catalog; behind it, catch up first.
            let _revision = self.revision_lock.lock().await;
            let mut tries = 0;
            loop {
                let at = self.revision.load(Ordering::Acquire);
                match self.store.commit_change_at(&change, record, at).await {
                    Err(StoreError::Stale(_)) if tries < 8 => {
                        tries += 1;
                        let newer = self.apply_logged_changes().await?;
                        // A newer change of the same object: this one was computed from what
                        // it replaced. Any other: the change still stands; commit it again.
                        let clash = newer.iter().any(|c| c.change.object_key() == change.object_key());
                        self.pass_on(newer);
                        if clash {
                            return Err(CoreError::changed_meanwhile());
                        }
                    }
                    Err(e) => return Err(e.into()),
                    Ok(outcome) => {
                        self.apply_in_memory(&change, outcome.id);
                        self.revision.fetch_max(outcome.revision, Ordering::AcqRel);
                        break outcome;
                    }
                }
            }
        } else {
            let outcome = self.store.commit_change(&change, record).await?;
            self.apply_in_memory(&change, outcome.id);
            outcome
        };
        if let Some(link) = self.remote.get()
            && outcome.revision > 0
        {
            link.bus.publish(Note::Catalog { revision: outcome.revision }).await;
        }
        Ok(outcome)
    }

    /// Applies a committed change to the in-memory catalog and the hub.
    pub(super) fn apply_in_memory(&self, change: &CatalogChange, id: i64) {
        {
            let mut cat = self.cat_mut();
            cat.apply(change, id);
            if matches!(change, CatalogChange::PutConfig { .. } | CatalogChange::DeleteConfig { .. }) {
                self.hub.set_limits(cat.max_chat_history(), cat.participant_update_limit());
            }
        }
        if matches!(change, CatalogChange::InsertRoom { .. }) {
            self.hub.add_room(id, 0);
        }
    }

    async fn audit_record(&self, actor: &Actor, change: &CatalogChange) -> CoreResult<AuditRecord> {
        let d = self.describe(change).await?;
        Ok(AuditRecord {
            id: 0,
            ts: self.now(),
            actor: actor.user.login.clone(),
            token_id: actor.token,
            source: actor.source.map(|s| s.to_string()),
            noun: d.noun.into(),
            object: d.object,
            object_id: d.id,
            operation: match (&d.before, &d.after) {
                (None, Some(_)) => "create",
                (Some(_), None) => "delete",
                _ => "update",
            }
            .into(),
            before: d.before,
            after: d.after,
            note: d.note,
        })
    }

    async fn describe(&self, change: &CatalogChange) -> CoreResult<Described> {
        use CatalogChange as C;
        // Read before the catalog lock: these live in the store only.
        let compliance_before = match change {
            C::PutComplianceConfig { .. } => Some(self.store.compliance_config().await?),
            _ => None,
        };
        let token_before = match change {
            C::DeleteToken { id } => self.store.list_tokens(None).await?.into_iter().find(|t| t.id == *id),
            _ => None,
        };
        let cat = self.cat();
        let d = |noun, object: String, id, before, after| Described { noun, object, id, before, after, note: None };
        Ok(match change {
            C::InsertUser { user, password_hash } => Described {
                note: (!password_hash.is_empty()).then(|| "password set".to_owned()),
                ..d("user", user.login.clone(), Some(0), None, to_json(&user_view(user)))
            },
            C::UpdateUser { user, password_hash } => Described {
                note: password_hash.is_some().then(|| "password changed; sign-in sessions ended".to_owned()),
                ..d(
                    "user",
                    user.login.clone(),
                    Some(user.id),
                    cat.users.get(&user.id).and_then(|u| to_json(&user_view(u))),
                    to_json(&user_view(user)),
                )
            },
            C::RemoveUser { id } => {
                let u = cat.users.get(id);
                Described {
                    note: u.map(|u| {
                        let lists = cat.lists_naming(&crate::principal::Principal::User(u.id));
                        if lists.is_empty() {
                            "tokens revoked".to_owned()
                        } else {
                            format!("tokens revoked; removed from {}", lists.join(", "))
                        }
                    }),
                    ..d(
                        "user",
                        u.map(|u| u.login.clone()).unwrap_or_default(),
                        Some(*id),
                        u.and_then(|u| to_json(&user_view(u))),
                        None,
                    )
                }
            }
            C::InsertGroup { group } => d("group", group.name.clone(), Some(0), None, group_json(&cat, group)),
            C::UpdateGroup { group } => {
                let before = cat.groups.get(&group.id);
                d(
                    "group",
                    group.name.clone(),
                    Some(group.id),
                    before.and_then(|g| group_json(&cat, g)),
                    group_json(&cat, group),
                )
            }
            C::DeleteGroup { id } => {
                let g = cat.groups.get(id);
                d(
                    "group",
                    g.map(|g| g.name.clone()).unwrap_or_default(),
                    Some(*id),
                    g.and_then(|g| group_json(&cat, g)),
                    None,
                )
            }
            C::InsertCategory { category } => {
                d("category", category.name.clone(), Some(0), None, to_json(&category_view(&cat, category)))
            }
            C::UpdateCategory { category } => d(
                "category",
                category.name.clone(),
                Some(category.id),
                cat.categories.get(&category.id).and_then(|c| to_json(&category_view(&cat, c))),
                to_json(&category_view(&cat, category)),
            ),
            C::DeleteCategory { id } => {
                let c = cat.categories.get(id);
                d(
                    "category",
                    c.map(|c| c.name.clone()).unwrap_or_default(),
                    Some(*id),
                    c.and_then(|c| to_json(&category_view(&cat, c))),
                    None,
                )
            }
            C::InsertRoom { room } => d("room", room.name.clone(), Some(0), None, room_json(&cat, room)),
            C::UpdateRoom { room } => d(
                "room",
                room.name.clone(),
                Some(room.id),
                cat.rooms.get(&room.id).and_then(|r| room_json(&cat, r)),
                room_json(&cat, room),
            ),
            C::DeleteRoom { id } => {
                let r = cat.rooms.get(id);
                d(
                    "room",
                    r.map(|r| r.name.clone()).unwrap_or_default(),
                    Some(*id),
                    r.and_then(|r| room_json(&cat, r)),
                    None,
                )
            }
            C::InsertAddin { addin } => d("addin", addin.name.clone(), Some(0), None, to_json(&addin_view(addin))),
            C::UpdateAddin { addin } => d(
                "addin",
                addin.name.clone(),
                Some(addin.id),
                cat.addins.get(&addin.id).and_then(|a| to_json(&addin_view(a))),
                to_json(&addin_view(addin)),
            ),
            C::DeleteAddin { id } => {
                let a = cat.addins.get(id);
                d(
                    "addin",
                    a.map(|a| a.name.clone()).unwrap_or_default(),
                    Some(*id),
                    a.and_then(|a| to_json(&addin_view(a))),
                    None,
                )
            }
            C::PutPolicy { policy } => d(
                "policy",
                policy.scope.to_string(),
                None,
                cat.policies.get(&policy.scope).and_then(|p| to_json(&policy_view(p))),
                to_json(&policy_view(policy)),
            ),
            C::DeletePolicy { scope } => d(
                "policy",
                scope.to_string(),
                None,
                cat.policies.get(scope).and_then(|p| to_json(&policy_view(p))),
                None,
            ),
            C::PutConfig { config } => d(
                "chat_config",
                config.scope.to_string(),
                None,
                cat.configs.get(&config.scope).and_then(|c| to_json(&config_view(c))),
                to_json(&config_view(config)),
            ),
            C::DeleteConfig { scope } => d(
                "chat_config",
                scope.to_string(),
                None,
                cat.configs.get(scope).and_then(|c| to_json(&config_view(c))),
                None,
            ),
            C::PutComplianceConfig { config } => {
                let dir = &self.settings.compliance_output_dir;
                // Never set before: the defaults were in force.
                let before = compliance_before.flatten().unwrap_or_default();
                d(
                    "compliance_config",
                    "global".into(),
                    None,
                    to_json(&compliance_config_view(&before, dir)),
                    to_json(&compliance_config_view(config, dir)),
                )
            }
            C::InsertToken { token } => d("token", token.label.clone(), Some(0), None, token_json(&cat, token)),
            C::DeleteToken { id } => d(
                "token",
                token_before.as_ref().map(|t| t.label.clone()).unwrap_or_else(|| id.to_string()),
                Some(*id),
                token_before.as_ref().and_then(|t| token_json(&cat, t)),
                None,
            ),
        })
    }
}
