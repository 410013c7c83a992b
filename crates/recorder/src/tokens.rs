//! Resuming a waiting execution with its task token.

use aws_sdk_sfn::Client;

use crate::error::{RecorderError, Result};

/// What happened to a resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// The waiting execution took the result.
    Resumed,
    /// The token was already closed (timed out, resumed by someone else, or unknown). Nothing is
    /// waiting on it, so there is nothing to retry: AWS answers TaskTimedOut, moto InvalidToken.
    AlreadyResolved,
}

/// The one capability the resolver and token-register need from Step Functions.
#[derive(Debug, Clone)]
pub struct Waiters {
    client: Client,
}

impl Waiters {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(sdk))
    }

    /// Sends `output` (JSON) as the result of the wait behind `task_token`.
    pub async fn resume(&self, task_token: &str, output: &serde_json::Value) -> Result<Resume> {
        let result = self.client.send_task_success().task_token(task_token).output(output.to_string()).send().await;
        match result {
            Ok(_) => Ok(Resume::Resumed),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_task_timed_out() || s.is_invalid_token() || s.is_task_does_not_exist() => {
                    Ok(Resume::AlreadyResolved)
                }
                _ => Err(RecorderError::from_sdk("Step Functions SendTaskSuccess", e)),
            },
        }
    }
}
