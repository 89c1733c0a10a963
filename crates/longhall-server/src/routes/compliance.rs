//! The compliance record, its configuration, processing runs and the stylesheet test.

use axum::extract::State;
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
pub struct EventParams {
    /// Only events with a greater id.
    #[serde(default)]
    pub after: i64,
    /// At most this many, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Recorded compliance events, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/compliance/events", tag = "admin", security(("bearer" = [])), params(EventParams),
    responses((status = 200, body = Vec<ComplianceEventView>), (status = "default", body = ErrorBody)))]
pub async fn compliance_events(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<EventParams>,
) -> ApiResult<Json<Vec<ComplianceEventView>>> {
    Ok(Json(s.lh.compliance_events(&c.actor, q.after, q.limit.unwrap_or(100)).await?))
}

/// How compliance events are processed.
#[utoipa::path(get, path = "/api/v1/admin/compliance/config", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ComplianceConfigView), (status = "default", body = ErrorBody)))]
pub async fn get_compliance_config(State(s): State<AppState>, c: Caller) -> ApiResult<Json<ComplianceConfigView>> {
    Ok(Json(s.lh.get_compliance_config(&c.actor).await?))
}

/// Change how compliance events are processed (values checked; with processing on, the adapter
/// must accept the configuration).
#[utoipa::path(put, path = "/api/v1/admin/compliance/config", tag = "admin", security(("bearer" = [])),
    request_body = ComplianceConfigPut, responses((status = 200, body = ComplianceConfigView), (status = "default", body = ErrorBody)))]
pub async fn put_compliance_config(
    State(s): State<AppState>,
    c: Caller,
    Json(req): Json<ComplianceConfigPut>,
) -> ApiResult<Json<ComplianceConfigView>> {
    Ok(Json(s.lh.put_compliance_config(&c.actor, req).await?))
}

/// Process the waiting compliance events now; answers what the run did.
#[utoipa::path(post, path = "/api/v1/admin/compliance/run", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ComplianceRunReport), (status = "default", body = ErrorBody)))]
pub async fn run_compliance(State(s): State<AppState>, c: Caller) -> ApiResult<Json<ComplianceRunReport>> {
    Ok(Json(s.lh.run_compliance_now(&c.actor).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    /// At most this many, 1–500 (default 20).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The latest compliance runs, newest first.
#[utoipa::path(get, path = "/api/v1/admin/compliance/runs", tag = "admin", security(("bearer" = [])), params(RunParams),
    responses((status = 200, body = Vec<ComplianceRunView>), (status = "default", body = ErrorBody)))]
pub async fn compliance_runs(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<RunParams>,
) -> ApiResult<Json<Vec<ComplianceRunView>>> {
    Ok(Json(s.lh.compliance_runs(&c.actor, q.limit.unwrap_or(20)).await?))
}

/// Apply an XSLT stylesheet to sample compliance data: its output, or the error naming the line.
#[utoipa::path(post, path = "/api/v1/admin/compliance/test-stylesheet", tag = "admin", security(("bearer" = [])),
    request_body = StylesheetTest, responses((status = 200, body = StylesheetOutput), (status = "default", body = ErrorBody)))]
pub async fn test_stylesheet(
    State(s): State<AppState>,
    c: Caller,
    Json(req): Json<StylesheetTest>,
) -> ApiResult<Json<StylesheetOutput>> {
    Ok(Json(s.lh.test_compliance_stylesheet(&c.actor, &req.stylesheet).await?))
}
