//! Uninstall: the stack's custom resource (`UninstallCleanup` in `template.yaml`) hands the
//! sweeper a CloudFormation Delete before anything the cleanup needs is deleted (the ALARM rule
//! goes first, so no new recording starts). It stops the running recordings and deletes every
//! flow log of this stack, whatever its age, so uninstalling never leaves one running. Safe to
//! run again: what is gone stays gone.
//!
//! The request and response are CloudFormation's custom-resource contract (CloudFormation User
//! Guide, "Custom resource request objects" and "Custom resource response objects"): the answer
//! is a PUT of a JSON document to the request's pre-signed `ResponseURL`, with an empty
//! content type.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
    CloudFormationCustomResourceResponseStatus,
};
use serde::Serialize;
use tracing::{info, warn};

use crate::config::SweepConfig;
use crate::error::{RecorderError, Result};
use crate::flowlogs::FlowLogs;
use crate::protocol::Input;
use crate::store::SlotTable;
use crate::tokens::Executions;

/// What one uninstall did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UninstallReport {
    pub stopped_executions: Vec<String>,
    pub deleted_flow_log_ids: Vec<String>,
    /// Flow logs that carry this stack's tags but are not its own: left alone.
    pub foreign: Vec<String>,
}

/// Passes of "delete, then wait `settle`" at most: a pass that finds nothing ends it sooner.
const MAX_PASSES: usize = 4;

/// Fences every slot (no claim succeeds from then on), stops the running recordings, and
/// deletes every flow log of this stack until a pass, `settle` after the last (a StartRecording
/// in flight when its execution stopped may still create one, and EC2 may not list a new flow
/// log yet), finds none. A fence or stop that fails is reported at the end, after the deletes:
/// an error never leaves a flow log behind that could have been deleted.
pub async fn uninstall(
    config: &SweepConfig,
    ec2: &FlowLogs,
    slots: &SlotTable,
    executions: &Executions,
    settle: Duration,
) -> Result<UninstallReport> {
    let mut report = UninstallReport::default();
    let mut errors = Vec::new();
    match slots.slots().await {
        Ok(all) => {
            for (nat, _) in all {
                if let Err(e) = slots.apply(&nat, &Input::Fence).await {
                    errors.push(format!("fence of {nat}: {e}"));
                }
            }
        }
        Err(e) => errors.push(format!("fence: {e}")),
    }
    match executions.stop_running(&config.state_machine_arn, "the stack is being deleted").await {
        Ok(stopped) => report.stopped_executions = stopped,
        Err(e) => errors.push(e.to_string()),
    }
    for pass in 0..MAX_PASSES {
        if pass > 0 {
            tokio::time::sleep(settle).await;
        }
        let (owned, foreign) = config.ownership.split(ec2.find_by_stack(&config.stack_name).await?, &config.executions);
        let ids: Vec<String> = owned.into_iter().map(|f| f.flow_log_id).collect();
        ec2.delete(&ids).await?;
        let found = !ids.is_empty();
        report.deleted_flow_log_ids.extend(ids);
        report.foreign = foreign;
        if pass > 0 && !found {
            break;
        }
    }
    info!(?report, ?errors, "uninstalled");
    match errors.is_empty() {
        true => Ok(report),
        false => Err(RecorderError::Aws { operation: "uninstall", message: errors.join("; ") }),
    }
}

/// The custom resource's properties (CloudFormation passes them as strings).
#[derive(Debug, Clone, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CleanupProperties {
    /// How long to wait between the two passes, in seconds (StartRecording's timeout and more).
    #[serde(default)]
    pub settle_seconds: Option<String>,
}

pub type CleanupRequest = CloudFormationCustomResourceRequest<CleanupProperties, CleanupProperties>;

/// The fields the answer echoes, where it goes, and a Delete's properties.
struct Envelope<'a> {
    stack_id: &'a str,
    request_id: &'a str,
    logical_resource_id: &'a str,
    response_url: &'a str,
    /// The resource's physical id, echoed on Update and Delete: an answer with another id would
    /// make CloudFormation replace the resource, and delete (uninstall) the old one.
    physical_resource_id: Option<&'a str>,
    /// `Some` for a Delete: its properties.
    delete: Option<&'a CleanupProperties>,
}

fn envelope(request: &CleanupRequest) -> Result<Envelope<'_>> {
    use CloudFormationCustomResourceRequest::{Create, Delete, Update};
    let e = |stack_id, request_id, logical_resource_id, response_url| Envelope {
        stack_id,
        request_id,
        logical_resource_id,
        response_url,
        physical_resource_id: None,
        delete: None,
    };
    Ok(match request {
        Create(r) => e(&r.stack_id, &r.request_id, &r.logical_resource_id, &r.response_url),
        Update(r) => Envelope {
            physical_resource_id: Some(&r.physical_resource_id),
            ..e(&r.stack_id, &r.request_id, &r.logical_resource_id, &r.response_url)
        },
        Delete(r) => Envelope {
            physical_resource_id: Some(&r.physical_resource_id),
            delete: Some(&r.resource_properties),
            ..e(&r.stack_id, &r.request_id, &r.logical_resource_id, &r.response_url)
        },
        _ => {
            return Err(RecorderError::InvalidInput(
                "a CloudFormation request type other than Create, Update, Delete".into(),
            ))
        }
    })
}

/// Where the answer to a request goes.
pub fn response_url(request: &CleanupRequest) -> Result<&str> {
    envelope(request).map(|e| e.response_url)
}

/// Handles one custom-resource request: Create and Update do nothing; Delete uninstalls. The
/// answer to send to CloudFormation is returned, and never an error: a failed cleanup answers
/// FAILED with the reason, so the stack stops and says why rather than leaving flow logs on.
pub async fn handle(
    config: &SweepConfig,
    ec2: &FlowLogs,
    slots: &SlotTable,
    executions: &Executions,
    request: &CleanupRequest,
) -> CloudFormationCustomResourceResponse {
    let mut response = CloudFormationCustomResourceResponse::default();
    response.physical_resource_id = format!("{}-uninstall-cleanup", config.stack_name);
    let outcome: Result<HashMap<String, String>> = async {
        let envelope = envelope(request)?;
        response.stack_id = envelope.stack_id.to_owned();
        response.request_id = envelope.request_id.to_owned();
        response.logical_resource_id = envelope.logical_resource_id.to_owned();
        if let Some(id) = envelope.physical_resource_id {
            response.physical_resource_id = id.to_owned();
        }
        // Create and Update: nothing to set up.
        let Some(properties) = envelope.delete else { return Ok(HashMap::new()) };
        let report = uninstall(config, ec2, slots, executions, settle(properties)?).await?;
        Ok(HashMap::from([
            ("StoppedExecutions".to_owned(), report.stopped_executions.len().to_string()),
            ("DeletedFlowLogs".to_owned(), report.deleted_flow_log_ids.len().to_string()),
        ]))
    }
    .await;
    match outcome {
        Ok(data) => {
            response.status = CloudFormationCustomResourceResponseStatus::Success;
            response.data = data;
        }
        Err(e) => {
            warn!(error = %e, "the uninstall cleanup failed; CloudFormation is told so");
            response.status = CloudFormationCustomResourceResponseStatus::Failed;
            response.reason = Some(format!("could not stop the recordings or delete their flow logs: {e}"));
        }
    }
    response
}

fn settle(properties: &CleanupProperties) -> Result<Duration> {
    let Some(text) = &properties.settle_seconds else { return Ok(Duration::from_secs(35)) };
    text.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| RecorderError::InvalidInput(format!("SettleSeconds {text:?} is not a whole number of seconds")))
}

/// PUTs the answer to the request's pre-signed URL, with the SDK's own TLS stack (rustls, the
/// system's roots).
pub async fn respond(url: &str, response: &CloudFormationCustomResourceResponse) -> Result<()> {
    use http_body_util::{BodyExt, Full};
    let failed = |message: String| RecorderError::Transient { operation: "CloudFormation response", message };
    let body = serde_json::to_vec(response).map_err(|e| failed(e.to_string()))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| failed(format!("no TLS roots: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let request = hyper::Request::put(url)
        .header("content-type", "")
        .header("content-length", body.len())
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| RecorderError::InvalidInput(format!("ResponseURL {url:?}: {e}")))?;
    let answer = client.request(request).await.map_err(|e| failed(e.to_string()))?;
    let status = answer.status();
    if !status.is_success() {
        let text = answer.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        return Err(failed(format!("HTTP {status}: {}", String::from_utf8_lossy(&text))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settle_time_is_read_from_the_properties_and_a_bad_one_is_named() {
        assert_eq!(settle(&CleanupProperties { settle_seconds: Some("3".into()) }).unwrap(), Duration::from_secs(3));
        assert_eq!(settle(&CleanupProperties::default()).unwrap(), Duration::from_secs(35));
        let bad = settle(&CleanupProperties { settle_seconds: Some("soon".into()) }).unwrap_err().to_string();
        assert!(bad.contains("\"soon\""), "{bad}");
    }

    #[test]
    fn a_delete_request_as_cloudformation_sends_it_is_understood() {
        let request: CleanupRequest = serde_json::from_value(serde_json::json!({
            "RequestType": "Delete", "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1", "RequestId": "r",
            "ResourceType": "AWS::CloudFormation::CustomResource", "LogicalResourceId": "UninstallCleanup",
            "PhysicalResourceId": "s-uninstall-cleanup", "ResourceProperties": {"ServiceToken": "t", "SettleSeconds": "35"}
        }))
        .unwrap();
        let envelope = envelope(&request).unwrap();
        assert_eq!(envelope.response_url, "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x");
        let properties = envelope.delete.expect("a Delete");
        assert_eq!(envelope.physical_resource_id, Some("s-uninstall-cleanup"));
        assert_eq!(properties.settle_seconds.as_deref(), Some("35"));
    }

    #[test]
    fn an_update_echoes_the_physical_id_it_was_given() {
        let request: CleanupRequest = serde_json::from_value(serde_json::json!({
            "RequestType": "Update", "ServiceToken": "t", "ResponseURL": "https://example.com/x",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1", "RequestId": "r",
            "ResourceType": "AWS::CloudFormation::CustomResource", "LogicalResourceId": "UninstallCleanup",
            "PhysicalResourceId": "an-older-format-of-the-id",
            "ResourceProperties": {"ServiceToken": "t"}, "OldResourceProperties": {"ServiceToken": "t"}
        }))
        .unwrap();
        let envelope = envelope(&request).unwrap();
        assert_eq!(envelope.physical_resource_id, Some("an-older-format-of-the-id"));
        assert!(envelope.delete.is_none(), "an Update deletes nothing");
    }
}
