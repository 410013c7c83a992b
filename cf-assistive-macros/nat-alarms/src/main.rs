//! The macro's Lambda: decode the request, look NAT Gateways up for `all`, expand.

use aws_sdk_ec2::types::Filter;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use nat_alarms_macro::{handle, MacroRequest, MacroResponse};

/// Every available NAT Gateway of the region.
async fn available_nat_gateways(ec2: &aws_sdk_ec2::Client) -> Result<Vec<String>, String> {
    let gateways = ec2
        .describe_nat_gateways()
        .filter(Filter::builder().name("state").values("available").build())
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| aws_sdk_ec2::error::DisplayErrorContext(e).to_string())?;
    let mut ids: Vec<String> = gateways.iter().filter_map(|g| g.nat_gateway_id()).map(str::to_owned).collect();
    ids.sort();
    Ok(ids)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Nothing of its own to read; a bad setting reaches CloudFormation named, not as an exit.
    let ((), sdk) = lambda_env::cold_start(|_| Ok(()), |_: &lambda_env::EnvError| "ConfigurationError").await?;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let ec2 = ec2.clone();
        async move {
            let request_id = event.payload.get("requestId").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let fragment = event.payload.get("fragment").cloned().unwrap_or(serde_json::Value::Null);
            let response = match serde_json::from_value::<MacroRequest>(event.payload) {
                Ok(request) => handle(request, || async move { available_nat_gateways(&ec2).await }).await,
                Err(e) => {
                    MacroResponse::failure(&request_id, fragment, format!("not a CloudFormation macro request: {e}"))
                }
            };
            tracing::info!(status = response.status, error = ?response.error_message, "expanded");
            Ok::<_, Error>(response)
        }
    }))
    .await
}
