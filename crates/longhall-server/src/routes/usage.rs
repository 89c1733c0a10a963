//! The usage report (administrators).

use axum::extract::State;
use longhall_types::ErrorBody;
use longhall_types::api::{UsageQuery, UsageReport};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Json, Query};

/// Activity in a period: totals, most and least active rooms and users, inactive rooms, and
/// posts per day, week and month.
#[utoipa::path(get, path = "/api/v1/admin/usage", tag = "admin", security(("bearer" = [])), params(UsageQuery),
    responses((status = 200, body = UsageReport), (status = "default", body = ErrorBody)))]
pub async fn usage_report(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<UsageQuery>,
) -> ApiResult<Json<UsageReport>> {
    Ok(Json(s.lh.usage_report(&c.actor, q).await?))
}
