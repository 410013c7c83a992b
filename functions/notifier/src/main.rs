//! Notify: emails the report of the recording to the stack's topic.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::time::Duration;

use recorder::config::NotifierConfig;
use recorder::contract::StateInput;
use recorder::insights::Insights;
use recorder::notify::Mailer;
use recorder::steps;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, sdk) = recorder::cold_start(NotifierConfig::from_env).await?;
    let mailer = Mailer::from_sdk_config(&sdk, &config.topic_arn);
    // Each Logs Insights query may take up to 50 s; the function's timeout leaves room for both.
    let insights = Insights::from_sdk_config(&sdk, Duration::from_secs(1), 50);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        let input: StateInput = steps::decode("Notify", event.payload)?;
        steps::notify(&config, &mailer, &insights, input, recorder::now()).await
    }))
    .await
}
