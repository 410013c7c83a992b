//! `NatGatewayIDs = all` means every NAT Gateway of the Region, those created after the deploy
//! too: the sweeper keeps one alarm per NAT Gateway (recorder::reconcile), the macro's own, on
//! the stack's Create and Update, on CloudTrail's CreateNatGateway and DeleteNatGateway, and on
//! its schedule; the uninstall takes them all. The real sweeper binary against moto's EC2 and
//! CloudWatch, under the sweeper role's IAM.

use std::time::Duration;

use aws_sdk_cloudwatch::types::MetricAlarm;
use aws_sdk_sfn::types::ExecutionStatus;
use recorder_tests::deploy::{eventually, response_catcher, Deployment};
use recorder_tests::template::Template;
use recorder_tests::{fixture, World};
use serde_json::Value;

const T0: i64 = 1_715_681_700_123;
const LIMIT: Duration = Duration::from_secs(60);

/// The stack deployed to watch every NAT Gateway: `NatGatewayIDs = all`, or the organization's
/// template, which says so itself.
async fn watching_all(world: &World) -> Deployment {
    let d = match Template::deployed().root["Parameters"]["NatGatewayIDs"].is_null() {
        true => world.deploy(&[]).await,
        false => world.deploy(&[("NatGatewayIDs", "all")]).await,
    };
    assert!(d.watches_all());
    d
}

/// This stack's alarm of `nat`, as CloudWatch holds it.
async fn alarm_of(d: &Deployment, nat: &str) -> Option<MetricAlarm> {
    let name = format!("{}{nat}", d.world.alarm_prefix());
    let out = aws_sdk_cloudwatch::Client::new(&d.world.sdk)
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .expect("DescribeAlarms");
    out.metric_alarms().iter().find(|a| a.alarm_name() == Some(name.as_str())).cloned()
}

async fn alarm_count(d: &Deployment) -> usize {
    aws_sdk_cloudwatch::Client::new(&d.world.sdk)
        .describe_alarms()
        .alarm_name_prefix(d.world.alarm_prefix())
        .send()
        .await
        .expect("DescribeAlarms")
        .metric_alarms()
        .len()
}

/// CloudTrail's record of `call` (CreateNatGateway, DeleteNatGateway) on `nat`, as EventBridge
/// delivers it (fixtures/cloudtrail-*.json).
fn cloudtrail(call: &str, nat: &str) -> Value {
    let name = if call == "CreateNatGateway" { "create" } else { "delete" };
    let text = fixture(&format!("cloudtrail-{name}-nat-gateway.json")).to_string();
    serde_json::from_str(&text.replace("nat-0fedcba9876543210", nat)).unwrap()
}

/// The NAT Gateway ids every metric of an alarm is about.
fn dimensions(alarm: &MetricAlarm) -> Vec<String> {
    alarm
        .metrics()
        .iter()
        .filter_map(|m| m.metric_stat()?.metric()?.dimensions().first()?.value().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_nat_gateway_created_after_the_stack_started_is_recorded_on_its_first_alarm() {
    let world = World::new().await;
    let d = watching_all(&world).await;
    // CloudFormation creates the stack: the custom resource's Create puts every alarm
    let (url, answers) = response_catcher();
    d.deliver("FlowlogSweeperFunction", &d.cleanup_request("Create", &url));
    let (_, answer) = answers.recv_timeout(Duration::from_secs(60)).expect("the Create is answered");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let first = alarm_of(&d, &world.nat_gateway_id).await.expect("the NAT Gateway of the deploy has its alarm");
    assert_eq!(dimensions(&first), [world.nat_gateway_id.as_str(); 2]);
    assert_eq!(first.threshold(), Some(1e8));
    assert_eq!(first.evaluation_periods(), Some(3));

    // A NAT Gateway is created afterwards; CloudTrail's record of it reaches the sweeper
    let later = world.another_nat_gateway().await;
    assert!(alarm_of(&d, &later.nat_gateway_id).await.is_none());
    let report = d.deliver("FlowlogSweeperFunction", &cloudtrail("CreateNatGateway", &later.nat_gateway_id));
    assert!(report["put"].as_array().unwrap().contains(&later.nat_gateway_id.clone().into()), "{report}");
    let alarm = alarm_of(&d, &later.nat_gateway_id).await.expect("the new NAT Gateway has its alarm");
    assert_eq!(dimensions(&alarm), [later.nat_gateway_id.as_str(); 2]);
    assert_eq!(alarm.metrics().len(), first.metrics().len(), "the same alarm as the first's");

    // Its first ALARM records it: an event about the alarm CloudWatch holds
    let mut event = later.alarm_event("ALARM", T0);
    assert_eq!(event["detail"]["alarmName"].as_str(), alarm.alarm_name());
    event["detail"]["configuration"]["description"] = alarm.alarm_description().unwrap_or_default().into();
    let exec = d.start(&event).await;
    let slots = recorder::store::SlotTable::from_sdk_config(&world.sdk, &world.table_name);
    eventually("the new NAT Gateway's recording waits for the OK", LIMIT, async || {
        let slot = slots.slot(&later.nat_gateway_id).await.expect("the slot");
        slot.and_then(|s| s.owner).is_some_and(|o| o.execution == exec && o.task_token.is_some())
    })
    .await;
    assert_eq!(later.flow_logs().await.len(), 1, "its interface is recorded");
    let ok = d.deliver("AlarmOkResolverFunction", &later.alarm_event("OK", T0 + 5 * 60_000));
    assert_eq!(ok["outcome"], "resumed", "{ok}");
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert!(later.flow_logs().await.is_empty());

    // It is deleted: its alarm goes, the other stays
    aws_sdk_ec2::Client::new(&world.sdk)
        .delete_nat_gateway()
        .nat_gateway_id(&later.nat_gateway_id)
        .send()
        .await
        .expect("DeleteNatGateway");
    let report = d.deliver("FlowlogSweeperFunction", &cloudtrail("DeleteNatGateway", &later.nat_gateway_id));
    assert!(report["deleted"].as_array().unwrap().contains(&later.nat_gateway_id.clone().into()), "{report}");
    assert!(alarm_of(&d, &later.nat_gateway_id).await.is_none());
    assert!(alarm_of(&d, &world.nat_gateway_id).await.is_some());

    // Uninstalling leaves no alarm of the stack
    d.cloudformation_deletes_the_stack();
    d.deliver("FlowlogSweeperFunction", &d.cleanup_request("Delete", &url));
    let (_, answer) = answers.recv_timeout(Duration::from_secs(60)).expect("the Delete is answered");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_ne!(answer["Data"]["DeletedAlarms"], "0", "{answer}");
    assert_eq!(alarm_count(&d).await, 0, "no alarm of the stack is left");
}

#[tokio::test]
async fn the_scheduled_sweep_catches_a_nat_gateway_no_event_announced() {
    let world = World::new().await;
    let d = watching_all(&world).await;
    // No trail, or its event lost: only the schedule runs
    let report = d.deliver("FlowlogSweeperFunction", &fixture("scheduled-event.json"));
    assert!(report["alarms"]["put"].as_array().unwrap().contains(&world.nat_gateway_id.clone().into()), "{report}");
    assert!(alarm_of(&d, &world.nat_gateway_id).await.is_some());
    // The next sweep has nothing to put for it
    let again = d.deliver("FlowlogSweeperFunction", &fixture("scheduled-event.json"));
    assert!(!again["alarms"]["put"].as_array().unwrap().contains(&world.nat_gateway_id.clone().into()), "{again}");
}

#[tokio::test]
async fn a_stack_with_a_list_keeps_no_alarm_itself() {
    if Template::deployed().root["Parameters"]["NatGatewayIDs"].is_null() {
        return; // the organization's template always watches all
    }
    let world = World::new().await;
    let d = world.deploy(&[]).await;
    assert!(!d.watches_all());
    let report = d.deliver("FlowlogSweeperFunction", &fixture("scheduled-event.json"));
    assert!(report.get("alarms").is_none(), "{report}");
    assert_eq!(
        d.deliver("FlowlogSweeperFunction", &cloudtrail("CreateNatGateway", &world.nat_gateway_id)),
        Value::Null
    );
    assert_eq!(alarm_count(&d).await, 0, "the macro's alarms are CloudFormation's");
}

#[tokio::test]
async fn going_from_all_to_a_list_removes_the_alarms_the_sweeper_kept_before_the_macros_arrive() {
    if Template::deployed().root["Parameters"]["NatGatewayIDs"].is_null() {
        return; // the organization's template always watches all
    }
    let world = World::new().await;
    // The stack watched all, and the sweeper kept this NAT Gateway's alarm
    let before = watching_all(&world).await;
    let (url, answers) = response_catcher();
    before.deliver("FlowlogSweeperFunction", &before.cleanup_request("Create", &url));
    answers.recv_timeout(Duration::from_secs(60)).expect("the Create is answered");
    assert!(alarm_of(&before, &world.nat_gateway_id).await.is_some());
    // It is updated to a list: CloudFormation sends the cleanup an Update, before the macro's
    // alarms (which depend on it) are created
    let after = world.deploy(&[]).await;
    let update = |old: &str| {
        let mut request = after.cleanup_request("Update", &url);
        request["ResourceProperties"]["Watched"] = world.nat_gateway_id.clone().into();
        request["OldResourceProperties"] = serde_json::json!({"ServiceToken": "sweeper", "Watched": old});
        request
    };
    after.deliver("FlowlogSweeperFunction", &update("all"));
    let (_, answer) = answers.recv_timeout(Duration::from_secs(60)).expect("the Update is answered");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_ne!(answer["Data"]["DeletedAlarms"], "0", "one per NAT Gateway of the Region: {answer}");
    assert_eq!(alarm_count(&after).await, 0, "the names are free for the macro's alarms");
    // From one list to another, the alarms are CloudFormation's: nothing is deleted
    after.deliver("FlowlogSweeperFunction", &update("nat-0123456789abcdef0"));
    let (_, answer) = answers.recv_timeout(Duration::from_secs(60)).expect("the Update is answered");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert!(answer["Data"].get("DeletedAlarms").is_none(), "{answer}");
}
