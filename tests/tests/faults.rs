//! The fault matrix: whatever fails, no flow log outlives its recording, the slot ends
//! consistent, and the user hears about it. Faults are injected where they really happen: the
//! gateway crashes a function's process mid-invocation or answers with an error, moto loses a
//! topic, an execution is stopped by hand, the stack is deleted. (SDK-level faults the emulator
//! cannot produce, such as partial CreateFlowLogs failures, are in the library's mocked tests;
//! throttling and eventual consistency in `hardball.rs`.)

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use recorder_tests::deploy::{response_catcher, Deployment, Finished};
use recorder_tests::World;
use serde_json::Value;

const T0: i64 = 1_715_681_700_123;
const MINUTE: i64 = 60_000;
const LIMIT: Duration = Duration::from_secs(90);

async fn deployed() -> Deployment {
    World::new().await.deploy(&[]).await
}

fn resolve(d: &Deployment, at: i64) -> Value {
    d.deliver("AlarmOkResolverFunction", &d.world.alarm_event("OK", at))
}

/// A flow log someone else made on the same interface, into another log group (returned).
async fn someone_elses_flow_log(d: &Deployment) -> String {
    let group = format!("{}-someone-else", d.world.log_group_name);
    aws_sdk_cloudwatchlogs::Client::new(&d.world.sdk).create_log_group().log_group_name(&group).send().await.unwrap();
    aws_sdk_ec2::Client::new(&d.world.sdk)
        .create_flow_logs()
        .resource_ids(&d.world.network_interface_id)
        .resource_type(aws_sdk_ec2::types::FlowLogsResourceType::NetworkInterface)
        .traffic_type(aws_sdk_ec2::types::TrafficType::All)
        .log_group_name(&group)
        .deliver_logs_permission_arn("arn:aws:iam::123456789012:role/theirs")
        .send()
        .await
        .unwrap();
    group
}

/// No flow log delivers to this stack's log group any more (someone else's, elsewhere, may stay).
async fn no_flow_log_of_ours(d: &Deployment) {
    let ours: Vec<_> = d
        .flow_logs()
        .await
        .into_iter()
        .filter(|f| f.log_group_name() == Some(d.world.log_group_name.as_str()))
        .collect();
    assert!(ours.is_empty(), "flow logs left: {ours:?}");
}

/// The invariants every row of the matrix asserts.
async fn nothing_left(d: &Deployment) {
    no_flow_log_of_ours(d).await;
    if let Some(slot) = d.slot().await {
        assert_eq!(slot.owner, None, "the slot is still owned (with its task token): {slot:?}");
    }
}

async fn run_to_the_end(d: &Deployment) -> (String, Finished) {
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    assert_eq!(resolve(d, T0 + MINUTE)["outcome"], "resumed");
    let done = d.finished(&exec, LIMIT).await;
    (exec, done)
}

#[tokio::test]
async fn start_recording_crashes() {
    let d = deployed().await;
    d.local.gateway.crash_next(d.function("AlarmStartFunction"), 1);
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    assert_eq!(done.error.as_deref(), Some("RecordingFailed"));
    assert_eq!(d.history_errors(&exec).await, ["Runtime.ExitError"], "the crash struck StartRecording");
    nothing_left(&d).await;
    let emails = d.emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(emails[0].body.contains("Runtime.ExitError"), "{}", emails[0].body);
}

#[tokio::test]
async fn the_wait_crashes() {
    let d = deployed().await;
    d.local.gateway.crash_next(d.function("TokenRegisterFunction"), 1);
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    assert_eq!(done.error.as_deref(), Some("RecordingFailed"), "{done:?}");
    assert_eq!(d.history_errors(&exec).await, ["Runtime.ExitError"], "the crash struck the wait");
    nothing_left(&d).await;
    let emails = d.emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(emails[0].subject.ends_with("recording FAILED"), "{}", emails[0].subject);
    assert!(emails[0].body.contains("Runtime.ExitError"), "{}", emails[0].body);
}

#[tokio::test]
async fn stop_recording_crashes_once_and_is_retried() {
    let d = deployed().await;
    d.local.gateway.crash_next(d.function("FlowlogStopFunction"), 1);
    let (exec, done) = run_to_the_end(&d).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(d.history_errors(&exec).await, ["Runtime.ExitError"], "the crash struck StopRecording once");
    assert_eq!(done.output["stop"]["ending"], "alarm-ok");
    nothing_left(&d).await;
    assert_eq!(d.emails().await.len(), 1);
}

#[tokio::test]
async fn notify_crashes_once_and_is_retried() {
    let d = deployed().await;
    d.local.gateway.crash_next(d.function("NotifierFunction"), 1);
    let (exec, done) = run_to_the_end(&d).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(d.history_errors(&exec).await, ["Runtime.ExitError"], "the crash struck Notify once");
    nothing_left(&d).await;
    // The gateway crashes the process before it handles the event: the retry sends the one email
    let emails = d.emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
}

#[tokio::test]
async fn the_ok_resolver_crashes_and_eventbridge_delivers_again() {
    let d = deployed().await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    d.local.gateway.crash_next(d.function("AlarmOkResolverFunction"), 1);
    // The first delivery dies (EventBridge sees a failed invocation and retries)
    let response = recorder_tests::http_request(
        &d.local.endpoint,
        "POST",
        &format!("/2015-03-31/functions/{}/invocations", d.function("AlarmOkResolverFunction")),
        &d.world.alarm_event("OK", T0 + MINUTE).to_string(),
    )
    .unwrap();
    assert_eq!(response.header("X-Amz-Function-Error"), Some("Unhandled"), "{}", response.body);
    assert!(response.body.contains("Runtime.ExitError"), "{}", response.body);
    assert_eq!(d.local.gateway.crashed(d.function("AlarmOkResolverFunction")), 1);
    // The retry finds the token (or the mark the crashed one left) and ends the recording
    let outcome = resolve(&d, T0 + MINUTE);
    assert!(outcome["outcome"] == "resumed" || outcome["outcome"] == "already-resolved", "{outcome}");
    assert_eq!(d.finished(&exec, LIMIT).await.status, ExecutionStatus::Succeeded);
    nothing_left(&d).await;
    assert_eq!(d.emails().await.len(), 1);
}

#[tokio::test]
async fn stop_recording_fails_transient_twice_and_the_state_machine_retries_it() {
    // StopRecording answers Transient twice without running (as it does when a DeleteFlowLogs
    // stays throttled past the SDK's attempts; hardball.rs throttles the real call), then runs
    let d = deployed().await;
    d.local.gateway.fail_next(d.function("FlowlogStopFunction"), 2, "Transient");
    let (exec, done) = run_to_the_end(&d).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(d.history_errors(&exec).await, ["Transient", "Transient"], "both failures reached the state machine");
    let entered = d.states_entered(&exec).await;
    assert_eq!(entered.iter().filter(|s| *s == "StopRecording").count(), 1, "{entered:?}");
    nothing_left(&d).await;
    assert_eq!(d.emails().await.len(), 1);
}

#[tokio::test]
async fn the_workflow_disappears_while_waiting_and_the_sweep_cleans_up() {
    // (moto 5.2.5 keeps a stopped execution RUNNING while it waits on a task token, so the
    // workflow is deleted instead: Step Functions then knows no such execution.)
    let d = deployed().await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    assert_eq!(d.flow_logs().await.len(), 1);
    // The state machine goes away with its execution: StopRecording never runs
    d.sfn.delete_state_machine().state_machine_arn(&d.state_machine_arn).send().await.expect("DeleteStateMachine");
    assert_eq!(d.flow_logs().await.len(), 1, "nothing but the sweep removes it now");
    // The scheduled sweep runs
    let report = d.deliver("FlowlogSweeperFunction", &serde_json::json!({"source": "aws.events"}));
    assert_eq!(report["deleted"][0][1], "execution-not-running", "{report}");
    assert_eq!(report["released"][0], d.world.nat_gateway_id.as_str(), "{report}");
    nothing_left(&d).await;
}

/// Tag filtering: an untagged flow log is never even listed by the sweep (a forged one that
/// copies our tags is `a_flow_log_that_only_carries_copies_of_our_tags_survives_the_stop_and_the_sweep`).
#[tokio::test]
async fn the_sweep_never_touches_a_running_recording_or_an_untagged_flow_log() {
    let d = deployed().await;
    let other_group = someone_elses_flow_log(&d).await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    let report = d.deliver("FlowlogSweeperFunction", &serde_json::json!({}));
    assert_eq!(report["kept"].as_array().unwrap().len(), 1, "{report}");
    assert!(report["deleted"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(d.flow_logs().await.len(), 2);
    resolve(&d, T0 + MINUTE);
    assert_eq!(d.finished(&exec, LIMIT).await.status, ExecutionStatus::Succeeded);
    let left = d.flow_logs().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].log_group_name(), Some(other_group.as_str()));
    nothing_left(&d).await;
}

#[tokio::test]
async fn sns_publish_fails_and_the_flow_logs_are_still_removed() {
    let d = deployed().await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    // The topic disappears: every publish fails
    aws_sdk_sns::Client::new(&d.world.sdk).delete_topic().topic_arn(&d.topic_arn).send().await.unwrap();
    resolve(&d, T0 + MINUTE);
    let done = d.finished(&exec, LIMIT).await;
    // The execution says the report was lost; the flow logs are gone all the same
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    assert_eq!(done.error.as_deref(), Some("NotifyFailed"));
    nothing_left(&d).await;
}

#[tokio::test]
async fn concurrent_executions_for_one_nat_gateway_make_one_recording() {
    let d = deployed().await;
    // Five ALARM episodes delivered at once (different timestamps, so none is a duplicate):
    // the executions start back to back and run side by side in moto
    let mut executions = Vec::new();
    for i in 0..5 {
        executions.push(d.start(&d.world.alarm_event("ALARM", T0 + i)).await);
    }
    let mut owner = None;
    recorder_tests::deploy::eventually("one execution waits", LIMIT, async || {
        owner = d.slot().await.and_then(|s| s.owner).filter(|o| o.task_token.is_some()).map(|o| o.execution);
        owner.is_some()
    })
    .await;
    let owner = owner.unwrap();
    for exec in executions.iter().filter(|e| **e != owner) {
        let done = d.finished(exec, LIMIT).await;
        assert_eq!(done.output["start"]["reason"], "already-recording", "{done:?}");
    }
    assert_eq!(d.flow_logs().await.len(), 1);
    resolve(&d, T0 + MINUTE);
    assert_eq!(d.finished(&owner, LIMIT).await.status, ExecutionStatus::Succeeded);
    nothing_left(&d).await;
    assert_eq!(d.slot().await.unwrap().recordings, 1);
    assert_eq!(d.emails().await.len(), 1);
}

#[tokio::test]
async fn a_flow_log_that_only_carries_copies_of_our_tags_survives_the_stop_and_the_sweep() {
    use aws_sdk_ec2::types::{FlowLogsResourceType, ResourceType, Tag, TagSpecification, TrafficType};
    use recorder::flowlogs::{TAG_EXECUTION, TAG_NAT_GATEWAY, TAG_STACK};
    let d = deployed().await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    // Someone holding only ec2:CreateTags dresses a security team's flow log up as ours: same
    // stack, the running execution, the same NAT Gateway
    let logs = aws_sdk_cloudwatchlogs::Client::new(&d.world.sdk);
    let theirs = format!("{}-security-team", d.world.log_group_name);
    logs.create_log_group().log_group_name(&theirs).send().await.unwrap();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let forged = aws_sdk_ec2::Client::new(&d.world.sdk)
        .create_flow_logs()
        .resource_ids(&d.world.network_interface_id)
        .resource_type(FlowLogsResourceType::NetworkInterface)
        .traffic_type(TrafficType::All)
        .log_group_name(&theirs)
        .deliver_logs_permission_arn("arn:aws:iam::123456789012:role/security-team")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::VpcFlowLog)
                .tags(tag(TAG_STACK, &d.world.stack_name))
                .tags(tag(TAG_EXECUTION, &exec))
                .tags(tag(TAG_NAT_GATEWAY, &d.world.nat_gateway_id))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .flow_log_ids()[0]
        .clone();
    // Once EC2 lists it to the code too, the recording ends: StopRecording finds it by the
    // execution tag, refuses it, and deletes only its own
    tokio::time::sleep(recorder_tests::consistency_lag()).await;
    resolve(&d, T0 + MINUTE);
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output["stop"]["deletedFlowLogIds"].as_array().unwrap().len(), 1, "{done:?}");
    assert_eq!(done.output["stop"]["foreignFlowLogIds"], serde_json::json!([forged]), "{done:?}");
    let left = d.flow_logs().await;
    assert_eq!(left.iter().map(|f| f.flow_log_id().unwrap()).collect::<Vec<_>>(), [forged.as_str()]);
    // The sweep finds it by our stack tag, names it foreign, and leaves it
    let report = d.deliver("FlowlogSweeperFunction", &serde_json::json!({}));
    assert_eq!(report["foreign"], serde_json::json!([forged]), "{report}");
    assert!(report["deleted"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(d.flow_logs().await.len(), 1);
    nothing_left(&d).await;
}

#[tokio::test]
async fn a_young_execution_step_functions_does_not_know_yet_keeps_its_flow_logs() {
    // DescribeExecution is eventually consistent: just after StartExecution it may answer that
    // the execution does not exist. Here it says so for good (the state machine is gone), and
    // the flow log is seconds old: the sweep with its real minimum age leaves it for later.
    let d = deployed().await;
    d.set_env("FlowlogSweeperFunction", "SWEEP_MIN_AGE_SECONDS", "120");
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    d.sfn.delete_state_machine().state_machine_arn(&d.state_machine_arn).send().await.expect("DeleteStateMachine");
    let report = d.deliver("FlowlogSweeperFunction", &serde_json::json!({}));
    assert_eq!(report["kept"].as_array().unwrap().len(), 1, "{report}");
    assert!(report["deleted"].as_array().unwrap().is_empty(), "{report}");
    assert!(report["released"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(d.flow_logs().await.len(), 1);
    // Once it is old enough, the next sweep removes it
    d.set_env("FlowlogSweeperFunction", "SWEEP_MIN_AGE_SECONDS", "0");
    let report = d.deliver("FlowlogSweeperFunction", &serde_json::json!({}));
    assert_eq!(report["deleted"][0][1], "execution-not-running", "{report}");
    nothing_left(&d).await;
}

#[tokio::test]
async fn start_recording_times_out_after_its_work_and_the_retry_finds_its_own_claim_and_flow_log() {
    // StartRecording claims and creates its flow log, then Lambda answers Sandbox.Timedout (the
    // answer came too late): the state machine runs it again, and the retry must neither claim
    // twice, nor count twice, nor make a second flow log
    let d = deployed().await;
    d.local.gateway.answer_late_next(d.function("AlarmStartFunction"), 1);
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    assert_eq!(d.history_errors(&exec).await, ["Sandbox.Timedout"], "the first attempt timed out");
    assert_eq!(d.flow_logs().await.len(), 1, "one flow log, made by the first attempt and kept by the retry");
    assert_eq!(resolve(&d, T0 + MINUTE)["outcome"], "resumed");
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(d.states_entered(&exec).await.iter().filter(|s| *s == "StartRecording").count(), 1);
    assert_eq!(done.output["start"]["recording"]["flowLogIds"].as_array().map(Vec::len), Some(1), "{done:?}");
    nothing_left(&d).await;
    assert_eq!(d.slot().await.unwrap().recordings, 1);
    assert_eq!(d.emails().await.len(), 1);
}

#[tokio::test]
async fn uninstalling_stops_the_recordings_and_deletes_every_flow_log_of_the_stack_and_no_other() {
    let d = deployed().await;
    // Someone else's flow log on the same interface, and a recording running
    let theirs = someone_elses_flow_log(&d).await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    assert_eq!(d.flow_logs().await.len(), 2);
    // CloudFormation deletes the stack: the custom resource's Delete reaches the sweeper
    let (url, answers) = response_catcher();
    let stack_id = d.world.stack_id();
    d.cloudformation_deletes_the_stack();
    let delete = d.cleanup_request("Delete", &url);
    d.deliver("FlowlogSweeperFunction", &delete);
    let (line, answer) = answers.recv_timeout(Duration::from_secs(30)).expect("the cleanup answers CloudFormation");
    assert!(line.starts_with("PUT /cfn-response/stack?X-Amz-Signature=local "), "{line}");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!((answer["RequestId"].as_str(), answer["StackId"].as_str()), (Some("Delete-1"), Some(stack_id.as_str())));
    assert_eq!(answer["LogicalResourceId"], "UninstallCleanup");
    assert_eq!(answer["Data"]["StoppedExecutions"], "1", "{answer}");
    assert_eq!(answer["Data"]["DeletedFlowLogs"], "1", "{answer}");
    // Ours is gone, theirs stays
    let left = d.flow_logs().await;
    assert_eq!(left.iter().map(|f| f.log_group_name().unwrap()).collect::<Vec<_>>(), [theirs.as_str()]);
    // CloudFormation may send the Delete again: still SUCCESS, nothing more to do
    d.deliver("FlowlogSweeperFunction", &delete);
    let (_, again) = answers.recv_timeout(Duration::from_secs(30)).expect("a second answer");
    assert_eq!((again["Status"].as_str(), again["Data"]["DeletedFlowLogs"].as_str()), (Some("SUCCESS"), Some("0")));
    assert_eq!(d.flow_logs().await.len(), 1);
    // The slot goes with the table, which the stack deletes after the cleanup
    no_flow_log_of_ours(&d).await;
}

#[tokio::test]
async fn a_forged_uninstall_request_is_refused_unanswered_and_changes_nothing() {
    // Security review M1: anyone allowed to invoke the sweeper could send a Delete of
    // CloudFormation's shape and stop every recording, and have the answer PUT anywhere.
    let d = deployed().await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    let (url, answers) = response_catcher();
    let refused = |answer: Value, why: &str| {
        assert_eq!(answer["errorType"], "RequestRefused", "{answer}");
        let message = answer["errorMessage"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(why), "{why:?} in {message}");
    };
    // This stack's own request, to CloudFormation's URL, while CloudFormation deletes nothing
    let genuine_but_not_deleting = d.cleanup_request("Delete", &url);
    refused(d.deliver("FlowlogSweeperFunction", &genuine_but_not_deleting), "UninstallCleanup is CREATE_COMPLETE");
    // While the stack is being deleted: another stack's id, another resource, an answer elsewhere
    d.cloudformation_deletes_the_stack();
    let forged = |field: &str, value: &str| {
        let mut request = d.cleanup_request("Delete", &url);
        request[field] = Value::String(value.to_owned());
        request
    };
    let other_stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/other/5d2a8e10-93c1-11ef-a2f5-0affd3c1e8b3";
    refused(d.deliver("FlowlogSweeperFunction", &forged("StackId", other_stack)), "is not this stack's");
    refused(d.deliver("FlowlogSweeperFunction", &forged("LogicalResourceId", "Other")), "is not UninstallCleanup");
    for elsewhere in ["http://attacker.example/x", "https://attacker.example/x"] {
        refused(d.deliver("FlowlogSweeperFunction", &forged("ResponseURL", elsewhere)), "ResponseURL");
    }
    // Nothing was answered, stopped or deleted
    assert!(answers.recv_timeout(Duration::from_secs(1)).is_err(), "a refused request is never answered");
    assert_eq!(d.status(&exec).await.status, ExecutionStatus::Running);
    assert_eq!(d.flow_logs().await.len(), 1, "the recording's flow log is still on");
}

#[tokio::test]
async fn the_sweep_hands_a_dead_owners_open_episode_over_and_a_malformed_slot_blocks_nothing() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use recorder::protocol::{Owner, Slot};
    let d = deployed().await;
    // The owner of the T0 recording died (moto keeps a stopped execution RUNNING while it waits
    // on a token, so the slot is written as the store holds a dead owner's: its execution is one
    // Step Functions does not know), and the episode at +6 min came during it and is still open
    let dead = format!("{}:died", d.state_machine_arn.replacen(":stateMachine:", ":execution:", 1));
    let episode = T0 + 6 * MINUTE;
    let slot = Slot {
        alarm_seen: Some(episode),
        alarm_event: Some(d.world.alarm_event("ALARM", episode).to_string()),
        decided: Some(T0),
        recordings: 1,
        owner: Some(Owner {
            execution: dead,
            alarm_at: T0,
            started_at: "2024-05-14T10:15:00Z".into(),
            flow_log_ids: vec![],
            task_token: None,
            on_demand: false,
        }),
        ..Slot::default()
    };
    let put = |pk: &str, slot: String| {
        aws_sdk_dynamodb::Client::new(&d.world.sdk)
            .put_item()
            .table_name(&d.world.table_name)
            .item("pk", AttributeValue::S(pk.into()))
            .item("version", AttributeValue::N("1".into()))
            .item("slot", AttributeValue::S(slot))
            .send()
    };
    put(&d.world.nat_gateway_id, serde_json::to_string(&slot).unwrap()).await.expect("PutItem");
    // And another NAT Gateway's item cannot be read (written by hand, or by a future version)
    let broken = "nat-0fffffffffffffff0";
    put(broken, "{not the slot's JSON".into()).await.expect("PutItem");

    let report = d.deliver("FlowlogSweeperFunction", &serde_json::json!({}));
    // The sweep fails (so its alarm emails), naming the item it could not read...
    assert_eq!(report["errorType"], "SweepIncomplete", "{report}");
    assert!(report["errorMessage"].as_str().is_some_and(|m| m.contains(broken)), "{report}");
    // ...and still released the dead owner and started the recording of the open episode
    let successor = recorder::tokens::successor_arn(&d.state_machine_arn, &d.world.nat_gateway_id, episode);
    d.waiting(&successor).await;
    assert_eq!(d.flow_logs().await.len(), 1);
    assert_eq!(resolve(&d, T0 + 9 * MINUTE)["outcome"], "resumed");
    assert_eq!(d.finished(&successor, LIMIT).await.status, ExecutionStatus::Succeeded);
    nothing_left(&d).await;
    // The dead owner created nothing, so it gave its count back: one recording, the successor's
    assert_eq!(d.slot().await.unwrap().recordings, 1);
}
