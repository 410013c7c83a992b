//! The macro as a pure function: golden fragments for one, several and anomaly detection, `all`, and every
//! rejection, each naming the bad value and what was expected.

use nat_alarms_macro::{handle, logical_id, resolved_alarm, AlarmMode, MacroRequest, MacroResponse};
use serde_json::{json, Value};

/// A fragment shaped like the main template after YAML parsing: parameters and one resource.
fn fragment() -> Value {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": ["VpcFlowLogsRecorder-NatGatewayAlarms", "AWS::Serverless-2016-10-31"],
        "Parameters": {
            "NatGatewayIDs": {"Type": "CommaDelimitedList"},
            "Threshold": {"Type": "Number", "Default": 100000000},
            "SamplingPeriod": {"Type": "Number", "Default": 60},
            "EvaluationPeriods": {"Type": "Number", "Default": 1},
            "DatapointsToAlarm": {"Type": "Number", "Default": 1}
        },
        "Resources": {
            "RecordingsTable": {"Type": "AWS::DynamoDB::Table"},
            "AlarmStartFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Environment": {"Variables": {"TABLE_NAME": "t", "NAT_GATEWAY_IDS": "(set by the macro)"}}}
            }
        }
    })
}

fn request(mut parameters: Value) -> MacroRequest {
    // CloudFormation passes every parameter, defaults included
    for (name, default) in [("EvaluationPeriods", "3"), ("DatapointsToAlarm", "1")] {
        if parameters.get(name).is_none() {
            parameters[name] = default.into();
        }
    }
    serde_json::from_value(json!({
        "region": "us-east-1",
        "accountId": "123456789012",
        "fragment": fragment(),
        "transformId": "123456789012::VpcFlowLogsRecorder-NatGatewayAlarms",
        "params": {},
        "requestId": "req-1",
        "templateParameterValues": parameters
    }))
    .unwrap()
}

fn expand(parameters: Value) -> MacroResponse {
    handle(request(parameters))
}

/// Compares with `tests/golden/<name>.json`. `UPDATE_GOLDEN=1` rewrites a file that differs and
/// fails all the same (a run that rewrites its expectations proves nothing): review the diff,
/// then run again without it.
fn golden(name: &str, actual: &Value) {
    // Found when the test runs: a build shared by two checkouts writes its own checkout's file.
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let path = format!("{crate_dir}/tests/golden/{name}.json");
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    let same = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|expected| &expected == actual);
    if std::env::var_os("UPDATE_GOLDEN").is_some() && !same {
        std::fs::write(&path, &text).unwrap();
        panic!("{path} rewritten (UPDATE_GOLDEN): review the diff, then run the tests again without UPDATE_GOLDEN");
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e} (UPDATE_GOLDEN=1 writes it)"));
    // Compared as JSON values: key order depends on serde_json's features in the build.
    let expected: Value = serde_json::from_str(&expected).unwrap();
    assert_eq!(actual, &expected, "{name} differs from its golden file");
}

fn failure(response: &MacroResponse) -> &str {
    assert_eq!(response.status, "failure", "{response:?}");
    assert_eq!(response.fragment, fragment(), "a failure returns the fragment unchanged");
    response.error_message.as_deref().unwrap()
}

#[test]
fn one_nat_gateway_gets_one_static_alarm() {
    let response = expand(json!({"NatGatewayIDs": ["nat-0123456789abcdef0"], "SamplingPeriod": "60"}));
    assert_eq!(response.status, "success", "{response:?}");
    golden("one", &response.fragment);
}

#[test]
fn several_are_trimmed_and_deduplicated() {
    let response = expand(json!({
        "NatGatewayIDs": [" nat-0123456789abcdef0", "nat-0aaaaaaaaaaaaaaa1 ", "nat-0123456789abcdef0", "", "nat-1234abcd"],
        "SamplingPeriod": "300"
    }));
    assert_eq!(response.status, "success", "{response:?}");
    let resources = response.fragment["Resources"].as_object().unwrap();
    assert_eq!(resources.len(), 5, "three alarms, the table and the function");
    // The function learns the NAT Gateways it may record
    assert_eq!(
        resources["AlarmStartFunction"]["Properties"]["Environment"]["Variables"]["NAT_GATEWAY_IDS"],
        "nat-0123456789abcdef0,nat-0aaaaaaaaaaaaaaa1,nat-1234abcd"
    );
    golden("several", &response.fragment);
}

#[test]
fn reordering_the_list_changes_no_logical_id() {
    let a = expand(json!({"NatGatewayIDs": "nat-0123456789abcdef0,nat-1234abcd", "SamplingPeriod": "60"}));
    let b = expand(json!({"NatGatewayIDs": "nat-1234abcd,nat-0123456789abcdef0", "SamplingPeriod": "60"}));
    assert_eq!(a.fragment["Resources"], b.fragment["Resources"]);
    assert_eq!(logical_id("nat-1234abcd"), "SpikeAlarm1234abcd");
}

#[test]
fn all_adds_no_alarm_and_tells_the_functions_the_sweeper_keeps_them() {
    for all in [json!(["all"]), json!("ALL"), json!(" all ")] {
        let response = expand(json!({"NatGatewayIDs": all, "SamplingPeriod": "60"}));
        assert_eq!(response.status, "success", "{response:?}");
        let resources = response.fragment["Resources"].as_object().unwrap();
        assert_eq!(resources.len(), 2, "the table and the function, no alarm: {resources:?}");
        assert_eq!(resources["AlarmStartFunction"]["Properties"]["Environment"]["Variables"]["NAT_GATEWAY_IDS"], "all");
    }
}

#[test]
fn anomaly_detection_alarms_compare_with_the_band() {
    let response = expand(json!({
        "NatGatewayIDs": ["nat-0123456789abcdef0", "nat-1234abcd"], "SamplingPeriod": "60",
        "AlarmMode": "AnomalyDetection", "AnomalyBandWidth": "3"
    }));
    assert_eq!(response.status, "success", "{response:?}");
    golden("anomaly-detection", &response.fragment);
}

#[test]
fn the_sweepers_alarm_is_the_macros_with_every_reference_resolved() {
    let parameters = request(json!({"NatGatewayIDs": "all", "Threshold": "5000", "SamplingPeriod": "120"}))
        .template_parameter_values;
    for mode in [AlarmMode::Static, AlarmMode::AnomalyDetection { band_width: 2.5 }] {
        let resolved = resolved_alarm("nat-1234abcd", &mode, &parameters, "nat-recorder").unwrap();
        let text = Value::Object(resolved.clone()).to_string();
        assert!(!text.contains("\"Ref\"") && !text.contains("Fn::"), "{text}");
        assert_eq!(resolved["AlarmName"], "nat-recorder.NatGatewaySpike.nat-1234abcd");
        assert_eq!(resolved["EvaluationPeriods"], "3");
        assert_eq!(resolved["Tags"], json!([{"Key": "vpc-flowlogs-recorder:stack", "Value": "nat-recorder"}]));
        assert_eq!(resolved["Metrics"][1]["MetricStat"]["Period"], "120");
        // the same definition as the macro's alarm, property for property
        let declared = nat_alarms_macro::alarm("nat-1234abcd", &mode);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&Value::Object(resolved.clone())), keys(&declared["Properties"]));
        if mode == AlarmMode::Static {
            assert_eq!(resolved["Threshold"], "5000");
            assert_eq!(
                resolved["AlarmDescription"],
                "NAT Gateway nat-1234abcd processed more than 5000 bytes per 120 s (vpc-flowlogs-recorder)"
            );
        }
    }
    let mut missing = parameters.clone();
    missing.remove("Threshold");
    let err = resolved_alarm("nat-1234abcd", &AlarmMode::Static, &missing, "s").unwrap_err();
    assert_eq!(err, "the alarm refers to Threshold, which has no value");
}

#[test]
fn an_empty_list_is_rejected() {
    let response = expand(json!({"NatGatewayIDs": ["", " "], "SamplingPeriod": "60"}));
    assert_eq!(
        failure(&response),
        "NatGatewayIDs is empty: name at least one NAT Gateway (nat-0123456789abcdef0), or all"
    );
}

#[test]
fn a_malformed_id_is_named() {
    for bad in ["nat-XYZ", "nat-0123456789ABCDEF0", "igw-0123456789abcdef0", "nat-0123456789abcdef", "all,nat-1234abcd"]
    {
        let response = expand(json!({"NatGatewayIDs": bad, "SamplingPeriod": "60"}));
        let message = failure(&response);
        assert!(message.starts_with("NatGatewayIDs: \""), "{bad}: {message}");
        assert!(message.ends_with("expected nat- followed by 8 or 17 lowercase hex digits, or all alone"), "{message}");
    }
}

#[test]
fn a_sampling_period_nat_gateway_metrics_do_not_have_is_named() {
    for bad in ["10", "30", "45", "0", "90", "sixty"] {
        let response = expand(json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": bad}));
        assert_eq!(
            failure(&response),
            format!(
                "SamplingPeriod: \"{bad}\" is not a period NAT Gateway metrics have; expected a positive multiple of 60 \
                 (they are 1-minute metrics)"
            )
        );
    }
    for good in ["60", "120", "3600"] {
        assert_eq!(expand(json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": good})).status, "success");
    }
}

#[test]
fn combinations_put_metric_alarm_rejects_are_named() {
    let cases = [
        (
            ("60", "3", "5"),
            "DatapointsToAlarm 5 is more than EvaluationPeriods 3; CloudWatch needs DatapointsToAlarm at most \
             EvaluationPeriods",
        ),
        (
            ("600", "145", "1"),
            "SamplingPeriod 600 x EvaluationPeriods 145 = 87000 s; CloudWatch evaluates at most 86400 s (a day, for \
             periods under an hour)",
        ),
        (
            ("3600", "169", "1"),
            "SamplingPeriod 3600 x EvaluationPeriods 169 = 608400 s; CloudWatch evaluates at most 604800 s (a week)",
        ),
        (("60", "0", "1"), "EvaluationPeriods: \"0\" is not a whole number of periods from 1 up"),
        (("60", "3", "x"), "DatapointsToAlarm: \"x\" is not a whole number of periods from 1 up"),
    ];
    for ((period, evaluation, datapoints), message) in cases {
        let response = expand(json!({
            "NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": period,
            "EvaluationPeriods": evaluation, "DatapointsToAlarm": datapoints
        }));
        assert_eq!(failure(&response), message);
    }
    // The limits themselves are allowed
    for (period, evaluation) in [("600", "144"), ("3600", "168"), ("60", "1440")] {
        let response = expand(json!({
            "NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": period, "EvaluationPeriods": evaluation
        }));
        assert_eq!(response.status, "success", "{period} x {evaluation}: {response:?}");
    }
    // As many datapoints as periods is allowed: every period must breach
    let response = expand(json!({
        "NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": "60", "EvaluationPeriods": "3", "DatapointsToAlarm": "3"
    }));
    assert_eq!(response.status, "success", "{response:?}");
}

#[test]
fn parameter_values_given_as_json_numbers_read_as_their_text() {
    // CloudFormation hands a macro parameter values as strings; a number is read the same way
    let as_text = expand(json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": "120", "EvaluationPeriods": "2"}));
    let as_numbers = expand(json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": 120, "EvaluationPeriods": 2}));
    assert_eq!(as_numbers.status, "success", "{as_numbers:?}");
    assert_eq!(as_numbers.fragment, as_text.fragment);
}

#[test]
fn an_unknown_alarm_mode_or_band_is_named() {
    let response = expand(json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": "60", "AlarmMode": "Dynamic"}));
    assert_eq!(failure(&response), "AlarmMode: \"Dynamic\" is not Static or AnomalyDetection");
    let response = expand(
        json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": "60", "AlarmMode": "AnomalyDetection", "AnomalyBandWidth": "-1"}),
    );
    assert_eq!(failure(&response), "AnomalyBandWidth: \"-1\" is not a positive number of standard deviations");
    let response = expand(
        json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": "60", "AlarmMode": "AnomalyDetection", "AnomalyBandWidth": "0"}),
    );
    assert_eq!(failure(&response), "AnomalyBandWidth: \"0\" is not a positive number of standard deviations");
}

#[test]
fn a_fragment_without_what_the_macro_needs_fails_clearly() {
    let mut request = request(json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": "60"}));
    request.fragment.as_object_mut().unwrap().remove("Resources");
    let response = handle(request);
    assert_eq!(response.status, "failure");
    assert_eq!(response.error_message.as_deref(), Some("the template has no Resources section to add the alarms to"));

    let mut request = request_without_parameter("Threshold");
    request.request_id = "req-2".into();
    let response = handle(request);
    assert_eq!(
        response.error_message.as_deref(),
        Some("the template declares no Threshold parameter, which the alarms refer to")
    );

    let response = expand(json!({"SamplingPeriod": "60"}));
    assert_eq!(failure(&response), "the template has no NatGatewayIDs parameter value");
}

fn request_without_parameter(name: &str) -> MacroRequest {
    let mut request = request(json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": "60"}));
    request.fragment["Parameters"].as_object_mut().unwrap().remove(name);
    request
}

#[test]
fn in_the_main_template_each_alarm_waits_for_the_cleanup_that_removes_the_sweepers() {
    let mut request = request(json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": "60"}));
    request.fragment["Resources"]["UninstallCleanup"] = json!({"Type": "AWS::CloudFormation::CustomResource"});
    let response = handle(request);
    assert_eq!(response.fragment["Resources"]["SpikeAlarm1234abcd"]["DependsOn"], "UninstallCleanup");
}

#[test]
fn an_alarm_never_replaces_a_resource_of_the_template() {
    let mut request = request(json!({"NatGatewayIDs": "nat-1234abcd", "SamplingPeriod": "60"}));
    request.fragment["Resources"]["SpikeAlarm1234abcd"] = json!({"Type": "AWS::SNS::Topic"});
    let response = handle(request);
    assert_eq!(
        response.error_message.as_deref(),
        Some("the template already has a resource SpikeAlarm1234abcd; the alarm of nat-1234abcd would replace it")
    );
}
