//! WaitForAlarmOrTimeout: stores the task token, or resumes at once if the OK came first.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use recorder::config::TableConfig;
use recorder::contract::RegisterInput;
use recorder::steps;
use recorder::store::SlotTable;
use recorder::tokens::TaskTokens;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, sdk) = recorder::cold_start(TableConfig::from_env).await?;
    let slots = SlotTable::from_sdk_config(&sdk, &config.table_name);
    let task_tokens = TaskTokens::from_sdk_config(&sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        let input: RegisterInput = steps::decode("WaitForAlarmOrTimeout", event.payload)?;
        steps::register_token(&slots, &task_tokens, input).await
    }))
    .await
}
