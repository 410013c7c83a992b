//! SNS: the report topic the emails go to.

use aws_sdk_sns::Client;

use crate::error::{RecorderError, Result};
use crate::notify::Email;

/// Publishes emails to the stack's topic.
#[derive(Debug, Clone)]
pub struct Mailer {
    client: Client,
    topic_arn: String,
}

impl Mailer {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into() }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig, topic_arn: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), topic_arn)
    }

    pub async fn send(&self, email: &Email) -> Result<String> {
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&email.subject)
            .message(&email.body)
            .send()
            .await
            .map_err(|e| RecorderError::from_sdk("SNS Publish", e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}
