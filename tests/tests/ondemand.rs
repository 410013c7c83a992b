//! A recording on demand (`make record`) and the smoke test built on it (`make smoke LOCAL=1`),
//! each run as the user runs it: the built binary, in its own process, against the local stack
//! through the gateway (the Makefile's targets are `cargo run` of these binaries). The caller is
//! the harness's user; moto checks its `states:StartExecution` like any call.

use std::process::{Command, Output};
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use recorder_tests::deploy::{binary_dir, Deployment};
use recorder_tests::{moto_stack, World, REGION};

/// Runs a tool binary with the harness's credentials, the gateway as its endpoint, and `env`.
fn run_tool(binary: &str, env: &[(&str, &str)]) -> Output {
    let local = moto_stack();
    let (key, secret) = local.principals.harness.clone();
    let path = binary_dir().join(binary);
    assert!(path.exists(), "{} is not built: run `cargo build --workspace --bins` (make test does)", path.display());
    let mut command = Command::new(&path);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", REGION)
        .env("AWS_ENDPOINT_URL", &local.endpoint);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the tool runs")
}

fn record(d: &Deployment, minutes: &str) -> (bool, String) {
    let output = run_tool(
        "record",
        &[("STATE_MACHINE_ARN", &d.state_machine_arn), ("NAT", &d.world.nat_gateway_id), ("MINUTES", minutes)],
    );
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test]
async fn a_recording_on_demand_records_now_for_its_minutes_whatever_the_alarm_says() {
    let world = World::new().await;
    let d = world.deploy(&[("RecordingTime", "600")]).await;
    // Asked for by hand: flow logs on at once
    let (ok, said) = record(&d, "1");
    assert!(ok, "{said}");
    assert!(said.starts_with(&format!("recording {} until ", world.nat_gateway_id)), "{said}");
    assert_eq!(d.flow_logs().await.len(), 1, "{said}");
    let execution = d.executions().await.into_iter().find(|e| e.contains(":by-hand-")).expect("the execution");
    // A second request is refused politely, and so is more than RecordingTime
    let (ok, again) = record(&d, "1");
    assert!(ok && again.contains("not recording") && again.contains("already being recorded"), "{again}");
    let (ok, too_long) = record(&d, "11");
    assert!(!ok && too_long.contains("minutes 11 is not from 1 to 10 (RecordingTime allows 10)"), "{too_long}");
    // An OK does not end it: it ends at its time
    let now = chrono::Utc::now().timestamp_millis();
    d.deliver("AlarmOkResolverFunction", &world.alarm_event("OK", now));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(d.status(&execution).await.status, ExecutionStatus::Running, "an OK ended a recording by hand");
    let done = d.finished(&execution, Duration::from_secs(120)).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert!(d.flow_logs().await.is_empty(), "the recording's flow log is off again");
    let emails = d.emails().await;
    let email = emails.iter().find(|e| e.subject.contains("by hand")).unwrap_or_else(|| panic!("{emails:?}"));
    assert!(email.body.contains("Why         asked for by hand, for 1 minutes\n"), "{}", email.body);
    let asked = email.body.lines().find(|l| l.starts_with("Asked by")).expect("who asked");
    assert!(asked.contains(":user/"), "the caller's ARN, from STS: {asked}");
    assert_eq!(d.slot().await.and_then(|s| s.owner), None, "the slot is free again");
}

#[tokio::test]
async fn make_smoke_local_passes_every_step_against_the_local_stack() {
    let output = run_tool("smoke", &[("LOCAL", "1"), ("MINUTES", "1")]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
    let passed: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("ok ")).collect();
    assert_eq!(passed.len(), 6, "{text}");
    assert!(text.contains("5. the report was published: \"NAT Gateway nat-"), "{text}");
    assert!(text.trim_end().ends_with("smoke test passed"), "{text}");
}
