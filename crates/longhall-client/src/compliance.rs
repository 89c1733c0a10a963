//! The compliance record, its configuration and processing (`/api/v1/admin/compliance`).

use longhall_types::api::*;
use reqwest::Method;

use crate::{Client, ClientError, with_query};

impl Client {
    /// Recorded compliance events with an id greater than `after`, oldest first.
    pub async fn compliance_events(
        &self,
        after: i64,
        limit: Option<u32>,
    ) -> Result<Vec<ComplianceEventView>, ClientError> {
        let url = with_query(
            self.admin(&["compliance", "events"]),
            &[("after", Some(after.to_string())), ("limit", limit.map(|v| v.to_string()))],
        );
        self.get(url).await
    }

    pub async fn get_compliance_config(&self) -> Result<ComplianceConfigView, ClientError> {
        self.get(self.admin(&["compliance", "config"])).await
    }

    pub async fn put_compliance_config(&self, req: &ComplianceConfigPut) -> Result<ComplianceConfigView, ClientError> {
        self.send_json(Method::PUT, self.admin(&["compliance", "config"]), req).await
    }

    /// Processes the waiting compliance events now; answers what the run did.
    pub async fn run_compliance(&self) -> Result<ComplianceRunReport, ClientError> {
        self.call(self.request(Method::POST, self.admin(&["compliance", "run"]))).await
    }

    /// The latest runs, newest first.
    pub async fn compliance_runs(&self, limit: Option<u32>) -> Result<Vec<ComplianceRunView>, ClientError> {
        let url = with_query(self.admin(&["compliance", "runs"]), &[("limit", limit.map(|v| v.to_string()))]);
        self.get(url).await
    }

    /// Applies an XSLT stylesheet to sample compliance data.
    pub async fn test_stylesheet(&self, stylesheet: &str) -> Result<StylesheetOutput, ClientError> {
        let body = StylesheetTest { stylesheet: stylesheet.to_owned() };
        self.send_json(Method::POST, self.admin(&["compliance", "test-stylesheet"]), &body).await
    }
}
