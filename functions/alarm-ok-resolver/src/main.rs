//! The OK rule's target: ends the recording the OK belongs to.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use recorder::config::ResolverConfig;
use recorder::steps;
use recorder::store::SlotTable;
use recorder::tokens::TaskTokens;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, sdk) = recorder::cold_start(ResolverConfig::from_env).await?;
    let slots = SlotTable::from_sdk_config(&sdk, &config.table_name);
    let task_tokens = TaskTokens::from_sdk_config(&sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        steps::resolve_ok(&config, &slots, &task_tokens, event.payload, recorder::now()).await
    }))
    .await
}
