//! StopRecording: deletes the recording's flow logs and releases the slot.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use recorder::config::StopConfig;
use recorder::contract::StateInput;
use recorder::flowlogs::FlowLogs;
use recorder::steps;
use recorder::store::SlotTable;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, sdk) = recorder::cold_start(StopConfig::from_env).await?;
    let slots = SlotTable::from_sdk_config(&sdk, &config.table_name);
    let ec2 = FlowLogs::from_sdk_config(&sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        let input: StateInput = steps::decode("StopRecording", event.payload)?;
        steps::stop_recording(&config, &slots, &ec2, input, recorder::now()).await
    }))
    .await
}
