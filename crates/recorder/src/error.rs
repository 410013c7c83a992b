//! One error type for the whole recorder, with stable names the state machine matches on.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

/// Everything that can stop a step of the workflow.
///
/// Each variant maps to a stable `error_type` ([`RecorderError::error_type`]); the ASL's
/// `Retry` and `Catch` blocks match those names, never a Rust type path.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// A setting read at cold start is missing or malformed.
    #[error("environment variable {name}: {problem}")]
    Config { name: &'static str, problem: String },

    /// The step's input is not what the state machine sends.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The NAT Gateway named by the alarm does not exist (or not in this region).
    #[error("NAT Gateway {0} was not found in this account and region; was it deleted?")]
    NatGatewayNotFound(String),

    /// The NAT Gateway exists but has no network interface to record.
    #[error("NAT Gateway {0} has no network interface; is it still being created?")]
    NoNetworkInterface(String),

    /// EC2 refused to create a flow log for at least one interface.
    #[error("could not create flow logs: {0}")]
    FlowLogCreationFailed(String),

    /// This execution no longer owns the NAT Gateway's recording slot.
    #[error("execution {execution} does not own the recording slot of {nat_gateway_id}")]
    SlotNotOwned { nat_gateway_id: String, execution: String },

    /// A call that may succeed when tried again: throttling, a 5xx, a timeout.
    #[error("{operation} failed, worth retrying: {message}")]
    Transient { operation: &'static str, message: String },

    /// The sweep went through everything, but some items failed; the next sweep tries them again.
    #[error("the sweep could not finish {failed} item(s), the first: {first}")]
    SweepIncomplete { failed: usize, first: String },

    /// A request that is not what it says it is (a forged CloudFormation request): nothing was
    /// done and nothing answered.
    #[error("refused: {0}")]
    Refused(String),

    /// A call AWS answered with an error that retrying will not fix.
    #[error("{operation} failed: {message}")]
    Aws { operation: &'static str, message: String },
}

impl RecorderError {
    /// The name Step Functions sees as the task's `Error`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Config { .. } => "ConfigurationError",
            Self::InvalidInput(_) => "InvalidInput",
            Self::NatGatewayNotFound(_) => "NatGatewayNotFound",
            Self::NoNetworkInterface(_) => "NoNetworkInterface",
            Self::FlowLogCreationFailed(_) => "FlowLogCreationFailed",
            Self::SlotNotOwned { .. } => "SlotNotOwned",
            Self::Transient { .. } => "Transient",
            Self::SweepIncomplete { .. } => "SweepIncomplete",
            Self::Refused(_) => "RequestRefused",
            Self::Aws { .. } => "AwsError",
        }
    }

    /// Classifies an SDK error as the SDK's own retry strategy does: throttling and transient
    /// codes (aws-runtime's lists), any 5xx, timeouts and I/O are [`Self::Transient`].
    pub(crate) fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let message = describe_sdk_error(&err);
        let transient = match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(service) => {
                is_transient_code(service.err().code()) || service.raw().status().is_server_error()
            }
            _ => false,
        };
        if transient {
            Self::Transient { operation, message }
        } else {
            Self::Aws { operation, message }
        }
    }
}

/// The error codes the SDK itself retries (aws-runtime's classifier lists).
fn is_transient_code(code: Option<&str>) -> bool {
    code.is_some_and(|code| THROTTLING_ERRORS.contains(&code) || TRANSIENT_ERRORS.contains(&code))
}

/// "Code: message" for a service error, the error chain for anything else.
pub(crate) fn describe_sdk_error<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let status = service.raw().status().as_u16();
            format!(
                "{}: {}",
                inner.code().map(str::to_owned).unwrap_or_else(|| format!("HTTP {status}")),
                inner.message().unwrap_or("no message")
            )
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

impl From<RecorderError> for Diagnostic {
    fn from(err: RecorderError) -> Self {
        Diagnostic { error_type: err.error_type().to_owned(), error_message: err.to_string() }
    }
}

pub type Result<T, E = RecorderError> = std::result::Result<T, E>;

impl From<lambda_env::EnvError> for RecorderError {
    fn from(err: lambda_env::EnvError) -> Self {
        Self::Config { name: err.name, problem: err.problem }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_carry_the_names_the_state_machine_matches() {
        let err = RecorderError::FlowLogCreationFailed("eni-1: Access denied".into());
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "FlowLogCreationFailed");
        assert_eq!(diagnostic.error_message, "could not create flow logs: eni-1: Access denied");
    }

    #[test]
    fn throttling_and_server_faults_are_transient() {
        assert!(is_transient_code(Some("ThrottlingException")));
        assert!(is_transient_code(Some("RequestLimitExceeded")));
        assert!(is_transient_code(Some("EC2ThrottledException")));
        assert!(is_transient_code(Some("SlowDown")));
        assert!(is_transient_code(Some("RequestTimeout")));
        assert!(!is_transient_code(Some("ConditionalCheckFailedException")));
        assert!(!is_transient_code(Some("AccessDenied")));
        assert!(!is_transient_code(None));
    }
}
