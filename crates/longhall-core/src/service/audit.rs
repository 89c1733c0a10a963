//! The audit log as administrators read it (the records are written by `catalog_write`).

use longhall_types::api::{AuditRecordView, Page};

use super::users::page;
use super::{Actor, Longhall};
use crate::change::{AuditQuery, AuditRecord};
use crate::error::{CoreError, CoreResult};

fn audit_view(r: AuditRecord) -> AuditRecordView {
    AuditRecordView {
        id: r.id,
        ts: r.ts,
        actor: r.actor,
        token_id: r.token_id,
        source: r.source,
        noun: r.noun,
        object: r.object,
        object_id: r.object_id,
        operation: r.operation,
        before: r.before,
        after: r.after,
        note: r.note,
    }
}

impl Longhall {
    /// Audit records, oldest first, `limit` after the record `after` (administrators only).
    pub async fn list_audit(&self, actor: &Actor, mut query: AuditQuery) -> CoreResult<Page<AuditRecordView>> {
        actor.require_admin()?;
        crate::rules::check_page_limit(query.limit)?;
        if let (Some(s), Some(u)) = (query.since, query.until)
            && s > u
        {
            return Err(CoreError::invalid("since is after until; swap them or widen the range."));
        }
        let limit = query.limit;
        query.limit = limit.saturating_add(1);
        let records = self.store.audit_records(&query).await?;
        Ok(page(records.into_iter().map(audit_view).collect(), limit, |r| r.id))
    }
}
