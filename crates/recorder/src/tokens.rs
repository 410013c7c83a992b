//! Resuming a waiting execution with its task token, and asking whether an execution still runs.

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
pub struct TaskTokens {
    client: Client,
}

impl TaskTokens {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig) -> Self {
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

/// Whether executions are still running: what the sweep asks before it deletes.
#[derive(Debug, Clone)]
pub struct Executions {
    client: Client,
}

impl Executions {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig) -> Self {
        Self::new(Client::new(sdk))
    }

    /// Stops every running execution of the state machine; returns their ARNs. One that ended
    /// meanwhile is no error.
    pub async fn stop_running(&self, state_machine_arn: &str, cause: &str) -> Result<Vec<String>> {
        let running: Vec<aws_sdk_sfn::types::ExecutionListItem> = self
            .client
            .list_executions()
            .state_machine_arn(state_machine_arn)
            .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| RecorderError::from_sdk("Step Functions ListExecutions", e))?;
        let mut stopped = Vec::new();
        for execution in running {
            let arn = execution.execution_arn();
            match self.client.stop_execution().execution_arn(arn).cause(cause).send().await {
                Ok(_) => stopped.push(arn.to_owned()),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_does_not_exist()) => {}
                Err(e) => return Err(RecorderError::from_sdk("Step Functions StopExecution", e)),
            }
        }
        Ok(stopped)
    }

    /// `false` for an execution that ended, or that Step Functions does not know.
    pub async fn is_running(&self, execution_arn: &str) -> Result<bool> {
        match self.client.describe_execution().execution_arn(execution_arn).send().await {
            Ok(out) => Ok(*out.status() == aws_sdk_sfn::types::ExecutionStatus::Running),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_does_not_exist()) => Ok(false),
            Err(e) => Err(RecorderError::from_sdk("Step Functions DescribeExecution", e)),
        }
    }
}
