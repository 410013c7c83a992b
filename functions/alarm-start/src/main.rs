//! StartRecording: claims the NAT Gateway's slot and turns its flow logs on.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use recorder::config::{process_env, StartConfig};
use recorder::flowlogs::FlowLogs;
use recorder::steps::{self, StartInput};
use recorder::store::SlotTable;

#[tokio::main]
async fn main() -> Result<(), Error> {
    recorder::init_logging();
    let config = recorder::settle_init(StartConfig::from_env(process_env)).await?;
    let sdk = recorder::sdk_config().await;
    let slots = SlotTable::from_sdk_config(&sdk, &config.table_name);
    let ec2 = FlowLogs::from_sdk_config(&sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        let input: StartInput = steps::decode("StartRecording", event.payload)?;
        steps::start_recording(&config, &slots, &ec2, input, recorder::now()).await
    }))
    .await
}
