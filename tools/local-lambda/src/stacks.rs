//! CloudFormation's DescribeStackResource for the local stack, which has no CloudFormation: the
//! harness deploys the template's resources itself and plays CloudFormation when it sends the
//! uninstall's Delete, so it tells the gateway what CloudFormation would say about a resource
//! ([`crate::GatewayHandle::set_resource_status`]). moto still answers first, so its IAM check
//! stands; only its "stack does not exist" is replaced, and only for a resource the harness named.
//! Development only.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::gateway::percent_decode;
use crate::realism::form_value;

/// Resource statuses by (stack id, logical id).
#[derive(Default)]
pub(crate) struct Stacks {
    statuses: Mutex<HashMap<(String, String), String>>,
}

impl Stacks {
    pub(crate) fn set(&self, stack_id: &str, logical_id: &str, status: &str) {
        let key = (stack_id.to_owned(), logical_id.to_owned());
        self.statuses.lock().unwrap().insert(key, status.to_owned());
    }

    /// The answer to a DescribeStackResource (its form-encoded body) for a resource the harness
    /// named, in the Query protocol's XML (CloudFormation API Reference, "DescribeStackResource"
    /// and "StackResourceDetail": `LogicalResourceId`, `ResourceType`, `LastUpdatedTimestamp` and
    /// `ResourceStatus` are required).
    pub(crate) fn describe(&self, request: &[u8]) -> Option<String> {
        let field = |name| form_value(request, name).map(|v| percent_decode(&v.replace('+', " ")));
        let (stack_id, logical_id) = (field("StackName")?, field("LogicalResourceId")?);
        let status = self.statuses.lock().unwrap().get(&(stack_id.clone(), logical_id.clone()))?.clone();
        let stack_name = stack_id.split('/').nth(1).unwrap_or_default();
        Some(format!(
            "<DescribeStackResourceResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
             <DescribeStackResourceResult><StackResourceDetail><StackId>{stack_id}</StackId>\
             <StackName>{stack_name}</StackName><LogicalResourceId>{logical_id}</LogicalResourceId>\
             <PhysicalResourceId>{stack_name}-{logical_id}</PhysicalResourceId>\
             <ResourceType>AWS::CloudFormation::CustomResource</ResourceType>\
             <LastUpdatedTimestamp>2024-05-14T10:00:00Z</LastUpdatedTimestamp>\
             <ResourceStatus>{status}</ResourceStatus></StackResourceDetail></DescribeStackResourceResult>\
             <ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></DescribeStackResourceResponse>"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_resource_the_harness_named_is_described_with_its_status() {
        let stacks = Stacks::default();
        let id = "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1";
        stacks.set(id, "UninstallCleanup", "DELETE_IN_PROGRESS");
        let body = b"Action=DescribeStackResource&Version=2010-05-15&StackName=arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack%2Fs%2F1&LogicalResourceId=UninstallCleanup";
        let xml = stacks.describe(body).expect("named");
        assert!(xml.contains("<ResourceStatus>DELETE_IN_PROGRESS</ResourceStatus>"), "{xml}");
        assert!(xml.contains("<StackName>s</StackName>"), "{xml}");
        let other = b"Action=DescribeStackResource&StackName=arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack%2Fs%2F1&LogicalResourceId=Other";
        assert_eq!(stacks.describe(other), None);
    }
}
