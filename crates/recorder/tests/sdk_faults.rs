//! Faults the emulator cannot produce, with mocked SDK clients (aws-smithy-mocks): throttling,
//! server errors, partial CreateFlowLogs failures, and task tokens that already closed.

use std::time::Duration;

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ec2::operation::create_flow_logs::CreateFlowLogsOutput;
use aws_sdk_ec2::operation::delete_flow_logs::{DeleteFlowLogsError, DeleteFlowLogsOutput};
use aws_sdk_ec2::operation::describe_flow_logs::DescribeFlowLogsOutput;
use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
use aws_sdk_ec2::types::{NatGateway, NatGatewayAddress, UnsuccessfulItem, UnsuccessfulItemError};
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;
use aws_sdk_sfn::types::error::{InvalidToken, TaskTimedOut};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use recorder::config::StartConfig;
use recorder::contract::SkipReason;
use recorder::contract::StartInput;
use recorder::flowlogs::FlowLogs;
use recorder::protocol::{Effect, Input, Owner, Slot, Start};
use recorder::steps;
use recorder::store::SlotTable;
use recorder::tokens::{Resume, TaskTokens};

const NAT: &str = "nat-0123456789abcdef0";

fn alarm_event() -> serde_json::Value {
    // Found when the test runs: a build shared by two checkouts reads its own checkout's file.
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let path = format!("{crate_dir}/../../fixtures/alarm.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn start_config() -> StartConfig {
    StartConfig {
        table_name: "slots".into(),
        watched: recorder::recording::Watched {
            alarm_name_prefix: "nat-recorder.NatGatewaySpike.".into(),
            nat_gateways: recorder::recording::NatGateways::Listed(vec![NAT.into()]),
        },
        stack_name: "nat-recorder".into(),
        log_group_name: "/flowlogs".into(),
        delivery_role_arn: "arn:aws:iam::123456789012:role/delivery".into(),
        recording_time_seconds: 900,
        max_recordings: 0,
        report_delay_seconds: 300,
        min_recording_seconds: 300,
        notify_limit_reached: false,
    }
}

fn throttled(operation: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code("RequestLimitExceeded")
        .message(format!("{operation}: Request limit exceeded."))
        .build()
}

#[tokio::test]
async fn create_flow_logs_succeeds_for_one_interface_and_fails_for_another() {
    // Given a NAT Gateway with two interfaces, and EC2 refusing the second
    let read = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .output(|| GetItemOutput::builder().build())
        .output(|| stored(&owned_by("arn:exec"), 1))
        .build();
    let claim = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(|r| !slot_written(r).contains("fl-0a"))
        .then_output(|| PutItemOutput::builder().build());
    let created = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(|r| slot_written(r).contains("fl-0a"))
        .then_output(|| PutItemOutput::builder().build());
    let slots = SlotTable::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &created, &claim]), "slots");
    let describe = two_interfaces();
    let create = mock!(aws_sdk_ec2::Client::create_flow_logs)
        .match_requests(|r| r.resource_ids() == ["eni-0a".to_owned(), "eni-0b".to_owned()])
        .then_output(|| {
            CreateFlowLogsOutput::builder()
                .flow_log_ids("fl-0a")
                .unsuccessful(
                    UnsuccessfulItem::builder()
                        .resource_id("eni-0b")
                        .error(
                            UnsuccessfulItemError::builder()
                                .code("InvalidParameter")
                                .message("The network interface is being deleted")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let ec2 = FlowLogs::new(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&describe, &create]));
    // When the alarm fires
    let err = steps::start_recording(
        &start_config(),
        &slots,
        &ec2,
        StartInput { event: alarm_event(), execution_arn: "arn:exec".into() },
        chrono::Utc::now(),
    )
    .await
    .unwrap_err();
    // Then StartRecording fails with our name, naming the refused interface and AWS's words
    assert_eq!(err.error_type(), "FlowLogCreationFailed");
    assert_eq!(
        err.to_string(),
        "could not create flow logs: eni-0b (InvalidParameter: The network interface is being deleted)"
    );
    assert_eq!(create.num_calls(), 1);
    // And the flow log it did create is in the slot before the check failed (M3)
    assert_eq!((claim.num_calls(), created.num_calls()), (1, 1));
}

#[tokio::test]
async fn already_exists_on_an_interface_this_executions_own_flow_log_records_is_success() {
    use aws_sdk_ec2::types::{FlowLog, Tag};
    // A retried start whose first CreateFlowLogs made eni-0b's flow log, which EC2 does not list
    // yet: the retry asks for eni-0b again, and EC2 answers that it already exists (core.md M3)
    let exec = "arn:aws:states:us-east-1:123456789012:execution:nat-recorder-recorder:e1";
    let read = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .output(|| GetItemOutput::builder().build())
        .output(|| stored(&owned_by(exec), 1))
        .build();
    let write = mock!(aws_sdk_dynamodb::Client::put_item).then_output(|| PutItemOutput::builder().build());
    let slots = SlotTable::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &write]), "slots");
    let describe = two_interfaces();
    let create = mock!(aws_sdk_ec2::Client::create_flow_logs).then_output(|| {
        CreateFlowLogsOutput::builder()
            .flow_log_ids("fl-0a")
            .unsuccessful(
                UnsuccessfulItem::builder()
                    .resource_id("eni-0b")
                    .error(UnsuccessfulItemError::builder().code("FlowLogAlreadyExists").message("exists").build())
                    .build(),
            )
            .build()
    });
    let theirs = |id: &str, eni: &str| {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        FlowLog::builder()
            .flow_log_id(id)
            .resource_id(eni)
            .log_group_name("/flowlogs")
            .deliver_logs_permission_arn("arn:aws:iam::123456789012:role/delivery")
            .deliver_logs_status("SUCCESS")
            .tags(tag("vpc-flowlogs-recorder:execution", exec))
            .tags(tag("vpc-flowlogs-recorder:nat-gateway", NAT))
            .tags(tag("vpc-flowlogs-recorder:stack", "nat-recorder"))
            .build()
    };
    // Not listed at the first look, listed at the second
    let by_tag = mock!(aws_sdk_ec2::Client::describe_flow_logs)
        .match_requests(|r| !r.filter().is_empty())
        .sequence()
        .output(|| DescribeFlowLogsOutput::builder().build())
        .output(move || DescribeFlowLogsOutput::builder().flow_logs(theirs("fl-0b", "eni-0b")).build())
        .build();
    let by_id = mock!(aws_sdk_ec2::Client::describe_flow_logs).match_requests(|r| r.filter().is_empty()).then_output(
        move || {
            DescribeFlowLogsOutput::builder()
                .flow_logs(theirs("fl-0a", "eni-0a"))
                .flow_logs(theirs("fl-0b", "eni-0b"))
                .build()
        },
    );
    let ec2 = FlowLogs::new(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&describe, &create, &by_tag, &by_id]));
    let output = steps::start_recording(
        &start_config(),
        &slots,
        &ec2,
        StartInput { event: alarm_event(), execution_arn: exec.into() },
        chrono::Utc::now(),
    )
    .await
    .expect("the flow log that exists is this execution's own");
    let recorder::contract::StartOutput::Record { recording } = output else { panic!("{output:?}") };
    assert_eq!(recording.flow_log_ids, ["fl-0a", "fl-0b"]);
    assert_eq!(by_tag.num_calls(), 2, "asked again until EC2 listed it");
}

#[tokio::test]
async fn already_exists_answered_for_the_whole_request_names_every_interface() {
    use aws_sdk_ec2::operation::create_flow_logs::CreateFlowLogsError;
    use recorder::flowlogs::{FlowLogSpec, ALREADY_EXISTS};
    // moto's shape: the request fails whole rather than naming the interface in Unsuccessful
    let create = mock!(aws_sdk_ec2::Client::create_flow_logs).then_error(|| {
        CreateFlowLogsError::generic(
            ErrorMetadata::builder().code(ALREADY_EXISTS).message("same configuration").build(),
        )
    });
    let ec2 = FlowLogs::new(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&create]));
    let interfaces = ["eni-0a".to_owned(), "eni-0b".to_owned()];
    let (created, refused) = ec2
        .create(&FlowLogSpec {
            network_interface_ids: &interfaces,
            log_group_name: "/flowlogs",
            delivery_role_arn: "arn:aws:iam::123456789012:role/delivery",
            stack_name: "nat-recorder",
            execution_arn: "arn:exec",
            nat_gateway_id: NAT,
        })
        .await
        .unwrap();
    assert!(created.is_empty());
    let named: Vec<(&str, &str)> = refused.iter().map(|r| (r.resource_id.as_str(), r.code.as_str())).collect();
    assert_eq!(named, [("eni-0a", ALREADY_EXISTS), ("eni-0b", ALREADY_EXISTS)]);
}

/// DescribeNatGateways answering for an available NAT Gateway with two interfaces.
fn two_interfaces() -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_ec2::Client::describe_nat_gateways).then_output(|| {
        DescribeNatGatewaysOutput::builder()
            .nat_gateways(
                NatGateway::builder()
                    .nat_gateway_id(NAT)
                    .state(aws_sdk_ec2::types::NatGatewayState::Available)
                    .nat_gateway_addresses(NatGatewayAddress::builder().network_interface_id("eni-0a").build())
                    .nat_gateway_addresses(NatGatewayAddress::builder().network_interface_id("eni-0b").build())
                    .build(),
            )
            .build()
    })
}

/// The slot text a PutItem writes.
fn slot_written(request: &aws_sdk_dynamodb::operation::put_item::PutItemInput) -> String {
    request.item().and_then(|i| i.get("slot")).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

/// A GetItem answer holding `slot` at `version`.
fn stored(slot: &Slot, version: u64) -> GetItemOutput {
    GetItemOutput::builder()
        .item("pk", AttributeValue::S(NAT.into()))
        .item("version", AttributeValue::N(version.to_string()))
        .item("slot", AttributeValue::S(serde_json::to_string(slot).unwrap()))
        .build()
}

fn owned_by(execution: &str) -> Slot {
    let owner = Owner {
        execution: execution.into(),
        alarm_at: 1,
        started_at: "2024-01-01T00:00:00Z".into(),
        flow_log_ids: vec![],
        task_token: None,
        on_demand: false,
    };
    Slot { alarm_seen: Some(1), decided: Some(1), recordings: 1, owner: Some(owner), ..Slot::default() }
}

fn alarm_input(at: i64, execution: &str) -> Input {
    Input::Alarm {
        at,
        event: "{}".into(),
        execution: execution.into(),
        started_at: "2024-01-01T00:00:00Z".into(),
        max_recordings: 3,
    }
}

#[tokio::test]
async fn delete_flow_logs_throttled_twice_then_succeeds_within_the_sdks_retries() {
    let delete = mock!(aws_sdk_ec2::Client::delete_flow_logs)
        .sequence()
        .error(|| DeleteFlowLogsError::generic(throttled("DeleteFlowLogs")))
        .times(2)
        .output(|| DeleteFlowLogsOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&delete], |c| c
        .retry_config(
            aws_sdk_ec2::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
        )
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new()));
    FlowLogs::new(client).delete(&["fl-1".to_owned()]).await.expect("the third attempt succeeds");
    assert_eq!(delete.num_calls(), 3);
}

#[tokio::test]
async fn delete_flow_logs_still_throttled_is_a_transient_error_for_the_state_machine_to_retry() {
    let delete = mock!(aws_sdk_ec2::Client::delete_flow_logs)
        .then_error(|| DeleteFlowLogsError::generic(throttled("DeleteFlowLogs")));
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&delete]);
    let err = FlowLogs::new(client).delete(&["fl-1".to_owned()]).await.unwrap_err();
    assert_eq!(err.error_type(), "Transient");
    assert!(err.to_string().contains("RequestLimitExceeded"), "{err}");
}

#[tokio::test]
async fn a_flow_log_already_deleted_counts_as_deleted_and_the_rest_are_deleted_one_by_one() {
    // EC2 fails a whole batch when one id is unknown; the others must still go
    let gone = || DeleteFlowLogsError::generic(ErrorMetadata::builder().code("InvalidFlowLogId.NotFound").build());
    let batch =
        mock!(aws_sdk_ec2::Client::delete_flow_logs).match_requests(|r| r.flow_log_ids().len() == 2).then_error(gone);
    let first = mock!(aws_sdk_ec2::Client::delete_flow_logs)
        .match_requests(|r| r.flow_log_ids() == ["fl-gone".to_owned()])
        .then_error(gone);
    let second = mock!(aws_sdk_ec2::Client::delete_flow_logs)
        .match_requests(|r| r.flow_log_ids() == ["fl-live".to_owned()])
        .then_output(|| DeleteFlowLogsOutput::builder().build());
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&batch, &first, &second]);
    FlowLogs::new(client).delete(&["fl-gone".to_owned(), "fl-live".to_owned()]).await.unwrap();
    assert_eq!((batch.num_calls(), first.num_calls(), second.num_calls()), (1, 1, 1));
}

#[tokio::test]
async fn a_server_error_while_writing_the_slot_is_transient() {
    let read = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let write = mock!(aws_sdk_dynamodb::Client::put_item).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}"#,
            ),
        )
    });
    let slots = SlotTable::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &write]), "slots");
    let err = slots.apply(NAT, &alarm_input(1, "arn:exec")).await.unwrap_err();
    assert_eq!(err.error_type(), "Transient", "{err}");
}

#[tokio::test]
async fn a_write_that_loses_the_race_reads_again_and_decides_on_what_won() {
    // Given the slot is free when read, but another execution claims it before this write
    let read = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .output(|| GetItemOutput::builder().build())
        .output(|| stored(&owned_by("arn:other"), 1))
        .build();
    let lost = mock!(aws_sdk_dynamodb::Client::put_item)
        .sequence()
        .error(|| PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build()))
        .output(|| PutItemOutput::builder().build())
        .build();
    let slots = SlotTable::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &lost]), "slots");
    // When this execution's ALARM (a newer episode) is applied
    let outcome = slots.apply(NAT, &alarm_input(2, "arn:exec")).await.unwrap();
    // Then it is left to the winner, which hands over if the episode is open when it stops
    let skipped = Effect::Start(Start::Skip { reason: SkipReason::AlreadyRecording, notify: false });
    assert_eq!(outcome.effect, skipped);
    assert_eq!((read.num_calls(), lost.num_calls()), (2, 2), "one lost write, then one that stores the newer ALARM");
}

#[tokio::test]
async fn a_slot_that_keeps_changing_gives_up_as_transient_after_a_bounded_number_of_tries() {
    let read = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let lost = mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
    });
    let slots = SlotTable::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &lost]), "slots");
    let err = slots.apply(NAT, &alarm_input(1, "arn:exec")).await.unwrap_err();
    assert_eq!(err.error_type(), "Transient", "{err}");
    assert_eq!(lost.num_calls(), 10);
}

#[tokio::test]
async fn a_task_token_that_timed_out_or_is_unknown_is_already_resolved() {
    let timed_out = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(|r| r.task_token() == Some("timed-out"))
        .then_error(|| SendTaskSuccessError::TaskTimedOut(TaskTimedOut::builder().build()));
    let invalid = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(|r| r.task_token() == Some("unknown"))
        .then_error(|| SendTaskSuccessError::InvalidToken(InvalidToken::builder().build()));
    let task_tokens = TaskTokens::new(mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&timed_out, &invalid]));
    let output = serde_json::json!({"ending": "alarm-ok"});
    assert_eq!(task_tokens.resume("timed-out", &output).await.unwrap(), Resume::AlreadyResolved);
    assert_eq!(task_tokens.resume("unknown", &output).await.unwrap(), Resume::AlreadyResolved);
}

#[tokio::test]
async fn stop_finds_flow_logs_by_the_executions_tag_even_without_a_recording() {
    use aws_sdk_ec2::types::FlowLog;
    let find = mock!(aws_sdk_ec2::Client::describe_flow_logs)
        .match_requests(|r| {
            r.filter().iter().any(|f| {
                f.name() == Some("tag:vpc-flowlogs-recorder:execution") && f.values() == ["arn:exec".to_owned()]
            })
        })
        .then_output(|| {
            DescribeFlowLogsOutput::builder()
                .flow_logs(FlowLog::builder().flow_log_id("fl-orphan").resource_id("eni-0a").build())
                .build()
        });
    let ec2 = FlowLogs::new(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&find]));
    let found = ec2.find_by_execution("arn:exec").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].flow_log_id, "fl-orphan");
}

mod insights {
    use std::time::Duration;

    use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput;
    use aws_sdk_cloudwatchlogs::operation::start_query::StartQueryOutput;
    use aws_sdk_cloudwatchlogs::operation::stop_query::StopQueryOutput;
    use aws_sdk_cloudwatchlogs::types::{QueryStatus, ResultField};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use recorder::insights::Insights;

    fn start() -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_cloudwatchlogs::Client::start_query)
            .match_requests(|r| {
                r.start_time() == Some(100) && r.end_time() == Some(200) && r.log_group_name() == Some("/g")
            })
            .then_output(|| StartQueryOutput::builder().query_id("q-1").build())
    }

    fn field(name: &str, value: &str) -> ResultField {
        ResultField::builder().field(name).value(value).build()
    }

    #[tokio::test]
    async fn a_query_is_polled_until_complete_and_its_rows_returned() {
        let start = start();
        let results = mock!(aws_sdk_cloudwatchlogs::Client::get_query_results)
            .sequence()
            .output(|| GetQueryResultsOutput::builder().status(QueryStatus::Running).build())
            .output(|| {
                GetQueryResultsOutput::builder()
                    .status(QueryStatus::Complete)
                    .results(vec![field("totalBytes", "42"), field("@ptr", "opaque")])
                    .build()
            })
            .build();
        let client = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&start, &results]);
        let rows = Insights::new(client, Duration::from_millis(1), 5).query("/g", "stats", 100, 200).await.unwrap();
        assert_eq!(rows, vec![vec![("totalBytes".to_owned(), "42".to_owned())]]);
        assert_eq!(results.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_query_that_fails_says_so() {
        let start = start();
        let results = mock!(aws_sdk_cloudwatchlogs::Client::get_query_results)
            .then_output(|| GetQueryResultsOutput::builder().status(QueryStatus::Failed).build());
        let client = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&start, &results]);
        let err = Insights::new(client, Duration::from_millis(1), 5).query("/g", "stats", 100, 200).await.unwrap_err();
        assert_eq!(err.to_string(), "Logs Insights GetQueryResults failed: query q-1 ended Failed");
    }

    /// A query that never ends: StartQuery, GetQueryResults always Running, and StopQuery.
    fn never_ending() -> (aws_smithy_mocks::Rule, aws_smithy_mocks::Rule, aws_smithy_mocks::Rule) {
        let results = mock!(aws_sdk_cloudwatchlogs::Client::get_query_results)
            .then_output(|| GetQueryResultsOutput::builder().status(QueryStatus::Running).build());
        let stop = mock!(aws_sdk_cloudwatchlogs::Client::stop_query)
            .then_output(|| StopQueryOutput::builder().success(true).build());
        (start(), results, stop)
    }

    #[tokio::test]
    async fn a_query_still_running_at_the_bound_is_stopped() {
        let (start, results, stop) = never_ending();
        let client = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&start, &results, &stop]);
        let err = Insights::new(client, Duration::from_millis(1), 3).query("/g", "stats", 100, 200).await.unwrap_err();
        assert!(err.to_string().contains("still running"), "{err}");
        assert_eq!(results.num_calls(), 3);
        assert_eq!(stop.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_query_stops_polling_at_the_invocations_deadline() {
        // Given a query that never ends, polled every 50 ms up to 1000 times (50 s)
        let (start, results, stop) = never_ending();
        let client = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&start, &results, &stop]);
        // When the function must answer in 300 ms
        let began = std::time::Instant::now();
        let insights = Insights::new(client, Duration::from_millis(50), 1000).until(began + Duration::from_millis(300));
        let err = insights.query("/g", "stats", 100, 200).await.unwrap_err();
        // Then it stops the query by then, and says why
        assert!(began.elapsed() < Duration::from_millis(400), "{:?}", began.elapsed());
        assert!(err.to_string().contains("when the function had to answer"), "{err}");
        assert!(results.num_calls() <= 7, "{} polls", results.num_calls());
        assert_eq!(stop.num_calls(), 1);
    }
}

mod sweep {
    use std::time::Duration;

    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::scan::ScanOutput;
    use aws_sdk_ec2::operation::delete_flow_logs::DeleteFlowLogsOutput;
    use aws_sdk_ec2::operation::describe_flow_logs::DescribeFlowLogsOutput;
    use aws_sdk_ec2::types::{FlowLog, Tag};
    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
    use aws_sdk_sfn::types::error::ExecutionDoesNotExist;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use recorder::config::SweepConfig;
    use recorder::flowlogs::{FlowLogs, Ownership, TAG_EXECUTION, TAG_NAT_GATEWAY, TAG_STACK};
    use recorder::store::SlotTable;
    use recorder::sweep::sweep;
    use recorder::tokens::Executions;

    const EXECUTIONS: &str = "arn:aws:states:us-east-1:123456789012:execution:recorder:";

    fn ours(id: &str, execution: &str) -> FlowLog {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        FlowLog::builder()
            .flow_log_id(id)
            .resource_id("eni-0a")
            .log_group_name("/flowlogs")
            .deliver_logs_permission_arn("arn:aws:iam::123456789012:role/delivery")
            .creation_time(aws_smithy_types::DateTime::from_secs(1_000))
            .tags(tag(TAG_STACK, "stack"))
            .tags(tag(TAG_EXECUTION, &format!("{EXECUTIONS}{execution}")))
            .tags(tag(TAG_NAT_GATEWAY, "nat-0123456789abcdef0"))
            .build()
    }

    #[tokio::test]
    async fn one_flow_log_that_fails_is_reported_and_the_sweep_goes_on() {
        // Given two stray flow logs; asking about the first one's execution is refused
        let describe = mock!(aws_sdk_ec2::Client::describe_flow_logs).then_output(|| {
            DescribeFlowLogsOutput::builder()
                .flow_logs(ours("fl-refused", "e1"))
                .flow_logs(ours("fl-stray", "e2"))
                .build()
        });
        let delete = mock!(aws_sdk_ec2::Client::delete_flow_logs)
            .match_requests(|r| r.flow_log_ids() == ["fl-stray".to_owned()])
            .then_output(|| DeleteFlowLogsOutput::builder().build());
        let refused = mock!(aws_sdk_sfn::Client::describe_execution)
            .match_requests(|r| r.execution_arn() == Some(&format!("{EXECUTIONS}e1")))
            .then_error(|| {
                DescribeExecutionError::generic(
                    ErrorMetadata::builder().code("AccessDeniedException").message("not authorized").build(),
                )
            });
        let gone = mock!(aws_sdk_sfn::Client::describe_execution)
            .match_requests(|r| r.execution_arn() == Some(&format!("{EXECUTIONS}e2")))
            .then_error(|| DescribeExecutionError::ExecutionDoesNotExist(ExecutionDoesNotExist::builder().build()));
        let get = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
        let scan = mock!(aws_sdk_dynamodb::Client::scan).then_output(|| ScanOutput::builder().build());
        let ec2 = FlowLogs::new(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&describe, &delete]));
        let executions = Executions::new(mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&refused, &gone]));
        let slots = SlotTable::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&get, &scan]), "slots");
        let config = SweepConfig {
            table_name: "slots".into(),
            stack_name: "stack".into(),
            ownership: Ownership {
                log_group_name: "/flowlogs".into(),
                delivery_role_arn: "arn:aws:iam::123456789012:role/delivery".into(),
            },
            executions: EXECUTIONS.into(),
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:recorder".into(),
            max_age: Duration::from_secs(3600),
            min_age: Duration::from_secs(120),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/stack/1".into(),
            endpoint_override: None,
            alarms: None,
            alarm_name_prefix: "stack.NatGatewaySpike.".into(),
        };
        // When the sweep runs
        let report = sweep(&config, &ec2, &slots, &executions, 1_000 + 600).await.expect("the sweep ends");
        // Then the refused one is reported, and the other is deleted all the same
        assert_eq!(report.errors.len(), 1, "{report:?}");
        assert!(
            report.errors[0].starts_with("flow log fl-refused: Step Functions DescribeExecution failed"),
            "{report:?}"
        );
        assert_eq!(report.deleted.len(), 1, "{report:?}");
        assert_eq!(report.deleted[0].0, "fl-stray");
        assert_eq!(delete.num_calls(), 1);
    }
}

#[tokio::test]
async fn the_report_carries_the_message_id_sns_gave_its_email() {
    // Notify's output names the message SNS accepted: how an email is traced to its execution
    use aws_sdk_sns::operation::publish::PublishOutput;
    use recorder::notify::Email;
    use recorder::sns::Mailer;
    let topic = "arn:aws:sns:us-east-1:123456789012:reports";
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |r| r.topic_arn() == Some(topic) && r.subject() == Some("s") && r.message() == Some("b"))
        .then_output(|| PublishOutput::builder().message_id("m-0123").build());
    let mailer = Mailer::new(mock_client!(aws_sdk_sns, [&publish]), topic);
    let sent = mailer.send(&Email { subject: "s".into(), body: "b".into() }).await.expect("Publish");
    assert_eq!(sent, "m-0123");
    assert_eq!(publish.num_calls(), 1);
}
