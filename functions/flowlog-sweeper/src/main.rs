//! The scheduled sweep: deletes any flow log of this stack whose recording is not running, and
//! releases slots whose execution has ended; when the stack watches every NAT Gateway, it also
//! keeps their alarms, and does only that when CloudTrail reports a NAT Gateway created or
//! deleted. Also the stack's custom resource: a CloudFormation request, once proven
//! CloudFormation's own, puts the alarms (Create, Update) or uninstalls (Delete).

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use recorder::alarms::Alarms;
use recorder::config::SweepConfig;
use recorder::flowlogs::FlowLogs;
use recorder::reconcile::{self, Put};
use recorder::stack::Stack;
use recorder::store::SlotTable;
use recorder::tokens::Executions;
use recorder::uninstall::{self, Cleanup, CleanupRequest};
use recorder::{sweep, RecorderError};
use serde_json::Value;

/// The `detail-type` of the events EventBridge makes of CloudTrail's management events
/// (EventBridge User Guide, "Events from AWS services": "AWS API Call via CloudTrail").
const CLOUDTRAIL: &str = "AWS API Call via CloudTrail";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, sdk) = recorder::cold_start(SweepConfig::from_env).await?;
    let slots = SlotTable::from_sdk_config(&sdk, &config.table_name);
    let ec2 = FlowLogs::from_sdk_config(&sdk);
    let executions = Executions::from_sdk_config(&sdk);
    // The alarms to keep, with their client, only where the sweep keeps alarms: a list's stack
    // never needs the client on its schedule, the cold starts to keep short.
    let keeping = config.alarms.as_ref().map(|alarms| (alarms, Alarms::from_sdk_config(&sdk)));
    run(service_fn(|event: LambdaEvent<Value>| async {
        // CloudFormation's request names its ResponseURL; the schedule's event never does.
        if event.payload.get("ResponseURL").is_some() {
            let request: CleanupRequest = recorder::steps::decode(uninstall::LOGICAL_ID, event.payload)?;
            // Made here, not at cold start: a stack sees a few such requests in its life, and the
            // schedule's cold starts are the ones to keep short.
            let stack = Stack::from_sdk_config(&sdk);
            let alarms = keeping.as_ref().map_or_else(|| Alarms::from_sdk_config(&sdk), |(_, client)| client.clone());
            let clients = Cleanup { ec2: &ec2, slots: &slots, executions: &executions, stack: &stack, alarms: &alarms };
            let response = uninstall::serve(&config, &clients, &request).await?;
            return Ok(serde_json::to_value(&response).unwrap_or_default());
        }
        // A NAT Gateway created or deleted: its alarm now, not at the next sweep. The event is
        // only a hint; what exists is read from EC2.
        if event.payload.get("detail-type").and_then(Value::as_str) == Some(CLOUDTRAIL) {
            let Some((alarm_config, alarms)) = &keeping else { return Ok(Value::Null) };
            let report = reconcile::reconcile(alarm_config, &ec2, alarms, Put::Missing).await?;
            return Ok(serde_json::to_value(&report).unwrap_or_default());
        }
        let now = recorder::now().timestamp();
        let mut report = sweep::sweep(&config, &ec2, &slots, &executions, now).await?;
        if let Some((alarm_config, alarms)) = &keeping {
            match reconcile::reconcile(alarm_config, &ec2, alarms, Put::Missing).await {
                Ok(done) => report.alarms = Some(done),
                Err(e) => report.errors.push(format!("alarms: {e}")),
            }
        }
        // A sweep that could not finish everything fails, so the SweeperErrors alarm emails it.
        match report.errors.first() {
            None => Ok(serde_json::to_value(&report).unwrap_or_default()),
            Some(first) => Err(RecorderError::SweepIncomplete { failed: report.errors.len(), first: first.clone() }),
        }
    }))
    .await
}
