//! The built macro binary, driven through the Lambda Runtime API by the local gateway with
//! real-shaped CloudFormation macro requests.

use recorder_tests::deploy::binary_dir;
use recorder_tests::{http_request, moto_stack, unique, REGION};
use serde_json::{json, Value};

fn register() -> String {
    let name = unique("nat-alarms-macro");
    let stack = moto_stack();
    moto_stack().gateway.register(local_lambda::FunctionSpec {
        name: name.clone(),
        region: REGION.into(),
        binary: binary_dir().join("nat-alarms-macro"),
        env: [("AWS_ENDPOINT_URL".to_owned(), stack.endpoint.clone())].into_iter().collect(),
        timeout: std::time::Duration::from_secs(30),
        memory_mb: 128,
        log_file: None,
        credentials: Some(stack.credentials_of("nat-alarms-macro")),
    });
    name
}

fn invoke(name: &str, nat_gateway_ids: Value) -> Value {
    invoke_with(name, nat_gateway_ids, json!({}))
}

fn invoke_with(name: &str, nat_gateway_ids: Value, resources: Value) -> Value {
    let request = json!({
        "region": REGION,
        "accountId": "123456789012",
        "fragment": {
            "Parameters": {
                "NatGatewayIDs": {"Type": "CommaDelimitedList"},
                "Threshold": {"Type": "Number"},
                "SamplingPeriod": {"Type": "Number"},
                "EvaluationPeriods": {"Type": "Number"},
                "DatapointsToAlarm": {"Type": "Number"}
            },
            "Resources": resources
        },
        "transformId": "123456789012::VpcFlowLogsRecorder-NatGatewayAlarms",
        "params": {},
        "requestId": "5bd2a1ec-0e3b-4b61-9d5c-6e6f0f3a8b11",
        "templateParameterValues": {
            "NatGatewayIDs": nat_gateway_ids,
            "Threshold": "100000000",
            "SamplingPeriod": "60",
            "EvaluationPeriods": "1",
            "DatapointsToAlarm": "1"
        }
    });
    let path = format!("/2015-03-31/functions/{name}/invocations");
    let response = http_request(&moto_stack().endpoint, "POST", &path, &request.to_string()).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("X-Amz-Function-Error"), None, "{}", response.body);
    serde_json::from_str(&response.body).unwrap()
}

#[test]
fn listed_nat_gateways_get_their_alarms() {
    let name = register();
    let response = invoke(&name, json!(["nat-0123456789abcdef0", "nat-1234abcd"]));
    assert_eq!(response["status"], "success", "{response}");
    assert_eq!(response["requestId"], "5bd2a1ec-0e3b-4b61-9d5c-6e6f0f3a8b11");
    let resources = response["fragment"]["Resources"].as_object().unwrap();
    assert_eq!(resources.keys().collect::<Vec<_>>(), ["SpikeAlarm0123456789abcdef0", "SpikeAlarm1234abcd"]);
}

#[test]
fn a_malformed_id_is_a_failure_cloudformation_shows() {
    let name = register();
    let response = invoke(&name, json!(["nat-nope"]));
    assert_eq!(response["status"], "failure");
    assert!(response["errorMessage"].as_str().unwrap().starts_with("NatGatewayIDs: \"nat-nope\""), "{response}");
}

#[test]
fn all_adds_no_alarm_and_hands_all_to_the_functions() {
    let name = register();
    let mut response = invoke(&name, json!(["all"]));
    assert_eq!(response["status"], "success", "{response}");
    assert_eq!(response["fragment"]["Resources"], json!({}), "the sweeper keeps the alarms of all");
    // one with a function: it is told to watch all
    response = invoke_with(
        &name,
        json!(["all"]),
        json!({"F": {"Type": "AWS::Serverless::Function",
        "Properties": {"Environment": {"Variables": {"NAT_GATEWAY_IDS": "(set by the macro)"}}}}}),
    );
    assert_eq!(
        response["fragment"]["Resources"]["F"]["Properties"]["Environment"]["Variables"]["NAT_GATEWAY_IDS"],
        "all"
    );
}
