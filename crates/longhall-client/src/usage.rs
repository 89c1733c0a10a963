//! The usage report (`/api/v1/admin/usage`).

use longhall_types::api::{UsageQuery, UsageReport};

use crate::{Client, ClientError, with_query};

impl Client {
    /// Activity in a period: totals, most and least active rooms and users, inactive rooms,
    /// posts per day, week and month (administrators).
    pub async fn usage_report(&self, q: &UsageQuery) -> Result<UsageReport, ClientError> {
        let url = with_query(
            self.admin(&["usage"]),
            &[
                ("since", q.since.map(|v| v.to_string())),
                ("until", q.until.map(|v| v.to_string())),
                ("top", q.top.map(|v| v.to_string())),
                ("inactive_since", q.inactive_since.map(|v| v.to_string())),
            ],
        );
        self.get(url).await
    }
}
