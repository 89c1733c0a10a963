//! The administrators' API (`/api/v1/admin/…`): users, domains, groups, categories, add-ins,
//! policies, configuration, content actions, the compliance record and compliance processing.

use longhall_types::api::{
    AddinUpdate, AddinView, Affected, CategoryUpdate, CategoryView, ClearRoom, ComplianceConfigPut,
    ComplianceConfigView, ComplianceEventView, ComplianceRunReport, ComplianceRunView, ConfigPut, ConfigView,
    DomainView, EligibleUser, GroupUpdate, GroupView, NewAddin, NewCategory, NewGroup, NewUser, Page, PolicyPut,
    PolicyView, RemoveMessages, StylesheetOutput, StylesheetTest, UserUpdate, UserView,
};
use reqwest::Method;

use crate::{Client, ClientError, with_query};

/// A page of users or groups (`GET /api/v1/admin/users`, `/groups`).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Text in the login/name or display name.
    pub filter: Option<String>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<i64>,
    /// Page size, 1–500 (server default 100).
    pub limit: Option<u32>,
}

impl ListQuery {
    fn pairs(&self) -> [(&'static str, Option<String>); 3] {
        [
            ("filter", self.filter.clone()),
            ("after", self.after.map(|v| v.to_string())),
            ("limit", self.limit.map(|v| v.to_string())),
        ]
    }
}

impl Client {
    fn admin(&self, segments: &[&str]) -> reqwest::Url {
        let mut all = vec!["admin"];
        all.extend_from_slice(segments);
        self.api(&all)
    }

    async fn delete(&self, url: reqwest::Url) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::DELETE, url)).await
    }

    // ---- users and domains

    pub async fn list_users(&self, q: &ListQuery) -> Result<Page<UserView>, ClientError> {
        self.get(with_query(self.admin(&["users"]), &q.pairs())).await
    }

    pub async fn create_user(&self, req: &NewUser) -> Result<UserView, ClientError> {
        self.send_json(Method::POST, self.admin(&["users"]), req).await
    }

    /// A user by login (users may read their own).
    pub async fn get_user(&self, login: &str) -> Result<UserView, ClientError> {
        self.get(self.admin(&["users", login])).await
    }

    pub async fn update_user(&self, login: &str, req: &UserUpdate) -> Result<UserView, ClientError> {
        self.send_json(Method::PATCH, self.admin(&["users", login]), req).await
    }

    /// The directory's domains, with user counts.
    pub async fn list_domains(&self) -> Result<Vec<DomainView>, ClientError> {
        self.get(self.admin(&["domains"])).await
    }

    // ---- groups

    pub async fn list_groups(&self, q: &ListQuery) -> Result<Page<GroupView>, ClientError> {
        self.get(with_query(self.admin(&["groups"]), &q.pairs())).await
    }

    pub async fn create_group(&self, req: &NewGroup) -> Result<GroupView, ClientError> {
        self.send_json(Method::POST, self.admin(&["groups"]), req).await
    }

    pub async fn get_group(&self, name: &str) -> Result<GroupView, ClientError> {
        self.get(self.admin(&["groups", name])).await
    }

    pub async fn update_group(&self, name: &str, req: &GroupUpdate) -> Result<GroupView, ClientError> {
        self.send_json(Method::PATCH, self.admin(&["groups", name]), req).await
    }

    pub async fn delete_group(&self, name: &str) -> Result<(), ClientError> {
        self.delete(self.admin(&["groups", name])).await
    }

    // ---- categories (by id or name)

    pub async fn create_category(&self, req: &NewCategory) -> Result<CategoryView, ClientError> {
        self.send_json(Method::POST, self.admin(&["categories"]), req).await
    }

    pub async fn get_category(&self, category: &str) -> Result<CategoryView, ClientError> {
        self.get(self.admin(&["categories", category])).await
    }

    pub async fn update_category(&self, category: &str, req: &CategoryUpdate) -> Result<CategoryView, ClientError> {
        self.send_json(Method::PATCH, self.admin(&["categories", category]), req).await
    }

    /// Deletes a category that holds no rooms.
    pub async fn delete_category(&self, category: &str) -> Result<(), ClientError> {
        self.delete(self.admin(&["categories", category])).await
    }

    /// Users in a category's scope (groups and domains expanded).
    pub async fn category_eligible(
        &self,
        category: &str,
        filter: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<EligibleUser>, ClientError> {
        let url = with_query(
            self.admin(&["categories", category, "eligible"]),
            &[("filter", filter.map(str::to_owned)), ("limit", limit.map(|v| v.to_string()))],
        );
        self.get(url).await
    }

    // ---- add-ins

    pub async fn create_addin(&self, req: &NewAddin) -> Result<AddinView, ClientError> {
        self.send_json(Method::POST, self.admin(&["addins"]), req).await
    }

    pub async fn update_addin(&self, name: &str, req: &AddinUpdate) -> Result<AddinView, ClientError> {
        self.send_json(Method::PATCH, self.admin(&["addins", name]), req).await
    }

    /// Removes an add-in no room uses.
    pub async fn delete_addin(&self, name: &str) -> Result<(), ClientError> {
        self.delete(self.admin(&["addins", name])).await
    }

    // ---- policies and configuration (scopes: `global`, `site:<name>`, `tag:<name>`)

    pub async fn list_policies(&self) -> Result<Vec<PolicyView>, ClientError> {
        self.get(self.admin(&["policies"])).await
    }

    pub async fn put_policy(&self, scope: &str, req: &PolicyPut) -> Result<PolicyView, ClientError> {
        self.send_json(Method::PUT, self.admin(&["policies", scope]), req).await
    }

    pub async fn delete_policy(&self, scope: &str) -> Result<(), ClientError> {
        self.delete(self.admin(&["policies", scope])).await
    }

    pub async fn list_config(&self) -> Result<Vec<ConfigView>, ClientError> {
        self.get(self.admin(&["config"])).await
    }

    pub async fn put_config(&self, scope: &str, req: &ConfigPut) -> Result<ConfigView, ClientError> {
        self.send_json(Method::PUT, self.admin(&["config", scope]), req).await
    }

    pub async fn delete_config(&self, scope: &str) -> Result<(), ClientError> {
        self.delete(self.admin(&["config", scope])).await
    }

    // ---- content

    /// Removes or replaces messages of a room; the compliance record keeps the originals.
    pub async fn remove_messages(&self, room: i64, req: &RemoveMessages) -> Result<Affected, ClientError> {
        self.send_json(Method::POST, self.admin(&["rooms", &room.to_string(), "remove-messages"]), req).await
    }

    /// Deletes a room's messages up to and including `up_to` (ms since 1970).
    pub async fn clear_room(&self, room: i64, up_to: i64) -> Result<Affected, ClientError> {
        self.send_json(Method::POST, self.admin(&["rooms", &room.to_string(), "clear"]), &ClearRoom { up_to }).await
    }

    // ---- compliance

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
