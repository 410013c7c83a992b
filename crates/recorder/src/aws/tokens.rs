//! Resuming a waiting execution with its task token, and asking whether an execution still runs.

use aws_sdk_sfn::Client;

use crate::error::{RecorderError, Result};
use crate::protocol::{Millis, Successor};

/// The name of the execution that records the NAT Gateway's episode at `alarm_at` after a
/// hand-over: at most 80 characters of letters, digits, `-` and `_` (StartExecution's `name`).
pub fn successor_name(nat_gateway_id: &str, alarm_at: Millis) -> String {
    format!("handover-{nat_gateway_id}-{alarm_at}")
}

/// The ARN of that execution on `state_machine_arn`.
pub fn successor_arn(state_machine_arn: &str, nat_gateway_id: &str, alarm_at: Millis) -> String {
    let name = successor_name(nat_gateway_id, alarm_at);
    format!("{}:{name}", state_machine_arn.replacen(":stateMachine:", ":execution:", 1))
}

/// The state machine of an execution ARN (`...:execution:<machine>:<name>`), or a state machine
/// ARN itself.
pub fn state_machine_of(arn: &str) -> Option<String> {
    if arn.contains(":stateMachine:") {
        return Some(arn.to_owned());
    }
    let (machine, _name) = arn.rsplit_once(':')?;
    machine.contains(":execution:").then(|| machine.replacen(":execution:", ":stateMachine:", 1))
}

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

    /// Starts the execution that records an episode nobody records (a hand-over), on the state
    /// machine of `by` (an execution ARN, or the state machine's own). Its name is the NAT Gateway
    /// and the episode, so a retried hand-over, or the sweep's, starts it once: Step Functions
    /// answers the same name and input of a running execution with that execution, and a
    /// finished one with ExecutionAlreadyExists (Step Functions API Reference, "StartExecution"),
    /// which here means it was started before. Returns its ARN, and whether this call started it.
    pub async fn start_successor(
        &self,
        by: &str,
        nat_gateway_id: &str,
        successor: &Successor,
    ) -> Result<(String, bool)> {
        let state_machine = state_machine_of(by).ok_or_else(|| {
            RecorderError::InvalidInput(format!("{by:?} is neither an execution nor a state machine ARN"))
        })?;
        let name = successor_name(nat_gateway_id, successor.alarm_at);
        let arn = successor_arn(&state_machine, nat_gateway_id, successor.alarm_at);
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&state_machine)
            .name(&name)
            .input(&successor.event)
            .send()
            .await;
        match result {
            Ok(out) => Ok((out.execution_arn().to_owned(), true)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_already_exists()) => Ok((arn, false)),
            Err(e) => Err(RecorderError::from_sdk("Step Functions StartExecution (hand-over)", e)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successor_runs_on_the_state_machine_of_the_execution_that_hands_over() {
        let execution = "arn:aws:states:eu-west-1:123456789012:execution:stack-recorder:abc";
        let machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:stack-recorder";
        assert_eq!(state_machine_of(execution).as_deref(), Some(machine));
        assert_eq!(state_machine_of(machine).as_deref(), Some(machine));
        assert_eq!(state_machine_of("arn:aws:lambda:eu-west-1:1:function:f"), None);
    }

    #[test]
    fn a_successor_name_fits_step_functions_rules_for_the_longest_ids() {
        let name = successor_name("nat-0123456789abcdef0", i64::MAX);
        assert!(name.len() <= 80, "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{name}");
    }
}
