//! What every Lambda function of vpc-flowlogs-recorder does before it asks for its first event:
//! start the runtime's log subscriber, read its own settings, load the SDK configuration with
//! aws-config, and report a cold start that failed to the Runtime API.
//!
//! Every settings reader takes a lookup function rather than the process environment, so the
//! rules are tested with plain maps; the binaries pass [`process_env`].

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

pub use aws_config::SdkConfig;

/// The SDK's own default for establishing a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// One attempt of one call; a hung connection is retried rather than eating the function's time.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);
/// One call with its retries: well inside the shortest function timeout (30 s, template.yaml).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// A setting the environment gives wrongly, named so the operator can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct EnvError {
    pub name: &'static str,
    pub problem: String,
}

/// Looks a variable up in the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// An environment of fixed variables, for code that reads settings outside a Lambda: tests, and
/// the local harness that feeds the functions' own readers.
pub fn fixed_env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A variable that must be set and not blank, trimmed.
pub fn required(env: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<String, EnvError> {
    match env(name) {
        Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        Some(_) => Err(EnvError { name, problem: "is empty".into() }),
        None => Err(EnvError { name, problem: "is not set".into() }),
    }
}

/// The SDK's maintained HTTPS client (hyper and rustls) with ring as rustls' crypto provider, which
/// cross-compiles for arm64 without aws-lc's C build (README, "Costs").
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The timeouts of every SDK call: connect, each attempt, and the whole call with its retries.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// aws-config's defaults (region, credentials, `AWS_ENDPOINT_URL[_<SERVICE>]`, `AWS_MAX_ATTEMPTS`,
/// `AWS_RETRY_MODE`, FIPS and dual-stack settings), with [`https_client`] and [`timeouts`].
pub fn loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client()).timeout_config(timeouts())
}

/// Loads the SDK configuration from the process environment. A missing region fails here, named,
/// rather than at the first call.
pub async fn sdk_config() -> Result<SdkConfig, EnvError> {
    let config = loader().load().await;
    if config.region().is_none() {
        return Err(EnvError { name: "AWS_REGION", problem: "is not set (Lambda sets it for every function)".into() });
    }
    Ok(config)
}

/// A log level the runtime's subscriber does not understand falls back to INFO there; this says so.
fn unknown_level(env: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let (name, level) = [("AWS_LAMBDA_LOG_LEVEL", env("AWS_LAMBDA_LOG_LEVEL")), ("RUST_LOG", env("RUST_LOG"))]
        .into_iter()
        .find_map(|(name, value)| value.filter(|v| !v.trim().is_empty()).map(|v| (name, v)))?;
    let understood =
        level.parse::<tracing::level_filters::LevelFilter>().is_ok() || (name == "RUST_LOG" && level.contains('='));
    (!understood)
        .then(|| format!("{name} {level:?} is not one of trace, debug, info, warn, error, off: logging at INFO"))
}

/// Everything a function does before it asks for its first event: starts the runtime's log
/// subscriber, reads the function's own settings with `settings`, then the SDK configuration. A
/// failure is reported to the Runtime API under `error_type` ([`report_init_error`]) and returned,
/// for `main` to exit with.
pub async fn cold_start<T, E>(
    settings: impl FnOnce(fn(&str) -> Option<String>) -> Result<T, E>,
    error_type: impl Fn(&E) -> &'static str,
) -> Result<(T, SdkConfig), E>
where
    E: From<EnvError> + std::fmt::Display,
{
    lambda_runtime::tracing::init_default_subscriber();
    if let Some(note) = unknown_level(&process_env) {
        tracing::warn!("{note}");
    }
    let started = match settings(process_env) {
        Ok(settings) => sdk_config().await.map(|sdk| (settings, sdk)).map_err(E::from),
        Err(err) => Err(err),
    };
    if let Err(err) = &started {
        report_init_error(error_type(err), &err.to_string()).await;
    }
    started
}

/// Reports a failed cold start the way Lambda expects: the error goes to the Runtime API's
/// `init/error`, so the invoker (Step Functions, CloudFormation) sees `error_type` and the
/// message instead of an opaque exit. lambda_runtime reports only SnapStart's init errors itself.
/// Does nothing outside Lambda.
pub async fn report_init_error(error_type: &str, message: &str) {
    tracing::error!(error_type, error = message, "cold start failed");
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return;
    }
    let diagnostic = serde_json::json!({"errorType": error_type, "errorMessage": message});
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", error_type)
        .body(lambda_runtime_api_client::body::Body::from(diagnostic.to_string()));
    match (lambda_runtime_api_client::Client::builder().build(), request) {
        (Ok(client), Ok(request)) => {
            if let Err(e) = client.call(request).await {
                tracing::error!(error = %e, "could not report the init error to the Runtime API");
            }
        }
        (Err(e), _) => tracing::error!(error = %e, "no Runtime API client to report the init error"),
        (_, Err(e)) => tracing::error!(error = %e, "could not build the init error report"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;
    use aws_credential_types::Credentials;
    use fixed_env as env;

    #[tokio::test]
    async fn the_loader_carries_the_sdks_client_timeouts_and_standard_retries() {
        let config = loader()
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test"))
            .endpoint_url("http://127.0.0.1:5000")
            .load()
            .await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        let credentials = config.credentials_provider().unwrap().provide_credentials().await.unwrap();
        assert_eq!(credentials.session_token(), Some("token"));
        assert_eq!(config.retry_config().unwrap().max_attempts(), 3);
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert!(config.http_client().is_some() && config.sleep_impl().is_some());
    }

    #[test]
    fn required_names_a_missing_or_blank_variable() {
        assert_eq!(required(&env(&[("A", " x ")]), "A"), Ok("x".into()));
        let err = required(&env(&[]), "A").unwrap_err();
        assert_eq!(err.to_string(), "environment variable A: is not set");
        assert_eq!(required(&env(&[("A", " ")]), "A").unwrap_err().problem, "is empty");
    }

    #[test]
    fn a_log_level_the_subscriber_would_ignore_is_said() {
        assert_eq!(unknown_level(&env(&[])), None);
        assert_eq!(unknown_level(&env(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG")])), None);
        assert_eq!(unknown_level(&env(&[("RUST_LOG", "info,aws_smithy_runtime=debug")])), None);
        let note = unknown_level(&env(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL"), ("RUST_LOG", "debug")])).unwrap();
        assert_eq!(
            note,
            "AWS_LAMBDA_LOG_LEVEL \"FATAL\" is not one of trace, debug, info, warn, error, off: logging at INFO"
        );
    }
}
