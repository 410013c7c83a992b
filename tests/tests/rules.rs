//! The EventBridge rules' patterns from the template, matched by moto's EventBridge: our ALARM
//! and OK events reach their targets; another stack's alarm, another metric's, another
//! account's and another Region's do not. (moto cannot deliver to a state machine target, so
//! each rule gets an SQS queue here.)
//!
//! PutEvents stamps an event's `account` and `region` with the sender's ("Amazon EventBridge
//! events", EventBridge User Guide; moto does the same), so an event from elsewhere is made by
//! deploying the pattern for a stack that lives elsewhere, on the same bus as a control.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use recorder_tests::template::{Resolver, Template};
use recorder_tests::{fixture, sdk, unique, ACCOUNT, REGION, STACK};
use serde_json::Value;

/// A rule's pattern as CloudFormation would deploy it, in JSON.
fn pattern(template: &Template, resource: &str, event: &str) -> Value {
    pattern_in(template, resource, event, ACCOUNT, REGION)
}

/// The same, for the stack deployed in `account` and `region`.
fn pattern_in(template: &Template, resource: &str, event: &str, account: &str, region: &str) -> Value {
    let resolver = Resolver { stack_name: STACK, region, account, resources: BTreeMap::new() };
    let mut pattern: serde_norway::Value = match event {
        // A rule of its own
        "" => template.resource(resource)["Properties"]["EventPattern"].clone(),
        // A SAM event of a function
        _ => template.resource(resource)["Properties"]["Events"][event]["Properties"]["Pattern"].clone(),
    };
    resolve_all(template, &resolver, &mut pattern);
    serde_json::to_value(pattern).expect("the pattern as JSON")
}

/// Resolves every intrinsic function in `value`, as CloudFormation does before EventBridge sees it.
fn resolve_all(template: &Template, resolver: &Resolver<'_>, value: &mut serde_norway::Value) {
    match value {
        serde_norway::Value::Tagged(_) => *value = serde_norway::Value::String(template.resolve(value, resolver)),
        serde_norway::Value::Sequence(items) => items.iter_mut().for_each(|v| resolve_all(template, resolver, v)),
        serde_norway::Value::Mapping(map) => map.iter_mut().for_each(|(_, v)| resolve_all(template, resolver, v)),
        _ => {}
    }
}

/// Which of the events reach a queue behind a rule with `pattern`, as `alarmName@state` (or
/// CloudTrail's `eventName`).
async fn matching(pattern: &Value, sent: &[Value]) -> Vec<String> {
    matching_on_one_bus(REGION, std::slice::from_ref(pattern), sent).await.remove(0)
}

/// One rule per pattern, each with its own queue, on one new bus in `region`; the events are
/// put there once. What reached each rule's queue, as `alarmName@state`.
async fn matching_on_one_bus(region: &str, patterns: &[Value], sent: &[Value]) -> Vec<Vec<String>> {
    let config = sdk().await;
    let region = aws_config::Region::new(region.to_owned());
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&config).region(region.clone()).build(),
    );
    let sqs =
        aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&config).region(region.clone()).build());
    let bus = unique("bus");
    events.create_event_bus().name(&bus).send().await.expect("CreateEventBus");
    let mut queues = Vec::new();
    for pattern in patterns {
        let queue_url =
            sqs.create_queue().queue_name(unique("rule")).send().await.unwrap().queue_url().unwrap().to_owned();
        let queue_arn = format!("arn:aws:sqs:{region}:{ACCOUNT}:{}", queue_url.rsplit('/').next().unwrap());
        let rule = unique("rule");
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("PutRule");
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(Target::builder().id("queue").arn(queue_arn).build().unwrap())
            .send()
            .await
            .expect("PutTargets");
        queues.push(queue_url);
    }
    for event in sent {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&bus)
            .source(event["source"].as_str().unwrap())
            .detail_type(event["detail-type"].as_str().unwrap())
            .detail(event["detail"].to_string())
            .set_resources(
                event["resources"].as_array().map(|r| r.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect()),
            )
            .build();
        let out = events.put_events().entries(entry).send().await.expect("PutEvents");
        assert_eq!(out.failed_entry_count(), 0, "{out:?}");
    }
    let mut all = Vec::new();
    for queue_url in queues {
        all.push(received(&sqs, &queue_url).await);
    }
    all
}

/// Every event the queue holds, as `alarmName@state`, sorted.
async fn received(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut arrived = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            break;
        }
        for message in out.messages() {
            let event: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            arrived.push(match event["detail"]["eventName"].as_str() {
                // CloudTrail's record of an API call
                Some(call) => call.to_owned(),
                None => format!(
                    "{}@{}",
                    event["detail"]["alarmName"].as_str().unwrap(),
                    event["detail"]["state"]["value"].as_str().unwrap()
                ),
            });
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    arrived.sort();
    arrived
}

fn all_fixtures() -> Vec<Value> {
    ["alarm.json", "ok.json", "alarm-single-metric.json", "foreign-alarm.json", "cpu-alarm.json"].map(fixture).to_vec()
}

#[tokio::test]
async fn the_alarm_rule_matches_only_this_stacks_alarms_entering_alarm() {
    let template = Template::load();
    let arrived = matching(&pattern(&template, "AlarmFiredRule", ""), &all_fixtures()).await;
    // The fixtures' alarms belong to the stack "nat-recorder"; the CPU alarm's name has the
    // prefix too, and the recorder itself ignores it for want of a NatGatewayId.
    assert_eq!(
        arrived,
        [
            "nat-recorder.NatGatewaySpike.cpu@ALARM",
            "nat-recorder.NatGatewaySpike.nat-0123456789abcdef0@ALARM",
            "nat-recorder.NatGatewaySpike.nat-0123456789abcdef0@ALARM",
        ]
    );
}

#[tokio::test]
async fn the_nat_gateway_rule_matches_cloudtrails_creates_and_deletes_and_nothing_else() {
    let template = Template::load();
    let mut sent: Vec<Value> = [
        "cloudtrail-create-nat-gateway.json",
        "cloudtrail-delete-nat-gateway.json",
        "cloudtrail-describe-nat-gateways.json",
    ]
    .map(fixture)
    .to_vec();
    sent.extend(all_fixtures());
    let arrived = matching(&pattern(&template, "NatGatewayChangesRule", ""), &sent).await;
    assert_eq!(arrived, ["CreateNatGateway", "DeleteNatGateway"]);
}

#[tokio::test]
async fn the_ok_rule_matches_only_this_stacks_alarms_returning_to_ok() {
    let template = Template::load();
    let arrived = matching(&pattern(&template, "AlarmOkResolverFunction", "AlarmOk"), &all_fixtures()).await;
    assert_eq!(arrived, ["nat-recorder.NatGatewaySpike.nat-0123456789abcdef0@OK"]);
}

#[tokio::test]
async fn a_stack_whose_name_extends_ours_never_matches() {
    // "nat-recorder-b" starts with "nat-recorder", but its alarms do not start with "nat-recorder."
    let template = Template::load();
    let mut event = fixture("alarm.json");
    event["detail"]["alarmName"] = "nat-recorder-b.NatGatewaySpike.nat-0123456789abcdef0".into();
    let arrived = matching(&pattern(&template, "AlarmFiredRule", ""), &[event]).await;
    assert!(arrived.is_empty(), "{arrived:?}");
}

#[tokio::test]
async fn an_alarm_of_our_name_in_another_account_never_matches() {
    // The same alarm name, but the ARN of an alarm in another account
    let template = Template::load();
    let mut event = fixture("alarm.json");
    event["resources"] = serde_json::json!([format!(
        "arn:aws:cloudwatch:{REGION}:999999999999:alarm:nat-recorder.NatGatewaySpike.nat-0123456789abcdef0"
    )]);
    let arrived = matching(&pattern(&template, "AlarmFiredRule", ""), &[event]).await;
    assert!(arrived.is_empty(), "{arrived:?}");
}

/// The ALARM and OK rules' patterns for a stack in `account` and `region`, each twice: as
/// deployed, and without `clause` (the control that shows which clause refused an event).
fn with_and_without(template: &Template, account: &str, region: &str, clause: &str) -> Vec<Value> {
    let mut patterns = Vec::new();
    for (resource, event) in [("AlarmFiredRule", ""), ("AlarmOkResolverFunction", "AlarmOk")] {
        let deployed = pattern_in(template, resource, event, account, region);
        let mut control = deployed.clone();
        assert!(control.as_object_mut().unwrap().remove(clause).is_some(), "{resource} has no {clause} clause");
        patterns.extend([deployed, control]);
    }
    patterns
}

const OTHER_ACCOUNT: &str = "999999999999";
const OTHER_REGION: &str = "us-west-2";

/// The fixture's ALARM and OK, naming alarms of the stack in `account` and `region`.
fn events_naming(account: &str, region: &str) -> Vec<Value> {
    ["alarm.json", "ok.json"]
        .map(|name| {
            let mut event = fixture(name);
            let alarm = event["detail"]["alarmName"].as_str().unwrap().to_owned();
            event["resources"] = serde_json::json!([format!("arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}")]);
            event
        })
        .to_vec()
}

/// Puts the fixture's ALARM and OK, naming the alarms of the stack in `named` (account,
/// Region), on a bus in `bus_region`; asserts that the rules deployed for the stack in `stack`
/// refuse them, and that the same rules without `clause` (the control, on the same bus) let
/// them in: that clause, and only it, refused them.
async fn only_the_clause_refuses(clause: &str, stack: (&str, &str), named: (&str, &str), bus_region: &str) {
    let template = Template::load();
    let patterns = with_and_without(&template, stack.0, stack.1, clause);
    let arrived = matching_on_one_bus(bus_region, &patterns, &events_naming(named.0, named.1)).await;
    let alarm = "nat-recorder.NatGatewaySpike.nat-0123456789abcdef0";
    assert!(arrived[0].is_empty() && arrived[2].is_empty(), "the {clause} clause let the events in: {arrived:?}");
    assert_eq!(arrived[1], [format!("{alarm}@ALARM")], "control without {clause}: {arrived:?}");
    assert_eq!(arrived[3], [format!("{alarm}@OK")], "control without {clause}: {arrived:?}");
}

#[tokio::test]
async fn the_account_clause_refuses_an_event_sent_from_another_account_than_the_stacks() {
    // The stack lives in another account; this account sends an event that names that stack's
    // alarm in `resources` (a sender chooses those), and EventBridge stamps this account
    only_the_clause_refuses("account", (OTHER_ACCOUNT, REGION), (OTHER_ACCOUNT, REGION), REGION).await;
}

#[tokio::test]
async fn the_region_clause_refuses_an_event_sent_in_another_region_than_the_stacks() {
    // The stack lives in us-east-1; an event that names its alarm is sent on a bus in us-west-2,
    // and EventBridge stamps us-west-2
    only_the_clause_refuses("region", (ACCOUNT, REGION), (ACCOUNT, REGION), OTHER_REGION).await;
}
