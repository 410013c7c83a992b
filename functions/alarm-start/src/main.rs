//! StartRecording: claims the NAT Gateway's slot and turns its flow logs on.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use recorder::config::StartConfig;
use recorder::contract::StartInput;
use recorder::flowlogs::FlowLogs;
use recorder::steps;
use recorder::store::SlotTable;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, sdk) = recorder::cold_start(StartConfig::from_env).await?;
    let slots = SlotTable::from_sdk_config(&sdk, &config.table_name);
    let ec2 = FlowLogs::from_sdk_config(&sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        let input: StartInput = steps::decode("StartRecording", event.payload)?;
        steps::start_recording(&config, &slots, &ec2, input, recorder::now()).await
    }))
    .await
}
