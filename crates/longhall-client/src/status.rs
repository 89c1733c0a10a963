//! The operators' status page.

use longhall_types::api::ServerStatus;

use crate::{Client, ClientError};

impl Client {
    /// Version, uptime, live figures, readiness checks, store sizes and the compliance backlog
    /// (`GET /api/v1/admin/status`, administrators).
    pub async fn status(&self) -> Result<ServerStatus, ClientError> {
        self.get(self.api(&["admin", "status"])).await
    }
}
