//! IAM, enforced: moto checks every call against the caller's policies once the harness has set
//! itself up. The harness's own clients use a user that may do anything; each function runs
//! with the temporary credentials of a role that allows exactly the actions its execution role
//! in the template allows. A permission the code needs and the template lacks fails a test.
//!
//! moto 5.2.5 evaluates a policy's actions, not its resources or conditions (moto's
//! `iam/access_control.py`), so each role here allows its actions on `*`; the security tests
//! check the resources and conditions in the template itself.

use std::collections::BTreeMap;

use local_lambda::RoleCredentials;

use crate::template::Template;
use crate::{http_send, HttpResponse, REGION};

/// Sends one query-protocol call, unsigned (moto checks nothing before enforcement starts); the
/// credential scope names the service moto routes it to.
fn query(endpoint: &str, service: &str, params: &[(&str, &str)]) -> String {
    let body: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", form_encode(v))).collect();
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=harness/20240101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let response: HttpResponse = http_send(
        endpoint,
        "POST",
        "/",
        &body.join("&"),
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", &authorization)],
    )
    .unwrap_or_else(|e| panic!("moto did not answer {service} {}: {e}", params[0].1));
    assert_eq!(response.status, 200, "{service} {} failed: {}", params[0].1, response.body);
    response.body
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of the first `<name>` element of an XML answer.
fn xml_text(xml: &str, name: &str) -> String {
    local_lambda::element(xml, name).unwrap_or_else(|| panic!("no <{name}> in {xml}")).to_owned()
}

fn allow(actions: &[String]) -> String {
    // moto names a call's action by its SigV4 signing name, which for CloudWatch is `monitoring`
    // where IAM says `cloudwatch` (Service Authorization Reference, "Amazon CloudWatch"); each
    // CloudWatch action is granted under both names, and no other.
    let actions: Vec<String> = actions
        .iter()
        .flat_map(|a| {
            let signed = a.strip_prefix("cloudwatch:").map(|op| format!("monitoring:{op}"));
            std::iter::once(a.clone()).chain(signed)
        })
        .collect();
    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
        .to_string()
}

/// Who calls moto: the harness, and each function of both templates by its binary name.
pub struct Principals {
    pub harness: (String, String),
    pub functions: BTreeMap<String, RoleCredentials>,
}

/// Creates the harness's user and one role per function, and assumes each role; then, unless
/// `LOCAL_IAM=off` (for measuring what enforcement costs), turns IAM enforcement on for every
/// call that follows.
pub fn enforce(moto_endpoint: &str) -> Principals {
    query(moto_endpoint, "iam", &[("Action", "CreateUser"), ("UserName", "harness"), ("Version", "2010-05-08")]);
    let everything = allow(&["*".to_owned()]);
    query(
        moto_endpoint,
        "iam",
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "harness"),
            ("PolicyName", "everything"),
            ("PolicyDocument", &everything),
            ("Version", "2010-05-08"),
        ],
    );
    let key = query(
        moto_endpoint,
        "iam",
        &[("Action", "CreateAccessKey"), ("UserName", "harness"), ("Version", "2010-05-08")],
    );
    let harness = (xml_text(&key, "AccessKeyId"), xml_text(&key, "SecretAccessKey"));

    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    .to_string();
    let mut functions = BTreeMap::new();
    for path in ["template.yaml", "cf-assistive-macros/template.yaml"] {
        let template = Template::load_file(path);
        for (id, binary) in template.functions() {
            let role = format!("{binary}-role");
            let arn = xml_text(
                &query(
                    moto_endpoint,
                    "iam",
                    &[
                        ("Action", "CreateRole"),
                        ("RoleName", &role),
                        ("AssumeRolePolicyDocument", &trust),
                        ("MaxSessionDuration", "43200"),
                        ("Version", "2010-05-08"),
                    ],
                ),
                "Arn",
            );
            let policy = allow(&template.function_role_actions(&id));
            query(
                moto_endpoint,
                "iam",
                &[
                    ("Action", "PutRolePolicy"),
                    ("RoleName", &role),
                    ("PolicyName", "template"),
                    ("PolicyDocument", &policy),
                    ("Version", "2010-05-08"),
                ],
            );
            let assumed = query(
                moto_endpoint,
                "sts",
                &[
                    ("Action", "AssumeRole"),
                    ("RoleArn", &arn),
                    ("RoleSessionName", &binary),
                    ("DurationSeconds", "43200"),
                    ("Version", "2011-06-15"),
                ],
            );
            functions.insert(
                binary,
                RoleCredentials {
                    access_key_id: xml_text(&assumed, "AccessKeyId"),
                    secret_access_key: xml_text(&assumed, "SecretAccessKey"),
                    session_token: xml_text(&assumed, "SessionToken"),
                },
            );
        }
    }
    match std::env::var("LOCAL_IAM").as_deref() {
        Ok("off") => {}
        Ok(other) if other != "on" => panic!("LOCAL_IAM={other:?}: expected on (the default) or off"),
        _ => {
            let on = http_send(moto_endpoint, "POST", "/moto-api/reset-auth", "0", &[]).expect("moto's reset-auth");
            assert_eq!(on.status, 200, "moto refused to enforce IAM: {}", on.body);
        }
    }
    Principals { harness, functions }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_travel_form_encoded() {
        assert_eq!(form_encode(r#"{"a": "b/c"}"#), "%7B%22a%22%3A%20%22b%2Fc%22%7D");
        assert_eq!(form_encode("Az09-_.~"), "Az09-_.~");
    }

    #[test]
    fn each_role_allows_what_its_template_role_allows() {
        let template = Template::load();
        let actions = template.function_role_actions("AlarmStartFunction");
        for needed in ["dynamodb:GetItem", "dynamodb:PutItem", "ec2:CreateFlowLogs", "iam:PassRole"] {
            assert!(actions.iter().any(|a| a == needed), "{needed} missing from {actions:?}");
        }
        assert!(!actions.iter().any(|a| a == "states:SendTaskSuccess"), "another function's action: {actions:?}");
    }
}
