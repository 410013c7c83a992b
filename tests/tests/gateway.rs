//! The local Lambda gateway behaves as the Lambda service does toward its callers.

use recorder_tests::deploy::binary_dir;
use recorder_tests::{fixture, http_request, moto_stack, unique, REGION};

fn register(binary: &str, env: &[(&str, &str)]) -> String {
    let name = unique(binary);
    moto_stack().gateway.register(local_lambda::FunctionSpec {
        name: name.clone(),
        region: REGION.into(),
        binary: binary_dir().join(binary),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        timeout: std::time::Duration::from_secs(10),
        memory_mb: 128,
        log_file: None,
        credentials: None,
    });
    name
}

fn invoke(name: &str, payload: &str) -> recorder_tests::HttpResponse {
    let path = format!("/2015-03-31/functions/{name}/invocations");
    http_request(&moto_stack().endpoint, "POST", &path, payload).expect("the gateway answers")
}

#[test]
fn a_missing_setting_fails_the_cold_start_naming_the_variable() {
    let name = register("notifier", &[("LOG_GROUP_NAME", "/g"), ("QUERY_NAME", "q")]);
    let response = invoke(&name, "{}");
    assert_eq!(response.status, 200, "function errors are answered 200, as Lambda does");
    assert_eq!(response.header("X-Amz-Function-Error"), Some("Unhandled"));
    let error: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(error["errorType"], "ConfigurationError");
    assert_eq!(error["errorMessage"], "environment variable TOPIC_ARN: is not set");
}

#[test]
fn a_function_error_carries_our_error_name() {
    let name = register(
        "flowlog-stop",
        &[("TABLE_NAME", "t"), ("LOG_GROUP_NAME", "/g"), ("DELIVERY_ROLE_ARN", "arn:aws:iam::123456789012:role/r")],
    );
    let response = invoke(&name, r#"{"nonsense": true}"#);
    assert_eq!(response.header("X-Amz-Function-Error"), Some("Unhandled"));
    let error: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(error["errorType"], "InvalidInput");
    assert!(error["errorMessage"].as_str().unwrap().starts_with("invalid input: StopRecording:"), "{error}");
}

#[test]
fn a_function_is_invoked_by_name_or_escaped_arn_and_its_result_returned() {
    let name = register(
        "alarm-ok-resolver",
        &[("TABLE_NAME", "t"), ("ALARM_NAME_PREFIX", "someone-else."), ("NAT_GATEWAY_IDS", "nat-0123456789abcdef0")],
    );
    let event = fixture("ok.json").to_string();
    for target in [name.clone(), format!("arn%3Aaws%3Alambda%3A{REGION}%3A123456789012%3Afunction%3A{name}")] {
        let response = invoke(&target, &event);
        assert_eq!(response.status, 200);
        assert_eq!(response.header("X-Amz-Function-Error"), None);
        let result: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(result, serde_json::json!({"outcome": "ignored", "reason": "not-our-alarm"}));
    }
}

#[test]
fn an_unknown_function_is_not_found() {
    let response = invoke("no-such-function", "{}");
    assert_eq!(response.status, 404);
    assert_eq!(response.header("x-amzn-ErrorType"), Some("ResourceNotFoundException"));
}

#[test]
fn everything_else_is_forwarded_to_moto() {
    let response = http_request(&moto_stack().endpoint, "GET", "/moto-api/data.json", "").unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body.starts_with('{'), "{}", response.body);
}
