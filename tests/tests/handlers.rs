//! Each step's AWS effects, with real SDK clients against a moto server.

use recorder::config::ResolverConfig;
use recorder::contract::{Ending, SkipReason, StartOutput, WorkflowState};
use recorder::contract::{RegisterInput, ResolveOutcome, StartInput, StateInput};
use recorder::flowlogs::{FlowLogs, LOG_FORMAT, TAG_EXECUTION, TAG_NAT_GATEWAY, TAG_STACK};
use recorder::steps;
use recorder::store::SlotTable;
use recorder::tokens::{Executions, TaskTokens};
use recorder_tests::{unique, World};
use serde_json::json;

const T0: i64 = 1_715_681_700_123;

fn execution() -> String {
    format!("arn:aws:states:us-east-1:123456789012:execution:recorder:{}", unique("exec"))
}

/// The state machine the executions of [`execution`] belong to, where a hand-over starts its
/// successor: one Pass state (these tests run each step themselves).
async fn hand_overs_land(world: &World) {
    let sfn = aws_sdk_sfn::Client::new(&world.sdk);
    let listed = sfn.list_state_machines().send().await.expect("ListStateMachines");
    if listed.state_machines().iter().any(|m| m.name() == "recorder") {
        return;
    }
    let created = sfn
        .create_state_machine()
        .name("recorder")
        .role_arn("arn:aws:iam::123456789012:role/recorder")
        .definition(r#"{"StartAt": "Successor", "States": {"Successor": {"Type": "Pass", "End": true}}}"#)
        .send()
        .await;
    if let Err(e) = created {
        // Another test of this binary created it first
        assert!(format!("{e:?}").contains("StateMachineAlreadyExists"), "CreateStateMachine: {e:?}");
    }
}

fn slots(world: &World) -> SlotTable {
    SlotTable::from_sdk_config(&world.sdk, &world.table_name)
}

async fn start(world: &World, max: u32, state: &str, at: i64, execution: &str) -> StartOutput {
    steps::start_recording(
        &world.start_config(max),
        &slots(world),
        &FlowLogs::from_sdk_config(&world.sdk),
        StartInput { event: world.alarm_event(state, at), execution_arn: execution.to_owned() },
        recorder::now(),
    )
    .await
    .expect("StartRecording")
}

async fn stop(
    world: &World,
    start: &StartOutput,
    execution: &str,
    extra: serde_json::Value,
) -> recorder::contract::StopOutput {
    let mut state = world.alarm_event("ALARM", T0);
    state["start"] = serde_json::to_value(start).unwrap();
    for (k, v) in extra.as_object().unwrap() {
        state[k] = v.clone();
    }
    let state: WorkflowState = serde_json::from_value(state).unwrap();
    steps::stop_recording(
        &world.stop_config(),
        &slots(world),
        &FlowLogs::from_sdk_config(&world.sdk),
        &Executions::from_sdk_config(&world.sdk),
        StateInput { state, execution_arn: Some(execution.to_owned()) },
        recorder::now(),
    )
    .await
    .expect("StopRecording")
}

async fn resolve(world: &World, at: i64) -> ResolveOutcome {
    let config = ResolverConfig { table_name: world.table_name.clone(), watched: world.watched() };
    steps::resolve_ok(
        &config,
        &slots(world),
        &TaskTokens::from_sdk_config(&world.sdk),
        world.alarm_event("OK", at),
        recorder::now(),
    )
    .await
    .expect("alarm-ok-resolver")
}

fn recording(output: &StartOutput) -> &recorder::contract::Recording {
    match output {
        StartOutput::Record { recording } => recording,
        StartOutput::Skip { reason, .. } => panic!("expected a recording, got a skip: {reason:?}"),
    }
}

#[tokio::test]
async fn an_alarm_turns_flow_logs_on_for_the_nat_gateway_interface() {
    // Given a NAT Gateway with one interface
    let world = World::new().await;
    let exec = execution();
    // When its alarm fires
    let output = start(&world, 0, "ALARM", T0, &exec).await;
    // Then one flow log records that interface, as docs/DESIGN.md specifies
    let recording = recording(&output);
    assert_eq!(recording.nat_gateway_id, world.nat_gateway_id);
    assert_eq!(recording.network_interface_ids, vec![world.network_interface_id.clone()]);
    assert_eq!(recording.timeout_seconds, 900);
    let logs = world.flow_logs().await;
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(Some(recording.flow_log_ids[0].as_str()), log.flow_log_id());
    assert_eq!(log.log_group_name(), Some(world.log_group_name.as_str()));
    assert_eq!(log.log_format(), Some(LOG_FORMAT));
    assert_eq!(log.max_aggregation_interval(), Some(60));
    assert_eq!(log.traffic_type().map(|t| t.as_str()), Some("ALL"));
    let tag = |key: &str| log.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_owned);
    assert_eq!(tag(TAG_EXECUTION), Some(exec.clone()));
    assert_eq!(tag(TAG_STACK), Some(world.stack_name.clone()));
    assert_eq!(tag(TAG_NAT_GATEWAY), Some(world.nat_gateway_id.clone()));
    // And the slot is owned by this execution and counted once
    let slot = slots(&world).slot(&world.nat_gateway_id).await.unwrap().unwrap();
    let owner = slot.owner.as_ref().expect("an owner");
    assert_eq!((owner.execution.as_str(), owner.alarm_at), (exec.as_str(), T0));
    assert_eq!(owner.flow_log_ids, recording.flow_log_ids, "the slot knows its flow logs");
    assert_eq!(slot.recordings, 1);
}

#[tokio::test]
async fn stopping_deletes_the_flow_logs_and_releases_the_slot_and_can_run_twice() {
    let world = World::new().await;
    let exec = execution();
    let output = start(&world, 0, "ALARM", T0, &exec).await;
    let ids = recording(&output).flow_log_ids.clone();

    let stopped = stop(&world, &output, &exec, json!({"wait": {"ending": "alarm-ok"}})).await;
    assert_eq!(stopped.ending, Ending::AlarmOk);
    assert_eq!(stopped.deleted_flow_log_ids, ids);
    assert!(stopped.released);
    assert!(world.flow_logs().await.is_empty());
    let slot = slots(&world).slot(&world.nat_gateway_id).await.unwrap().unwrap();
    assert_eq!(slot.owner, None);
    assert_eq!(slot.recordings, 1, "the count outlives the recording");

    // A retried StopRecording finds the flow logs already gone: that is done, not an error
    let again = stop(&world, &output, &exec, json!({"timeout": {"Error": "States.Timeout"}})).await;
    assert_eq!(again.ending, Ending::Timeout);
    assert!(!again.released);
}

#[tokio::test]
async fn a_duplicate_alarm_never_makes_a_second_recording() {
    let world = World::new().await;
    let first = execution();
    let output = start(&world, 0, "ALARM", T0, &first).await;
    recording(&output);

    // The same event delivered again while recording: a second execution is refused
    let second = start(&world, 0, "ALARM", T0, &execution()).await;
    assert_eq!(
        second,
        StartOutput::Skip {
            reason: SkipReason::AlreadyRecording,
            nat_gateway_id: Some(world.nat_gateway_id.clone()),
            notify: false
        }
    );

    // And delivered once more after the recording ended: still the same episode
    stop(&world, &output, &first, json!({"wait": {}})).await;
    let late = start(&world, 0, "ALARM", T0, &execution()).await;
    assert_eq!(
        late,
        StartOutput::Skip {
            reason: SkipReason::DuplicateAlarm,
            nat_gateway_id: Some(world.nat_gateway_id.clone()),
            notify: false
        }
    );

    assert!(world.flow_logs().await.is_empty());
    assert_eq!(slots(&world).slot(&world.nat_gateway_id).await.unwrap().unwrap().recordings, 1);
}

#[tokio::test]
async fn a_retried_start_in_the_same_execution_counts_once_and_keeps_its_flow_logs() {
    let world = World::new().await;
    let exec = execution();
    let first = start(&world, 0, "ALARM", T0, &exec).await;
    // A second later, so that a new claim would carry a new time
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = start(&world, 0, "ALARM", T0, &exec).await;
    assert_eq!(recording(&first).flow_log_ids, recording(&again).flow_log_ids);
    assert_eq!(recording(&first).started_at, recording(&again).started_at, "the retry keeps the first claim's time");
    assert_eq!(world.flow_logs().await.len(), 1);
    assert_eq!(slots(&world).slot(&world.nat_gateway_id).await.unwrap().unwrap().recordings, 1);
}

#[tokio::test]
async fn the_limit_stops_a_new_episode_once_reached() {
    let world = World::new().await;
    let exec = execution();
    let output = start(&world, 1, "ALARM", T0, &exec).await;
    stop(&world, &output, &exec, json!({"wait": {}})).await;

    let next = start(&world, 1, "ALARM", T0 + 60_000, &execution()).await;
    assert_eq!(
        next,
        StartOutput::Skip {
            reason: SkipReason::LimitReached,
            nat_gateway_id: Some(world.nat_gateway_id.clone()),
            notify: false
        }
    );
    assert!(world.flow_logs().await.is_empty());
}

#[tokio::test]
async fn concurrent_alarms_make_exactly_one_recording_and_one_count() {
    // Given eight executions started by eight different ALARM episodes at once
    let world = World::new().await;
    let runs = (0..8).map(|i| {
        let world = world.clone();
        tokio::spawn(async move { start(&world, 0, "ALARM", T0 + i, &execution()).await })
    });
    let outputs: Vec<StartOutput> = futures_join(runs).await;
    // Then one records, the rest are told someone else is recording
    let recorded = outputs.iter().filter(|o| matches!(o, StartOutput::Record { .. })).count();
    assert_eq!(recorded, 1, "{outputs:?}");
    assert!(outputs.iter().all(|o| matches!(
        o,
        StartOutput::Record { .. } | StartOutput::Skip { reason: SkipReason::AlreadyRecording, .. }
    )));
    assert_eq!(world.flow_logs().await.len(), 1);
    assert_eq!(slots(&world).slot(&world.nat_gateway_id).await.unwrap().unwrap().recordings, 1);
}

async fn futures_join<T: Send + 'static>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn concurrent_alarms_never_exceed_the_limit() {
    let world = World::new().await;
    // The racers' newest episode is still open when the one that records stops: it hands over
    hand_overs_land(&world).await;
    // Given two episodes recorded and ended, and a limit of three
    for i in 0..2 {
        let exec = execution();
        let output = start(&world, 3, "ALARM", T0 + i * 60_000, &exec).await;
        stop(&world, &output, &exec, json!({"wait": {}})).await;
    }
    let count = async || slots(&world).slot(&world.nat_gateway_id).await.unwrap().unwrap().recordings;
    // When six newer episodes race, and the one that records stops at once: the slot it frees is
    // claimed by the others while the count stands at the limit
    let runs = (0..6).map(|i| {
        let world = world.clone();
        tokio::spawn(async move {
            let exec = execution();
            let output = start(&world, 3, "ALARM", T0 + 600_000 + i, &exec).await;
            if matches!(output, StartOutput::Record { .. }) {
                stop(&world, &output, &exec, json!({"wait": {}})).await;
            }
            output
        })
    });
    let outputs = futures_join(runs).await;
    // Then one more records, and each other is refused for a reason the race explains: someone
    // records, the limit, or an episode older than the one that recorded
    assert_eq!(outputs.iter().filter(|o| matches!(o, StartOutput::Record { .. })).count(), 1, "{outputs:?}");
    for output in &outputs {
        assert!(
            matches!(
                output,
                StartOutput::Record { .. }
                    | StartOutput::Skip {
                        reason: SkipReason::AlreadyRecording | SkipReason::LimitReached | SkipReason::DuplicateAlarm,
                        ..
                    }
            ),
            "{output:?}"
        );
    }
    assert_eq!(count().await, 3);
    // And every claim on the free slot at the limit is refused, however many race: for the limit,
    // or as older than an episode the limit already refused
    let late = (0..4).map(|i| {
        let world = world.clone();
        tokio::spawn(async move { start(&world, 3, "ALARM", T0 + 1_200_000 + i, &execution()).await })
    });
    let late = futures_join(late).await;
    for output in &late {
        let refused =
            matches!(output, StartOutput::Skip { reason: SkipReason::LimitReached | SkipReason::DuplicateAlarm, .. });
        assert!(refused, "{output:?}");
    }
    assert!(late.iter().any(|o| matches!(o, StartOutput::Skip { reason: SkipReason::LimitReached, .. })));
    assert_eq!(count().await, 3);
    assert!(world.flow_logs().await.is_empty());
}

#[tokio::test]
async fn an_ok_before_the_token_is_kept_and_the_token_resumes_at_once() {
    let world = World::new().await;
    let exec = execution();
    start(&world, 0, "ALARM", T0, &exec).await;
    // When the OK arrives before the execution reaches its wait
    assert_eq!(resolve(&world, T0 + 30_000).await, ResolveOutcome::Marked);
    // Then storing the token finds the mark and resumes at once (the token here is not a live
    // one, so Step Functions answers that it is closed: still a success)
    let registered = steps::register_token(
        &slots(&world),
        &TaskTokens::from_sdk_config(&world.sdk),
        RegisterInput {
            task_token: "not-a-live-token".into(),
            nat_gateway_id: world.nat_gateway_id.clone(),
            execution_arn: exec,
        },
    )
    .await
    .expect("token-register");
    assert!(registered.resumed_at_once);
}

#[tokio::test]
async fn a_late_ok_from_an_earlier_episode_never_ends_a_later_recording() {
    let world = World::new().await;
    let exec = execution();
    start(&world, 0, "ALARM", T0, &exec).await;
    // An OK stamped before this recording's ALARM belongs to an earlier episode
    assert_eq!(resolve(&world, T0 - 1_000).await, ResolveOutcome::NoRecording);
    let slot = slots(&world).slot(&world.nat_gateway_id).await.unwrap().unwrap();
    assert!(!slot.owner_episode_ended());
    assert_eq!(slot.owner.map(|o| o.execution), Some(exec));
}

#[tokio::test]
async fn an_ok_after_the_recording_timed_out_is_ignored() {
    let world = World::new().await;
    let exec = execution();
    let output = start(&world, 0, "ALARM", T0, &exec).await;
    stop(&world, &output, &exec, json!({"timeout": {"Error": "States.Timeout", "Cause": ""}})).await;
    assert_eq!(resolve(&world, T0 + 3_600_000).await, ResolveOutcome::NoRecording);
}

#[tokio::test]
async fn a_token_is_stored_only_by_the_owner_of_the_slot() {
    let world = World::new().await;
    start(&world, 0, "ALARM", T0, &execution()).await;
    let err = steps::register_token(
        &slots(&world),
        &TaskTokens::from_sdk_config(&world.sdk),
        RegisterInput {
            task_token: "t".into(),
            nat_gateway_id: world.nat_gateway_id.clone(),
            execution_arn: execution(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "SlotNotOwned");
}

#[tokio::test]
async fn a_foreign_alarm_or_another_metric_is_ignored_without_touching_anything() {
    let world = World::new().await;
    let mut foreign = world.alarm_event("ALARM", T0);
    foreign["detail"]["alarmName"] = "another-stack.NatGatewaySpike.x".into();
    let output = steps::start_recording(
        &world.start_config(0),
        &slots(&world),
        &FlowLogs::from_sdk_config(&world.sdk),
        StartInput { event: foreign, execution_arn: execution() },
        recorder::now(),
    )
    .await
    .unwrap();
    assert!(matches!(output, StartOutput::Skip { reason: SkipReason::NotOurAlarm, .. }), "{output:?}");
    assert!(world.flow_logs().await.is_empty());
    assert_eq!(slots(&world).slot(&world.nat_gateway_id).await.unwrap(), None);
}

#[tokio::test]
async fn a_nat_gateway_that_does_not_exist_is_an_error_before_anything_is_claimed() {
    let world = World::new().await;
    let exec = execution();
    let mut event = world.alarm_event("ALARM", T0);
    let ghost = "nat-0fffffffffffffff0";
    event["detail"]["alarmName"] = format!("{}{ghost}", world.alarm_prefix()).into();
    for metric in event["detail"]["configuration"]["metrics"].as_array_mut().unwrap() {
        if let Some(d) = metric.pointer_mut("/metricStat/metric/dimensions") {
            d["NatGatewayId"] = ghost.into();
        }
    }
    // A NAT Gateway the stack watches (listed at deploy time), since deleted
    let mut config = world.start_config(0);
    let recorder::recording::NatGateways::Listed(ids) = &mut config.watched.nat_gateways else { unreachable!() };
    ids.push(ghost.to_owned());
    let err = steps::start_recording(
        &config,
        &slots(&world),
        &FlowLogs::from_sdk_config(&world.sdk),
        StartInput { event: event.clone(), execution_arn: exec.clone() },
        recorder::now(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "NatGatewayNotFound");
    assert!(err.to_string().contains(ghost), "{err}");

    // The NAT Gateway is looked up before the slot is claimed: nothing was claimed or counted
    assert_eq!(slots(&world).slot(ghost).await.unwrap(), None);

    // The Catch sends the state, with no recording, to StopRecording: nothing to release
    let mut state = event;
    state["failure"] = json!({"Error": "NatGatewayNotFound", "Cause": err.to_string()});
    let state: WorkflowState = serde_json::from_value(state).unwrap();
    let stopped = steps::stop_recording(
        &world.stop_config(),
        &slots(&world),
        &FlowLogs::from_sdk_config(&world.sdk),
        &Executions::from_sdk_config(&world.sdk),
        StateInput { state, execution_arn: Some(exec) },
        recorder::now(),
    )
    .await
    .unwrap();
    assert!(!stopped.released);
    assert!(matches!(stopped.ending, Ending::Error { ref error, .. } if error == "NatGatewayNotFound"));
    assert_eq!(slots(&world).slot(ghost).await.unwrap(), None);
}

#[tokio::test]
async fn a_flow_log_that_cannot_deliver_is_a_creation_failure_naming_the_log_group() {
    // Given the log group is gone (deleted by hand, or never deployed)
    let world = World::new().await;
    aws_sdk_cloudwatchlogs::Client::new(&world.sdk)
        .delete_log_group()
        .log_group_name(&world.log_group_name)
        .send()
        .await
        .unwrap();
    let exec = execution();
    // When the alarm fires
    let err = steps::start_recording(
        &world.start_config(0),
        &slots(&world),
        &FlowLogs::from_sdk_config(&world.sdk),
        StartInput { event: world.alarm_event("ALARM", T0), execution_arn: exec.clone() },
        recorder::now(),
    )
    .await
    .unwrap_err();
    // Then StartRecording fails with our error name, naming the interface and the log group
    assert_eq!(err.error_type(), "FlowLogCreationFailed");
    assert!(err.to_string().contains(&world.network_interface_id), "{err}");
    assert!(err.to_string().contains(&world.log_group_name), "{err}");
    // And what it created carries the execution's tag, so StopRecording removes it
    let mut state = world.alarm_event("ALARM", T0);
    state["failure"] = json!({"Error": err.error_type(), "Cause": err.to_string()});
    let stopped = steps::stop_recording(
        &world.stop_config(),
        &slots(&world),
        &FlowLogs::from_sdk_config(&world.sdk),
        &Executions::from_sdk_config(&world.sdk),
        StateInput { state: serde_json::from_value(state).unwrap(), execution_arn: Some(exec) },
        recorder::now(),
    )
    .await
    .unwrap();
    assert_eq!(stopped.deleted_flow_log_ids.len(), 1);
    assert!(stopped.released);
    assert!(world.flow_logs().await.is_empty());
}

#[tokio::test]
async fn a_far_future_time_written_into_the_table_cannot_switch_recording_off() {
    // security.md M3: someone who may write the item stamps it with the year 9999. On 31156d1 the
    // claim's `alarmAt < :alarmAt` then refused every genuine ALARM as a duplicate.
    use aws_sdk_dynamodb::types::AttributeValue;
    let world = World::new().await;
    let forged = r#"{"alarmSeen": 253402300799000, "decided": 253402300799000, "okSeen": 253402300799000}"#;
    aws_sdk_dynamodb::Client::new(&world.sdk)
        .put_item()
        .table_name(&world.table_name)
        .item("pk", AttributeValue::S(world.nat_gateway_id.clone()))
        .item("version", AttributeValue::N("1".into()))
        .item("slot", AttributeValue::S(forged.into()))
        .send()
        .await
        .expect("PutItem");
    let exec = execution();
    let output = start(&world, 0, "ALARM", T0, &exec).await;
    assert!(matches!(output, StartOutput::Record { .. }), "{output:?}");
    let slot = slots(&world).slot(&world.nat_gateway_id).await.unwrap().unwrap();
    assert_eq!(slot.decided, Some(T0));
    assert!(!slot.owner_episode_ended(), "the forged OK does not end the recording: {slot:?}");
}
