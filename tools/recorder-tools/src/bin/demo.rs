//! `make demo`: one NAT Gateway spike, recorded end to end on this machine, with no AWS account.
//!
//! The real state machine runs in moto's interpreter and calls the real Lambda binaries
//! through the local gateway; this program plays CloudWatch (the alarm's state changes) and
//! VPC Flow Logs (records written into the log group), and narrates.

use std::time::{Duration, Instant};

use recorder::flowlogs::LOG_FORMAT;
use recorder_tests::{moto_stack, spike, World};

fn step(n: u32, text: &str) {
    println!("\n\x1b[1m{n}. {text}\x1b[0m");
}

fn detail(text: impl AsRef<str>) {
    for line in text.as_ref().lines() {
        println!("   {line}");
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

    step(4, "VPC Flow Logs deliver records, CloudWatch the NAT Gateway's metrics (synthetic here)");
    // The README's spike: an instance pulling from S3, two uploads, a rejected scan, skipped data
    let nat = world.nat_private_address().await;
    for (_, launched) in world.launch_spike_instances().await.iter().skip(2) {
        detail(format!("instance {launched} runs in the VPC"));
    }
    let records = spike::records(&nat);
    world.write_flow_records(&records, chrono::Utc::now()).await;
    detail(format!(
        "{} records in {}, stream {}, among them:",
        records.len(),
        world.log_group_name,
        recorder::contract::log_stream_of(&world.network_interface_id)
    ));
    for line in [&records[0], &records[40], &records[80], &records[480]] {
        detail(format!("  {line}"));
    }
    let alarm_minute = spike::minute(chrono::DateTime::from_timestamp_millis(t0).unwrap());
    world
        .put_nat_metrics(&spike::metrics(
            alarm_minute - chrono::Duration::seconds(60),
            spike::minute(chrono::Utc::now()),
        ))
        .await;
    detail("NAT Gateway metrics: BytesInFromSource, BytesInFromDestination, BytesOutToSource, BytesOutToDestination");

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
    detail("(moto runs no Logs Insights parse or stats: the local gateway answers the notifier's queries");
    detail(" over the records above, as Logs Insights documents them; on AWS, Logs Insights does.)");

    println!(
        "\nDone in {:.1} s. Everything ran on 127.0.0.1 and stops with this program.",
        began.elapsed().as_secs_f64()
    );
}
