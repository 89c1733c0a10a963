//! Readiness (`/readyz`) and the operators' status page: the checks of the store and of every
//! background task, live figures, store sizes and the compliance backlog.

use longhall_types::ErrorCode;
use longhall_types::api::{ComplianceStatus, Readiness, ReadinessCheck, ServerStatus, StorePartSize};

use super::views::compliance_run_view;
use super::{Actor, Longhall};
use crate::error::CoreResult;

const OK: &str = "ok";
const FAILED: &str = "failed";
const ABSENT: &str = "absent";

fn check(name: &str, state: &str, required: bool, detail: String) -> ReadinessCheck {
    ReadinessCheck { name: name.into(), state: state.into(), required, detail }
}

impl Longhall {
    /// Every readiness check: the store takes a durable write, the poster task (group commit)
    /// is alive, the compliance processor's timer loop runs. `status` is `ready` only when every
    /// required check is `ok`; otherwise `code`/`message` say why (`store_unavailable` when the
    /// store fails, else `not_ready`).
    ///
    /// `/readyz` is public: a store error's own text (which may name the data directory's
    /// paths) is logged and given only with `with_errors` (administrators' status).
    pub async fn readiness(&self, with_errors: bool) -> Readiness {
        let store = match self.store.ping().await {
            Ok(()) => check("store", OK, true, "takes durable writes".into()),
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the store does not take writes");
                let detail = if with_errors {
                    e.to_string()
                } else {
                    "the store does not take durable writes (a full disk, a read-only file system or a failing device); the server's log has the details".into()
                };
                check("store", FAILED, true, detail)
            }
        };
        // The poster owns the receiving end: a closed channel means the task has ended.
        let poster = if self.poster.is_closed() {
            check("poster", FAILED, true, "the group-commit task has stopped; posts can't be committed".into())
        } else {
            check("poster", OK, true, "accepting posts".into())
        };
        let processor = match self.compliance.get() {
            None => check("compliance_processor", ABSENT, false, "this server runs no compliance processor".into()),
            Some(weak) => match weak.upgrade().map(|r| r.health()) {
                Some(h) if h.running => {
                    let detail = match h.last_cycle {
                        Some(t) => format!("running; latest cycle ended at {t} (ms since 1970)"),
                        None => "running; no cycle yet".into(),
                    };
                    check("compliance_processor", OK, true, detail)
                }
                _ => check("compliance_processor", FAILED, true, "the compliance processor has stopped".into()),
            },
        };
        let checks = vec![store, poster, processor];
        let failed: Vec<&ReadinessCheck> = checks.iter().filter(|c| c.required && c.state != OK).collect();
        let (code, message) = match failed.first() {
            None => (None, None),
            Some(first) => {
                let code = if first.name == "store" { ErrorCode::StoreUnavailable } else { ErrorCode::NotReady };
                let names: Vec<&str> = failed.iter().map(|c| c.name.as_str()).collect();
                let message = format!(
                    "Not ready: {} failed ({}); see the server's log, free the store's disk or restart the server.",
                    names.join(", "),
                    first.detail
                );
                (Some(code.as_str().to_owned()), Some(message))
            }
        };
        Readiness { status: if code.is_none() { "ready" } else { "not_ready" }.into(), checks, code, message }
    }

    /// What an operator looks at first (administrators): version, uptime, live figures, the
    /// readiness checks, the stores' sizes and the compliance backlog.
    pub async fn status(&self, actor: &Actor) -> CoreResult<ServerStatus> {
        actor.require_admin()?;
        let readiness = self.readiness(true).await;
        let mut store_sizes: Vec<StorePartSize> =
            self.store.sizes().await?.into_iter().map(|(name, bytes)| StorePartSize { name, bytes }).collect();
        let files = self.files.used_bytes().await.map_err(|e| {
            crate::CoreError::new(ErrorCode::StoreUnavailable, format!("The file store can't be read: {e}."))
        })?;
        store_sizes.push(StorePartSize { name: "files".into(), bytes: files });
        let config = self.compliance_config_or_default().await?;
        let waiting_events = self.compliance_backlog().await?;
        let last_run = self.last_compliance_run().await?.as_ref().map(compliance_run_view);
        let (active_rooms, participants) = self.hub.occupancy();
        let now = self.now();
        let pool = self.pool_if_any().await;
        Ok(ServerStatus {
            version: env!("CARGO_PKG_VERSION").into(),
            started: self.started,
            uptime_secs: u64::try_from((now - self.started) / 1000).unwrap_or(0),
            connections: self.hub.connection_count() as u64,
            // `usize::MAX` is the binary's "the open-file limit could not be read".
            max_connections: (self.settings.max_connections != usize::MAX)
                .then(|| u64::try_from(self.settings.max_connections).unwrap_or(u64::MAX)),
            participants,
            active_rooms,
            ready: readiness.status == "ready",
            checks: readiness.checks,
            store_sizes,
            compliance: ComplianceStatus { enabled: config.enabled, waiting_events, last_run },
            pool,
        })
    }
}
