//! Compliance processing as administrators drive it: the configuration, running now, the run
//! history, testing a stylesheet. The processing itself runs in `longhall-compliance`, behind
//! the [`ComplianceRunner`] port; this file also gives it the directory's view of users and
//! rooms at processing time.

use std::sync::{Arc, Weak};

use longhall_types::ErrorCode;
use longhall_types::api::{
    ComplianceConfigPut, ComplianceConfigView, ComplianceRunReport, ComplianceRunView, StylesheetOutput,
};

use super::views::{compliance_config_view, compliance_run_view};
use super::{Actor, Longhall};
use crate::change::CatalogChange;
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::ports::ComplianceRunner;
use crate::principal::Principal;

/// Longest output folder path and command argument, in characters.
const MAX_PATH_CHARS: usize = 4096;

/// A user as the compliance archive describes them, resolved when events are processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveUser {
    pub user: User,
    /// Names of every group that contains the user, transitively, sorted.
    pub groups: Vec<String>,
}

/// A room as the compliance archive describes it, resolved when events are processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRoom {
    pub room: Room,
    pub category: String,
    /// Whether the room's category keeps chat history.
    pub chat_history: bool,
}

fn not_running() -> CoreError {
    CoreError::new(
        ErrorCode::ComplianceDisabled,
        "This server does not run compliance processing; start it with `longhall serve`.",
    )
}

impl Longhall {
    /// Hands the processor to the services (once; later calls are ignored and return false).
    /// Held weakly: the processor owns this `Longhall`, not the other way round.
    pub fn set_compliance_runner(&self, runner: Weak<dyn ComplianceRunner>) -> bool {
        self.compliance.set(runner).is_ok()
    }

    fn compliance_runner(&self) -> Option<Arc<dyn ComplianceRunner>> {
        self.compliance.get().and_then(Weak::upgrade)
    }

    /// The stored configuration, or the defaults.
    pub async fn compliance_config_or_default(&self) -> CoreResult<ComplianceConfig> {
        Ok(self.store.compliance_config().await?.unwrap_or_default())
    }

    pub async fn get_compliance_config(&self, actor: &Actor) -> CoreResult<ComplianceConfigView> {
        actor.require_admin()?;
        let c = self.compliance_config_or_default().await?;
        Ok(compliance_config_view(&c, &self.settings.compliance_output_dir))
    }

    /// Changes the configuration: every value is checked, and when processing is on the
    /// adapter must accept it, before anything is stored.
    pub async fn put_compliance_config(
        &self,
        actor: &Actor,
        put: ComplianceConfigPut,
    ) -> CoreResult<ComplianceConfigView> {
        actor.require_admin()?;
        let _guard = self.compliance_lock.lock().await;
        let mut c = self.compliance_config_or_default().await?;
        if let Some(v) = put.enabled {
            c.enabled = v;
        }
        if let Some(a) = put.adapter {
            if !COMPLIANCE_ADAPTERS.contains(&a.as_str()) {
                return Err(CoreError::invalid(format!(
                    "\"{a}\" is not a compliance adapter; choose one of {}.",
                    COMPLIANCE_ADAPTERS.join(", ")
                )));
            }
            c.adapter = a;
        }
        if let Some(dir) = put.output_dir {
            c.output_dir = if dir.is_empty() { None } else { Some(check_output_dir(&dir)?) };
        }
        if let Some(v) = put.run_interval_secs {
            let (lo, hi) = ComplianceConfig::RUN_INTERVAL_RANGE;
            crate::rules::check_range("run_interval_secs", v, lo..=hi)?;
            c.run_interval_secs = v;
        }
        c.one_chat_room_per_output_file = put.one_chat_room_per_output_file.unwrap_or(c.one_chat_room_per_output_file);
        c.add_chat_room_details = put.add_chat_room_details.unwrap_or(c.add_chat_room_details);
        c.add_user_details = put.add_user_details.unwrap_or(c.add_user_details);
        c.create_file_attachments_manifest =
            put.create_file_attachments_manifest.unwrap_or(c.create_file_attachments_manifest);
        if let Some(s) = put.custom_configuration {
            c.custom_configuration = if s.trim().is_empty() { None } else { Some(s) };
        }
        if let Some(cmd) = put.command {
            c.command = check_command(cmd)?;
        }
        if c.enabled && c.adapter == "command" && c.command.is_empty() {
            return Err(CoreError::invalid(
                "The command adapter needs a program to run: set command to the program and its arguments.",
            ));
        }
        let runner = self.compliance_runner();
        if c.enabled
            && let Some(r) = &runner
        {
            r.check_config(&c).await?;
        }
        self.commit_change(actor, CatalogChange::PutComplianceConfig { config: c.clone() }).await?;
        drop(_guard);
        if let Some(r) = runner {
            r.config_changed();
        }
        Ok(compliance_config_view(&c, &self.settings.compliance_output_dir))
    }

    /// Runs compliance processing now and reports what it did.
    pub async fn run_compliance_now(&self, actor: &Actor) -> CoreResult<ComplianceRunReport> {
        actor.require_admin()?;
        let runner = self.compliance_runner().ok_or_else(not_running)?;
        let runs = runner.run_now().await?;
        let views: Vec<ComplianceRunView> = runs.iter().map(compliance_run_view).collect();
        Ok(ComplianceRunReport {
            events: runs.iter().filter(|r| r.error.is_none()).map(|r| r.events).sum(),
            files: runs.iter().filter(|r| r.error.is_none()).map(|r| r.files).sum(),
            error: runs.iter().find_map(|r| r.error.clone()),
            runs: views,
        })
    }

    /// The latest runs, newest first.
    pub async fn compliance_runs(&self, actor: &Actor, limit: u32) -> CoreResult<Vec<ComplianceRunView>> {
        actor.require_admin()?;
        crate::rules::check_page_limit(limit)?;
        let runs = self.store.compliance_runs(limit).await?;
        Ok(runs.iter().map(compliance_run_view).collect())
    }

    /// Compliance events waiting to be processed, for monitoring; no caller to check.
    pub async fn compliance_backlog(&self) -> CoreResult<u64> {
        Ok(self.store.next_compliance_batch(u32::MAX).await?.map_or(0, |b| b.events))
    }

    /// The latest processing run, for monitoring (`/metrics`); no caller to check.
    pub async fn last_compliance_run(&self) -> CoreResult<Option<crate::model::ComplianceRun>> {
        Ok(self.store.compliance_runs(1).await?.into_iter().next())
    }

    /// Applies a stylesheet to the sample batch, so an administrator sees its output (or the
    /// line of its first error) before putting it in the configuration.
    pub async fn test_compliance_stylesheet(&self, actor: &Actor, stylesheet: &str) -> CoreResult<StylesheetOutput> {
        actor.require_admin()?;
        if stylesheet.trim().is_empty() {
            return Err(CoreError::invalid("The stylesheet is empty; send the text of an XSLT 1.0 stylesheet."));
        }
        let runner = self.compliance_runner().ok_or_else(not_running)?;
        Ok(StylesheetOutput { output: runner.test_stylesheet(stylesheet).await? })
    }

    // ---- the directory's view, for the processor

    /// A user as it is now, with its groups; `None` if the user no longer exists.
    pub fn archive_user(&self, id: UserId) -> Option<ArchiveUser> {
        let cat = self.cat();
        let user = cat.author(id)?.clone();
        let mut groups: Vec<String> = cat
            .containers(&Principal::User(id))
            .into_iter()
            .filter_map(|p| match p {
                Principal::Group(g) => cat.groups.get(&g).map(|g| g.name.clone()),
                _ => None,
            })
            .collect();
        groups.sort();
        Some(ArchiveUser { user, groups })
    }

    /// A room as it is now, with its category; `None` if the room no longer exists.
    pub fn archive_room(&self, id: RoomId) -> Option<ArchiveRoom> {
        let cat = self.cat();
        let room = cat.rooms.get(&id)?.clone();
        let category = cat.categories.get(&room.category);
        Some(ArchiveRoom {
            category: category.map(|c| c.name.clone()).unwrap_or_default(),
            chat_history: category.is_none_or(|c| c.chat_history),
            room,
        })
    }
}

fn check_output_dir(dir: &str) -> CoreResult<String> {
    if dir.chars().count() > MAX_PATH_CHARS {
        return Err(CoreError::new(
            ErrorCode::TooLong,
            format!("output_dir is limited to {MAX_PATH_CHARS} characters."),
        ));
    }
    if dir.chars().any(char::is_control) || !std::path::Path::new(dir).is_absolute() {
        return Err(CoreError::invalid(format!(
            "output_dir must be an absolute path such as /var/lib/longhall/compliance, not \"{dir}\"."
        )));
    }
    Ok(dir.to_owned())
}

fn check_command(cmd: Vec<String>) -> CoreResult<Vec<String>> {
    if cmd.len() > longhall_types::limits::MAX_LIST_ITEMS {
        return Err(CoreError::new(ErrorCode::TooLong, "A command may have at most 1000 arguments."));
    }
    if cmd.iter().any(|a| a.chars().count() > MAX_PATH_CHARS) {
        return Err(CoreError::new(
            ErrorCode::TooLong,
            format!("Each command argument is limited to {MAX_PATH_CHARS} characters."),
        ));
    }
    if cmd.iter().any(|a| a.contains('\0')) || cmd.first().is_some_and(|p| p.trim().is_empty()) {
        return Err(CoreError::invalid("The command's first entry must name the program to run."));
    }
    Ok(cmd)
}

impl Longhall {
    /// Recorded compliance events after `after` that are still waiting to be processed
    /// (administrators only).
    pub async fn compliance_events(
        &self,
        actor: &Actor,
        after: i64,
        limit: u32,
    ) -> CoreResult<Vec<longhall_types::api::ComplianceEventView>> {
        actor.require_admin()?;
        crate::rules::check_page_limit(limit)?;
        // Only what is still waiting: not what the watermark has passed (processed, not yet
        // pruned) nor a batch under a publishing intent (published, its commit interrupted;
        // recovery completes it without translating it again). The state is read first: it
        // only moves forward, so at worst this shows an event processed a moment ago.
        let state = self.store.compliance_state().await?;
        let done = state.watermark.max(state.intent.map_or(0, |i| i.batch.last));
        let events = self.store.compliance_events(after.max(done), limit).await?;
        Ok(events
            .into_iter()
            .map(|(id, e)| longhall_types::api::ComplianceEventView {
                id,
                kind: e.kind.as_str().to_owned(),
                ts: e.ts,
                room: e.room,
                user: e.user_login,
                seq: e.seq,
                detail: e.detail,
            })
            .collect())
    }
}
