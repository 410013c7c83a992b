//! CloudFormation: what this stack says about one of its resources. The uninstall cleanup asks it
//! before acting on a Delete, the one proof that the request is CloudFormation's own: anyone
//! allowed to invoke the sweeper can send a request of the same shape.

use aws_sdk_cloudformation::Client;

use crate::error::{RecorderError, Result};

/// Reads this stack's resources.
#[derive(Debug, Clone)]
pub struct Stack {
    client: Client,
}

impl Stack {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig) -> Self {
        Self::new(Client::new(sdk))
    }

    /// The status of the stack's resource `logical_id` (`DELETE_IN_PROGRESS` while CloudFormation
    /// deletes it): DescribeStackResource, which takes the stack's id and answers for a stack
    /// being deleted (CloudFormation API Reference, "DescribeStackResource").
    pub async fn resource_status(&self, stack_id: &str, logical_id: &str) -> Result<String> {
        let answer = self
            .client
            .describe_stack_resource()
            .stack_name(stack_id)
            .logical_resource_id(logical_id)
            .send()
            .await
            .map_err(|e| RecorderError::from_sdk("CloudFormation DescribeStackResource", e))?;
        let detail = answer.stack_resource_detail();
        Ok(detail.and_then(|d| d.resource_status()).map(|s| s.as_str().to_owned()).unwrap_or_default())
    }
}
