//! A security review of template.yaml, as tests: least privilege, tag-scoped deletes, a
//! confused-deputy guard on the delivery role, encryption at rest.

use recorder_tests::template::{read_repo_file, Template};
use serde_yaml::Value;

/// Actions AWS offers no narrower resource for; each use of `*` must say so in a comment.
const NO_RESOURCE_LEVEL: [&str; 5] = [
    "ec2:DescribeNatGateways",
    "ec2:DescribeFlowLogs",
    "logs:DescribeLogGroups",
    "logs:StopQuery",
    "states:SendTaskSuccess",
];

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Every inline policy statement of the template, with the resource it belongs to.
fn statements(template: &Template) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (id, resource) in template.root["Resources"].as_mapping().unwrap() {
        let id = id.as_str().unwrap().to_owned();
        let properties = &resource["Properties"];
        let mut documents = Vec::new();
        for policy in properties["Policies"].as_sequence().into_iter().flatten() {
            if !policy["Statement"].is_null() {
                documents.push(policy.clone());
            }
            if !policy["PolicyDocument"].is_null() {
                documents.push(policy["PolicyDocument"].clone());
            }
        }
        for document in documents {
            for statement in document["Statement"].as_sequence().unwrap() {
                out.push((id.clone(), statement.clone()));
            }
        }
    }
    out
}

#[test]
fn no_action_is_a_wildcard_and_resource_star_only_where_aws_offers_nothing_narrower() {
    let template = Template::load();
    let found = statements(&template);
    assert!(found.len() >= 15, "{} statements", found.len());
    for (id, statement) in &found {
        let actions = strings(&statement["Action"]);
        assert!(!actions.is_empty(), "{id}: a statement without actions");
        for action in &actions {
            assert!(!action.contains('*'), "{id}: wildcard action {action}");
        }
        if strings(&statement["Resource"]).iter().any(|r| r == "*") {
            for action in &actions {
                assert!(NO_RESOURCE_LEVEL.contains(&action.as_str()), "{id}: {action} on Resource \"*\"");
            }
        }
    }
}

#[test]
fn every_resource_star_carries_a_comment_saying_why() {
    let text = read_repo_file("template.yaml");
    let lines: Vec<&str> = text.lines().collect();
    let stars: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].trim() == r#"Resource: "*""#).collect();
    assert!(!stars.is_empty());
    for i in stars {
        assert!(
            lines[i - 1].trim_start().starts_with('#'),
            "line {}: Resource \"*\" without a comment above it",
            i + 1
        );
    }
}

#[test]
fn flow_logs_are_deleted_only_when_tagged_with_this_stack() {
    let template = Template::load();
    let deletes: Vec<_> = statements(&template)
        .into_iter()
        .filter(|(_, s)| strings(&s["Action"]).contains(&"ec2:DeleteFlowLogs".to_owned()))
        .collect();
    assert!(deletes.len() >= 2, "StopRecording and the sweep delete flow logs");
    for (id, statement) in deletes {
        let condition = &statement["Condition"]["StringEquals"]["aws:ResourceTag/vpc-flowlogs-recorder:stack"];
        assert!(!condition.is_null(), "{id}: DeleteFlowLogs without the stack tag condition");
        assert!(!statement["Resource"].is_sequence(), "{id}: one resource pattern");
        assert!(
            format!("{:?}", statement["Resource"]).contains("vpc-flow-log/*"),
            "{id}: DeleteFlowLogs beyond vpc-flow-log resources"
        );
    }
}

#[test]
fn flow_logs_are_created_only_with_this_stacks_tag() {
    let template = Template::load();
    let on_flow_logs: Vec<_> = statements(&template)
        .into_iter()
        .filter(|(_, s)| {
            strings(&s["Action"]).contains(&"ec2:CreateFlowLogs".to_owned())
                && format!("{:?}", s["Resource"]).contains("vpc-flow-log/*")
        })
        .collect();
    assert_eq!(on_flow_logs.len(), 1);
    assert!(!on_flow_logs[0].1["Condition"]["StringEquals"]["aws:RequestTag/vpc-flowlogs-recorder:stack"].is_null());
}

#[test]
fn the_delivery_role_is_trusted_only_by_vpc_flow_logs_of_this_account() {
    let template = Template::load();
    let trust = &template.resource("FlowLogDeliveryRole")["Properties"]["AssumeRolePolicyDocument"]["Statement"];
    let statements = trust.as_sequence().unwrap();
    assert_eq!(statements.len(), 1);
    let statement = &statements[0];
    assert_eq!(statement["Principal"]["Service"].as_str(), Some("vpc-flow-logs.amazonaws.com"));
    assert_eq!(statement["Principal"].as_mapping().unwrap().len(), 1);
    assert_eq!(statement["Action"].as_str(), Some("sts:AssumeRole"));
    assert!(!statement["Condition"]["StringEquals"]["aws:SourceAccount"].is_null());
    assert!(!statement["Condition"]["ArnLike"]["aws:SourceArn"].is_null());
}

#[test]
fn the_topic_and_the_table_are_encrypted() {
    let template = Template::load();
    assert!(template.resource("ReportTopic")["Properties"]["KmsMasterKeyId"].as_str().is_some());
    assert_eq!(
        template.resource("RecordingsTable")["Properties"]["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn every_function_logs_to_its_own_group_with_retention() {
    let template = Template::load();
    for (id, _) in recorder_tests::deploy::FUNCTIONS {
        let group = template.resource(id)["Properties"]["LoggingConfig"]["LogGroup"].clone();
        let Value::Tagged(reference) = group else { panic!("{id}: no LoggingConfig.LogGroup") };
        let group_id = reference.value.as_str().unwrap();
        assert!(
            !template.resource(group_id)["Properties"]["RetentionInDays"].is_null(),
            "{id}: {group_id} keeps logs forever"
        );
    }
}
