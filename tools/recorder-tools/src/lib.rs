//! A recording on demand against a deployed stack, and the smoke test built on it: what
//! `make record` and `make smoke` run. Everything here goes through the stack's own state
//! machine (`StartExecution` with a `{"record": ...}` input), as a user with
//! `states:StartExecution` on it would; nothing is faked.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use recorder::contract::{NotifyOutput, OnDemand, StartOutput};
use recorder::flowlogs::FlowLogs;
use serde_json::Value;

/// The SDK's configuration from the usual chain (`AWS_PROFILE`, `AWS_REGION`, environment
/// credentials, ...), with the SDK's maintained HTTPS client the functions use. SSO profiles need
/// their credentials exported first (`aws configure export-credentials --format env`).
pub async fn sdk() -> aws_config::SdkConfig {
    lambda_env::loader().load().await
}

/// A deployed stack's workflow and the NAT Gateway to record.
#[derive(Debug, Clone)]
pub struct Target {
    pub stack_name: String,
    pub state_machine_arn: String,
    pub nat_gateway_id: String,
}

/// What a failed step says, for the user.
pub type Failure = String;

impl Target {
    /// A stack deployed with CloudFormation: its `StateMachineArn` output, and the NAT Gateway
    /// `nat` or else the first its alarms (`<stack>.NatGatewaySpike.<nat id>`) watch.
    pub async fn of_stack(sdk: &aws_config::SdkConfig, stack_name: &str, nat: Option<&str>) -> Result<Self, Failure> {
        let stacks =
            aws_sdk_cloudformation::Client::new(sdk).describe_stacks().stack_name(stack_name).send().await.map_err(
                |e| format!("stack {stack_name}: {}", aws_sdk_cloudformation::error::DisplayErrorContext(e)),
            )?;
        let outputs = stacks.stacks().first().map(|s| s.outputs()).unwrap_or_default();
        let state_machine_arn = outputs
            .iter()
            .find(|o| o.output_key() == Some("StateMachineArn"))
            .and_then(|o| o.output_value())
            .ok_or_else(|| {
                format!("stack {stack_name} has no StateMachineArn output: is it a vpc-flowlogs-recorder stack?")
            })?
            .to_owned();
        let nat_gateway_id = match nat {
            Some(nat) => nat.to_owned(),
            None => {
                let prefix = format!("{stack_name}.NatGatewaySpike.");
                let alarms = aws_sdk_cloudwatch::Client::new(sdk)
                    .describe_alarms()
                    .alarm_name_prefix(&prefix)
                    .send()
                    .await
                    .map_err(|e| {
                        format!("the stack's alarms: {}", aws_sdk_cloudwatch::error::DisplayErrorContext(e))
                    })?;
                let first = alarms.metric_alarms().iter().filter_map(|a| a.alarm_name()?.strip_prefix(&prefix)).next();
                first.ok_or_else(|| format!("no alarm named {prefix}*: which NAT Gateway? (NAT=nat-...)"))?.to_owned()
            }
        };
        Ok(Self { stack_name: stack_name.to_owned(), state_machine_arn, nat_gateway_id })
    }
}

/// The caller's ARN, for the request's `requestedBy`.
pub async fn caller(sdk: &aws_config::SdkConfig) -> Result<String, Failure> {
    let identity = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| format!("GetCallerIdentity: {}", aws_sdk_sts::error::DisplayErrorContext(e)))?;
    identity.arn().map(str::to_owned).ok_or_else(|| "GetCallerIdentity named no ARN".into())
}

/// A `make` variable the tools read from the environment; unset or blank is `None`.
pub fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `MINUTES`, or `default` when it is not set.
pub fn minutes(default: u32) -> Result<u32, Failure> {
    match setting("MINUTES") {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| format!("MINUTES={text:?} is not a whole number of minutes")),
    }
}

/// How StartRecording answered a request.
#[derive(Debug)]
pub enum Started {
    Recording {
        flow_log_ids: Vec<String>,
        network_interface_ids: Vec<String>,
        until_seconds: u32,
    },
    /// Refused politely: the reason, as the recorder says it.
    Refused(String),
}

/// Asks the stack to record its NAT Gateway for `minutes`, and waits for StartRecording's answer.
/// Returns the execution and that answer.
pub async fn record(
    sfn: &aws_sdk_sfn::Client,
    target: &Target,
    minutes: u32,
    requested_by: Option<String>,
) -> Result<(String, Started), Failure> {
    let request = OnDemand { nat_gateway_id: target.nat_gateway_id.clone(), minutes, requested_by };
    let input = serde_json::json!({ "record": request });
    let name = format!("by-hand-{}-{}", target.nat_gateway_id, chrono::Utc::now().format("%Y%m%dT%H%M%S%3f"));
    let execution = sfn
        .start_execution()
        .state_machine_arn(&target.state_machine_arn)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .map_err(|e| format!("StartExecution: {}", aws_sdk_sfn::error::DisplayErrorContext(e)))?
        .execution_arn()
        .to_owned();
    let start = state_output(sfn, &execution, "StartRecording", Duration::from_secs(120)).await?;
    let started = match serde_json::from_value::<StartOutput>(start["start"].clone()) {
        Ok(StartOutput::Record { recording }) => Started::Recording {
            flow_log_ids: recording.flow_log_ids,
            network_interface_ids: recording.network_interface_ids,
            until_seconds: recording.timeout_seconds,
        },
        Ok(StartOutput::Skip { reason, .. }) => Started::Refused(reason.describe().to_owned()),
        Err(e) => return Err(format!("StartRecording answered {}: {e}", start["start"])),
    };
    Ok((execution, started))
}

/// The output of the state `state` once the execution has left it; an execution that ends
/// without leaving it is a failure naming its error.
pub async fn state_output(
    sfn: &aws_sdk_sfn::Client,
    execution: &str,
    state: &str,
    limit: Duration,
) -> Result<Value, Failure> {
    let deadline = Instant::now() + limit;
    loop {
        let history = sfn
            .get_execution_history()
            .execution_arn(execution)
            .max_results(1000)
            .send()
            .await
            .map_err(|e| format!("GetExecutionHistory: {}", aws_sdk_sfn::error::DisplayErrorContext(e)))?;
        for event in history.events() {
            if let Some(exited) = event.state_exited_event_details().filter(|d| d.name() == state) {
                return Ok(exited.output().and_then(|o| serde_json::from_str(o).ok()).unwrap_or_default());
            }
            // A refusal no retry changes (a malformed request): said at once, with its reason.
            if let Some(failed) = event.lambda_function_failed_event_details() {
                if matches!(failed.error(), Some("InvalidInput" | "ConfigurationError")) {
                    return Err(failed.cause().map_or("no cause given".into(), cause_message));
                }
            }
            if event.r#type() == &HistoryEventType::ExecutionFailed {
                let details = event.execution_failed_event_details();
                return Err(format!(
                    "the execution failed before leaving {state}: {} {}",
                    details.and_then(|d| d.error()).unwrap_or_default(),
                    details.and_then(|d| d.cause()).unwrap_or_default()
                ));
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{execution} did not leave {state} within {} s", limit.as_secs()));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The `errorMessage` of a Lambda error's cause, which Step Functions passes on as JSON.
fn cause_message(cause: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(cause).ok();
    parsed.and_then(|c| c["errorMessage"].as_str().map(str::to_owned)).unwrap_or_else(|| cause.to_owned())
}

/// Waits for the execution to end; its status and output.
pub async fn finished(
    sfn: &aws_sdk_sfn::Client,
    execution: &str,
    limit: Duration,
) -> Result<(ExecutionStatus, Value), Failure> {
    let deadline = Instant::now() + limit;
    loop {
        let out = sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .map_err(|e| format!("DescribeExecution: {}", aws_sdk_sfn::error::DisplayErrorContext(e)))?;
        if out.status() != &ExecutionStatus::Running {
            let output = out.output().and_then(|o| serde_json::from_str(o).ok()).unwrap_or_default();
            return Ok((out.status().clone(), output));
        }
        if Instant::now() > deadline {
            return Err(format!("{execution} still runs after {} s", limit.as_secs()));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// One line of the smoke test's report.
fn check(n: u32, what: &str, outcome: Result<String, Failure>) -> Result<(), Failure> {
    match outcome {
        Ok(detail) => {
            println!("  ok   {n}. {what}: {detail}");
            Ok(())
        }
        Err(why) => {
            println!("  FAIL {n}. {what}: {why}");
            Err(format!("step {n} ({what}) failed: {why}"))
        }
    }
}

/// The smoke test: a recording on demand of `minutes`, checked step by step as a user would.
pub async fn smoke(sdk: &aws_config::SdkConfig, target: &Target, minutes: u32) -> Result<(), Failure> {
    let sfn = aws_sdk_sfn::Client::new(sdk);
    let ec2 = FlowLogs::new(aws_sdk_ec2::Client::new(sdk));
    println!("smoke test of {} on {}, recording for {minutes} min", target.stack_name, target.nat_gateway_id);
    let (execution, started) = record(&sfn, target, minutes, Some("make smoke".into())).await?;
    let (flow_log_ids, interfaces) = match started {
        Started::Recording { flow_log_ids, network_interface_ids, .. } => (flow_log_ids, network_interface_ids),
        Started::Refused(why) => return check(1, "a recording starts", Err(format!("refused: {why}"))),
    };
    check(1, "a recording starts", Ok(execution.rsplit(':').next().unwrap_or_default().to_owned()))?;
    let on = ec2.find_by_execution(&execution).await.map_err(|e| e.to_string())?;
    let covered: Vec<&str> = on.iter().filter_map(|f| f.resource_id.as_deref()).collect();
    let missing: Vec<&String> = interfaces.iter().filter(|eni| !covered.contains(&eni.as_str())).collect();
    let every = match (missing.is_empty(), interfaces.is_empty()) {
        (true, false) => Ok(format!("{} on {}", flow_log_ids.join(", "), interfaces.join(", "))),
        (_, true) => Err("the NAT Gateway has no network interface".into()),
        (false, _) => Err(format!("no flow log on {missing:?}")),
    };
    check(2, "flow logs on every interface of the NAT Gateway", every)?;
    let limit = Duration::from_secs(u64::from(minutes) * 60 + 20 * 60);
    let (status, output) = finished(&sfn, &execution, limit).await?;
    let left = ec2.find_by_execution(&execution).await.map_err(|e| e.to_string())?;
    let off = match left.is_empty() {
        true => Ok("none left".into()),
        false => Err(format!("{:?} still on", left.iter().map(|f| &f.flow_log_id).collect::<Vec<_>>())),
    };
    check(3, "the flow logs are off again", off)?;
    let succeeded = match status {
        ExecutionStatus::Succeeded => Ok("SUCCEEDED".into()),
        other => Err(format!("{other:?}")),
    };
    check(4, "the execution succeeded", succeeded)?;
    let sent = match serde_json::from_value::<NotifyOutput>(output["notify"].clone()) {
        Ok(NotifyOutput::Sent { message_id, subject }) => Ok(format!("\"{subject}\" (message {message_id})")),
        Ok(other) => Err(format!("Notify ended with {other:?}")),
        Err(_) => Err(format!("no report in the output: {}", output["notify"])),
    };
    check(5, "the report was published", sent)?;
    let stack_left = ec2.find_by_stack(&target.stack_name).await.map_err(|e| e.to_string())?;
    let nothing = match stack_left.is_empty() {
        true => Ok("no flow log of the stack".into()),
        false => Err(format!("{:?} remain", stack_left.iter().map(|f| &f.flow_log_id).collect::<Vec<_>>())),
    };
    check(6, "nothing left", nothing)
}
