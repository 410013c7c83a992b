//! `make record STACK=<stack> NAT=<nat id> MINUTES=<n>`: records a NAT Gateway now, through the
//! stack's own workflow, and says whether it started (and until when) or why not. With
//! `STATE_MACHINE_ARN` instead of `STACK`, no CloudFormation lookup (the local stack's tests).
//! Credentials and Region: the AWS SDK's usual chain (`AWS_PROFILE`, `AWS_REGION`, ...).

use recorder_tools::{caller, minutes, record, setting, Started, Target};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(why) = run().await {
        eprintln!("make record: {why}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let minutes = minutes(30)?;
    let nat = setting("NAT");
    let sdk = recorder_tools::sdk().await;
    let target = match (setting("STATE_MACHINE_ARN"), setting("STACK")) {
        (Some(state_machine_arn), _) => Target {
            stack_name: setting("STACK").unwrap_or_default(),
            state_machine_arn,
            nat_gateway_id: nat.ok_or("NAT=nat-... is needed with STATE_MACHINE_ARN")?,
        },
        (None, Some(stack)) => Target::of_stack(&sdk, &stack, nat.as_deref()).await?,
        (None, None) => return Err("which stack? STACK=<stack name> (or STATE_MACHINE_ARN=...)".into()),
    };
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    // Who asks is the report's to say: a caller STS cannot name is an error, not a blank.
    let (execution, started) = record(&sfn, &target, minutes, Some(caller(&sdk).await?)).await?;
    match started {
        Started::Recording { flow_log_ids, network_interface_ids, until_seconds } => {
            let until = chrono::Utc::now() + chrono::Duration::seconds(i64::from(until_seconds));
            println!("recording {} until {} UTC", target.nat_gateway_id, until.format("%H:%M"));
            println!("  flow logs   {} on {}", flow_log_ids.join(", "), network_interface_ids.join(", "));
            println!("  execution   {execution}");
            println!("  the report is emailed once the records have arrived");
            Ok(())
        }
        Started::Refused(why) => {
            println!("not recording {}: {why} (execution {execution})", target.nat_gateway_id);
            Ok(())
        }
    }
}
