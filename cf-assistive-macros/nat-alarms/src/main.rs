//! The macro's Lambda: decode the request, expand.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use nat_alarms_macro::{handle, MacroRequest, MacroResponse};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // No settings and no AWS call: the expansion is a pure function of the request.
    lambda_runtime::tracing::init_default_subscriber();
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async move {
        let request_id = event.payload.get("requestId").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let fragment = event.payload.get("fragment").cloned().unwrap_or(serde_json::Value::Null);
        let response = match serde_json::from_value::<MacroRequest>(event.payload) {
            Ok(request) => handle(request),
            Err(e) => MacroResponse::failure(&request_id, fragment, format!("not a CloudFormation macro request: {e}")),
        };
        tracing::info!(status = response.status, error = ?response.error_message, "expanded");
        Ok::<_, Error>(response)
    }))
    .await
}
