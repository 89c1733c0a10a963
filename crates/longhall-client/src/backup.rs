//! Online backup (`/api/v1/admin/backup`): the whole deployment as one archive, streamed.

use reqwest::Method;

use crate::files::Download;
use crate::{Client, ClientError};

impl Client {
    /// Starts downloading a backup of the deployment (administrators). Read it with
    /// [`Download::chunk`]; the archive's format is in docs/operations.md, and
    /// `longhall_core::backup::read_archive` verifies it.
    pub async fn backup(&self) -> Result<Download, ClientError> {
        let resp = self.send(self.request(Method::GET, self.api(&["admin", "backup"]))).await?;
        let size = resp.content_length();
        Ok(Download { content_type: "application/octet-stream".into(), size, base: self.base_url().to_owned(), resp })
    }
}
