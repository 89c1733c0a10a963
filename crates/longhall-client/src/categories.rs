//! Categories, by id or name (`/api/v1/categories`, `/api/v1/admin/categories`).

use longhall_types::api::*;
use reqwest::Method;

use crate::{Client, ClientError, with_query};

impl Client {
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
}

impl Client {
    /// Categories the caller may create rooms in (administrators: all).
    pub async fn categories(&self) -> Result<Vec<CategoryView>, ClientError> {
        self.get(self.api(&["categories"])).await
    }
}
