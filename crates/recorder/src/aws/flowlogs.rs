//! VPC Flow Logs on a NAT Gateway's network interfaces: one adapter method per EC2 call.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{
    Filter, FlowLogsResourceType, LogDestinationType, ResourceType, Tag, TagSpecification, TrafficType,
};
use aws_sdk_ec2::Client;
use tracing::warn;

use crate::error::{RecorderError, Result};
use crate::workloads::Interface;

/// The record format, in the order the saved queries parse it (docs/DESIGN.md, "Flow log record format").
pub const LOG_FORMAT: &str = "${action} ${flow-direction} ${traffic-path} ${srcaddr} ${srcport} ${dstaddr} \
${dstport} ${protocol} ${bytes} ${type} ${pkt-srcaddr} ${pkt-src-aws-service} ${pkt-dstaddr} ${pkt-dst-aws-service} \
${log-status}";

/// Seconds over which a flow log aggregates packets before it writes a record.
pub const MAX_AGGREGATION_INTERVAL: i32 = 60;

/// Tag keys that mark a flow log as ours, so stop and sweep can find it again.
pub const TAG_STACK: &str = nat_alarms_macro::STACK_TAG;
pub const TAG_EXECUTION: &str = "vpc-flowlogs-recorder:execution";
pub const TAG_NAT_GATEWAY: &str = "vpc-flowlogs-recorder:nat-gateway";

/// EC2's code for a flow log that no longer exists.
const FLOW_LOG_NOT_FOUND: &str = "InvalidFlowLogId.NotFound";

/// How long to wait before each look at new flow logs: 7.5 s in all, well inside
/// StartRecording's 30 s.
pub(crate) const VISIBILITY_WAITS_MS: [u64; 5] = [0, 500, 1000, 2000, 4000];

/// EC2's answer to a flow log whose interface and destination another one already records.
/// moto answers the whole request with it; EC2 may name the interface in `Unsuccessful`: both
/// become one refusal per interface with this code.
pub const ALREADY_EXISTS: &str = "FlowLogAlreadyExists";

/// Where and how flow logs are created for one recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLogSpec<'a> {
    pub network_interface_ids: &'a [String],
    pub log_group_name: &'a str,
    pub delivery_role_arn: &'a str,
    pub stack_name: &'a str,
    pub execution_arn: &'a str,
    pub nat_gateway_id: &'a str,
}

/// A flow log found by this stack's tags, with what EC2 says of it. A tag is no proof of
/// ownership: anyone allowed `ec2:CreateTags` can copy it onto another flow log ([`Ownership`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedFlowLog {
    pub flow_log_id: String,
    pub execution_arn: Option<String>,
    pub nat_gateway_id: Option<String>,
    /// Seconds since the epoch.
    pub created_at_secs: Option<i64>,
    /// What it records (an interface id for ours) and where it delivers.
    pub resource_id: Option<String>,
    pub log_group_name: Option<String>,
    pub delivery_role_arn: Option<String>,
}

/// What makes a flow log this stack's: it delivers to this stack's log group with this stack's
/// delivery role, it records a network interface, and its execution tag names an execution of
/// this stack's state machine. IAM scopes deletes by the stack tag; this is the second lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub log_group_name: String,
    pub delivery_role_arn: String,
}

/// `arn:<partition>:states:<region>:<account>:execution:<state machine>:`, the prefix of every
/// execution of the state machine `state_machine_arn` (`...:stateMachine:<name>`).
pub fn executions_of(state_machine_arn: &str) -> Option<String> {
    let (head, name) = state_machine_arn.rsplit_once(":stateMachine:")?;
    Some(format!("{head}:execution:{name}:"))
}

/// The same prefix, from one execution's ARN (`...:execution:<state machine>:<name>`).
pub fn sibling_executions(execution_arn: &str) -> Option<String> {
    let (machine, _) = execution_arn.rsplit_once(':')?;
    machine.contains(":execution:").then(|| format!("{machine}:"))
}

impl Ownership {
    /// Why `log` is not this stack's, or `None` when it is. `executions` is the prefix of this
    /// stack's executions ([`executions_of`]).
    pub fn foreign_because(&self, log: &TaggedFlowLog, executions: &str) -> Option<String> {
        if log.log_group_name.as_deref() != Some(self.log_group_name.as_str()) {
            return Some(format!("it delivers to {:?}, not to {}", log.log_group_name, self.log_group_name));
        }
        if log.delivery_role_arn.as_deref() != Some(self.delivery_role_arn.as_str()) {
            return Some(format!("it delivers with the role {:?}, not this stack's", log.delivery_role_arn));
        }
        if !log.resource_id.as_deref().is_some_and(|r| r.starts_with("eni-")) {
            return Some(format!("it records {:?}, not a network interface", log.resource_id));
        }
        if !log.execution_arn.as_deref().is_some_and(|e| e.starts_with(executions) && e.len() > executions.len()) {
            return Some(format!(
                "its execution tag {:?} is no execution of this stack's state machine",
                log.execution_arn
            ));
        }
        None
    }

    /// `logs` split into this stack's own and the ids of the others, each of which is logged
    /// and left alone, whatever its tags say.
    pub fn split(&self, logs: Vec<TaggedFlowLog>, executions: &str) -> (Vec<TaggedFlowLog>, Vec<String>) {
        let mut foreign = Vec::new();
        let owned = logs
            .into_iter()
            .filter_map(|log| match self.foreign_because(&log, executions) {
                None => Some(log),
                Some(why) => {
                    warn!(flow_log = %log.flow_log_id, %why, "a flow log carries this stack's tags but is not its own; left alone");
                    foreign.push(log.flow_log_id);
                    None
                }
            })
            .collect();
        (owned, foreign)
    }
}

/// A NAT Gateway as DescribeNatGateways shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatGatewayFacts {
    /// pending, available, deleting, deleted or failed.
    pub state: String,
    pub network_interface_ids: Vec<String>,
    pub private_addresses: Vec<String>,
    /// A private NAT Gateway (`ConnectivityType` private): its remote side is other networks,
    /// not the internet.
    pub private: bool,
    pub vpc_id: Option<String>,
}

impl NatGatewayFacts {
    /// A deleted, deleting or failed NAT Gateway carries no traffic; a pending one soon will.
    pub fn can_carry_traffic(&self) -> bool {
        !matches!(self.state.as_str(), "deleted" | "deleting" | "failed")
    }
}

/// One interface EC2 refused to log, with AWS's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub resource_id: String,
    pub code: String,
    pub message: String,
}

/// Names every refused interface and why, for the `FlowLogCreationFailed` error.
pub fn describe_refusals(refusals: &[Refusal]) -> String {
    refusals.iter().map(|r| format!("{} ({}: {})", r.resource_id, r.code, r.message)).collect::<Vec<_>>().join("; ")
}

/// Of the ids we asked to delete, those EC2 refused for a reason other than "already gone".
pub fn real_refusals(refusals: Vec<Refusal>) -> Vec<Refusal> {
    refusals.into_iter().filter(|r| r.code != FLOW_LOG_NOT_FOUND).collect()
}

fn refusals(items: &[aws_sdk_ec2::types::UnsuccessfulItem]) -> Vec<Refusal> {
    items
        .iter()
        .map(|item| Refusal {
            resource_id: item.resource_id().unwrap_or("(unnamed resource)").to_owned(),
            code: item.error().and_then(|e| e.code()).unwrap_or("UnknownError").to_owned(),
            message: item.error().and_then(|e| e.message()).unwrap_or("no message").to_owned(),
        })
        .collect()
}

/// CreateFlowLogs' idempotency token for one execution's interfaces: a retried call that had in
/// fact succeeded returns the same flow logs instead of FlowLogAlreadyExists (EC2 API Reference,
/// "Ensuring idempotency"; at most 64 ASCII characters). FNV-1a, twice, for a stable 32-hex value.
pub fn client_token(execution_arn: &str, network_interface_ids: &[String]) -> String {
    let mut interfaces: Vec<&str> = network_interface_ids.iter().map(String::as_str).collect();
    interfaces.sort_unstable();
    let text = format!("{execution_arn}|{}", interfaces.join(","));
    let fnv =
        |seed: u64| text.bytes().fold(seed, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4))
}

fn tagged_flow_log(log: &aws_sdk_ec2::types::FlowLog) -> Option<TaggedFlowLog> {
    let tag = |key: &str| log.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_owned);
    Some(TaggedFlowLog {
        flow_log_id: log.flow_log_id()?.to_owned(),
        execution_arn: tag(TAG_EXECUTION),
        nat_gateway_id: tag(TAG_NAT_GATEWAY),
        created_at_secs: log.creation_time().map(|t| t.secs()),
        resource_id: log.resource_id().map(str::to_owned),
        log_group_name: log.log_group_name().map(str::to_owned),
        delivery_role_arn: log.deliver_logs_permission_arn().map(str::to_owned),
    })
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// The EC2 side of a recording.
#[derive(Debug, Clone)]
pub struct FlowLogs {
    client: Client,
}

impl FlowLogs {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig) -> Self {
        Self::new(Client::new(sdk))
    }

    /// The network interfaces of the VPC that hold these private addresses now, one entry per
    /// address, with their instances' `Name` tags. An address no interface holds is absent.
    /// EC2 takes at most 200 values per filter (EC2 API Reference, "Filtering").
    pub async fn interfaces_holding(&self, vpc_id: &str, addresses: &[String]) -> Result<Vec<Interface>> {
        let mut found = Vec::new();
        for chunk in addresses.chunks(200) {
            let mut pages = self
                .client
                .describe_network_interfaces()
                .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
                .filters(
                    Filter::builder().name("addresses.private-ip-address").set_values(Some(chunk.to_vec())).build(),
                )
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| RecorderError::from_sdk("EC2 DescribeNetworkInterfaces", e))?;
                for eni in page.network_interfaces() {
                    for held in eni.private_ip_addresses().iter().filter_map(|a| a.private_ip_address()) {
                        if !chunk.iter().any(|a| a == held) {
                            continue;
                        }
                        found.push(Interface {
                            address: held.to_owned(),
                            interface_id: eni.network_interface_id().unwrap_or_default().to_owned(),
                            interface_type: eni.interface_type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
                            description: eni.description().unwrap_or_default().to_owned(),
                            instance_id: eni.attachment().and_then(|a| a.instance_id()).map(str::to_owned),
                            instance_name: None,
                            availability_zone: eni.availability_zone().unwrap_or_default().to_owned(),
                            subnet_id: eni.subnet_id().unwrap_or_default().to_owned(),
                        });
                    }
                }
            }
        }
        let instances: Vec<String> = found.iter().filter_map(|i| i.instance_id.clone()).collect();
        let names = self.names(&instances).await?;
        for interface in &mut found {
            interface.instance_name = interface.instance_id.as_ref().and_then(|id| names.get(id).cloned());
        }
        Ok(found)
    }

    /// The `Name` tags of these resources (DescribeTags, 200 ids a call).
    async fn names(&self, ids: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
        let ids: Vec<String> = ids.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let mut names = std::collections::BTreeMap::new();
        for chunk in ids.chunks(200) {
            let mut pages = self
                .client
                .describe_tags()
                .filters(Filter::builder().name("resource-id").set_values(Some(chunk.to_vec())).build())
                .filters(Filter::builder().name("key").values("Name").build())
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| RecorderError::from_sdk("EC2 DescribeTags", e))?;
                for tag in page.tags() {
                    if let (Some(id), Some(value)) = (tag.resource_id(), tag.value()) {
                        names.insert(id.to_owned(), value.to_owned());
                    }
                }
            }
        }
        Ok(names)
    }

    /// The Region's NAT Gateways that are, or are becoming, available: those the stack watches
    /// when it watches them all (a deleting, deleted or failed one processes no more traffic).
    pub async fn nat_gateways_in_use(&self) -> Result<Vec<String>> {
        let gateways: Vec<_> = self
            .client
            .describe_nat_gateways()
            .filter(Filter::builder().name("state").values("pending").values("available").build())
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<_, _>>()
            .await
            .map_err(|e| RecorderError::from_sdk("EC2 DescribeNatGateways", e))?;
        let mut ids: Vec<String> = gateways.iter().filter_map(|g| g.nat_gateway_id()).map(str::to_owned).collect();
        ids.sort();
        Ok(ids)
    }

    /// What a recording needs to know of the NAT Gateway: its state, its network interfaces and
    /// their private addresses (one of each per address it holds).
    pub async fn nat_gateway(&self, nat_gateway_id: &str) -> Result<NatGatewayFacts> {
        let out =
            self.client.describe_nat_gateways().nat_gateway_ids(nat_gateway_id).send().await.map_err(|e| {
                match e.as_service_error().and_then(|s| aws_sdk_ec2::error::ProvideErrorMetadata::code(s)) {
                    Some("NatGatewayNotFound") => RecorderError::NatGatewayNotFound(nat_gateway_id.to_owned()),
                    _ => RecorderError::from_sdk("EC2 DescribeNatGateways", e),
                }
            })?;
        let gateway = out
            .nat_gateways()
            .iter()
            .find(|g| g.nat_gateway_id() == Some(nat_gateway_id))
            .ok_or_else(|| RecorderError::NatGatewayNotFound(nat_gateway_id.to_owned()))?;
        let addresses = gateway.nat_gateway_addresses();
        let interfaces: BTreeSet<String> =
            addresses.iter().filter_map(|a| a.network_interface_id()).map(str::to_owned).collect();
        let private: BTreeSet<String> = addresses.iter().filter_map(|a| a.private_ip()).map(str::to_owned).collect();
        let state = gateway.state().map(|s| s.as_str().to_owned()).unwrap_or_else(|| "unknown".into());
        let facts = NatGatewayFacts {
            state,
            network_interface_ids: interfaces.into_iter().collect(),
            private_addresses: private.into_iter().collect(),
            private: gateway.connectivity_type() == Some(&aws_sdk_ec2::types::ConnectivityType::Private),
            vpc_id: gateway.vpc_id().map(str::to_owned),
        };
        if facts.can_carry_traffic() && facts.network_interface_ids.is_empty() {
            return Err(RecorderError::NoNetworkInterface(nat_gateway_id.to_owned()));
        }
        Ok(facts)
    }

    /// Creates one flow log per interface. Returns the ids created, and the interfaces EC2
    /// refused; the caller decides what a refusal means (it is an error for a recording).
    pub async fn create(&self, spec: &FlowLogSpec<'_>) -> Result<(Vec<String>, Vec<Refusal>)> {
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::VpcFlowLog)
            .tags(tag(TAG_STACK, spec.stack_name))
            .tags(tag(TAG_EXECUTION, spec.execution_arn))
            .tags(tag(TAG_NAT_GATEWAY, spec.nat_gateway_id))
            .tags(tag("Name", &format!("{} {}", spec.stack_name, spec.nat_gateway_id)))
            .build();
        let out = self
            .client
            .create_flow_logs()
            .set_resource_ids(Some(spec.network_interface_ids.to_vec()))
            .resource_type(FlowLogsResourceType::NetworkInterface)
            .traffic_type(TrafficType::All)
            .log_destination_type(LogDestinationType::CloudWatchLogs)
            .log_group_name(spec.log_group_name)
            .deliver_logs_permission_arn(spec.delivery_role_arn)
            .log_format(LOG_FORMAT)
            .max_aggregation_interval(MAX_AGGREGATION_INTERVAL)
            .tag_specifications(tags)
            .client_token(client_token(spec.execution_arn, spec.network_interface_ids))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.as_service_error().and_then(|s| s.meta().code()) == Some(ALREADY_EXISTS) => {
                let message = e.as_service_error().and_then(|s| s.meta().message()).unwrap_or("no message");
                let refused = spec
                    .network_interface_ids
                    .iter()
                    .map(|eni| Refusal {
                        resource_id: eni.clone(),
                        code: ALREADY_EXISTS.into(),
                        message: message.into(),
                    })
                    .collect();
                return Ok((Vec::new(), refused));
            }
            Err(e) => return Err(RecorderError::from_sdk("EC2 CreateFlowLogs", e)),
        };
        Ok((out.flow_log_ids().to_vec(), refusals(out.unsuccessful())))
    }

    /// Of the given flow logs, those EC2 reports as unable to deliver (a missing log group, a
    /// delivery role it cannot use): recording into them would record nothing.
    ///
    /// EC2's Describe calls are eventually consistent: a flow log created a moment ago may not be
    /// listed yet (EC2 API Reference, "Eventual consistency in the Amazon EC2 API"). So this asks
    /// again, backing off, until every one is listed; one still missing after
    /// [`VISIBILITY_WAITS_MS`] is taken as delivering (and said so in the log).
    pub async fn failed_deliveries(&self, flow_log_ids: &[String]) -> Result<Vec<Refusal>> {
        if flow_log_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut listed = Vec::new();
        for wait_ms in VISIBILITY_WAITS_MS {
            tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
            let out = self
                .client
                .describe_flow_logs()
                .set_flow_log_ids(Some(flow_log_ids.to_vec()))
                .send()
                .await
                .map_err(|e| RecorderError::from_sdk("EC2 DescribeFlowLogs", e))?;
            listed = out.flow_logs().to_vec();
            if listed.len() >= flow_log_ids.len() {
                break;
            }
        }
        if listed.len() < flow_log_ids.len() {
            let seen: Vec<&str> = listed.iter().filter_map(|f| f.flow_log_id()).collect();
            let unseen: Vec<&String> = flow_log_ids.iter().filter(|id| !seen.contains(&id.as_str())).collect();
            tracing::warn!(?unseen, "EC2 does not list these new flow logs yet: their delivery is not checked");
        }
        Ok(listed
            .iter()
            .filter(|f| f.deliver_logs_status() == Some("FAILED"))
            .map(|f| Refusal {
                resource_id: f.resource_id().unwrap_or("(unknown interface)").to_owned(),
                code: "DeliveryFailed".to_owned(),
                message: format!(
                    "flow log {} cannot deliver to log group {}: {}",
                    f.flow_log_id().unwrap_or("?"),
                    f.log_group_name().unwrap_or("?"),
                    f.deliver_logs_error_message().unwrap_or("no reason given")
                ),
            })
            .collect())
    }

    /// Every flow log carrying the tag `key = value`, across pages.
    async fn tagged(&self, key: &str, value: &str) -> Result<Vec<aws_sdk_ec2::types::FlowLog>> {
        self.client
            .describe_flow_logs()
            .filter(Filter::builder().name(format!("tag:{key}")).values(value).build())
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| RecorderError::from_sdk("EC2 DescribeFlowLogs", e))
    }

    /// Every flow log tagged with this stack, whatever its execution.
    pub async fn find_by_stack(&self, stack_name: &str) -> Result<Vec<TaggedFlowLog>> {
        Ok(self.tagged(TAG_STACK, stack_name).await?.iter().filter_map(tagged_flow_log).collect())
    }

    /// The flow logs tagged with one execution.
    pub async fn find_by_execution(&self, execution_arn: &str) -> Result<Vec<TaggedFlowLog>> {
        Ok(self.tagged(TAG_EXECUTION, execution_arn).await?.iter().filter_map(tagged_flow_log).collect())
    }

    /// Deletes the flow logs; one that is already gone counts as deleted.
    pub async fn delete(&self, flow_log_ids: &[String]) -> Result<()> {
        if flow_log_ids.is_empty() {
            return Ok(());
        }
        match self.delete_batch(flow_log_ids).await? {
            Batch::Done => Ok(()),
            // Some APIs answer a batch with one unknown id by failing it whole: the others may
            // still be there, so delete them one at a time.
            Batch::SomeUnknown if flow_log_ids.len() > 1 => {
                for id in flow_log_ids {
                    self.delete_batch(std::slice::from_ref(id)).await?;
                }
                Ok(())
            }
            Batch::SomeUnknown => Ok(()),
        }
    }

    async fn delete_batch(&self, flow_log_ids: &[String]) -> Result<Batch> {
        let result = self.client.delete_flow_logs().set_flow_log_ids(Some(flow_log_ids.to_vec())).send().await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                let code = e.as_service_error().and_then(aws_sdk_ec2::error::ProvideErrorMetadata::code);
                if code == Some(FLOW_LOG_NOT_FOUND) {
                    return Ok(Batch::SomeUnknown);
                }
                return Err(RecorderError::from_sdk("EC2 DeleteFlowLogs", e));
            }
        };
        let refused = real_refusals(refusals(out.unsuccessful()));
        if refused.is_empty() {
            Ok(Batch::Done)
        } else {
            Err(RecorderError::Aws { operation: "EC2 DeleteFlowLogs", message: describe_refusals(&refused) })
        }
    }
}

/// How a batch delete went.
enum Batch {
    Done,
    /// The call failed whole because at least one id is unknown.
    SomeUnknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_has_the_fifteen_fields_in_order() {
        let fields: Vec<&str> = LOG_FORMAT.split(' ').collect();
        assert_eq!(
            fields,
            [
                "${action}",
                "${flow-direction}",
                "${traffic-path}",
                "${srcaddr}",
                "${srcport}",
                "${dstaddr}",
                "${dstport}",
                "${protocol}",
                "${bytes}",
                "${type}",
                "${pkt-srcaddr}",
                "${pkt-src-aws-service}",
                "${pkt-dstaddr}",
                "${pkt-dst-aws-service}",
                "${log-status}",
            ]
        );
    }

    fn refusal(id: &str, code: &str) -> Refusal {
        Refusal { resource_id: id.into(), code: code.into(), message: "msg".into() }
    }

    fn ownership() -> Ownership {
        Ownership { log_group_name: "/flowlogs".into(), delivery_role_arn: "arn:aws:iam::1:role/delivery".into() }
    }

    const EXECUTIONS: &str = "arn:aws:states:us-east-1:1:execution:recorder:";

    fn owned_flow_log() -> TaggedFlowLog {
        TaggedFlowLog {
            flow_log_id: "fl-1".into(),
            execution_arn: Some(format!("{EXECUTIONS}e1")),
            nat_gateway_id: Some("nat-1".into()),
            created_at_secs: Some(1),
            resource_id: Some("eni-1".into()),
            log_group_name: Some("/flowlogs".into()),
            delivery_role_arn: Some("arn:aws:iam::1:role/delivery".into()),
        }
    }

    #[test]
    fn a_flow_log_is_ours_only_when_where_how_and_what_it_records_and_its_execution_agree() {
        assert_eq!(ownership().foreign_because(&owned_flow_log(), EXECUTIONS), None);
        type Change = fn(&mut TaggedFlowLog);
        let cases: [(Change, &str); 5] = [
            (|l| l.log_group_name = Some("/security-team".into()), "it delivers to Some(\"/security-team\")"),
            (|l| l.delivery_role_arn = None, "it delivers with the role None"),
            (|l| l.resource_id = Some("vpc-1".into()), "it records Some(\"vpc-1\")"),
            (
                |l| l.execution_arn = Some("arn:aws:states:us-east-1:1:execution:other:e1".into()),
                "its execution tag Some(\"arn:aws:states:us-east-1:1:execution:other:e1\")",
            ),
            (|l| l.execution_arn = Some(EXECUTIONS.into()), "its execution tag"),
        ];
        for (change, reason) in cases {
            let mut log = owned_flow_log();
            change(&mut log);
            let why = ownership().foreign_because(&log, EXECUTIONS).expect("foreign");
            assert!(why.starts_with(reason), "{why}");
        }
    }

    #[test]
    fn split_keeps_the_owned_in_order_and_names_the_foreign() {
        let mut foreign = owned_flow_log();
        foreign.flow_log_id = "fl-theirs".into();
        foreign.resource_id = Some("vpc-1".into());
        let mut second = owned_flow_log();
        second.flow_log_id = "fl-2".into();
        let (owned, others) = ownership().split(vec![owned_flow_log(), foreign, second], EXECUTIONS);
        let ids: Vec<&str> = owned.iter().map(|l| l.flow_log_id.as_str()).collect();
        assert_eq!(ids, ["fl-1", "fl-2"]);
        assert_eq!(others, ["fl-theirs"]);
    }

    #[test]
    fn the_client_token_is_the_same_for_a_retry_and_differs_for_anything_else() {
        let enis = ["eni-0b".to_owned(), "eni-0a".to_owned()];
        let token = client_token("arn:exec:e1", &enis);
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(token, client_token("arn:exec:e1", &["eni-0a".to_owned(), "eni-0b".to_owned()]));
        assert_ne!(token, client_token("arn:exec:e2", &enis));
        assert_ne!(token, client_token("arn:exec:e1", &enis[..1]));
    }

    #[test]
    fn executions_are_named_after_their_state_machine() {
        assert_eq!(
            executions_of("arn:aws:states:us-east-1:1:stateMachine:recorder").as_deref(),
            Some("arn:aws:states:us-east-1:1:execution:recorder:")
        );
        assert_eq!(sibling_executions("arn:aws:states:us-east-1:1:execution:recorder:e1").as_deref(), Some(EXECUTIONS));
        assert_eq!(executions_of("arn:aws:states:us-east-1:1:activity:x"), None);
        assert_eq!(sibling_executions("e1"), None);
    }

    #[test]
    fn a_flow_log_already_gone_is_not_a_refusal() {
        let left = real_refusals(vec![refusal("fl-1", FLOW_LOG_NOT_FOUND), refusal("fl-2", "UnauthorizedOperation")]);
        assert_eq!(left, vec![refusal("fl-2", "UnauthorizedOperation")]);
    }

    #[test]
    fn refusals_name_the_interface_and_awss_message() {
        let text = describe_refusals(&[
            Refusal { resource_id: "eni-1".into(), code: "AccessDenied".into(), message: "no role".into() },
            refusal("eni-2", "X"),
        ]);
        assert_eq!(text, "eni-1 (AccessDenied: no role); eni-2 (X: msg)");
    }
}
