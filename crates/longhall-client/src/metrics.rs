//! The server's Prometheus metrics (`/metrics`), as the text a scraper reads.

use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// Every series the server exposes, in the Prometheus text format (docs/operations.md).
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let resp = self.send(self.request(Method::GET, self.url(&["metrics"]))).await?;
        let status = resp.status().as_u16();
        resp.text().await.map_err(|e| ClientError::transport(self.base_url(), status, e))
    }
}
