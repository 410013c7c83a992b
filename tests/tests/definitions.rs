//! The template, the state machine definition and the code agree with each other.

use std::collections::{BTreeMap, BTreeSet};

use recorder::config::{NotifierConfig, ResolverConfig, StartConfig, StopConfig, SweepConfig, TableConfig};
use recorder_tests::template::{read_repo_file, repo_file, Resolver, Template};
use serde_json::Value;

fn resolver() -> Resolver<'static> {
    let resources = [
        ("RecordingsTable", "nat-recorder-RecordingsTable-1"),
        ("FlowLogGroup", "/vpc-flowlogs-recorder/nat-recorder"),
        ("FlowLogDeliveryRole.Arn", "arn:aws:iam::123456789012:role/nat-recorder-FlowLogDeliveryRole"),
        ("ReportTopic", "arn:aws:sns:us-east-1:123456789012:nat-recorder-ReportTopic"),
        ("RecorderStateMachine", "arn:aws:states:us-east-1:123456789012:stateMachine:nat-recorder-recorder"),
    ];
    Resolver {
        stack_name: "nat-recorder",
        region: "us-east-1",
        account: "123456789012",
        resources: resources.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
    }
}

fn asl() -> Value {
    serde_json::from_str(&read_repo_file("statemachine/recorder.asl.json")).expect("the ASL is JSON")
}

#[test]
fn each_saved_query_in_the_template_is_exactly_the_text_in_queries() {
    let template = Template::load();
    for (id, file) in
        [("RecorderQuery", "queries/recorder.query"), ("TrafficQuery", "queries/traffic-by-address.query")]
    {
        let in_template = template.resource(id)["Properties"]["QueryString"].as_str().unwrap().to_owned();
        assert_eq!(in_template, read_repo_file(file), "{id}");
    }
    // and the notifier's queries read the records as the saved traffic query does
    let traffic = read_repo_file("queries/traffic-by-address.query");
    assert_eq!(traffic.lines().next(), Some(recorder::analysis::PARSE));
}

#[test]
fn every_query_parses_as_many_fields_as_the_flow_log_format_writes() {
    for file in ["queries/recorder.query", "queries/traffic-by-address.query"] {
        let query = read_repo_file(file);
        let parse = query.lines().find(|l| l.contains("parse @message")).expect("a parse line");
        let pattern = parse.split('"').nth(1).unwrap();
        let names = parse.split(" as ").nth(1).unwrap().split(',').count();
        let fields = recorder::flowlogs::LOG_FORMAT.split(' ').count();
        assert_eq!(pattern.split(' ').count(), fields, "{file}");
        assert_eq!(names, fields, "{file}");
    }
}

#[test]
fn the_recorder_query_shows_the_original_columns_and_words() {
    let query = read_repo_file("queries/recorder.query");
    let display = query.split("| display").nth(1).unwrap().split("| sort").next().unwrap();
    // The columns, in the original's order: each top-level item's name or its `as` alias
    let mut columns = Vec::new();
    let (mut depth, mut item) = (0, String::new());
    for c in display.chars().chain([',']) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                let name = item.rsplit(" as ").next().unwrap().trim().to_owned();
                columns.push(name);
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    assert_eq!(
        columns,
        [
            "@timestamp",
            "action",
            "flowDirection",
            "trafficPath",
            "srcAddr",
            "srcPort",
            "dstAddr",
            "dstPort",
            "protocol",
            "bytes",
            "type",
            "pkt_srcaddr",
            "SrcService",
            "pkt_dstaddr",
            "DstService"
        ]
    );
    // traffic-path's documented words (VPC User Guide, "Flow log records", traffic-path)
    for (code, words) in [
        (1, "Through another resource in the same VPC"),
        (2, "Through an internet gateway or a gateway VPC endpoint"),
        (3, "Through a virtual private gateway"),
        (4, "Through an intra-region VPC peering connection"),
        (5, "Through an inter-region VPC peering connection"),
        (6, "Through a local gateway"),
        (7, "Through a gateway VPC endpoint (Nitro-based instances only)"),
        (8, "Through an internet gateway (Nitro-based instances only)"),
    ] {
        assert!(query.contains(&format!("if(trafficPathNum == {code}, \"{words}\",")), "{code}: {words}");
    }
    assert!(query.contains("\"unknown\")))))))) as trafficPath"));
    assert!(query.contains(r#"if(proto == 6, "TCP", if(proto == 17, "UDP", proto)) as protocol"#));
    assert!(query.contains("| sort @timestamp desc\n| limit 1000\n"));
}

#[test]
fn every_function_gets_the_settings_its_code_reads_at_cold_start() {
    let template = Template::load();
    let resolver = resolver();
    let env_of = |id: &str| {
        let mut env = template.function_env(id, &resolver);
        env.insert("AWS_REGION".into(), "us-east-1".into());
        // What the alarms macro writes (checked on the expanded template below)
        if env.contains_key("NAT_GATEWAY_IDS") {
            env.insert("NAT_GATEWAY_IDS".into(), "nat-0123456789abcdef0".into());
        }
        move |name: &str| env.get(name).cloned()
    };
    let start = StartConfig::from_env(env_of("AlarmStartFunction")).expect("alarm-start's environment");
    assert_eq!(start.recording_time_seconds, 900);
    assert_eq!(start.max_recordings, 0);
    assert_eq!(start.watched.alarm_name_prefix, "nat-recorder.NatGatewaySpike.");
    TableConfig::from_env(env_of("TokenRegisterFunction")).expect("token-register's environment");
    let stop = StopConfig::from_env(env_of("FlowlogStopFunction")).expect("flowlog-stop's environment");
    assert_eq!(stop.ownership, start.ownership(), "StopRecording recognises what StartRecording creates");
    let resolver_config = ResolverConfig::from_env(env_of("AlarmOkResolverFunction")).expect("resolver's environment");
    assert_eq!(resolver_config.watched, start.watched);
    let notifier = NotifierConfig::from_env(env_of("NotifierFunction")).expect("notifier's environment");
    let sweep = SweepConfig::from_env(env_of("FlowlogSweeperFunction")).expect("sweeper's environment");
    assert_eq!(sweep.max_age, std::time::Duration::from_secs(900 + 1200));
    let query_name = template.resolve(&template.resource("RecorderQuery")["Properties"]["Name"], &resolver);
    assert_eq!(notifier.query_name, query_name);
}

#[test]
fn every_function_builds_a_binary_of_this_workspace_for_arm64() {
    let template = Template::load();
    let globals = &template.root["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    let functions = template.functions();
    assert_eq!(functions.len(), 6, "five steps and the sweep: {functions:?}");
    for (id, binary) in &functions {
        let metadata = &template.resource(id)["Metadata"];
        assert_eq!(metadata["BuildMethod"].as_str(), Some("rust-cargolambda"), "{id}");
        assert_eq!(metadata["BuildProperties"]["Binary"].as_str(), Some(binary.as_str()), "{id}");
        assert!(repo_file(&format!("functions/{binary}/Cargo.toml")).exists(), "{id}: no crate for {binary}");
    }
}

#[test]
fn the_rules_match_exactly_the_alarms_the_macro_adds() {
    let template = Template::load();
    let resolver = resolver();
    let prefix = template.function_env("AlarmStartFunction", &resolver)["ALARM_NAME_PREFIX"].clone();
    // The template as CloudFormation will see it after the macro
    let expanded = template.expanded(&[("NatGatewayIDs", serde_json::json!(["nat-0123456789abcdef0"]))]).unwrap();
    let alarm = &expanded["Resources"]["SpikeAlarm0123456789abcdef0"];
    assert_eq!(alarm["Type"], "AWS::CloudWatch::Alarm");
    let name = alarm["Properties"]["AlarmName"]["Fn::Sub"].as_str().unwrap();
    assert_eq!(name.replace("${AWS::StackName}", resolver.stack_name), format!("{prefix}nat-0123456789abcdef0"));
    let alarm_fired = &template.resource("AlarmFiredRule")["Properties"]["EventPattern"];
    let alarm_ok =
        &template.resource("AlarmOkResolverFunction")["Properties"]["Events"]["AlarmOk"]["Properties"]["Pattern"];
    for (id, pattern, state) in [("AlarmFiredRule", alarm_fired, "ALARM"), ("AlarmOkResolverFunction", alarm_ok, "OK")]
    {
        let rule_prefix = template.resolve(&pattern["detail"]["alarmName"][0]["prefix"], &resolver);
        assert_eq!(rule_prefix, prefix, "{id}");
        assert_eq!(pattern["detail"]["state"]["value"][0].as_str(), Some(state), "{id}");
    }
    // Stack names cannot contain a dot, so "a." never matches the alarms of a stack "a-b".
    assert!(prefix.ends_with('.') && !resolver.stack_name.contains('.'));
}

#[test]
fn the_template_names_the_macro_the_macros_stack_provides() {
    let template = Template::load();
    assert_eq!(template.root["Transform"][0].as_str(), Some(nat_alarms_macro::MACRO_NAME));
    let macros = Template::load_file("cf-assistive-macros/template.yaml");
    assert_eq!(macros.resource("NatAlarmsMacro")["Properties"]["Name"].as_str(), Some(nat_alarms_macro::MACRO_NAME));
    assert_eq!(
        macros.resource("NatAlarmsFunction")["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("nat-alarms-macro")
    );
}

#[test]
fn the_defaults_expand_into_alarms_on_the_parameters() {
    // With every default but the NAT Gateways, the alarms refer to the stack's parameters
    let expanded = Template::load()
        .expanded(&[("NatGatewayIDs", serde_json::json!(["nat-0123456789abcdef0", "nat-1234abcd"]))])
        .unwrap();
    // The functions that judge alarm events learn which NAT Gateways are watched
    for id in ["AlarmStartFunction", "AlarmOkResolverFunction"] {
        let variables = &expanded["Resources"][id]["Properties"]["Environment"]["Variables"];
        assert_eq!(variables["NAT_GATEWAY_IDS"], "nat-0123456789abcdef0,nat-1234abcd", "{id}");
    }
    let properties = &expanded["Resources"]["SpikeAlarm1234abcd"]["Properties"];
    assert_eq!(properties["Threshold"], serde_json::json!({"Ref": "Threshold"}));
    assert_eq!(properties["Metrics"][1]["MetricStat"]["Period"], serde_json::json!({"Ref": "SamplingPeriod"}));
    assert_eq!(properties["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"][0]["Value"], "nat-1234abcd");
}

/// Every JSONPath in the definition, with the key it sits under.
fn paths(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let Value::String(s) = v {
                    if k.ends_with(".$") || k.ends_with("Path") || k == "Variable" {
                        out.push((k.clone(), s.clone()));
                    }
                }
                paths(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| paths(v, out)),
        _ => {}
    }
}

#[test]
fn the_definition_uses_plain_jsonpath_without_indexes() {
    let definition = asl();
    assert!(definition.get("QueryLanguage").is_none_or(|q| q == "JSONPath"));
    let mut found = Vec::new();
    paths(&definition, &mut found);
    assert!(found.len() > 10, "{found:?}");
    for (key, path) in found {
        assert!(path.starts_with('$'), "{key}: {path}");
        assert!(!path.contains('['), "{key}: {path} indexes into an array");
    }
}

#[test]
fn the_definitions_placeholders_are_exactly_the_templates_substitutions() {
    let text = read_repo_file("statemachine/recorder.asl.json");
    let used: BTreeSet<String> =
        text.split("${").skip(1).map(|rest| rest.split('}').next().unwrap().to_owned()).collect();
    let template = Template::load();
    let given: BTreeSet<String> = template.resource("RecorderStateMachine")["Properties"]["DefinitionSubstitutions"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(used, given);
}

fn states() -> BTreeMap<String, Value> {
    asl()["States"].as_object().unwrap().clone().into_iter().collect()
}

fn catch_targets(state: &Value) -> Vec<(Vec<String>, String)> {
    state["Catch"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|catcher| {
                    let errors = catcher["ErrorEquals"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e.as_str().unwrap().to_owned())
                        .collect();
                    (errors, catcher["Next"].as_str().unwrap().to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_path_that_may_have_created_flow_logs_reaches_stop_recording() {
    let states = states();
    for name in ["StartRecording", "WaitForAlarmOrTimeout"] {
        let catches = catch_targets(&states[name]);
        assert!(
            catches.iter().any(|(errors, _)| errors.contains(&"States.ALL".to_owned())),
            "{name} catches everything"
        );
        assert!(catches.iter().all(|(_, next)| next == "StopRecording"), "{name}: {catches:?}");
    }
    // An OK goes through the minimum recording time; a timeout or an error straight to the stop
    assert_eq!(states["WaitForAlarmOrTimeout"]["Next"], "RecordAtLeast");
    assert_eq!(states["RecordAtLeast"]["Type"], "Wait");
    assert_eq!(states["RecordAtLeast"]["TimestampPath"], "$.start.recording.recordAtLeastUntil");
    assert_eq!(states["RecordAtLeast"]["Next"], "StopRecording");
    assert_eq!(catch_targets(&states["WaitForAlarmOrTimeout"])[0].0, vec!["States.Timeout".to_owned()]);
    // StopRecording leads to Notify whether it succeeds or not; Notify may ask to wait for delivery
    assert_eq!(states["StopRecording"]["Next"], "Notify");
    assert!(catch_targets(&states["StopRecording"]).iter().all(|(_, next)| next == "Notify"));
    assert_eq!(states["Notify"]["Next"], "Sent?");
    assert_eq!(states["Sent?"]["Choices"][0]["Next"], "WaitForDelivery");
    assert_eq!(states["WaitForDelivery"]["SecondsPath"], "$.notify.retryInSeconds");
    assert_eq!(states["WaitForDelivery"]["Next"], "Notify");
    // The only ways around StopRecording are skips, taken before anything was created
    let skip_targets: Vec<&str> =
        states["Skipped?"]["Choices"].as_array().unwrap().iter().map(|c| c["Next"].as_str().unwrap()).collect();
    assert_eq!(skip_targets, ["Notify", "Skipped"]);
    assert_eq!(states["Skipped"]["Type"], "Succeed");
}

#[test]
fn the_wait_times_out_after_the_recording_time_read_from_the_state() {
    let states = states();
    let wait = &states["WaitForAlarmOrTimeout"];
    assert_eq!(wait["Resource"], "arn:${Partition}:states:::lambda:invoke.waitForTaskToken");
    assert_eq!(wait["TimeoutSecondsPath"], "$.start.recording.timeoutSeconds");
    assert_eq!(wait["Parameters"]["Payload"]["taskToken.$"], "$$.Task.Token");
    // The path points where StartRecording's output puts the recording time
    let recording: Value = serde_json::json!({"start": serde_json::to_value(recorder::contract::StartOutput::Record {
        recording: Box::new(recorder::contract::Recording {
            nat_gateway_id: "nat-1".into(),
            execution_arn: "e".into(),
            alarm_at_millis: 0,
            spike_since_millis: None,
            network_interface_ids: vec![],
            nat_addresses: vec![],
            private_nat: false,
            flow_log_ids: vec![],
            log_group_name: "g".into(),
            started_at: "t".into(),
            timeout_seconds: 900,
            record_at_least_until: "t".into(),
            report_delay_seconds: 300,
            on_demand: None,
        })
    }).unwrap()});
    assert_eq!(recording["start"]["recording"]["timeoutSeconds"], 900);
    assert_eq!(states["StartRecording"]["ResultPath"], "$.start");
}

#[test]
fn transient_errors_are_retried_with_backoff_in_every_task() {
    for (name, state) in states() {
        if state["Type"] != "Task" {
            continue;
        }
        let retry = state["Retry"].as_array().unwrap_or_else(|| panic!("{name} has no Retry"));
        let errors: Vec<&str> =
            retry.iter().flat_map(|r| r["ErrorEquals"].as_array().unwrap()).map(|e| e.as_str().unwrap()).collect();
        assert!(errors.contains(&"Transient") || errors.contains(&"States.ALL"), "{name}: {errors:?}");
        // Every retrier that retries at all backs off (one may list errors never worth retrying)
        let mut retrying = retry.iter().filter(|r| r["MaxAttempts"].as_u64() != Some(0));
        assert!(retrying.all(|r| r["BackoffRate"].as_f64().unwrap_or(1.0) > 1.0), "{name} backs off");
    }
}

/// The longest a Task state can take with every retry its Retry allows, each attempt running
/// to its function's timeout: attempts x timeout + the backoff delays between them.
fn worst_task_seconds(state: &Value, function_timeout: u64) -> u64 {
    let retries = state["Retry"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut total = function_timeout;
    for retry in retries {
        let attempts = retry["MaxAttempts"].as_u64().unwrap_or(3);
        let mut delay = retry["IntervalSeconds"].as_f64().unwrap_or(1.0);
        let rate = retry["BackoffRate"].as_f64().unwrap_or(2.0);
        let cap = retry["MaxDelaySeconds"].as_f64().unwrap_or(f64::MAX);
        for _ in 0..attempts {
            total += delay.min(cap).ceil() as u64 + function_timeout;
            delay *= rate;
        }
    }
    total
}

#[test]
fn the_whole_execution_outlasts_the_longest_legitimate_run() {
    let template = Template::load();
    let max = |name: &str| {
        template.root["Parameters"][name]["MaxValue"].as_u64().unwrap_or_else(|| panic!("{name} has no MaxValue"))
    };
    let timeout_of = |state: &Value| {
        let placeholder = state["Resource"]
            .as_str()
            .filter(|r| r.starts_with("${"))
            .or(state["Parameters"]["FunctionName"].as_str())
            .expect("a function");
        let key = placeholder.trim_start_matches("${").trim_end_matches('}');
        let substitution = &template.resource("RecorderStateMachine")["Properties"]["DefinitionSubstitutions"][key];
        let serde_norway::Value::Tagged(get_att) = substitution else { panic!("{key} is not a !GetAtt") };
        let id = get_att.value.as_str().unwrap().trim_end_matches(".Arn");
        template.resource(id)["Properties"]["Timeout"]
            .as_u64()
            .or(template.root["Globals"]["Function"]["Timeout"].as_u64())
            .unwrap()
    };
    let states = states();
    let tasks: u64 = ["StartRecording", "WaitForAlarmOrTimeout", "StopRecording", "Notify"]
        .iter()
        .map(|name| worst_task_seconds(&states[*name], timeout_of(&states[*name])))
        .sum();
    // The wait itself ends at RecordingTime; the report waits ReportDelaySeconds for delivery.
    let longest = tasks + max("RecordingTime") + max("ReportDelaySeconds");
    let timeout = asl()["TimeoutSeconds"].as_u64().expect("a whole-execution TimeoutSeconds");
    assert!(timeout >= longest, "TimeoutSeconds {timeout} is less than the longest legitimate run, {longest} s");
    // and not so much more that a stuck execution lingers for days
    assert!(timeout <= longest + 3600, "TimeoutSeconds {timeout} vs {longest} s");
}

#[test]
fn the_sweeps_grace_covers_what_retries_add_to_a_legitimate_recording() {
    // A flow log lives from its creation in StartRecording until StopRecording deletes it: at
    // worst every retry of those steps and of the wait's Lambda, past RecordingTime.
    let template = Template::load();
    let states = states();
    let timeout = |id: &str| {
        template.resource(id)["Properties"]["Timeout"]
            .as_u64()
            .or(template.root["Globals"]["Function"]["Timeout"].as_u64())
            .unwrap()
    };
    let start = &states["StartRecording"];
    let extension = worst_task_seconds(start, timeout("AlarmStartFunction"))
        + worst_task_seconds(&states["WaitForAlarmOrTimeout"], timeout("TokenRegisterFunction"))
        + worst_task_seconds(&states["StopRecording"], timeout("FlowlogStopFunction"));
    let grace = &template.root["Parameters"]["SweepGraceSeconds"];
    let minimum = grace["MinValue"].as_u64().expect("SweepGraceSeconds has a MinValue");
    assert!(minimum >= extension, "SweepGraceSeconds may be {minimum}, but retries can add {extension} s");
    assert!(grace["Default"].as_u64().unwrap() >= minimum);
}

#[test]
fn stop_recording_does_not_retry_what_can_never_succeed() {
    let states = states();
    let first = &states["StopRecording"]["Retry"][0];
    assert_eq!(first["ErrorEquals"], serde_json::json!(["InvalidInput", "ConfigurationError"]));
    assert_eq!(first["MaxAttempts"], 0);
}

#[test]
fn an_idempotent_step_whose_function_timed_out_is_tried_again() {
    // StartRecording (a retry finds its own claim and flow logs) and the wait's Lambda (it stores
    // the same token again) are safe to run twice; StopRecording and Notify retry everything.
    let states = states();
    for name in ["StartRecording", "WaitForAlarmOrTimeout", "StopRecording", "Notify"] {
        let retried: Vec<String> = states[name]["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["MaxAttempts"].as_u64() != Some(0))
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_owned()))
            .collect();
        assert!(retried.iter().any(|e| e == "Sandbox.Timedout" || e == "States.ALL"), "{name}: {retried:?}");
    }
}

/// Whether `value` is `!GetAtt <target>`.
fn gets(value: &serde_norway::Value, target: &str) -> bool {
    matches!(value, serde_norway::Value::Tagged(t) if t.tag == "!GetAtt" && t.value.as_str() == Some(target))
}

#[test]
fn an_event_not_delivered_or_not_handled_waits_in_the_dead_letter_queue_and_alarms() {
    let template = Template::load();
    let queue = "UndeliveredEventsQueue.Arn";
    // Both rules' targets keep what EventBridge could not deliver after its retries
    let alarm_rule = &template.resource("AlarmFiredRule")["Properties"];
    assert!(gets(&alarm_rule["Targets"][0]["DeadLetterConfig"]["Arn"], queue), "{alarm_rule:?}");
    let function = &template.resource("AlarmOkResolverFunction")["Properties"];
    let ok_rule = &function["Events"]["AlarmOk"]["Properties"];
    assert!(gets(&ok_rule["DeadLetterConfig"]["Arn"], queue), "{ok_rule:?}");
    // The resolver's own failures, after Lambda's retries of the asynchronous invocation, too
    let on_failure = &function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"].as_str(), Some("SQS"));
    assert!(gets(&on_failure["Destination"], queue), "{on_failure:?}");
    // The rules are named as the queue's policy names them
    let resolver = resolver();
    assert_eq!(template.resolve(&alarm_rule["Name"], &resolver), "nat-recorder-alarm-fired");
    assert_eq!(template.resolve(&ok_rule["RuleName"], &resolver), "nat-recorder-alarm-ok");
    // The first message in the queue emails the report topic
    let alarm = &template.resource("UndeliveredEventsAlarm")["Properties"];
    assert_eq!(
        (alarm["Namespace"].as_str(), alarm["MetricName"].as_str()),
        (Some("AWS/SQS"), Some("ApproximateNumberOfMessagesVisible"))
    );
    assert!(gets(&alarm["Dimensions"][0]["Value"], "UndeliveredEventsQueue.QueueName"), "{alarm:?}");
    assert_eq!(
        (alarm["ComparisonOperator"].as_str(), alarm["Threshold"].as_u64()),
        (Some("GreaterThanThreshold"), Some(0))
    );
    assert_eq!(
        format!("{:?}", alarm["AlarmActions"]),
        format!("{:?}", template.resource("SweeperErrorsAlarm")["Properties"]["AlarmActions"])
    );
}

#[test]
fn every_function_and_the_state_machine_have_an_output_linking_to_their_log() {
    let template = Template::load();
    let outputs = format!("{:?}", template.root["Outputs"]);
    let mut groups: Vec<String> = template
        .functions()
        .iter()
        .map(|(id, _)| {
            let group = &template.resource(id)["Properties"]["LoggingConfig"]["LogGroup"];
            let serde_norway::Value::Tagged(reference) = group else {
                panic!("{id}: LogGroup is not a !Ref: {group:?}")
            };
            reference.value.as_str().unwrap().to_owned()
        })
        .collect();
    groups.push("RecorderStateMachineLogGroup".into());
    for group in groups {
        let link = format!("TaggedValue {{ tag: !Ref, value: String(\"{group}\") }}");
        assert!(outputs.contains(&link), "no output links to {group}");
    }
}
