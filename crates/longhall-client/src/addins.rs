//! Add-ins (`/api/v1/addins`, `/api/v1/admin/addins`).

use longhall_types::api::*;
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
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
}

impl Client {
    /// Registered add-ins.
    pub async fn addins(&self) -> Result<Vec<AddinView>, ClientError> {
        self.get(self.api(&["addins"])).await
    }
}
