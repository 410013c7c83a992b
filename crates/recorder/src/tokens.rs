//! Resuming a waiting execution with its task token, and asking whether an execution still runs.

use std::sync::{Arc, OnceLock};

use aws_sdk_sfn::{Client, Config};

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

/// A Step Functions client, built now or by the first call that needs one. A function builds the
/// clients its usual invocation calls at cold start, where Lambda runs initialisation; a client it
/// rarely calls waits, since building one is not free: the SDK parses its partition table and
/// compiles its region patterns for each service, about 0.1 ms and 100 KiB (`make bench`).
/// token-register resumes a wait only when the OK came before the token, and the sweep asks
/// about executions only for flow logs and slots it finds, which is rarely any.
#[derive(Debug, Clone)]
enum OnFirstUse {
    Built(Client),
    Later { config: Box<Config>, client: Arc<OnceLock<Client>> },
}

impl OnFirstUse {
    fn now(sdk: &lambda_env::SdkConfig) -> Self {
        Self::Built(Client::new(sdk))
    }

    fn later(sdk: &lambda_env::SdkConfig) -> Self {
        Self::Later { config: Box::new(Config::from(sdk)), client: Arc::default() }
    }

    fn client(&self) -> &Client {
        match self {
            Self::Built(client) => client,
            Self::Later { config, client } => client.get_or_init(|| Client::from_conf(Config::clone(config))),
        }
    }

    #[cfg(test)]
    fn is_built(&self) -> bool {
        match self {
            Self::Built(_) => true,
            Self::Later { client, .. } => client.get().is_some(),
        }
    }
}

/// The one capability the resolver and token-register need from Step Functions.
#[derive(Debug, Clone)]
pub struct Waiters {
    client: OnFirstUse,
}

impl Waiters {
    pub fn new(client: Client) -> Self {
        Self { client: OnFirstUse::Built(client) }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig) -> Self {
        Self { client: OnFirstUse::now(sdk) }
    }

    /// For a function that rarely resumes a wait: the client is built by the first resume.
    pub fn on_first_use(sdk: &lambda_env::SdkConfig) -> Self {
        Self { client: OnFirstUse::later(sdk) }
    }

    /// Sends `output` (JSON) as the result of the wait behind `task_token`.
    pub async fn resume(&self, task_token: &str, output: &serde_json::Value) -> Result<Resume> {
        let result =
            self.client.client().send_task_success().task_token(task_token).output(output.to_string()).send().await;
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
    client: OnFirstUse,
}

impl Executions {
    pub fn new(client: Client) -> Self {
        Self { client: OnFirstUse::Built(client) }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig) -> Self {
        Self { client: OnFirstUse::now(sdk) }
    }

    /// For a function that rarely asks: the client is built by the first question.
    pub fn on_first_use(sdk: &lambda_env::SdkConfig) -> Self {
        Self { client: OnFirstUse::later(sdk) }
    }

    /// `false` for an execution that ended, or that Step Functions does not know.
    pub async fn is_running(&self, execution_arn: &str) -> Result<bool> {
        match self.client.client().describe_execution().execution_arn(execution_arn).send().await {
            Ok(out) => Ok(*out.status() == aws_sdk_sfn::types::ExecutionStatus::Running),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_does_not_exist()) => Ok(false),
            Err(e) => Err(RecorderError::from_sdk("Step Functions DescribeExecution", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk() -> lambda_env::SdkConfig {
        let env = lambda_env::fixed_env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]);
        lambda_env::sdk_config(env).expect("a complete Lambda environment")
    }

    #[test]
    fn a_client_from_the_sdk_config_is_built_by_its_first_use_once_for_every_clone() {
        // Given waiters a function rarely needs, made at cold start, and a clone of them
        let waiters = Waiters::on_first_use(&sdk());
        let clone = waiters.clone();
        assert!(!waiters.client.is_built(), "nothing needed Step Functions yet");

        // When the first call needs the client
        let client = waiters.client.client();

        // Then it is built from the SDK configuration, and the clone uses the same one
        assert_eq!(client.config().region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(clone.client.is_built());
        assert!(std::ptr::eq(client, clone.client.client()));
    }

    #[test]
    fn only_on_first_use_waits_for_a_call() {
        assert!(Executions::new(Client::new(&sdk())).client.is_built());
        assert!(Executions::from_sdk_config(&sdk()).client.is_built());
        assert!(!Executions::on_first_use(&sdk()).client.is_built());
        assert!(Waiters::from_sdk_config(&sdk()).client.is_built());
    }
}
