//! A security review of template.yaml, as tests: least privilege, tag-scoped deletes, a
//! confused-deputy guard on the delivery role, encryption at rest.

use recorder_tests::template::{read_repo_file, Template};
use serde_norway::Value;

/// Actions AWS offers no narrower resource for; each use of `*` must say so in a comment. The
/// log-delivery actions are Step Functions' for its execution logs (Step Functions Developer
/// Guide, "IAM policies for logging to CloudWatch Logs").
const NO_RESOURCE_LEVEL: [&str; 16] = [
    "cloudwatch:GetMetricData",
    "iam:ListAccountAliases",
    "ec2:DescribeNatGateways",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeTags",
    "ec2:DescribeFlowLogs",
    "logs:DescribeLogGroups",
    "logs:StopQuery",
    "states:SendTaskSuccess",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
];

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Where a statement stands: an identity's policy, a KMS key's policy, the table's policy, or
/// another resource's policy (a queue's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Identity,
    Key,
    Table,
    Resource,
}

/// Every policy statement of the template, inline policies and key policies, with the resource
/// it belongs to.
fn statements(template: &Template) -> Vec<(String, Kind, Value)> {
    let mut out = Vec::new();
    for (id, resource) in template.root["Resources"].as_mapping().unwrap() {
        let id = id.as_str().unwrap().to_owned();
        let properties = &resource["Properties"];
        let mut documents = Vec::new();
        for policy in properties["Policies"].as_sequence().into_iter().flatten() {
            if !policy["Statement"].is_null() {
                documents.push((Kind::Identity, policy.clone()));
            }
            if !policy["PolicyDocument"].is_null() {
                documents.push((Kind::Identity, policy["PolicyDocument"].clone()));
            }
        }
        if !properties["KeyPolicy"].is_null() {
            documents.push((Kind::Key, properties["KeyPolicy"].clone()));
        }
        if !properties["ResourcePolicy"].is_null() {
            documents.push((Kind::Table, properties["ResourcePolicy"]["PolicyDocument"].clone()));
        }
        if !properties["PolicyDocument"].is_null() {
            documents.push((Kind::Resource, properties["PolicyDocument"].clone()));
        }
        for (kind, document) in documents {
            for statement in document["Statement"].as_sequence().unwrap() {
                out.push((id.clone(), kind, statement.clone()));
            }
        }
    }
    out
}

/// The one statement allowed a wildcard action: a key policy's grant to the account itself.
/// Without it nobody could manage or delete the key ("Default key policy", AWS KMS Developer
/// Guide: it "gives the AWS account that owns the KMS key full access to the KMS key"); IAM
/// policies in the account then decide who may use that access.
const KEY_ADMINISTRATION: (&str, &str) = ("ReportTopicKey", "TheAccountAdministersTheKey");

#[test]
fn no_action_is_a_wildcard_and_resource_star_only_where_aws_offers_nothing_narrower() {
    for path in ["template.yaml", "org/recorder.yaml"] {
        no_wildcard_in(&Template::load_file(path));
    }
}

fn no_wildcard_in(template: &Template) {
    let found = statements(template);
    assert!(found.iter().filter(|(_, kind, _)| *kind == Kind::Identity).count() >= 15, "{found:?}");
    assert!(found.iter().filter(|(_, kind, _)| *kind == Kind::Key).count() >= 2, "the key policy is read too");
    for (id, kind, statement) in &found {
        let actions = strings(&statement["Action"]);
        assert!(!actions.is_empty(), "{id}: a statement without actions");
        let sid = statement["Sid"].as_str().unwrap_or_default();
        if (id.as_str(), sid) == KEY_ADMINISTRATION {
            let root = format!("{:?}", statement["Principal"]["AWS"]);
            assert!(root.contains(":iam::${AWS::AccountId}:root"), "{id}/{sid}: only the account itself: {root}");
            assert!(statement["Condition"].is_null(), "{id}/{sid}");
            continue;
        }
        for action in &actions {
            assert!(!action.contains('*'), "{id}: wildcard action {action}");
        }
        // In a key policy, Resource "*" is the key itself ("Key policies in AWS KMS", AWS KMS
        // Developer Guide), in a table's the table ("DynamoDB resource-based policy examples",
        // DynamoDB Developer Guide); elsewhere it must be an action with no resource type
        if ![Kind::Key, Kind::Table].contains(kind) && strings(&statement["Resource"]).iter().any(|r| r == "*") {
            for action in &actions {
                assert!(NO_RESOURCE_LEVEL.contains(&action.as_str()), "{id}: {action} on Resource \"*\"");
            }
        }
    }
}

#[test]
fn every_resource_star_carries_a_comment_saying_why() {
    for path in ["template.yaml", "org/recorder.yaml", "org/central.yaml"] {
        resource_stars_commented(&read_repo_file(path));
    }
}

fn resource_stars_commented(text: &str) {
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
        .filter(|(_, _, s)| strings(&s["Action"]).contains(&"ec2:DeleteFlowLogs".to_owned()))
        .collect();
    assert!(deletes.len() >= 2, "StopRecording and the sweep delete flow logs");
    for (id, _, statement) in deletes {
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
        .filter(|(_, _, s)| {
            strings(&s["Action"]).contains(&"ec2:CreateFlowLogs".to_owned())
                && format!("{:?}", s["Resource"]).contains("vpc-flow-log/*")
        })
        .collect();
    assert_eq!(on_flow_logs.len(), 1);
    assert!(!on_flow_logs[0].2["Condition"]["StringEquals"]["aws:RequestTag/vpc-flowlogs-recorder:stack"].is_null());
}

/// The one statement of a policy's `Statement` list, whose only principal is `service`.
fn sole_statement_for<'a>(statements: &'a Value, service: &str) -> &'a Value {
    let statements = statements.as_sequence().expect("a list of statements");
    assert_eq!(statements.len(), 1, "{statements:?}");
    let statement = &statements[0];
    assert_eq!(statement["Principal"]["Service"].as_str(), Some(service), "{statement:?}");
    assert_eq!(statement["Principal"].as_mapping().unwrap().len(), 1, "{statement:?}");
    statement
}

#[test]
fn the_delivery_role_is_trusted_only_by_vpc_flow_logs_of_this_account() {
    let template = Template::load();
    let trust = &template.resource("FlowLogDeliveryRole")["Properties"]["AssumeRolePolicyDocument"]["Statement"];
    let statement = sole_statement_for(trust, "vpc-flow-logs.amazonaws.com");
    assert_eq!(statement["Action"].as_str(), Some("sts:AssumeRole"));
    assert!(!statement["Condition"]["StringEquals"]["aws:SourceAccount"].is_null());
    assert!(!statement["Condition"]["ArnLike"]["aws:SourceArn"].is_null());
}

#[test]
fn the_topic_and_the_table_are_encrypted() {
    let template = Template::load();
    // A key of the stack's own, which CloudWatch may use to publish the sweep's alarm
    let key = &template.resource("ReportTopic")["Properties"]["KmsMasterKeyId"];
    let Value::Tagged(reference) = key else { panic!("the topic has no key of the stack: {key:?}") };
    assert_eq!(reference.value.as_str(), Some("ReportTopicKey"));
    assert_eq!(template.resource("ReportTopicKey")["Properties"]["EnableKeyRotation"].as_bool(), Some(true));
    assert_eq!(
        template.resource("RecordingsTable")["Properties"]["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn only_this_stacks_functions_write_the_table_and_every_writer_is_one_of_them() {
    // Security review M3: with IAM rights on the table alone, anyone in the account could write
    // a slot that holds a recording back
    let template = Template::load();
    let found = statements(&template);
    let table: Vec<_> = found.iter().filter(|(id, kind, _)| id == "RecordingsTable" && *kind == Kind::Table).collect();
    let [(_, _, deny)] = table[..] else { panic!("one statement in the table's policy: {table:?}") };
    assert_eq!((deny["Effect"].as_str(), deny["Principal"].as_str()), (Some("Deny"), Some("*")));
    let denied = strings(&deny["Action"]);
    let writes =
        ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "PartiQLInsert", "PartiQLUpdate", "PartiQLDelete"];
    for write in writes {
        assert!(denied.contains(&format!("dynamodb:{write}")), "dynamodb:{write} is not denied: {denied:?}");
    }
    let allowed = format!("{:?}", deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]);
    let path = "/vpc-flowlogs-recorder/${AWS::StackName}/";
    assert!(allowed.contains(&format!(":role{path}*")), "{allowed}");
    // Every role allowed to write the table carries that path, and so stays able to
    let mut writers = Vec::new();
    for (id, kind, statement) in &found {
        let writes_the_table = strings(&statement["Action"]).iter().any(|a| denied.contains(a))
            && format!("{:?}", statement["Resource"]).contains("RecordingsTable");
        if *kind == Kind::Identity && statement["Effect"].as_str() == Some("Allow") && writes_the_table {
            let role = &template.resource(id)["Properties"]["Path"];
            assert!(format!("{role:?}").contains(path), "{id} writes the table without the path: {role:?}");
            writers.push(id.as_str());
        }
    }
    writers.sort();
    writers.dedup();
    assert_eq!(
        writers,
        ["AlarmOkResolverRole", "AlarmStartRole", "FlowlogStopRole", "FlowlogSweeperRole", "TokenRegisterRole"]
    );
}

#[test]
fn only_the_notifier_and_this_stacks_alarms_publish_to_the_topic_and_only_over_tls() {
    // Without a topic policy, the default one lets any principal of the account publish a forged
    // report (security review L3)
    let template = Template::load();
    let policy = &template.resource("ReportTopicPolicy")["Properties"];
    let topics = format!("{:?}", policy["Topics"]);
    assert!(topics.contains("ReportTopic"), "the policy is the report topic's: {topics}");
    let statements = policy["PolicyDocument"]["Statement"].as_sequence().unwrap();
    let by_sid =
        |sid: &str| statements.iter().find(|s| s["Sid"].as_str() == Some(sid)).unwrap_or_else(|| panic!("{sid}"));
    let cloudwatch = by_sid("CloudWatchPublishesTheStacksAlarms");
    assert_eq!(cloudwatch["Effect"].as_str(), Some("Allow"));
    assert_eq!(strings(&cloudwatch["Principal"]["Service"]), ["cloudwatch.amazonaws.com"]);
    let arn = format!("{:?}", cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]);
    assert!(arn.contains(":alarm:${AWS::StackName}.*"), "{arn}");
    let others = by_sid("NobodyElsePublishes");
    assert_eq!((others["Effect"].as_str(), strings(&others["Action"])), (Some("Deny"), vec!["sns:Publish".to_owned()]));
    let notifier = format!("{:?}", others["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]);
    assert!(notifier.contains("NotifierRole"), "{notifier}");
    assert_eq!(
        strings(&others["Condition"]["StringNotEquals"]["aws:PrincipalServiceName"]),
        ["cloudwatch.amazonaws.com"]
    );
    let tls = by_sid("OnlyOverTls");
    assert_eq!(tls["Condition"]["Bool"]["aws:SecureTransport"].as_str(), Some("false"));
}

#[test]
fn every_function_logs_to_its_own_group_with_retention() {
    let template = Template::load();
    for (id, _) in template.functions() {
        let id = id.as_str();
        let group = template.resource(id)["Properties"]["LoggingConfig"]["LogGroup"].clone();
        let Value::Tagged(reference) = group else { panic!("{id}: no LoggingConfig.LogGroup") };
        let group_id = reference.value.as_str().unwrap();
        assert!(
            !template.resource(group_id)["Properties"]["RetentionInDays"].is_null(),
            "{id}: {group_id} keeps logs forever"
        );
    }
}

// ---------------------------------------------------------------- what SAM generates

use serde_json::Value as Json;

/// `template` as CloudFormation finally sees it: after SAM's transform (samtranslator, from the
/// project's virtualenv, offline), so the roles SAM generates are reviewed too.
fn sam_translated(template: &Json) -> Json {
    use std::io::Write;
    let root = recorder_tests::template::repo_file("");
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "{} not found: run `make setup`", python.display());
    let mut child = std::process::Command::new(python)
        .arg(root.join("tools/sam-translate/translate.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the SAM translator starts");
    child.stdin.take().unwrap().write_all(template.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "SAM's transform failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the translated template is JSON")
}

fn main_stack_translated() -> Json {
    let expanded = Template::load()
        .expanded(&[("NatGatewayIDs", serde_json::json!(["nat-0123456789abcdef0"]))])
        .expect("the macro expands the template");
    sam_translated(&expanded)
}

fn org_stack_translated() -> Json {
    sam_translated(&recorder_tests::template::to_cfn_json(&Template::load_file("org/recorder.yaml").root))
}

fn macros_stack_translated() -> Json {
    sam_translated(&recorder_tests::template::to_cfn_json(
        &Template::load_file("cf-assistive-macros/template.yaml").root,
    ))
}

fn json_strings(value: &Json) -> Vec<String> {
    match value {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items.iter().flat_map(json_strings).collect(),
        _ => Vec::new(),
    }
}

/// Every role of a translated template: its logical id and properties.
fn roles(template: &Json) -> Vec<(String, Json)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::IAM::Role")
        .map(|(id, r)| (id.clone(), r["Properties"].clone()))
        .collect()
}

fn role_statements(role: &Json) -> Vec<Json> {
    role["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn no_generated_role_takes_a_managed_policy_or_a_wildcard() {
    for (stack, template) in
        [("main", main_stack_translated()), ("org", org_stack_translated()), ("macros", macros_stack_translated())]
    {
        let roles = roles(&template);
        assert!(!roles.is_empty(), "{stack}: no role to review");
        for (id, role) in roles {
            // AWSLambdaBasicExecutionRole writes to any log group: each function gets its own
            let managed = json_strings(&role["ManagedPolicyArns"]);
            assert!(managed.is_empty(), "{stack} {id}: managed policies {managed:?}");
            for statement in role_statements(&role) {
                let actions = json_strings(&statement["Action"]);
                assert!(actions.iter().all(|a| !a.contains('*')), "{stack} {id}: {actions:?}");
                if json_strings(&statement["Resource"]).iter().any(|r| r == "*") {
                    for action in &actions {
                        assert!(NO_RESOURCE_LEVEL.contains(&action.as_str()), "{stack} {id}: {action} on \"*\"");
                    }
                }
            }
        }
    }
}

#[test]
fn each_function_writes_only_to_its_own_log_group() {
    for (stack, template) in
        [("main", main_stack_translated()), ("org", org_stack_translated()), ("macros", macros_stack_translated())]
    {
        let resources = template["Resources"].as_object().unwrap();
        let functions: Vec<(&String, &Json)> =
            resources.iter().filter(|(_, r)| r["Type"] == "AWS::Lambda::Function").collect();
        assert!(!functions.is_empty(), "{stack}");
        for (id, function) in functions {
            let role = function["Properties"]["Role"]["Fn::GetAtt"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: a role of the stack"));
            let group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: its own log group"));
            let writes: Vec<Json> = role_statements(&resources[role]["Properties"])
                .into_iter()
                .filter(|s| {
                    json_strings(&s["Action"]).iter().any(|a| {
                        a.starts_with("logs:")
                            && a != "logs:StartQuery"
                            && a != "logs:GetQueryResults"
                            && a != "logs:StopQuery"
                    })
                })
                .collect();
            assert!(!writes.is_empty(), "{stack} {id}: its role cannot write its logs");
            for statement in writes {
                assert_eq!(
                    statement["Resource"],
                    serde_json::json!({"Fn::GetAtt": [group, "Arn"]}),
                    "{stack} {id}: {statement}"
                );
                let mut actions = json_strings(&statement["Action"]);
                actions.sort();
                assert_eq!(actions, ["logs:CreateLogStream", "logs:PutLogEvents"], "{stack} {id}");
            }
        }
    }
}

#[test]
fn the_state_machine_invokes_exactly_its_four_functions() {
    let template = main_stack_translated();
    let role = template["Resources"]["RecorderStateMachine"]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let invokes: Vec<Json> = role_statements(&template["Resources"][&role]["Properties"])
        .into_iter()
        .filter(|s| json_strings(&s["Action"]).contains(&"lambda:InvokeFunction".to_owned()))
        .collect();
    assert_eq!(invokes.len(), 1, "{invokes:?}");
    let expected: Vec<Json> =
        ["AlarmStartFunction", "TokenRegisterFunction", "FlowlogStopFunction", "NotifierFunction"]
            .iter()
            .map(|f| serde_json::json!({"Fn::GetAtt": [f, "Arn"]}))
            .collect();
    assert_eq!(invokes[0]["Resource"], Json::Array(expected));
}

#[test]
fn roles_assumed_by_step_functions_and_eventbridge_guard_against_the_confused_deputy() {
    let template = main_stack_translated();
    let mut guarded = 0;
    for (id, role) in roles(&template) {
        for statement in role["AssumeRolePolicyDocument"]["Statement"].as_array().unwrap() {
            let services = json_strings(&statement["Principal"]["Service"]);
            if services.iter().any(|s| s == "states.amazonaws.com" || s == "events.amazonaws.com") {
                let condition = &statement["Condition"];
                assert!(!condition["StringEquals"]["aws:SourceAccount"].is_null(), "{id}: no aws:SourceAccount");
                assert!(
                    !condition["ArnEquals"]["aws:SourceArn"].is_null()
                        || !condition["ArnLike"]["aws:SourceArn"].is_null(),
                    "{id}: no aws:SourceArn"
                );
                guarded += 1;
            }
        }
    }
    assert_eq!(guarded, 2, "the state machine's role and the ALARM rule's");
}

#[test]
fn the_dead_letter_queue_takes_events_only_from_this_stacks_two_rules() {
    use recorder_tests::template::Resolver;
    let template = Template::load();
    let resolver = Resolver {
        stack_name: "nat-recorder",
        region: "us-east-1",
        account: "123456789012",
        resources: std::collections::BTreeMap::new(),
    };
    let queue = &template.resource("UndeliveredEventsQueue")["Properties"];
    assert_eq!(queue["SqsManagedSseEnabled"].as_bool(), Some(true), "encrypted at rest");
    let policy = &template.resource("UndeliveredEventsQueuePolicy")["Properties"]["PolicyDocument"]["Statement"];
    let statement = sole_statement_for(policy, "events.amazonaws.com");
    assert_eq!(strings(&statement["Action"]), ["sqs:SendMessage"]);
    let sources: Vec<String> = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
        .as_sequence()
        .expect("aws:SourceArn names the rules")
        .iter()
        .map(|arn| template.resolve(arn, &resolver))
        .collect();
    assert_eq!(
        sources,
        [
            "arn:aws:events:us-east-1:123456789012:rule/nat-recorder-alarm-fired",
            "arn:aws:events:us-east-1:123456789012:rule/nat-recorder-alarm-ok"
        ]
    );
}

#[test]
fn the_key_serves_cloudwatch_only_for_this_stacks_alarms() {
    // Without aws:SourceArn any alarm of the account could use the key through CloudWatch
    let template = Template::load();
    let services: Vec<(String, Kind, Value)> = statements(&template)
        .into_iter()
        .filter(|(_, kind, s)| *kind == Kind::Key && !s["Principal"]["Service"].is_null())
        .collect();
    assert!(!services.is_empty(), "the key policy grants CloudWatch");
    for (id, _, statement) in services {
        let condition = &statement["Condition"];
        assert!(!condition["StringEquals"]["aws:SourceAccount"].is_null(), "{id}: {condition:?}");
        let arn = format!("{:?}", condition["ArnLike"]["aws:SourceArn"]);
        assert!(
            arn.contains(":cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}.*"),
            "{id}: the grant is not limited to this stack's alarms: {condition:?}"
        );
    }
}

#[test]
fn the_state_machine_logs_its_errors_without_execution_data_for_the_stacks_retention() {
    let template = Template::load();
    let logging = &template.resource("RecorderStateMachine")["Properties"]["Logging"];
    assert_eq!(logging["Level"].as_str(), Some("ERROR"), "{logging:?}");
    assert_eq!(logging["IncludeExecutionData"].as_bool(), Some(false), "alarm events and task tokens stay out");
    let destination = format!("{:?}", logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]);
    assert!(destination.contains("RecorderStateMachineLogGroup.Arn"), "{destination}");
    let group = &template.resource("RecorderStateMachineLogGroup")["Properties"];
    assert_eq!(
        format!("{:?}", group["RetentionInDays"]),
        format!("{:?}", template.resource("AlarmStartLogGroup")["Properties"]["RetentionInDays"]),
        "the functions' retention"
    );
}
