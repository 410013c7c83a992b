//! `make demo`: one NAT Gateway spike, recorded end to end on this machine, with no AWS account.
//!
//! The real state machine runs in moto's interpreter and calls the real Lambda binaries
//! through the local gateway; this program plays CloudWatch (the alarm's state changes) and
//! VPC Flow Logs (records written into the log group), and narrates.

use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use recorder::flowlogs::LOG_FORMAT;
use recorder_tests::deploy::Deployment;
use recorder_tests::{moto_stack, World};

fn step(n: u32, text: &str) {
    println!("\n\x1b[1m{n}. {text}\x1b[0m");
}

fn detail(text: impl AsRef<str>) {
    for line in text.as_ref().lines() {
        println!("   {line}");
    }
}

/// Synthetic records in the flow log's format, as the NAT Gateway's interface (`nat`) sees a
/// spike: an instance pulling from S3. Each round trip is recorded in four legs, on both sides of
/// the translation (VPC User Guide, "Flow log record examples", "Traffic through a NAT gateway").
fn records(nat: &str) -> Vec<String> {
    // action flow-direction traffic-path srcaddr srcport dstaddr dstport protocol bytes type
    // pkt-srcaddr pkt-src-aws-service pkt-dstaddr pkt-dst-aws-service
    [
        // instance to NAT, NAT to S3 (the request); S3 to NAT, NAT to instance (the download)
        format!("ACCEPT ingress - 10.0.1.25 44312 {nat} 443 6 1048576 IPv4 10.0.1.25 - 52.216.1.10 S3"),
        format!("ACCEPT egress 8 {nat} 44312 52.216.1.10 443 6 1048576 IPv4 {nat} - 52.216.1.10 S3"),
        format!("ACCEPT ingress - 52.216.1.10 443 {nat} 44312 6 734003200 IPv4 52.216.1.10 S3 {nat} -"),
        format!("ACCEPT egress 1 {nat} 443 10.0.1.25 44312 6 734003200 IPv4 52.216.1.10 S3 10.0.1.25 -"),
        // unsolicited traffic from the internet, refused
        format!("REJECT ingress - 198.51.100.7 55555 {nat} 22 6 120 IPv4 198.51.100.7 - {nat} -"),
    ]
    .to_vec()
}

async fn write_records(d: &Deployment, lines: &[String]) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&d.world.sdk);
    let stream = recorder::contract::log_stream_of(&d.world.network_interface_id);
    logs.create_log_stream().log_group_name(&d.world.log_group_name).log_stream_name(&stream).send().await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<InputLogEvent> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| InputLogEvent::builder().timestamp(now + i as i64).message(line).build().unwrap())
        .collect();
    logs.put_log_events()
        .log_group_name(&d.world.log_group_name)
        .log_stream_name(&stream)
        .set_log_events(Some(events))
        .send()
        .await
        .expect("PutLogEvents");
    let stored = logs
        .get_log_events()
        .log_group_name(&d.world.log_group_name)
        .log_stream_name(&stream)
        .send()
        .await
        .expect("GetLogEvents");
    detail(format!("{} records in {}, stream {stream}:", stored.events().len(), d.world.log_group_name));
    for event in stored.events() {
        detail(format!("  {}", event.message().unwrap_or_default()));
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let began = Instant::now();
    println!("\x1b[1mvpc-flowlogs-recorder: one spike, recorded on this machine\x1b[0m");
    let local = moto_stack();
    detail(format!("moto {} behind the local Lambda gateway {}", local.moto_endpoint, local.endpoint));

    step(1, "A NAT Gateway, and the recorder deployed from template.yaml");
    let world = World::new().await;
    let d = world.deploy(&[("RecordingTime", "600")]).await;
    detail(format!("NAT Gateway {}  (network interface {})", world.nat_gateway_id, world.network_interface_id));
    detail(format!("flow log group {}", world.log_group_name));
    detail(format!("state machine {}", d.state_machine_arn));
    assert!(d.flow_logs().await.is_empty());
    detail("flow logs on the NAT Gateway: none (they cost money; nothing is spiking)");

    step(2, "Traffic spikes: the alarm goes to ALARM");
    let t0 = chrono::Utc::now().timestamp_millis() - 60_000;
    let alarm = world.alarm_event("ALARM", t0);
    detail(format!("alarm {}", alarm["detail"]["alarmName"].as_str().unwrap()));
    detail(alarm["detail"]["state"]["reason"].as_str().unwrap());
    let exec = d.start(&alarm).await;
    detail(format!("EventBridge starts the workflow: {}", exec.rsplit(':').next().unwrap()));
    d.waiting(&exec).await;

    step(3, "Flow logs are on while the workflow waits for the alarm to clear");
    for log in d.flow_logs().await {
        detail(format!(
            "{} on {} -> {} (every {} s)",
            log.flow_log_id().unwrap_or("?"),
            log.resource_id().unwrap_or("?"),
            log.log_group_name().unwrap_or("?"),
            log.max_aggregation_interval().unwrap_or_default()
        ));
    }
    detail(format!("format: {LOG_FORMAT}"));

    step(4, "VPC Flow Logs deliver records (synthetic here: no packets flow on this machine)");
    write_records(&d, &records("10.0.1.200")).await;

    step(5, "Traffic calms down: the alarm returns to OK");
    let outcome = d.deliver("AlarmOkResolverFunction", &world.alarm_event("OK", t0 + 45_000));
    detail(format!("alarm-ok-resolver: {outcome}"));
    let done = d.finished(&exec, Duration::from_secs(60)).await;
    detail(format!("workflow {:?}: {}", done.status, d.states_entered(&exec).await.join(" -> ")));
    let remaining = d.flow_logs().await;
    detail(format!(
        "flow logs on the NAT Gateway: {}",
        if remaining.is_empty() { "none".to_owned() } else { format!("{remaining:?}") }
    ));
    assert!(remaining.is_empty(), "the recorder left flow logs behind");

    step(6, "The email, as the subscriber receives it");
    let emails = d.emails().await;
    assert_eq!(emails.len(), 1, "expected one email, got {emails:?}");
    detail(format!("Subject: {}", emails[0].subject));
    detail("");
    detail(&emails[0].body);
    detail("(moto's Logs Insights runs no parse or stats, so the analysis finds no rows here; on AWS");
    detail(" the same saved queries fill in bytes, cost, AWS services and top talkers.)");

    println!(
        "\nDone in {:.1} s. Everything ran on 127.0.0.1 and stops with this program.",
        began.elapsed().as_secs_f64()
    );
}
