//! Notify: emails the report of the recording to the stack's topic.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::time::Duration;

use recorder::account::AccountAlias;
use recorder::config::NotifierConfig;
use recorder::contract::StateInput;
use recorder::flowlogs::FlowLogs;
use recorder::insights::Insights;
use recorder::metrics::Meter;
use recorder::sns::Mailer;
use recorder::steps;

/// What the invocation keeps for the email after the queries: one SNS Publish within the SDK's
/// 20 s operation timeout, and the answer.
const PUBLISH_MARGIN: Duration = Duration::from_secs(25);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, sdk) = recorder::cold_start(NotifierConfig::from_env).await?;
    let mailer = Mailer::from_sdk_config(&sdk, &config.topic_arn);
    // Each Logs Insights query may take up to 50 s, and none polls past the invocation's deadline
    // less the time the email needs: a query that would run the function out of time is
    // stopped, and the email says the analysis could not finish.
    let insights = Insights::from_sdk_config(&sdk, Duration::from_secs(1), 50);
    let meter = Meter::from_sdk_config(&sdk);
    let ec2 = FlowLogs::from_sdk_config(&sdk);
    // Read once, at the first invocation, not at cold start: a cold start waits on no IAM call.
    let alias = tokio::sync::OnceCell::new();
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let insights = insights.until(recorder::answer_by(event.context.deadline, PUBLISH_MARGIN));
        let (config, mailer, meter, ec2, alias, sdk) = (&config, &mailer, &meter, &ec2, &alias, &sdk);
        async move {
            let input: StateInput = steps::decode("Notify", event.payload)?;
            let account_alias =
                alias.get_or_init(|| async { AccountAlias::from_sdk_config(sdk).read().await }).await.as_deref();
            let sources = steps::Sources { insights: &insights, meter, ec2, account_alias };
            steps::notify(config, mailer, &sources, input, recorder::now()).await
        }
    }))
    .await
}
