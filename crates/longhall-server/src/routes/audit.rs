//! The audit log (administrators).

use axum::extract::State;
use longhall_core::change::AuditQuery;
use longhall_types::ErrorBody;
use longhall_types::api::*;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json, Query};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Login of who made the changes.
    pub actor: Option<String>,
    /// The object: a login, a name, a scope (`site:emea`), or `<noun>:<id>` (`room:12`).
    pub object: Option<String>,
    /// From this time on (milliseconds since 1970-01-01 UTC), inclusive.
    pub since: Option<i64>,
    /// Up to this time, inclusive.
    pub until: Option<i64>,
    /// Cursor: the `next` of the previous page.
    #[serde(default)]
    pub after: i64,
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The audit log, oldest first: one record per administrative change.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditParams),
    responses((status = 200, body = Page<AuditRecordView>), (status = "default", body = ErrorBody)))]
pub async fn audit(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<AuditParams>,
) -> ApiResult<Json<Page<AuditRecordView>>> {
    let query = AuditQuery {
        actor: q.actor.filter(|a| !a.is_empty()),
        object: q.object.filter(|o| !o.is_empty()),
        since: q.since,
        until: q.until,
        after: q.after,
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(s.lh.list_audit(&c.actor, query).await?))
}
