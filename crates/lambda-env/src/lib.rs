//! What every Lambda function of vpc-flowlogs-recorder builds from its environment at cold start:
//! the AWS SDK configuration, the log subscriber, and the report of a cold start that failed.
//!
//! Lambda hands a function everything the SDK needs in environment variables: the region, the
//! execution role's credentials and, in local runs, an emulator's endpoint. So the functions read
//! those directly rather than running aws-config's provider chains (profile files, IMDS, ECS, SSO,
//! STS), none of which applies inside Lambda: less code to load, and nothing to do before the
//! function can ask for its first event. Every reader takes a lookup function, so the rules are
//! tested with plain maps; the binaries pass [`process_env`].

mod http;

use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
pub use aws_types::SdkConfig;
pub use http::https_client;
use tracing_subscriber::filter::LevelFilter;

/// The SDK's own default for establishing a connection (aws-config uses the same).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

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

/// A variable that may be absent; blank counts as absent.
fn optional(env: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

/// The SDK configuration of a function: `AWS_REGION`, the execution role's `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, and `AWS_ENDPOINT_URL` when one is set (the
/// local stack points every client at its emulator with it). Standard retries (3 attempts,
/// exponential backoff with jitter) and the SDK's connect timeout, as aws-config would set them.
/// All clients built from it share one HTTPS client ([`https_client`]).
pub fn sdk_config(env: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, EnvError> {
    let region = required(&env, "AWS_REGION")?;
    let credentials = Credentials::new(
        required(&env, "AWS_ACCESS_KEY_ID")?,
        required(&env, "AWS_SECRET_ACCESS_KEY")?,
        optional(&env, "AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(https_client())
        .retry_config(RetryConfig::standard())
        .timeout_config(TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).build())
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::default());
    if let Some(url) = optional(&env, "AWS_ENDPOINT_URL") {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(EnvError { name: "AWS_ENDPOINT_URL", problem: format!("{url:?} is not an http(s) URL") });
        }
        config = config.endpoint_url(url);
    }
    Ok(config.build())
}

/// The level to log at: Lambda's `AWS_LAMBDA_LOG_LEVEL` (set by the function's LoggingConfig),
/// else `RUST_LOG`, else INFO. One level for everything; FATAL, which Lambda accepts and
/// `tracing` has not, means ERROR.
pub fn log_level(env: &impl Fn(&str) -> Option<String>) -> Result<LevelFilter, EnvError> {
    let (name, text) = match (optional(env, "AWS_LAMBDA_LOG_LEVEL"), optional(env, "RUST_LOG")) {
        (Some(level), _) => ("AWS_LAMBDA_LOG_LEVEL", level),
        (None, Some(level)) => ("RUST_LOG", level),
        (None, None) => return Ok(LevelFilter::INFO),
    };
    match text.to_ascii_lowercase().as_str() {
        "trace" => Ok(LevelFilter::TRACE),
        "debug" => Ok(LevelFilter::DEBUG),
        "info" => Ok(LevelFilter::INFO),
        "warn" => Ok(LevelFilter::WARN),
        "error" | "fatal" => Ok(LevelFilter::ERROR),
        "off" => Ok(LevelFilter::OFF),
        _ => Err(EnvError {
            name,
            problem: format!("{text:?} is not one of trace, debug, info, warn, error, fatal, off"),
        }),
    }
}

/// Installs the log subscriber: JSON lines when Lambda's `AWS_LAMBDA_LOG_FORMAT` is JSON, text
/// otherwise; no timestamps (Lambda adds them). A bad level is returned, and logging still
/// starts at INFO so the error that follows can be seen.
pub fn init_logging(env: impl Fn(&str) -> Option<String>) -> Result<(), EnvError> {
    let level = log_level(&env);
    let json = optional(&env, "AWS_LAMBDA_LOG_FORMAT").is_some_and(|format| format.eq_ignore_ascii_case("json"));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(*level.as_ref().unwrap_or(&LevelFilter::INFO))
        .with_target(false)
        .without_time();
    if json {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
    if let Some(note) =
        level.as_ref().ok().and_then(|&level| beyond_build(level, tracing::level_filters::STATIC_MAX_LEVEL))
    {
        tracing::warn!("{note}");
    }
    level.map(drop)
}

/// Release builds record INFO at most: the workspace's `Cargo.toml` turns on tracing's
/// `release_max_level_info`, which leaves every dependency's DEBUG and TRACE events out of the
/// binaries (~0.3 MiB less resident memory per function in `make bench`). A function's
/// LoggingConfig may still ask for more; that is not an error, but it is said at start-up.
fn beyond_build(level: LevelFilter, compiled: LevelFilter) -> Option<String> {
    (level > compiled).then(|| {
        let (level, compiled) = (level.to_string().to_ascii_uppercase(), compiled.to_string().to_ascii_uppercase());
        format!(
            "log level {level} asks for more than this build records ({compiled}): release builds leave \
             DEBUG and TRACE events out (tracing's release_max_level_info in Cargo.toml)"
        )
    })
}

/// Everything a function does before it asks for its first event, from the process environment:
/// starts logging, reads the function's own settings with `settings`, then the SDK configuration.
/// A failure fails the cold start the way Lambda expects: it is reported to the Runtime API with
/// `error_type` (see [`report_init_error`]) and returned, for `main` to exit with.
pub async fn cold_start<T, E>(
    settings: impl FnOnce(fn(&str) -> Option<String>) -> Result<T, E>,
    error_type: impl Fn(&E) -> &'static str,
) -> Result<(T, SdkConfig), E>
where
    E: From<EnvError> + std::fmt::Display,
{
    let env = process_env;
    let started = init_logging(env).map_err(E::from).and_then(|()| Ok((settings(env)?, sdk_config(env)?)));
    if let Err(err) = &started {
        report_init_error(error_type(err), &err.to_string()).await;
    }
    started
}

/// Reports a failed cold start the way Lambda expects: the error goes to the Runtime API's
/// `init/error`, so the invoker (Step Functions, CloudFormation) sees `error_type` and the
/// message instead of an opaque exit. Does nothing outside Lambda.
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
    use super::fixed_env as env;
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
    ];

    fn lambda_with(name: &str, value: Option<&str>) -> impl Fn(&str) -> Option<String> {
        let mut pairs: Vec<(&str, &str)> = LAMBDA.iter().copied().filter(|(k, _)| *k != name).collect();
        if let Some(value) = value {
            pairs.push((name, value));
        }
        env(&pairs)
    }

    #[tokio::test]
    async fn the_sdk_config_carries_lambdas_region_and_role_credentials() {
        let config = sdk_config(env(LAMBDA)).unwrap();
        assert_eq!(config.region().map(Region::as_ref), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), None);
        let credentials = config.credentials_provider().unwrap().provide_credentials().await.unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert_eq!(credentials.session_token(), Some("token"));
        assert_eq!(config.retry_config().unwrap().max_attempts(), 3);
        assert_eq!(config.timeout_config().unwrap().connect_timeout(), Some(CONNECT_TIMEOUT));
        assert!(config.http_client().is_some() && config.sleep_impl().is_some());
    }

    #[test]
    fn an_endpoint_url_points_every_client_at_an_emulator() {
        let config = sdk_config(lambda_with("AWS_ENDPOINT_URL", Some("http://127.0.0.1:5000"))).unwrap();
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        let err = sdk_config(lambda_with("AWS_ENDPOINT_URL", Some("127.0.0.1:5000"))).unwrap_err();
        assert_eq!(err.name, "AWS_ENDPOINT_URL");
        assert!(err.problem.contains("\"127.0.0.1:5000\""), "{err}");
    }

    #[test]
    fn a_session_token_is_optional_but_region_and_keys_are_not() {
        assert!(sdk_config(lambda_with("AWS_SESSION_TOKEN", None)).is_ok());
        assert!(sdk_config(lambda_with("AWS_SESSION_TOKEN", Some(" "))).is_ok());
        for name in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let err = sdk_config(lambda_with(name, None)).unwrap_err();
            assert_eq!(err, EnvError { name, problem: "is not set".into() });
            assert_eq!(err.to_string(), format!("environment variable {name}: is not set"));
            let err = sdk_config(lambda_with(name, Some(""))).unwrap_err();
            assert_eq!(err, EnvError { name, problem: "is empty".into() });
        }
    }

    #[test]
    fn the_log_level_follows_lambda_then_rust_log_then_info() {
        assert_eq!(log_level(&env(&[])), Ok(LevelFilter::INFO));
        assert_eq!(log_level(&env(&[("RUST_LOG", "debug")])), Ok(LevelFilter::DEBUG));
        assert_eq!(log_level(&env(&[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "debug")])), Ok(LevelFilter::WARN));
        assert_eq!(log_level(&env(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")])), Ok(LevelFilter::ERROR));
        assert_eq!(log_level(&env(&[("AWS_LAMBDA_LOG_LEVEL", "Trace")])), Ok(LevelFilter::TRACE));
    }

    #[test]
    fn a_log_level_it_cannot_honour_is_named() {
        let err = log_level(&env(&[("RUST_LOG", "info,aws_smithy_runtime=debug")])).unwrap_err();
        assert_eq!(err.name, "RUST_LOG");
        assert!(err.problem.starts_with("\"info,aws_smithy_runtime=debug\" is not one of trace"), "{err}");
        let err = log_level(&env(&[("AWS_LAMBDA_LOG_LEVEL", "verbose")])).unwrap_err();
        assert_eq!(err.name, "AWS_LAMBDA_LOG_LEVEL");
    }

    #[test]
    fn a_level_the_build_leaves_out_is_said_not_refused() {
        let note = beyond_build(LevelFilter::DEBUG, LevelFilter::INFO).expect("DEBUG is beyond an INFO build");
        assert!(note.starts_with("log level DEBUG asks for more than this build records (INFO)"), "{note}");
        assert!(beyond_build(LevelFilter::TRACE, LevelFilter::DEBUG).is_some());
        assert_eq!(beyond_build(LevelFilter::INFO, LevelFilter::INFO), None);
        assert_eq!(beyond_build(LevelFilter::WARN, LevelFilter::INFO), None);
        assert_eq!(beyond_build(LevelFilter::TRACE, LevelFilter::TRACE), None);
    }
}
