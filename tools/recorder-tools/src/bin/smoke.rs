//! `make smoke STACK=<stack>`: a two-minute recording on demand against a deployed stack, checked
//! step by step as a user would (flow logs on every interface, off again, the execution
//! succeeded, the report published, nothing left). `make smoke LOCAL=1` deploys the stack into
//! the local stack on this machine first and runs the same checks there.

use recorder_tools::{minutes, setting, smoke, Target};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(why) = run().await {
        eprintln!("make smoke: {why}");
        std::process::exit(1);
    }
    println!("smoke test passed");
}

async fn run() -> Result<(), String> {
    let minutes = minutes(2)?;
    if setting("LOCAL").is_some_and(|l| l != "0") {
        let world = recorder_tests::World::new().await;
        let d = world.deploy(&[("RecordingTime", &(minutes * 60 + 60).to_string())]).await;
        let target = Target {
            stack_name: world.stack_name.clone(),
            state_machine_arn: d.state_machine_arn.clone(),
            nat_gateway_id: world.nat_gateway_id.clone(),
        };
        return smoke(&world.sdk, &target, minutes).await;
    }
    let stack = setting("STACK").ok_or("which stack? STACK=<stack name>, or LOCAL=1 for the local stack")?;
    let sdk = recorder_tools::sdk().await;
    let target = Target::of_stack(&sdk, &stack, setting("NAT").as_deref()).await?;
    smoke(&sdk, &target, minutes).await
}
