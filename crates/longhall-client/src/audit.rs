//! The audit log (`/api/v1/admin/audit`).

use longhall_types::api::*;

use crate::{Client, ClientError, with_query};

/// A selection of audit records (`GET /api/v1/admin/audit`); every given condition holds.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Login of who made the changes.
    pub actor: Option<String>,
    /// The object: a login, a name, a scope, or `<noun>:<id>` (`room:12`).
    pub object: Option<String>,
    /// From this time on (milliseconds since 1970-01-01 UTC), inclusive.
    pub since: Option<i64>,
    /// Up to this time, inclusive.
    pub until: Option<i64>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<i64>,
    /// Page size, 1–500 (server default 100).
    pub limit: Option<u32>,
}

impl Client {
    /// Audit records, oldest first.
    pub async fn audit(&self, q: &AuditQuery) -> Result<Page<AuditRecordView>, ClientError> {
        let pairs = [
            ("actor", q.actor.clone()),
            ("object", q.object.clone()),
            ("since", q.since.map(|v| v.to_string())),
            ("until", q.until.map(|v| v.to_string())),
            ("after", q.after.map(|v| v.to_string())),
            ("limit", q.limit.map(|v| v.to_string())),
        ];
        self.get(with_query(self.admin(&["audit"]), &pairs)).await
    }
}
