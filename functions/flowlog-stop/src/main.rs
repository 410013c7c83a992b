//! StopRecording: deletes the recording's flow logs, releases the slot, and hands the NAT
//! Gateway over to a successor when an episode is still open.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use recorder::config::StopConfig;
use recorder::contract::StateInput;
use recorder::flowlogs::FlowLogs;
use recorder::steps;
use recorder::store::SlotTable;
use recorder::tokens::Executions;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, sdk) = recorder::cold_start(StopConfig::from_env).await?;
    let slots = SlotTable::from_sdk_config(&sdk, &config.table_name);
    let ec2 = FlowLogs::from_sdk_config(&sdk);
    let executions = Executions::from_sdk_config(&sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        let input: StateInput = steps::decode("StopRecording", event.payload)?;
        steps::stop_recording(&config, &slots, &ec2, &executions, input, recorder::now()).await
    }))
    .await
}
