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

    /// A client in the topic's Region: a central topic (ReportTopicArn) may live in another
    /// Region than the stack, and SNS takes a Publish only in the topic's own (SNS API
    /// Reference, "Publish": "TopicArn ... in the same Region").
    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig, topic_arn: impl Into<String>) -> Self {
        let topic_arn = topic_arn.into();
        let mut config = aws_sdk_sns::config::Builder::from(sdk);
        if let Some(region) = topic_region(&topic_arn).filter(|r| Some(*r) != sdk.region().map(|r| r.as_ref())) {
            config = config.region(aws_sdk_sns::config::Region::new(region.to_owned()));
        }
        Self::new(Client::from_conf(config.build()), topic_arn)
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

/// The Region of a topic ARN (`arn:<partition>:sns:<region>:<account>:<name>`).
fn topic_region(topic_arn: &str) -> Option<&str> {
    match topic_arn.split(':').collect::<Vec<_>>()[..] {
        ["arn", _, "sns", region, _, _] if !region.is_empty() => Some(region),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topics_region_comes_from_its_arn() {
        assert_eq!(topic_region("arn:aws:sns:eu-west-1:111122223333:reports"), Some("eu-west-1"));
        assert_eq!(topic_region("arn:aws-cn:sns:cn-north-1:111122223333:r"), Some("cn-north-1"));
        assert_eq!(topic_region("reports"), None);
    }
}
