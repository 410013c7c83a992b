//! End-to-end scenarios: the real state machine definition in moto's interpreter, its Lambda
//! calls reaching the built binaries through the local gateway. Each reads like the workflow.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use recorder_tests::deploy::{eventually, Deployment};
use recorder_tests::World;
use serde_json::Value;

const T0: i64 = 1_715_681_700_123;
const MINUTE: i64 = 60_000;
const LIMIT: Duration = Duration::from_secs(60);

/// The states of a recording that ends with an OK and reports at once.
const HAPPY_PATH: [&str; 9] = [
    "StartRecording",
    "Skipped?",
    "WaitForAlarmOrTimeout",
    "RecordAtLeast",
    "StopRecording",
    "Notify",
    "Sent?",
    "Outcome?",
    "Done",
];

async fn deployed(parameters: &[(&str, &str)]) -> Deployment {
    World::new().await.deploy(parameters).await
}

fn resolve(d: &Deployment, at: i64) -> Value {
    d.deliver("AlarmOkResolverFunction", &d.world.alarm_event("OK", at))
}

#[tokio::test]
async fn alarm_then_ok_records_while_waiting_and_cleans_up_after() {
    let d = deployed(&[]).await;
    // Spike: the alarm fires
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    // Flow logs are on while the workflow waits
    let logs = d.flow_logs().await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    // Calm: the alarm returns to OK
    assert_eq!(resolve(&d, T0 + 5 * MINUTE)["outcome"], "resumed");
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    // Flow logs are off, the slot and its token released, the recording counted once
    assert!(d.flow_logs().await.is_empty());
    let slot = d.slot().await.unwrap();
    assert_eq!((slot.owner, slot.recordings), (None, 1));
    assert_eq!(done.output["stop"]["ending"], "alarm-ok");
    // One email, saying why it stopped
    let emails = d.emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(emails[0].subject.contains("alarm back to OK"), "{}", emails[0].subject);
    assert!(emails[0].body.contains(&d.world.network_interface_id), "{}", emails[0].body);
    assert_eq!(d.states_entered(&exec).await, HAPPY_PATH);
}

#[tokio::test]
async fn alarm_without_ok_stops_at_the_recording_time() {
    let d = deployed(&[("RecordingTime", "2")]).await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    assert_eq!(d.flow_logs().await.len(), 1);
    // No OK ever comes: the wait times out after RecordingTime
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output["stop"]["ending"], "timeout");
    assert!(d.flow_logs().await.is_empty());
    assert_eq!(d.slot().await.unwrap().owner, None);
    let emails = d.emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(emails[0].subject.contains("stopped at the time limit"), "{}", emails[0].subject);
    assert!(emails[0].body.contains("the recording time ran out"), "{}", emails[0].body);
}

#[tokio::test]
async fn an_ok_before_the_token_is_stored_still_ends_the_recording_within_seconds() {
    let d = deployed(&[]).await;
    // Hold the wait's Lambda back, so the OK is sure to come first
    let register = d.function("TokenRegisterFunction").to_owned();
    d.local.gateway.pause(&register);
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    eventually("the wait's invocation is held", LIMIT, async || d.local.gateway.held(&register) == 1).await;
    assert_eq!(d.flow_logs().await.len(), 1);
    // The OK arrives: nothing is waiting yet, so the resolver marks the recording
    assert_eq!(resolve(&d, T0 + MINUTE)["outcome"], "marked");
    // The token arrives: the workflow resumes at once, not at the timeout (900 s)
    d.local.gateway.resume(&register);
    let done = d.finished(&exec, Duration::from_secs(20)).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output["wait"]["resumedBy"], "token-register");
    assert_eq!(done.output["stop"]["ending"], "alarm-ok");
    assert!(d.flow_logs().await.is_empty());
}

#[tokio::test]
async fn the_same_alarm_delivered_twice_makes_one_recording() {
    let d = deployed(&[]).await;
    let event = d.world.alarm_event("ALARM", T0);
    let (first, second) = tokio::join!(d.start(&event), d.start(&event));
    // One execution records; the other sees the slot taken and ends without recording
    let mut recording = None;
    eventually("one execution waits and the other ends", LIMIT, async || {
        let a = d.status(&first).await;
        let b = d.status(&second).await;
        let slot = d.slot().await;
        let owner = slot.and_then(|s| s.owner).filter(|o| o.task_token.is_some()).map(|o| o.execution);
        recording = owner.clone();
        match owner {
            Some(o) if o == first => b.status == ExecutionStatus::Succeeded,
            Some(o) if o == second => a.status == ExecutionStatus::Succeeded,
            _ => false,
        }
    })
    .await;
    let recording = recording.unwrap();
    let skipped = if recording == first { &second } else { &first };
    let skip = d.status(skipped).await;
    assert_eq!(skip.output["start"]["action"], "skip");
    assert_eq!(skip.output["start"]["reason"], "already-recording");
    assert_eq!(d.flow_logs().await.len(), 1);
    assert_eq!(resolve(&d, T0 + MINUTE)["outcome"], "resumed");
    assert_eq!(d.finished(&recording, LIMIT).await.status, ExecutionStatus::Succeeded);
    assert_eq!(d.slot().await.unwrap().recordings, 1);
    assert!(d.flow_logs().await.is_empty());
    assert_eq!(d.emails().await.len(), 1);
}

#[tokio::test]
async fn a_late_ok_never_ends_the_next_recording() {
    let d = deployed(&[]).await;
    // First episode: ALARM, OK
    let first = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&first).await;
    assert_eq!(resolve(&d, T0 + 5 * MINUTE)["outcome"], "resumed");
    assert_eq!(d.finished(&first, LIMIT).await.status, ExecutionStatus::Succeeded);
    // Second episode starts
    let second = d.start(&d.world.alarm_event("ALARM", T0 + 10 * MINUTE)).await;
    d.waiting(&second).await;
    // The first OK is delivered again, late: it belongs to the first episode
    assert_eq!(resolve(&d, T0 + 5 * MINUTE)["outcome"], "no-recording");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(d.status(&second).await.status, ExecutionStatus::Running);
    assert_eq!(d.flow_logs().await.len(), 1);
    // The second episode's own OK ends it
    assert_eq!(resolve(&d, T0 + 15 * MINUTE)["outcome"], "resumed");
    assert_eq!(d.finished(&second, LIMIT).await.status, ExecutionStatus::Succeeded);
    assert_eq!(d.slot().await.unwrap().recordings, 2);
    assert_eq!(d.emails().await.len(), 2);
}

#[tokio::test]
async fn no_recording_once_num_of_recordings_is_reached() {
    let d = deployed(&[("NumOfRecordings", "1")]).await;
    let first = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&first).await;
    resolve(&d, T0 + MINUTE);
    assert_eq!(d.finished(&first, LIMIT).await.status, ExecutionStatus::Succeeded);
    assert_eq!(d.emails().await.len(), 1);
    // The next spike finds the limit reached
    let second = d.start(&d.world.alarm_event("ALARM", T0 + 10 * MINUTE)).await;
    let done = d.finished(&second, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output["start"]["reason"], "limit-reached");
    assert_eq!(d.states_entered(&second).await, ["StartRecording", "Skipped?", "Skipped"]);
    assert!(d.flow_logs().await.is_empty());
    assert!(d.emails().await.is_empty());
}

#[tokio::test]
async fn a_failed_flow_log_creation_leaves_nothing_and_says_so() {
    let d = deployed(&[]).await;
    // The log group is gone: flow logs would deliver nowhere
    aws_sdk_cloudwatchlogs::Client::new(&d.world.sdk)
        .delete_log_group()
        .log_group_name(&d.world.log_group_name)
        .send()
        .await
        .unwrap();
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    let done = d.finished(&exec, LIMIT).await;
    // The execution fails with our error name, after cleaning up and emailing
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    assert_eq!(done.error.as_deref(), Some("RecordingFailed"));
    assert_eq!(
        d.states_entered(&exec).await,
        ["StartRecording", "StopRecording", "Notify", "Sent?", "Outcome?", "RecordingFailed"]
    );
    assert!(d.flow_logs().await.is_empty());
    // It never captured: it does not use up NumOfRecordings
    let slot = d.slot().await.unwrap();
    assert_eq!((slot.owner, slot.recordings), (None, 0));
    let emails = d.emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(emails[0].subject.ends_with("recording FAILED"), "{}", emails[0].subject);
    assert!(emails[0].body.contains("FlowLogCreationFailed"), "{}", emails[0].body);
    assert!(emails[0].body.contains(&d.world.log_group_name), "{}", emails[0].body);
}

#[tokio::test]
async fn an_alarm_this_stack_does_not_own_is_ignored() {
    let d = deployed(&[]).await;
    let mut event = d.world.alarm_event("ALARM", T0);
    event["detail"]["alarmName"] = format!("another-stack.NatGatewaySpike.{}", d.world.nat_gateway_id).into();
    let exec = d.start(&event).await;
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output["start"]["reason"], "not-our-alarm");
    assert!(d.flow_logs().await.is_empty());
    assert_eq!(d.slot().await, None);
    assert!(d.emails().await.is_empty());
    // Its OK is ignored too
    let mut ok = d.world.alarm_event("OK", T0 + MINUTE);
    ok["detail"]["alarmName"] = event["detail"]["alarmName"].clone();
    assert_eq!(d.deliver("AlarmOkResolverFunction", &ok)["outcome"], "ignored");
}

#[tokio::test]
async fn the_report_waits_for_the_last_records_at_most_report_delay_seconds_and_says_so() {
    let d = deployed(&[("ReportDelaySeconds", "2")]).await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    assert_eq!(resolve(&d, T0 + MINUTE)["outcome"], "resumed");
    let resumed = std::time::Instant::now();
    let done = d.finished(&exec, LIMIT).await;
    let reported_after = resumed.elapsed();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    // No record ever arrives: Notify asks to wait, once or more, until the delay is over, and
    // not longer: each wait lasts at least a second, so a 2 s delay from a stop stamped in whole
    // seconds allows at most three, and the report goes within the delay plus the pipeline's
    // own few seconds (a delay ten times too long would take more than 20)
    let entered = d.states_entered(&exec).await;
    let waits = entered.iter().filter(|s| *s == "WaitForDelivery").count();
    assert!((1..=3).contains(&waits), "{waits} waits for a 2 s delay: {entered:?}");
    assert!(reported_after < Duration::from_secs(12), "the report went {reported_after:?} after the OK");
    assert_eq!(entered.iter().filter(|s| *s == "Notify").count(), waits + 1, "{entered:?}");
    assert_eq!(entered.last().map(String::as_str), Some("Done"));
    let emails = d.emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(
        emails[0].body.contains("Window      records may still be arriving: none yet, the recording stopped at "),
        "{}",
        emails[0].body
    );
    // No record reached the log group: the email says so, and goes
    assert!(
        emails[0].body.contains("No flow records reached the log group for this window yet."),
        "{}",
        emails[0].body
    );
}

#[tokio::test]
async fn the_report_goes_once_the_last_records_have_arrived_and_stopped_changing() {
    let d = deployed(&[("ReportDelaySeconds", "600")]).await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    // A record of the interface's stream arrives, stamped now (as VPC Flow Logs would write it)
    d.world.write_flow_record(chrono::Utc::now()).await;
    assert_eq!(resolve(&d, T0 + MINUTE)["outcome"], "resumed");
    // The report counts the records twice, 30 s apart, and goes: it does not wait the 600 s
    let done = d.finished(&exec, Duration::from_secs(75)).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let entered = d.states_entered(&exec).await;
    assert_eq!(entered.iter().filter(|s| *s == "WaitForDelivery").count(), 1, "{entered:?}");
    let emails = d.emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    // (the record is stamped a moment before the stop: the report names its time)
    assert!(emails[0].body.contains("Window      records up to "), "{}", emails[0].body);
    assert!(emails[0].body.contains(" of a recording that stopped at "), "{}", emails[0].body);
}

#[tokio::test]
async fn an_early_ok_ends_the_recording_at_the_minimum_not_at_the_ok_nor_the_time_limit() {
    // A minimum well above the pipeline's own delay (StartRecording alone takes seconds under
    // the consistency lag), so that only RecordAtLeast can make the recording last it
    const MINIMUM: i64 = 20;
    let d = deployed(&[("MinRecordingSeconds", &MINIMUM.to_string()), ("RecordingTime", "120")]).await;
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    // The spike ends at once: the OK comes seconds after the ALARM
    let ok_at = std::time::Instant::now();
    assert_eq!(resolve(&d, T0 + MINUTE)["outcome"], "resumed");
    // Still recording a moment after the OK
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(d.status(&exec).await.status, ExecutionStatus::Running);
    assert_eq!(d.flow_logs().await.len(), 1, "the flow log runs until the minimum");
    // It ends at the minimum: not before recordAtLeastUntil, well before RecordingTime
    let done = d.finished(&exec, Duration::from_secs(60)).await;
    let ended_after_ok = ok_at.elapsed();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output["stop"]["ending"], "alarm-ok");
    let time = |value: &Value| chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap();
    let started = time(&done.output["start"]["recording"]["startedAt"]);
    let until = time(&done.output["start"]["recording"]["recordAtLeastUntil"]);
    let stopped = time(&done.output["stop"]["stoppedAt"]);
    // (the start is stamped in whole seconds, the minimum's end rounded up to the next one)
    let minimum = (until - started).num_seconds();
    assert!((MINIMUM..=MINIMUM + 1).contains(&minimum), "recordAtLeastUntil is {minimum} s after the start");
    // moto's Wait waits the whole seconds to the timestamp, truncated (its
    // `Timestamp._get_wait_seconds`), so it may end up to a second early; AWS waits until it
    let moto_early = chrono::Duration::seconds(1);
    assert!(stopped >= until - moto_early, "stopped at {stopped}, before the minimum ran out at {until}");
    let recorded = (stopped - started).num_seconds();
    assert!((MINIMUM - 1..60).contains(&recorded), "recorded {recorded} s; the minimum is {MINIMUM}, the limit 120");
    assert!(ended_after_ok < Duration::from_secs(60), "{ended_after_ok:?}");
    assert_eq!(d.states_entered(&exec).await, HAPPY_PATH);
    assert!(d.flow_logs().await.is_empty());
    eprintln!(
        "early OK: recorded {recorded} s (minimum {MINIMUM} s, limit 120 s); ended {ended_after_ok:?} after the OK"
    );
}

#[tokio::test]
async fn a_spike_skipped_for_the_limit_is_emailed_when_asked() {
    let d = deployed(&[("NumOfRecordings", "1"), ("NotifyWhenLimitReached", "true")]).await;
    let first = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&first).await;
    resolve(&d, T0 + MINUTE);
    assert_eq!(d.finished(&first, LIMIT).await.status, ExecutionStatus::Succeeded);
    assert_eq!(d.emails().await.len(), 1);
    let second = d.start(&d.world.alarm_event("ALARM", T0 + 10 * MINUTE)).await;
    let done = d.finished(&second, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(d.states_entered(&second).await, ["StartRecording", "Skipped?", "Notify", "Sent?", "Outcome?", "Done"]);
    let emails = d.emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0].subject, format!("NAT Gateway {}: spike NOT recorded", d.world.nat_gateway_id));
    assert!(d.flow_logs().await.is_empty());
    // The same ALARM delivered again sends no second email
    let again = d.start(&d.world.alarm_event("ALARM", T0 + 10 * MINUTE)).await;
    let done = d.finished(&again, LIMIT).await;
    assert_eq!(done.output["start"]["notify"], false, "{done:?}");
    assert!(d.emails().await.is_empty());
}

#[tokio::test]
async fn an_ok_handled_before_its_alarm_still_ends_the_recording() {
    let d = deployed(&[]).await;
    // The OK of the episode is handled first (EventBridge does not promise order)
    assert_eq!(resolve(&d, T0 + MINUTE)["outcome"], "no-recording");
    // Then its ALARM: the recording starts, and ends at once (MinRecordingSeconds is 0 here)
    // instead of running for the whole RecordingTime
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    let done = d.finished(&exec, Duration::from_secs(20)).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output["wait"]["resumedBy"], "token-register");
    assert_eq!(done.output["stop"]["ending"], "alarm-ok");
    assert_eq!(d.states_entered(&exec).await, HAPPY_PATH);
    assert!(d.flow_logs().await.is_empty());
}

#[tokio::test]
async fn an_alarm_for_a_deleted_nat_gateway_ends_at_once_with_no_flow_log() {
    let d = deployed(&[]).await;
    // The NAT Gateway is deleted; its alarm's last ALARM is still delivered
    aws_sdk_ec2::Client::new(&d.world.sdk)
        .delete_nat_gateway()
        .nat_gateway_id(&d.world.nat_gateway_id)
        .send()
        .await
        .expect("DeleteNatGateway");
    let exec = d.start(&d.world.alarm_event("ALARM", T0)).await;
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output["start"]["reason"], "nat-gateway-unavailable");
    assert_eq!(d.states_entered(&exec).await, ["StartRecording", "Skipped?", "Skipped"]);
    assert!(d.flow_logs().await.is_empty());
    // Nothing was claimed or counted: NumOfRecordings is not spent on it
    assert_eq!(d.slot().await, None);
}

/// This world's alarm event, renamed after `name_nat` and about `dimension_nat`.
fn alarm_about(d: &Deployment, at: i64, name_nat: &str, dimension_nat: &str) -> Value {
    let mut event = d.world.alarm_event("ALARM", at);
    event["detail"]["alarmName"] = format!("{}{name_nat}", d.world.alarm_prefix()).into();
    for metric in event["detail"]["configuration"]["metrics"].as_array_mut().unwrap() {
        if let Some(dimensions) = metric.pointer_mut("/metricStat/metric/dimensions") {
            dimensions["NatGatewayId"] = dimension_nat.into();
        }
    }
    event
}

#[tokio::test]
async fn an_alarm_named_like_ours_about_a_nat_gateway_we_do_not_watch_records_nothing() {
    let d = deployed(&[]).await;
    let unlisted = "nat-0fffffffffffffff1";
    let exec = d.start(&alarm_about(&d, T0, unlisted, unlisted)).await;
    let done = d.finished(&exec, LIMIT).await;
    if d.watches_all() {
        // Every NAT Gateway is watched, and this one does not exist: the start fails, saying so
        assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
        assert!(d.history_errors(&exec).await.iter().any(|e| e.contains("NatGatewayNotFound")), "{done:?}");
    } else {
        assert_eq!(done.output["start"]["reason"], "not-watched", "{done:?}");
    }
    assert!(d.flow_logs().await.is_empty());
    assert_eq!(d.slot().await, None);
}

#[tokio::test]
async fn an_alarm_with_our_name_but_another_nat_gateway_in_its_metrics_records_nothing() {
    let d = deployed(&[]).await;
    // Named after our NAT Gateway, measuring another: whose traffic would be recorded?
    let exec = d.start(&alarm_about(&d, T0, &d.world.nat_gateway_id, "nat-0fffffffffffffff1")).await;
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.output["start"]["reason"], "not-our-alarm", "{done:?}");
    assert!(d.flow_logs().await.is_empty());
    assert_eq!(d.slot().await, None);
}

#[tokio::test]
async fn a_future_dated_alarm_does_not_block_the_next_genuine_one() {
    let d = deployed(&[]).await;
    // A hand-made execution stamped 9999-12-31
    let mut forged = d.world.alarm_event("ALARM", T0);
    forged["detail"]["state"]["timestamp"] = "9999-12-31T23:59:59.000+0000".into();
    let exec = d.start(&forged).await;
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.output["start"]["reason"], "future-timestamp", "{done:?}");
    assert_eq!(d.slot().await, None, "nothing was claimed");
    // The genuine ALARM records
    let genuine = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&genuine).await;
    assert_eq!(d.flow_logs().await.len(), 1);
    assert_eq!(resolve(&d, T0 + MINUTE)["outcome"], "resumed");
    assert_eq!(d.finished(&genuine, LIMIT).await.status, ExecutionStatus::Succeeded);
}

/// The execution a hand-over starts for the NAT Gateway's episode at `alarm_at`.
fn successor_of(d: &Deployment, alarm_at: i64) -> String {
    recorder::tokens::successor_arn(&d.state_machine_arn, &d.world.nat_gateway_id, alarm_at)
}

/// Delivers an ALARM of the episode at `alarm_at` while another execution records: it is left
/// to that recording.
async fn left_to_the_owner(d: &Deployment, alarm_at: i64) {
    let execution = d.start(&d.world.alarm_event("ALARM", alarm_at)).await;
    let skipped = d.finished(&execution, LIMIT).await;
    assert_eq!(skipped.output["start"]["reason"], "already-recording", "{skipped:?}");
}

/// Plays the successor's recording to its OK at `ok_at`, and checks that nothing is left.
async fn successor_records_until(d: &Deployment, first: &str, successor: &str, ok_at: i64) {
    let done = d.finished(first, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output["stop"]["successor"], successor, "{done:?}");
    d.waiting(successor).await;
    assert_eq!(d.flow_logs().await.len(), 1);
    assert_eq!(resolve(d, ok_at)["outcome"], "resumed");
    let done = d.finished(successor, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(d.states_entered(successor).await, HAPPY_PATH);
    assert!(d.flow_logs().await.is_empty());
    assert_eq!(d.slot().await.unwrap().recordings, 2);
    assert_eq!(d.emails().await.len(), 2);
}

#[tokio::test]
async fn an_episode_that_begins_while_the_last_recording_is_stopping_is_handed_over_when_it_stops() {
    // core.md M5: nothing polls for the slot, so no retry budget can run out
    let d = deployed(&[]).await;
    // First episode: ALARM, then its OK; StopRecording is held back (throttled deletes, say)
    let first = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&first).await;
    let stop = d.function("FlowlogStopFunction").to_owned();
    d.local.gateway.pause(&stop);
    assert_eq!(resolve(&d, T0 + 5 * MINUTE)["outcome"], "resumed");
    eventually("StopRecording is held", LIMIT, async || d.local.gateway.held(&stop) == 1).await;
    // The alarm re-enters ALARM while the first recording is still stopping: left to it
    left_to_the_owner(&d, T0 + 6 * MINUTE).await;
    // The first recording lets go and hands the NAT Gateway over to the open episode
    d.local.gateway.resume(&stop);
    successor_records_until(&d, &first, &successor_of(&d, T0 + 6 * MINUTE), T0 + 9 * MINUTE).await;
}

#[tokio::test]
async fn an_episode_that_begins_while_the_recording_waits_is_handed_over_when_the_late_ok_ends_it() {
    // core.md H1 and M1: the new episode is never skipped on a stale read, and gets a whole
    // recording of its own rather than what is left of the first one's
    let d = deployed(&[]).await;
    let first = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&first).await;
    // ALARM at +6 min is handled before the OK at +5 min that came between the two episodes
    left_to_the_owner(&d, T0 + 6 * MINUTE).await;
    // The late OK ends the first episode as it would have in order; the second is still open
    assert_eq!(resolve(&d, T0 + 5 * MINUTE)["outcome"], "resumed");
    successor_records_until(&d, &first, &successor_of(&d, T0 + 6 * MINUTE), T0 + 9 * MINUTE).await;
}

#[tokio::test]
async fn a_redelivered_alarm_of_an_episode_the_last_recording_covered_records_nothing() {
    // core.md M2, as a new user met it: ALARM t0, ALARM t2 while recording, OK t3, then t2 again
    let d = deployed(&[]).await;
    let first = d.start(&d.world.alarm_event("ALARM", T0)).await;
    d.waiting(&first).await;
    left_to_the_owner(&d, T0 + 2 * MINUTE).await;
    assert_eq!(resolve(&d, T0 + 3 * MINUTE)["outcome"], "resumed");
    let done = d.finished(&first, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert!(done.output["stop"].get("successor").is_none(), "t2 opened and closed inside it: {done:?}");
    let again = d.start(&d.world.alarm_event("ALARM", T0 + 2 * MINUTE)).await;
    let skipped = d.finished(&again, LIMIT).await;
    assert_eq!(skipped.output["start"]["reason"], "duplicate-alarm", "{skipped:?}");
    assert!(d.flow_logs().await.is_empty());
    assert_eq!(d.slot().await.unwrap().recordings, 1);
    assert_eq!(d.emails().await.len(), 1);
}
