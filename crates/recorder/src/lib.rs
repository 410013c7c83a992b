//! vpc-flowlogs-recorder: record VPC Flow Logs on a NAT Gateway only while its traffic spikes.
//!
//! The Lambda binaries under `functions/` are thin: they build their clients and read their
//! settings once, then hand each event to a function of [`steps`]. Every decision lives in
//! [`recording`] and [`event`] as plain functions over plain types; the AWS calls live behind
//! one small adapter per service ([`store`], [`flowlogs`], [`tokens`], [`notify`]).

pub mod analysis;
pub mod config;
pub mod error;
pub mod event;
pub mod flowlogs;
pub mod insights;
pub mod notify;
pub mod recording;
pub mod steps;
pub mod store;
pub mod sweep;
pub mod tokens;

pub use error::{RecorderError, Result};

/// Loads the SDK configuration the standard way: region, credentials and `AWS_ENDPOINT_URL`
/// (which points every client at an emulator in local runs) come from the environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The current time; the steps take it as an argument so tests can fix it.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Passes a cold-start setting through, or fails the cold start the way Lambda expects: the
/// error goes to the Runtime API's `init/error` (so the invoker, and Step Functions, see our
/// error name and a message naming the variable), then the process exits with it.
pub async fn settle_init<T>(result: Result<T>) -> std::result::Result<T, lambda_runtime::Error> {
    let err = match result {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    tracing::error!(error = %err, "cold start failed");
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let diagnostic = serde_json::json!({"errorType": err.error_type(), "errorMessage": err.to_string()});
        let request = lambda_runtime_api_client::build_request()
            .method("POST")
            .uri("/2018-06-01/runtime/init/error")
            .header("lambda-runtime-function-error-type", err.error_type())
            .body(lambda_runtime_api_client::body::Body::from(diagnostic.to_string()));
        if let (Ok(client), Ok(request)) = (lambda_runtime_api_client::Client::builder().build(), request) {
            if let Err(e) = client.call(request).await {
                tracing::error!(error = %e, "could not report the init error to the Runtime API");
            }
        }
    }
    Err(err.into())
}

/// Installs the runtime's default `tracing` subscriber: JSON under Lambda's structured logging.
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}

#[cfg(test)]
pub(crate) mod test_fixtures {
    /// A JSON fixture from the repository's `fixtures/` folder.
    pub fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }
}
