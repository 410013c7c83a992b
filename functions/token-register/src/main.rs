//! WaitForAlarmOrTimeout: stores the task token, or resumes at once if the OK came first.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use recorder::config::{process_env, TableConfig};
use recorder::steps::{self, RegisterInput};
use recorder::store::SlotTable;
use recorder::tokens::Waiters;

#[tokio::main]
async fn main() -> Result<(), Error> {
    recorder::init_logging();
    let config = recorder::settle_init(TableConfig::from_env(process_env)).await?;
    let sdk = recorder::sdk_config().await;
    let slots = SlotTable::from_sdk_config(&sdk, &config.table_name);
    let waiters = Waiters::from_sdk_config(&sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        let input: RegisterInput = steps::decode("WaitForAlarmOrTimeout", event.payload)?;
        steps::register_token(&slots, &waiters, input).await
    }))
    .await
}
