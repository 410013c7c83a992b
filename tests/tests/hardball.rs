//! The local stack as unkind as AWS: every function with its own role's permissions (the
//! harness's default), a consistency lag long enough to meet every step, and throttled calls.
//! One gateway serves this file's tests and its throttles are per action: the workflow tests
//! take turns, so what a test counts is what its own workflow met.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use recorder_tests::deploy::Deployment;
use recorder_tests::{moto_stack, World};
use serde_json::json;

const T0: i64 = 1_715_681_700_123;
const MINUTE: i64 = 60_000;
const LIMIT: Duration = Duration::from_secs(90);
/// Longer than any of these tests takes to reach its checks.
const LAG: Duration = Duration::from_secs(30);

/// Held by each workflow test for its whole run.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn deployed() -> Deployment {
    moto_stack().gateway.realism().set_consistency_lag(LAG);
    World::new().await.deploy(&[]).await
}

/// The access key a function (by binary name) signs its calls with.
fn key_of(binary: &str) -> String {
    moto_stack().credentials_of(binary).access_key_id
}

fn resolve(d: &Deployment, at: i64) -> serde_json::Value {
    d.deliver("AlarmOkResolverFunction", &d.world.alarm_event("OK", at))
}

#[tokio::test]
async fn a_recording_stopped_before_ec2_lists_its_flow_log_still_deletes_it() {
    let _turn = TURN.lock().await;
    let d = deployed().await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    let realism = d.local.gateway.realism();
    let hidden_before = realism.hidden_from(&key_of("flowlog-stop"));
    assert_eq!(resolve(&d, T0 + MINUTE)["outcome"], "resumed");
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    // StopRecording's own lookup by tag could not see the new flow log (it was hidden from
    // StopRecording's role): the ids StartRecording carried in the state are what deleted it
    assert!(realism.hidden_from(&key_of("flowlog-stop")) > hidden_before, "the lag never met StopRecording");
    assert_eq!(done.output["stop"]["deletedFlowLogIds"].as_array().map(Vec::len), Some(1), "{done:?}");
    assert!(d.flow_logs().await.is_empty());
}

#[tokio::test]
async fn the_sweep_leaves_a_running_recording_step_functions_does_not_list_yet() {
    let _turn = TURN.lock().await;
    let d = deployed().await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    // DescribeExecution answers ExecutionDoesNotExist for a while (and DescribeFlowLogs does not
    // list the new flow log yet): the minimum age keeps the sweep's hands off the young slot
    d.set_env("FlowlogSweeperFunction", "SWEEP_MIN_AGE_SECONDS", "120");
    let report = d.deliver("FlowlogSweeperFunction", &json!({}));
    assert_eq!(report["released"], json!([]), "{report}");
    assert_eq!(d.slot().await.unwrap().owner.map(|o| o.execution), Some(exec.clone()));
    // Without it, the same sweep takes the running recording for ended and frees its slot,
    // which a second recording could then claim: the hole the minimum age closes
    d.set_env("FlowlogSweeperFunction", "SWEEP_MIN_AGE_SECONDS", "0");
    let report = d.deliver("FlowlogSweeperFunction", &json!({}));
    assert_eq!(report["released"], json!([d.world.nat_gateway_id]), "{report}");
    assert_eq!(d.status(&exec).await.status, ExecutionStatus::Running);
}

#[tokio::test]
async fn throttled_calls_are_retried_and_the_recording_ends_clean() {
    let _turn = TURN.lock().await;
    let d = deployed().await;
    let realism = d.local.gateway.realism();
    // More throttles than the SDK's three attempts for the deletes: the state machine's retry
    // takes over; fewer for the claim and the email: the SDK's retries absorb them
    let throttles = [("ec2:DeleteFlowLogs", 4), ("dynamodb:PutItem", 2), ("sns:Publish", 2)];
    let before: Vec<usize> = throttles.iter().map(|(action, _)| realism.throttled(action)).collect();
    for (action, count) in throttles {
        realism.throttle_next(action, count);
    }
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    assert_eq!(resolve(&d, T0 + MINUTE)["outcome"], "resumed");
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    for ((action, count), before) in throttles.iter().zip(before) {
        assert_eq!(realism.throttled(action) - before, *count, "{action} was not throttled as set");
    }
    // Three throttled deletes used up the SDK's attempts: StopRecording failed Transient once
    // and the state machine's retry ran it again; the other throttles the SDK absorbed
    assert_eq!(d.history_errors(&exec).await, ["Transient"], "{done:?}");
    assert!(d.flow_logs().await.is_empty());
    assert_eq!(d.slot().await.unwrap().recordings, 1);
    assert_eq!(d.emails().await.len(), 1);
}

#[tokio::test]
async fn a_function_may_do_what_its_template_role_allows_and_nothing_else() {
    use aws_sdk_ec2::error::ProvideErrorMetadata;
    let stack = moto_stack();
    let role = stack.credentials_of("alarm-start");
    let sdk = recorder_tests::sdk_as(aws_sdk_sqs::config::Credentials::new(
        role.access_key_id,
        role.secret_access_key,
        Some(role.session_token),
        None,
        "alarm-start",
    ))
    .await;
    // StartRecording's role describes NAT Gateways...
    aws_sdk_ec2::Client::new(&sdk).describe_nat_gateways().send().await.expect("ec2:DescribeNatGateways is allowed");
    // ...and may not delete flow logs: only StopRecording's and the sweep's roles may
    let refused = aws_sdk_ec2::Client::new(&sdk)
        .delete_flow_logs()
        .flow_log_ids("fl-0123456789abcdef0")
        .send()
        .await
        .expect_err("ec2:DeleteFlowLogs is refused");
    assert_eq!(refused.raw_response().map(|r| r.status().as_u16()), Some(403), "{refused:?}");
    assert_eq!(refused.code(), Some("AccessDenied"), "{refused:?}");
}
