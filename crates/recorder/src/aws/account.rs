//! IAM: the account's alias, which a report names beside the account id (IAM API Reference,
//! "ListAccountAliases": an account has at most one).

use aws_sdk_iam::Client;
use tracing::warn;

/// Reads the account's alias.
#[derive(Debug, Clone)]
pub struct AccountAlias {
    client: Client,
}

impl AccountAlias {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// IAM is a global service: the SDK sends the call to IAM's endpoint whatever the Region.
    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig) -> Self {
        Self::new(Client::new(sdk))
    }

    /// The alias, or `None` when the account has none or it cannot be read (a service control
    /// policy may deny it): the report then names the id alone, and the log says why.
    pub async fn read(&self) -> Option<String> {
        match self.client.list_account_aliases().send().await {
            Ok(out) => out.account_aliases().first().cloned(),
            Err(e) => {
                warn!(error = %aws_sdk_iam::error::DisplayErrorContext(&e), "the account alias could not be read; the report names the id alone");
                None
            }
        }
    }
}
