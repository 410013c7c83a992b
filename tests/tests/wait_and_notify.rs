//! The wait and the email against moto: a real execution waiting on a task token is resumed by
//! the OK resolver or by token-register, and the report reaches a subscriber of the topic.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use recorder::config::{NotifierConfig, ResolverConfig};
use recorder::contract::{RegisterInput, ResolveOutcome, StartInput, StateInput};
use recorder::contract::{StartOutput, WorkflowState};
use recorder::flowlogs::FlowLogs;
use recorder::sns::Mailer;
use recorder::store::SlotTable;
use recorder::tokens::{Executions, TaskTokens};
use recorder::{contract, steps};
use recorder_tests::{unique, World, REGION};
use serde_json::{json, Value};

const T0: i64 = 1_715_681_700_123;

/// An execution parked on a task token, which it hands over through an SQS queue (moto's
/// interpreter cannot invoke our Lambdas here; the local-stack tests do that).
struct Waiting {
    sfn: aws_sdk_sfn::Client,
    execution_arn: String,
    task_token: String,
}

fn executions(world: &World) -> Executions {
    Executions::from_sdk_config(&world.sdk)
}

async fn waiting_execution(world: &World) -> Waiting {
    let sqs = aws_sdk_sqs::Client::new(&world.sdk);
    let queue_url =
        sqs.create_queue().queue_name(unique("tokens")).send().await.unwrap().queue_url().unwrap().to_owned();
    let definition = json!({
        "StartAt": "WaitForAlarmOrTimeout",
        "States": {
            "WaitForAlarmOrTimeout": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue_url, "MessageBody": {"taskToken.$": "$$.Task.Token"}},
                "TimeoutSeconds": 120,
                "End": true
            }
        }
    });
    let sfn = aws_sdk_sfn::Client::new(&world.sdk);
    let machine = sfn
        .create_state_machine()
        .name(unique("wait"))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/states")
        .send()
        .await
        .expect("CreateStateMachine");
    let execution_arn = sfn
        .start_execution()
        .state_machine_arn(machine.state_machine_arn())
        .name(unique("run"))
        .input("{}")
        .send()
        .await
        .expect("StartExecution")
        .execution_arn()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let task_token = loop {
        let received = sqs.receive_message().queue_url(&queue_url).wait_time_seconds(1).send().await.unwrap();
        if let Some(body) = received.messages().first().and_then(|m| m.body()) {
            let body: Value = serde_json::from_str(body).unwrap();
            break body["taskToken"].as_str().expect("a task token").to_owned();
        }
        assert!(Instant::now() < deadline, "the execution never reached its wait");
    };
    Waiting { sfn, execution_arn, task_token }
}

impl Waiting {
    async fn finished(&self) -> (ExecutionStatus, Value) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.sfn.describe_execution().execution_arn(&self.execution_arn).send().await.unwrap();
            if *out.status() != ExecutionStatus::Running {
                let output = out.output().map(|o| serde_json::from_str(o).unwrap()).unwrap_or(Value::Null);
                return (out.status().clone(), output);
            }
            assert!(Instant::now() < deadline, "the execution is still waiting");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn start_for(world: &World, execution_arn: &str) -> StartOutput {
    let output = steps::start_recording(
        &world.start_config(0),
        &SlotTable::from_sdk_config(&world.sdk, &world.table_name),
        &FlowLogs::from_sdk_config(&world.sdk),
        StartInput { event: world.alarm_event("ALARM", T0), execution_arn: execution_arn.to_owned() },
        recorder::now(),
    )
    .await
    .unwrap();
    assert!(matches!(output, StartOutput::Record { .. }), "{output:?}");
    output
}

async fn register(world: &World, waiting: &Waiting) -> contract::RegisterOutput {
    steps::register_token(
        &SlotTable::from_sdk_config(&world.sdk, &world.table_name),
        &TaskTokens::from_sdk_config(&world.sdk),
        RegisterInput {
            task_token: waiting.task_token.clone(),
            nat_gateway_id: world.nat_gateway_id.clone(),
            execution_arn: waiting.execution_arn.clone(),
        },
    )
    .await
    .expect("token-register")
}

async fn resolve(world: &World, at: i64) -> ResolveOutcome {
    let config = ResolverConfig { table_name: world.table_name.clone(), watched: world.watched() };
    steps::resolve_ok(
        &config,
        &SlotTable::from_sdk_config(&world.sdk, &world.table_name),
        &TaskTokens::from_sdk_config(&world.sdk),
        world.alarm_event("OK", at),
        recorder::now(),
    )
    .await
    .expect("alarm-ok-resolver")
}

#[tokio::test]
async fn the_ok_resolver_resumes_a_waiting_execution() {
    // Given an execution recording the NAT Gateway and waiting with its token stored
    let world = World::new().await;
    let waiting = waiting_execution(&world).await;
    start_for(&world, &waiting.execution_arn).await;
    assert!(!register(&world, &waiting).await.resumed_at_once);
    // When the alarm returns to OK
    assert_eq!(resolve(&world, T0 + 60_000).await, ResolveOutcome::Resumed);
    // Then the execution leaves its wait with the OK as the wait's result
    let (status, output) = waiting.finished().await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(output["ending"], "alarm-ok");
    assert_eq!(output["okAtMillis"], T0 + 60_000);
    assert_eq!(output["resumedBy"], "alarm-ok-resolver");
    // And a second delivery of the same OK finds the wait closed: a success, not an error
    assert_eq!(resolve(&world, T0 + 60_000).await, ResolveOutcome::AlreadyResolved);
}

#[tokio::test]
async fn an_ok_that_came_before_the_token_resumes_the_execution_when_the_token_is_stored() {
    let world = World::new().await;
    let waiting = waiting_execution(&world).await;
    start_for(&world, &waiting.execution_arn).await;
    // The OK arrives first: nothing is waiting yet, so the resolver leaves a mark
    assert_eq!(resolve(&world, T0 + 5_000).await, ResolveOutcome::Marked);
    // The token arrives: token-register sees the mark and resumes at once
    assert!(register(&world, &waiting).await.resumed_at_once);
    let (status, output) = waiting.finished().await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(output["resumedBy"], "token-register");
}

/// A topic with an SQS subscriber: its ARN, the SQS client and the queue's URL.
async fn subscribed_topic(world: &World) -> (String, aws_sdk_sqs::Client, String) {
    let sns = aws_sdk_sns::Client::new(&world.sdk);
    let sqs = aws_sdk_sqs::Client::new(&world.sdk);
    let topic_arn = sns.create_topic().name(unique("reports")).send().await.unwrap().topic_arn().unwrap().to_owned();
    let queue_url =
        sqs.create_queue().queue_name(unique("inbox")).send().await.unwrap().queue_url().unwrap().to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap()
        .clone();
    sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(queue_arn).send().await.unwrap();
    (topic_arn, sqs, queue_url)
}

#[tokio::test]
async fn the_report_reaches_a_subscriber_of_the_topic() {
    let world = World::new().await;
    let (topic_arn, sqs, queue_url) = subscribed_topic(&world).await;

    // Given a recording that ended with the alarm back to OK
    let exec = format!("arn:aws:states:{REGION}:123456789012:execution:recorder:{}", unique("exec"));
    let slots = SlotTable::from_sdk_config(&world.sdk, &world.table_name);
    let mut state = world.alarm_event("ALARM", T0);
    state["start"] = serde_json::to_value(start_for(&world, &exec).await).unwrap();
    state["wait"] = json!({"ending": "alarm-ok"});
    let stop = steps::stop_recording(
        &world.stop_config(),
        &slots,
        &FlowLogs::from_sdk_config(&world.sdk),
        &executions(&world),
        StateInput { state: serde_json::from_value(state.clone()).unwrap(), execution_arn: Some(exec.clone()) },
        recorder::now(),
    )
    .await
    .unwrap();
    state["stop"] = serde_json::to_value(&stop).unwrap();

    // When Notify runs
    let config = NotifierConfig {
        topic_arn: topic_arn.clone(),
        log_group_name: world.log_group_name.clone(),
        query_name: "Serverless Auto VPC Flow Log Recorder".into(),
        region: REGION.into(),
        price_per_gb: 0.045,
        account_id: recorder_tests::ACCOUNT.into(),
        shared_topic: false,
    };
    let state: WorkflowState = serde_json::from_value(state).unwrap();
    let insights = recorder::insights::Insights::from_sdk_config(&world.sdk, Duration::from_millis(200), 25);
    let mailer = Mailer::from_sdk_config(&world.sdk, &topic_arn);
    let meter = recorder::metrics::Meter::from_sdk_config(&world.sdk);
    let ec2 = FlowLogs::from_sdk_config(&world.sdk);
    let sources = steps::Sources { insights: &insights, meter: &meter, ec2: &ec2, account_alias: None };
    let input = StateInput { state, execution_arn: None };
    let sent = steps::notify(&config, &mailer, &sources, input, recorder::now()).await.expect("Notify");
    let contract::NotifyOutput::Sent { subject, .. } = sent else { panic!("the report waited: {sent:?}") };

    // Then the subscriber receives the email with its subject and body
    let received = sqs.receive_message().queue_url(&queue_url).wait_time_seconds(5).send().await.unwrap();
    let envelope: Value = serde_json::from_str(received.messages()[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Subject"], subject.as_str());
    assert!(subject.starts_with(&format!("NAT Gateway {}: recorded", world.nat_gateway_id)), "{subject}");
    let body = envelope["Message"].as_str().unwrap();
    assert!(body.contains("Why         the alarm returned to OK"), "{body}");
    assert!(body.contains(&format!("Log group   {}", world.log_group_name)), "{body}");
    assert!(body.contains(&format!("Flow logs removed: {}", stop.deleted_flow_log_ids.join(", "))), "{body}");
}

/// A recording stopped `length` after it started (a moment ago), waiting up to ten minutes for
/// its records; Notify called at a time the test gives, its answer fed back as the workflow does.
struct Reporting {
    world: World,
    state: Value,
    started: chrono::DateTime<chrono::Utc>,
    stopped: chrono::DateTime<chrono::Utc>,
    config: NotifierConfig,
    queue: (aws_sdk_sqs::Client, String),
}

impl Reporting {
    async fn new(length: chrono::Duration) -> Self {
        let world = World::new().await;
        let exec = format!("arn:aws:states:{REGION}:123456789012:execution:recorder:{}", unique("exec"));
        let mut state = world.alarm_event("ALARM", T0);
        state["start"] = serde_json::to_value(start_for(&world, &exec).await).unwrap();
        state["start"]["recording"]["reportDelaySeconds"] = 600.into();
        state["wait"] = json!({"ending": "alarm-ok"});
        let started = chrono::DateTime::parse_from_rfc3339(state["start"]["recording"]["startedAt"].as_str().unwrap())
            .unwrap()
            .to_utc();
        let stopped = started + length;
        let input = StateInput { state: serde_json::from_value(state.clone()).unwrap(), execution_arn: Some(exec) };
        let slots = SlotTable::from_sdk_config(&world.sdk, &world.table_name);
        let ec2 = FlowLogs::from_sdk_config(&world.sdk);
        let stop = steps::stop_recording(&world.stop_config(), &slots, &ec2, &executions(&world), input, stopped)
            .await
            .unwrap();
        state["stop"] = serde_json::to_value(&stop).unwrap();
        let (topic_arn, sqs, queue_url) = subscribed_topic(&world).await;
        let config = NotifierConfig {
            topic_arn,
            log_group_name: world.log_group_name.clone(),
            query_name: "q".into(),
            region: REGION.into(),
            price_per_gb: 0.045,
            account_id: recorder_tests::ACCOUNT.into(),
            shared_topic: false,
        };
        Self { world, state, started, stopped, config, queue: (sqs, queue_url) }
    }

    /// Notify, `after` the stop; a wait's census goes back into the state for the next call.
    async fn notify(&mut self, after: i64) -> contract::NotifyOutput {
        let insights = recorder::insights::Insights::from_sdk_config(&self.world.sdk, Duration::from_millis(200), 25);
        let mailer = Mailer::from_sdk_config(&self.world.sdk, &self.config.topic_arn);
        let meter = recorder::metrics::Meter::from_sdk_config(&self.world.sdk);
        let ec2 = FlowLogs::from_sdk_config(&self.world.sdk);
        let sources = steps::Sources { insights: &insights, meter: &meter, ec2: &ec2, account_alias: None };
        let input = StateInput { state: serde_json::from_value(self.state.clone()).unwrap(), execution_arn: None };
        let now = self.stopped + chrono::Duration::seconds(after);
        let answer = steps::notify(&self.config, &mailer, &sources, input, now).await.expect("Notify");
        self.state["notify"] = serde_json::to_value(&answer).unwrap();
        answer
    }

    async fn email(&self) -> String {
        let (sqs, queue_url) = &self.queue;
        let received = sqs.receive_message().queue_url(queue_url).wait_time_seconds(5).send().await.unwrap();
        let envelope: Value = serde_json::from_str(received.messages()[0].body().unwrap()).unwrap();
        envelope["Message"].as_str().unwrap().to_owned()
    }
}

fn waits(answer: &contract::NotifyOutput) -> bool {
    matches!(answer, contract::NotifyOutput::Wait { .. })
}

#[tokio::test]
async fn a_successors_records_on_the_same_stream_never_make_the_report_complete() {
    // Given a recording of 40 s
    let mut r = Reporting::new(chrono::Duration::seconds(40)).await;
    // When the next recording on the same interface writes a record stamped after this stop
    r.world.write_flow_record(r.stopped + chrono::Duration::seconds(20)).await;
    // Then this report waits for its own last records, however long the count holds still
    assert!(waits(&r.notify(5).await));
    assert!(waits(&r.notify(40).await));
    // And once a record from this recording's last minute arrives, it waits for the count to
    // hold for 30 s, then goes, complete
    r.world.write_flow_record(r.stopped - chrono::Duration::seconds(10)).await;
    let answer = r.notify(45).await;
    let contract::NotifyOutput::Wait { census: Some(census), .. } = &answer else { panic!("{answer:?}") };
    assert_eq!(census.records.values().copied().collect::<Vec<_>>(), [1], "{census:?}");
    assert!(waits(&r.notify(60).await), "held for 15 s only");
    let answer = r.notify(76).await;
    assert!(!waits(&answer), "held for 31 s since it was first counted: {answer:?}");
    let body = r.email().await;
    let last = (r.stopped - chrono::Duration::seconds(10)).format("%H:%M:%S");
    assert!(body.contains(&format!("Window      records up to {last} of a recording that stopped at ")), "{body}");
}

#[tokio::test]
async fn an_interface_with_nothing_in_its_last_minute_is_reported_idle_after_five_quiet_minutes() {
    // Given a recording of three minutes whose interface carried traffic in its first minute only
    let mut r = Reporting::new(chrono::Duration::seconds(180)).await;
    r.world.write_flow_record(r.started + chrono::Duration::seconds(30)).await;
    // Then the report waits while records of the last minute may still come
    assert!(waits(&r.notify(30).await));
    assert!(waits(&r.notify(270).await));
    // And five quiet minutes after the stop, the interface was idle: the report says so, and
    // does not say its records may still be arriving
    assert!(!waits(&r.notify(301).await));
    let body = r.email().await;
    let stream = recorder::contract::log_stream_of(&r.world.network_interface_id);
    assert!(body.contains(&format!("; no traffic in its last minute on {stream}\n")), "{body}");
    assert!(!body.contains("may still be arriving"), "{body}");
}
