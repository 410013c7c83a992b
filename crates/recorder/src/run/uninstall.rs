//! Uninstall: the stack's custom resource (`UninstallCleanup` in `template.yaml`) hands the
//! sweeper a CloudFormation Delete before anything the cleanup needs is deleted (the ALARM rule
//! goes first, so no new recording starts). It stops the running recordings and deletes every
//! flow log of this stack, whatever its age, so uninstalling never leaves one running, and, when
//! the stack watches every NAT Gateway, the alarms the sweeper made. Safe to run again: what is
//! gone stays gone. A Create or Update of a stack that watches every NAT Gateway puts every
//! alarm ([`crate::reconcile`]).
//!
//! The request and response are CloudFormation's custom-resource contract (CloudFormation User
//! Guide, "Custom resource request objects" and "Custom resource response objects"): the answer
//! is a PUT of a JSON document to the request's pre-signed `ResponseURL`, with an empty
//! content type.
//!
//! Anyone allowed to invoke the sweeper can send a request of that shape, so nothing in one is
//! believed ([`serve`]): it must name this stack's id and this resource, its answer can only go to
//! CloudFormation's response bucket over HTTPS, and a Delete acts only while CloudFormation says
//! it is deleting this resource. A request that fails any of these is refused, logged, and
//! neither acted on nor answered.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
    CloudFormationCustomResourceResponseStatus,
};
use serde::Serialize;
use tracing::{info, warn};

use crate::alarms::Alarms;
use crate::config::SweepConfig;
use crate::error::{RecorderError, Result};
use crate::flowlogs::FlowLogs;
use crate::protocol::Input;
use crate::stack::Stack;
use crate::store::SlotTable;
use crate::tokens::Executions;

/// The custom resource's logical id in `template.yaml`.
pub const LOGICAL_ID: &str = "UninstallCleanup";

/// The status CloudFormation gives a resource it is deleting (CloudFormation API Reference,
/// "StackResourceDetail").
const DELETING: &str = "DELETE_IN_PROGRESS";

/// A Delete's wait between passes is the template's 35 s; none waits longer than this, whatever
/// the request says.
const MAX_SETTLE: Duration = Duration::from_secs(60);

/// How long the answer's PUT may take: a slow or silent host cannot hold the function.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The clients the cleanup uses.
pub struct Cleanup<'a> {
    pub ec2: &'a FlowLogs,
    pub slots: &'a SlotTable,
    pub executions: &'a Executions,
    pub stack: &'a Stack,
    pub alarms: &'a Alarms,
}

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
    /// `NatGatewayIDs`, joined: `all`, or the list.
    #[serde(default)]
    pub watched: Option<String>,
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
    /// An Update from a stack that watched every NAT Gateway (whose alarms the sweeper kept).
    watched_all_before: bool,
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
        watched_all_before: false,
    };
    Ok(match request {
        Create(r) => e(&r.stack_id, &r.request_id, &r.logical_resource_id, &r.response_url),
        Update(r) => Envelope {
            physical_resource_id: Some(&r.physical_resource_id),
            watched_all_before: r.old_resource_properties.watched.as_deref().map(str::trim)
                == Some(nat_alarms_macro::ALL),
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

/// Serves one custom-resource request: a request that is not CloudFormation's own for this
/// stack's cleanup is refused ([`RecorderError::Refused`]) before anything is done or answered;
/// otherwise it is handled and the answer PUT to its `ResponseURL`. A status CloudFormation could
/// not be asked for is an error too, with no answer: Lambda invokes the function again.
pub async fn serve(
    config: &SweepConfig,
    clients: &Cleanup<'_>,
    request: &CleanupRequest,
) -> Result<CloudFormationCustomResourceResponse> {
    let envelope = envelope(request)?;
    if let Err(e) = genuine(config, &envelope, clients.stack).await {
        if let RecorderError::Refused(reason) = &e {
            warn!(%reason, request_id = envelope.request_id, "a custom-resource request was refused");
        }
        return Err(e);
    }
    let response = handle(config, clients, request).await;
    respond(envelope.response_url, &response).await?;
    Ok(response)
}

/// Refuses ([`RecorderError::Refused`], with the reason) a request that cannot be
/// CloudFormation's own for this stack's cleanup: the request's own fields first, then, for a
/// Delete, what CloudFormation says of the resource (a status that cannot be read is the read's
/// own error).
async fn genuine(config: &SweepConfig, envelope: &Envelope<'_>, stack: &Stack) -> Result<()> {
    let refused = |reason: String| Err(RecorderError::Refused(reason));
    if envelope.stack_id != config.stack_id {
        return refused(format!("StackId {:?} is not this stack's ({})", envelope.stack_id, config.stack_id));
    }
    if envelope.logical_resource_id != LOGICAL_ID {
        return refused(format!("LogicalResourceId {:?} is not {LOGICAL_ID}", envelope.logical_resource_id));
    }
    answer_goes_to_cloudformation(envelope.response_url, config.endpoint_override.as_deref()).or_else(refused)?;
    if envelope.delete.is_some() {
        let status = stack.resource_status(&config.stack_id, LOGICAL_ID).await?;
        if status != DELETING {
            return refused(format!("a Delete while CloudFormation says {LOGICAL_ID} is {status}, not {DELETING}"));
        }
    }
    Ok(())
}

/// The answer goes only to CloudFormation's response bucket, over HTTPS: a host
/// `cloudformation-custom-resource-response-<region>` under `amazonaws.com` (`.com.cn` in China),
/// as CloudFormation's requests name it (CloudFormation User Guide, "Custom resource request
/// objects", `ResponseURL`). Where `AWS_ENDPOINT_URL` points the SDK at another endpoint (the
/// local stack), that endpoint's scheme and host are CloudFormation's.
fn answer_goes_to_cloudformation(url: &str, endpoint_override: Option<&str>) -> std::result::Result<(), String> {
    let refused = |why: &str| Err(format!("ResponseURL {:?} {why}", crate::notify::printable(url, 200)));
    let Ok(uri) = url.parse::<hyper::Uri>() else { return refused("is not a URL") };
    let (scheme, host) = (uri.scheme_str().unwrap_or_default(), uri.host().unwrap_or_default());
    if let Some(local) = endpoint_override.and_then(|e| e.parse::<hyper::Uri>().ok()) {
        if local.scheme_str() == Some(scheme) && local.host() == Some(host) {
            return Ok(());
        }
    }
    if scheme != "https" {
        return refused("is not HTTPS");
    }
    let aws = [".amazonaws.com", ".amazonaws.com.cn"].iter().any(|suffix| host.ends_with(suffix));
    if !aws || !host.starts_with("cloudformation-custom-resource-response-") {
        return refused("is not CloudFormation's response bucket");
    }
    Ok(())
}

/// Handles one genuine custom-resource request: Create and Update do nothing; Delete uninstalls.
/// The answer to send to CloudFormation is returned, and never an error: a failed cleanup answers
/// FAILED with the reason, so the stack stops and says why rather than leaving flow logs on.
async fn handle(
    config: &SweepConfig,
    clients: &Cleanup<'_>,
    request: &CleanupRequest,
) -> CloudFormationCustomResourceResponse {
    let deleting = matches!(request, CloudFormationCustomResourceRequest::Delete(_));
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
        let Some(properties) = envelope.delete else {
            return keep_alarms(config, clients, envelope.watched_all_before).await;
        };
        let report = uninstall(config, clients.ec2, clients.slots, clients.executions, settle(properties)?).await?;
        // After the passes: a sweep that was putting an alarm when the cleanup began has ended.
        let removed = match &config.alarms {
            Some(alarms) => crate::reconcile::remove_all(&alarms.name_prefix, clients.alarms).await?,
            None => Vec::new(),
        };
        Ok(HashMap::from([
            ("StoppedExecutions".to_owned(), report.stopped_executions.len().to_string()),
            ("DeletedFlowLogs".to_owned(), report.deleted_flow_log_ids.len().to_string()),
            ("DeletedAlarms".to_owned(), removed.len().to_string()),
        ]))
    }
    .await;
    match outcome {
        Ok(data) => {
            response.status = CloudFormationCustomResourceResponseStatus::Success;
            response.data = data;
        }
        Err(e) => {
            warn!(error = %e, "the custom resource's request failed; CloudFormation is told so");
            response.status = CloudFormationCustomResourceResponseStatus::Failed;
            response.reason = Some(match deleting {
                true => format!("could not stop the recordings or delete their flow logs: {e}"),
                false => e.to_string(),
            });
        }
    }
    response
}

/// Create and Update: with `all`, every NAT Gateway's alarm, put again with the stack's
/// parameters now; from `all` to a list, the alarms the sweeper kept go, so that the macro's
/// (which depend on this resource) can take their names.
async fn keep_alarms(
    config: &SweepConfig,
    clients: &Cleanup<'_>,
    watched_all_before: bool,
) -> Result<HashMap<String, String>> {
    use crate::reconcile::{reconcile, remove_all, Put};
    match &config.alarms {
        Some(alarms) => {
            let report = reconcile(alarms, clients.ec2, clients.alarms, Put::Every).await.map_err(|e| {
                RecorderError::Aws { operation: "alarms", message: format!("could not put the alarms: {e}") }
            })?;
            Ok(HashMap::from([("Alarms".to_owned(), report.put.len().to_string())]))
        }
        None if watched_all_before => {
            let removed = remove_all(&config.alarm_name_prefix, clients.alarms).await?;
            Ok(HashMap::from([("DeletedAlarms".to_owned(), removed.len().to_string())]))
        }
        None => Ok(HashMap::new()),
    }
}

fn settle(properties: &CleanupProperties) -> Result<Duration> {
    let Some(text) = &properties.settle_seconds else { return Ok(Duration::from_secs(35)) };
    text.parse::<u64>()
        .map(|seconds| Duration::from_secs(seconds).min(MAX_SETTLE))
        .map_err(|_| RecorderError::InvalidInput(format!("SettleSeconds {text:?} is not a whole number of seconds")))
}

/// PUTs the answer to the request's pre-signed URL, with the SDK's own TLS stack (rustls, the
/// system's roots), within [`ANSWER_TIMEOUT`].
async fn respond(url: &str, response: &CloudFormationCustomResourceResponse) -> Result<()> {
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
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, client.request(request))
        .await
        .map_err(|_| failed(format!("no answer within {} s", ANSWER_TIMEOUT.as_secs())))?
        .map_err(|e| failed(e.to_string()))?;
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
        assert_eq!(
            settle(&CleanupProperties { settle_seconds: Some("3".into()), ..Default::default() }).unwrap(),
            Duration::from_secs(3)
        );
        assert_eq!(settle(&CleanupProperties::default()).unwrap(), Duration::from_secs(35));
        assert_eq!(
            settle(&CleanupProperties { settle_seconds: Some("300".into()), ..Default::default() }).unwrap(),
            MAX_SETTLE
        );
        let bad = settle(&CleanupProperties { settle_seconds: Some("soon".into()), ..Default::default() })
            .unwrap_err()
            .to_string();
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
    fn the_answer_goes_only_to_cloudformations_response_bucket_over_https() {
        let ok = |url| answer_goes_to_cloudformation(url, None);
        ok("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws?X-Amz-Signature=1")
            .unwrap();
        ok("https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/x").unwrap();
        for (url, why) in [
            ("http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x", "is not HTTPS"),
            ("https://attacker.example/x", "is not CloudFormation's response bucket"),
            ("https://my-bucket.s3.amazonaws.com/x", "is not CloudFormation's response bucket"),
            ("https://cloudformation-custom-resource-response-x.attacker.example/x", "response bucket"),
            ("not a url at all", "is not a URL"),
        ] {
            let err = ok(url).unwrap_err();
            assert!(err.contains(why) && err.contains(&format!("{url:?}")), "{url}: {err}");
        }
        // The local stack: its own scheme and host only
        let local = Some("http://127.0.0.1:4566");
        answer_goes_to_cloudformation("http://127.0.0.1:40123/cfn-response", local).unwrap();
        answer_goes_to_cloudformation("http://10.0.0.1:40123/cfn-response", local).unwrap_err();
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
