//! The scheduled sweep: deletes any flow log of this stack whose recording is not running, and
//! releases slots whose execution has ended. Also the stack's uninstall cleanup: a
//! CloudFormation custom-resource request, once proven CloudFormation's own, stops every recording
//! and deletes every flow log.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use recorder::config::SweepConfig;
use recorder::flowlogs::FlowLogs;
use recorder::stack::Stack;
use recorder::store::SlotTable;
use recorder::tokens::Executions;
use recorder::uninstall::{self, Cleanup, CleanupRequest};
use recorder::{sweep, RecorderError};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, sdk) = recorder::cold_start(SweepConfig::from_env).await?;
    let slots = SlotTable::from_sdk_config(&sdk, &config.table_name);
    let ec2 = FlowLogs::from_sdk_config(&sdk);
    let executions = Executions::from_sdk_config(&sdk);
    run(service_fn(|event: LambdaEvent<Value>| async {
        // CloudFormation's request names its ResponseURL; the schedule's event never does.
        if event.payload.get("ResponseURL").is_some() {
            let request: CleanupRequest = recorder::steps::decode(uninstall::LOGICAL_ID, event.payload)?;
            // Made here, not at cold start: a stack sees two such requests in its life, and the
            // schedule's cold starts are the ones to keep short.
            let stack = Stack::from_sdk_config(&sdk);
            let clients = Cleanup { ec2: &ec2, slots: &slots, executions: &executions, stack: &stack };
            let response = uninstall::serve(&config, &clients, &request).await?;
            return Ok(serde_json::to_value(&response).unwrap_or_default());
        }
        let now = recorder::now().timestamp();
        let report = sweep::sweep(&config, &ec2, &slots, &executions, now).await?;
        // A sweep that could not finish everything fails, so the SweeperErrors alarm emails it.
        match report.errors.first() {
            None => Ok(serde_json::to_value(&report).unwrap_or_default()),
            Some(first) => Err(RecorderError::SweepIncomplete { failed: report.errors.len(), first: first.clone() }),
        }
    }))
    .await
}
