//! The scheduled sweep: deletes any flow log of this stack whose recording is not running, and
//! releases slots whose execution has ended.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use recorder::config::SweepConfig;
use recorder::flowlogs::FlowLogs;
use recorder::store::SlotTable;
use recorder::sweep;
use recorder::tokens::Executions;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, sdk) = recorder::cold_start(SweepConfig::from_env).await?;
    let slots = SlotTable::from_sdk_config(&sdk, &config.table_name);
    let ec2 = FlowLogs::from_sdk_config(&sdk);
    let executions = Executions::from_sdk_config(&sdk);
    run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        let now = recorder::now().timestamp();
        let report = sweep::sweep(&config, &ec2, &slots, &executions, now).await?;
        // A sweep that could not finish everything fails, so the SweeperErrors alarm emails it.
        match report.errors.first() {
            None => Ok(report),
            Some(first) => {
                Err(recorder::RecorderError::SweepIncomplete { failed: report.errors.len(), first: first.clone() })
            }
        }
    }))
    .await
}
