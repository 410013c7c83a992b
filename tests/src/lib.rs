//! Test support: a moto server on 127.0.0.1, SDK clients pointed at it, and a small world (a
//! VPC with a NAT Gateway, a log group, the slot table) built fresh for each test.
//!
//! Each test binary starts its own moto (from the project's virtualenv) and local Lambda
//! gateway on first use; both die with the test process.

pub mod deploy;
pub mod iam;
pub mod org;
pub mod spike;
pub mod template;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use lambda_env::SdkConfig;
use recorder::fixtures::repo_root;
use serde_json::Value;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// The stack the fixtures' alarm names belong to.
pub const STACK: &str = "nat-recorder";

/// moto on 127.0.0.1, behind the local Lambda gateway: the gateway listens on the port moto's
/// interpreter calls (`MOTO_PORT`), runs the Lambda binaries and forwards the rest to moto.
#[derive(Clone)]
pub struct MotoStack {
    /// The gateway: what tests, functions and moto's interpreter all call.
    pub endpoint: String,
    pub moto_endpoint: String,
    pub gateway: local_lambda::GatewayHandle,
    /// The harness's user and each function's role, once IAM is enforced.
    pub principals: std::sync::Arc<iam::Principals>,
}

/// How long a new execution or flow log stays invisible to the Describe calls of the code under
/// test (`LOCAL_CONSISTENCY_LAG_MS`, 2 s by default; the harness's own calls see at once).
pub fn consistency_lag() -> Duration {
    let millis = std::env::var("LOCAL_CONSISTENCY_LAG_MS").ok().map(|v| {
        v.parse().unwrap_or_else(|_| panic!("LOCAL_CONSISTENCY_LAG_MS={v:?} is not a whole number of milliseconds"))
    });
    Duration::from_millis(millis.unwrap_or(2000))
}

impl MotoStack {
    /// The credentials of the role a function (by binary name) runs with.
    pub fn credentials_of(&self, binary: &str) -> local_lambda::RoleCredentials {
        self.principals.functions.get(binary).cloned().unwrap_or_else(|| panic!("no role for the function {binary}"))
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port on 127.0.0.1")
}

/// A plain HTTP response: status, raw header lines, body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request with a JSON body.
pub fn http_request(endpoint: &str, method: &str, path: &str, body: &str) -> std::io::Result<HttpResponse> {
    http_send(endpoint, method, path, body, &[("Content-Type", "application/json")])
}

/// Sends one HTTP/1.1 request with these headers.
pub fn http_send(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpResponse> {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    Ok(HttpResponse { status, headers, body: body.to_owned() })
}

/// Sends one HTTP/1.1 request and returns the status code and body.
pub fn http(endpoint: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    http_request(endpoint, method, path, body).map(|r| (r.status, r.body))
}

fn spawn_moto(server: &std::path::Path, port: u16, interpreter_port: u16) -> std::io::Result<()> {
    let mut command = Command::new(server);
    command
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        // moto's Step Functions interpreter calls every service at localhost:$MOTO_PORT.
        .env("MOTO_PORT", interpreter_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    local_lambda::die_with_parent(&mut command);
    command.spawn().map(|_| ())
}

fn start_moto_stack() -> MotoStack {
    let server = moto_server();
    let moto_port = free_port();
    let gateway_port = free_port();
    let moto_endpoint = format!("http://127.0.0.1:{moto_port}");
    let (started, outcome) = mpsc::channel();
    let upstream = moto_endpoint.clone();
    // PR_SET_PDEATHSIG fires when the *thread* that spawned a child exits: moto and every
    // function process are started from this thread, which lives as long as the test process.
    std::thread::Builder::new()
        .name("local-stack".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
            runtime.block_on(async move {
                let gateway = match spawn_moto(&server, moto_port, gateway_port) {
                    Ok(()) => local_lambda::start(([127, 0, 0, 1], gateway_port).into(), &upstream).await,
                    Err(e) => Err(e),
                };
                let _ = started.send(gateway);
                std::future::pending::<()>().await
            })
        })
        .expect("the local stack thread");
    let gateway = outcome.recv().expect("the local stack thread").expect("moto and the gateway start");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(&moto_endpoint, "GET", "/moto-api/", "").is_err() {
        assert!(Instant::now() < deadline, "moto_server did not answer on {moto_endpoint} within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) =
        http(&moto_endpoint, "POST", "/moto-api/config", r#"{"stepfunctions":{"execute_state_machine":true}}"#)
            .expect("moto accepts its configuration");
    assert_eq!(status, 201, "moto refused the Step Functions configuration: {body}");
    let principals = iam::enforce(&moto_endpoint);
    gateway.realism().add_observer(&principals.harness.0);
    gateway.trust(&principals.harness.0, &principals.harness.1, None);
    // moto's Step Functions interpreter signs its service integrations with the key "ak". Ours
    // only invoke Lambda, which the gateway serves without IAM, so the state machine's role
    // cannot be exercised here; the interpreter's other calls (tests' own machines) run as the
    // harness.
    gateway.stand_in("ak", &principals.harness.0);
    for role in principals.functions.values() {
        gateway.trust(&role.access_key_id, &role.secret_access_key, Some(&role.session_token));
    }
    gateway.realism().set_consistency_lag(consistency_lag());
    MotoStack { endpoint: gateway.endpoint(), moto_endpoint, gateway, principals: std::sync::Arc::new(principals) }
}

/// The moto server behind `.venv`, or `MOTO_SERVER`.
fn moto_server() -> PathBuf {
    let server =
        std::env::var_os("MOTO_SERVER").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv/bin/moto_server"));
    assert!(
        server.exists(),
        "{} not found: run `make setup` (a virtualenv with moto[server]==5.2.5)",
        server.display()
    );
    server
}

/// A moto server of its own, without the gateway or IAM enforcement, for a tool that calls AWS
/// as an administrator would (make deploy-org): its endpoint. Gone with the test process.
pub fn bare_moto() -> String {
    let port = free_port();
    let (started, outcome) = mpsc::channel();
    // Spawned from a thread that lives as long as the process (PR_SET_PDEATHSIG, as above).
    std::thread::spawn(move || {
        let _ = started.send(spawn_moto(&moto_server(), port, port));
        std::thread::park();
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    });
    outcome.recv().expect("the moto thread").expect("moto starts");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(&endpoint, "GET", "/moto-api/", "").is_err() {
        assert!(Instant::now() < deadline, "moto_server did not answer on {endpoint} within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    endpoint
}

/// The local stack of this test process, started on first use and gone with the process.
pub fn moto_stack() -> &'static MotoStack {
    static STACK: OnceLock<MotoStack> = OnceLock::new();
    STACK.get_or_init(start_moto_stack)
}

/// SDK configuration for the harness: the functions' own loader (aws-config, the SDK's HTTPS
/// client, the same timeouts), with a fixed region, the harness's own user (it may do anything,
/// and sees moto as it is) and the gateway's endpoint.
pub async fn sdk() -> SdkConfig {
    let (key, secret) = moto_stack().principals.harness.clone();
    sdk_as(aws_sdk_sqs::config::Credentials::new(key, secret, None, None, "harness")).await
}

/// The same configuration with other credentials: a function's role, say.
pub async fn sdk_as(credentials: aws_sdk_sqs::config::Credentials) -> SdkConfig {
    lambda_env::loader()
        .region(aws_config::Region::new(REGION))
        .credentials_provider(credentials)
        .endpoint_url(&moto_stack().endpoint)
        .load()
        .await
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// One NAT Gateway in its own VPC, a log group and a slot table, all in moto.
#[derive(Debug, Clone)]
pub struct World {
    pub sdk: SdkConfig,
    /// A stack name of its own: the stack's tags and alarm names must not meet another world's.
    pub stack_name: String,
    pub nat_gateway_id: String,
    pub network_interface_id: String,
    pub log_group_name: String,
    pub table_name: String,
}

impl World {
    pub async fn new() -> Self {
        let sdk = sdk().await;
        let (nat_gateway_id, network_interface_id) = nat_gateway(&sdk).await;

        let log_group_name = format!("/vpc-flowlogs-recorder/{}", unique("flowlogs"));
        aws_sdk_cloudwatchlogs::Client::new(&sdk)
            .create_log_group()
            .log_group_name(&log_group_name)
            .send()
            .await
            .expect("CreateLogGroup");

        // The table as the template defines it, so code and template cannot drift apart.
        let table = template::Template::load();
        let table = &table.resource("RecordingsTable")["Properties"];
        let table_name = unique("slots");
        let mut create = aws_sdk_dynamodb::Client::new(&sdk)
            .create_table()
            .table_name(&table_name)
            .billing_mode(BillingMode::from(table["BillingMode"].as_str().expect("BillingMode")));
        for definition in table["AttributeDefinitions"].as_sequence().expect("AttributeDefinitions") {
            create = create.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(definition["AttributeName"].as_str().unwrap())
                    .attribute_type(ScalarAttributeType::from(definition["AttributeType"].as_str().unwrap()))
                    .build()
                    .unwrap(),
            );
        }
        for key in table["KeySchema"].as_sequence().expect("KeySchema") {
            create = create.key_schema(
                KeySchemaElement::builder()
                    .attribute_name(key["AttributeName"].as_str().unwrap())
                    .key_type(KeyType::from(key["KeyType"].as_str().unwrap()))
                    .build()
                    .unwrap(),
            );
        }
        create.send().await.expect("CreateTable");
        let stack_name = unique("stack");
        Self { sdk, stack_name, nat_gateway_id, network_interface_id, log_group_name, table_name }
    }

    /// The settings StartRecording would read from the template's environment.
    pub fn start_config(&self, max_recordings: u32) -> recorder::config::StartConfig {
        recorder::config::StartConfig {
            table_name: self.table_name.clone(),
            watched: self.watched(),
            stack_name: self.stack_name.clone(),
            log_group_name: self.log_group_name.clone(),
            delivery_role_arn: self.delivery_role_arn(),
            recording_time_seconds: 900,
            max_recordings,
            report_delay_seconds: 0,
            min_recording_seconds: 0,
            notify_limit_reached: false,
        }
    }

    /// The settings StopRecording would read from the template's environment.
    pub fn stop_config(&self) -> recorder::config::StopConfig {
        recorder::config::StopConfig {
            table_name: self.table_name.clone(),
            ownership: self.start_config(0).ownership(),
        }
    }

    /// Writes one flow record into the interface's stream (`<eni>-all`, made on first use),
    /// stamped `at` in whole seconds, as VPC Flow Logs stamps the start of a capture window.
    pub async fn write_flow_record(&self, at: chrono::DateTime<chrono::Utc>) {
        let line = "ACCEPT ingress - 10.0.1.25 443 10.0.0.220 51000 6 1200 IPv4 10.0.1.25 - 52.216.1.10 S3 OK";
        let whole = chrono::DateTime::from_timestamp(at.timestamp(), 0).expect("a representable time");
        self.write_flow_records(&[line.to_owned()], whole).await;
    }

    /// The flow logs on the NAT Gateway's interface now.
    pub async fn flow_logs(&self) -> Vec<aws_sdk_ec2::types::FlowLog> {
        aws_sdk_ec2::Client::new(&self.sdk)
            .describe_flow_logs()
            .filter(
                aws_sdk_ec2::types::Filter::builder().name("resource-id").values(&self.network_interface_id).build(),
            )
            .send()
            .await
            .expect("DescribeFlowLogs")
            .flow_logs()
            .to_vec()
    }

    /// This world's stack id (`AWS::StackId`): an ARN of CloudFormation's form.
    pub fn stack_id(&self) -> String {
        format!(
            "arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{}/5d2a8e10-93c1-11ef-a2f5-0affd3c1e8b3",
            self.stack_name
        )
    }

    /// The flow-log delivery role of this world's stack (`FlowLogDeliveryRole.Arn`).
    pub fn delivery_role_arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT}:role/{}-FlowLogDeliveryRole", self.stack_name)
    }

    /// The alarms and NAT Gateway this world's stack watches.
    pub fn watched(&self) -> recorder::recording::Watched {
        recorder::recording::Watched {
            alarm_name_prefix: self.alarm_prefix(),
            nat_gateways: recorder::recording::NatGateways::Listed(vec![self.nat_gateway_id.clone()]),
        }
    }

    /// The prefix of this world's alarm names, as the template builds it from the stack name.
    pub fn alarm_prefix(&self) -> String {
        format!("{}.NatGatewaySpike.", self.stack_name)
    }

    /// A real-shaped alarm event for this world's NAT Gateway (from `fixtures/`), entering
    /// `state` at `at_millis`.
    pub fn alarm_event(&self, state: &str, at_millis: i64) -> Value {
        let mut event = fixture(if state == "OK" { "ok.json" } else { "alarm.json" });
        let name = format!("{}{}", self.alarm_prefix(), self.nat_gateway_id);
        event["detail"]["alarmName"] = name.clone().into();
        event["resources"] = serde_json::json!([format!("arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}")]);
        event["detail"]["state"]["value"] = state.into();
        event["detail"]["state"]["timestamp"] = millis_to_cloudwatch(at_millis).into();
        // The alarm evaluated one datapoint, of the minute before it changed state
        let minute = at_millis - at_millis.rem_euclid(60_000) - 60_000;
        let datapoint = millis_to_cloudwatch(minute);
        let reason = serde_json::json!({"version": "1.0", "period": 60, "evaluatedDatapoints": [{"timestamp": datapoint, "value": 2.5e8}]});
        event["detail"]["state"]["reasonData"] = reason.to_string().into();
        if state == "ALARM" {
            let when = chrono::DateTime::from_timestamp_millis(minute).expect("a representable time");
            event["detail"]["state"]["reason"] = format!(
                "Threshold Crossed: 1 out of the last 1 datapoints [2.5E8 ({})] was greater than the threshold (1.0E8) \
                 (minimum 1 datapoint for OK -> ALARM transition).",
                when.format("%d/%m/%y %H:%M:%S")
            )
            .into();
        }
        for metric in event["detail"]["configuration"]["metrics"].as_array_mut().unwrap() {
            if let Some(dimensions) = metric.pointer_mut("/metricStat/metric/dimensions") {
                dimensions["NatGatewayId"] = self.nat_gateway_id.clone().into();
            }
        }
        event
    }
}

/// A NAT Gateway in a VPC of its own: its id and its network interface's.
async fn nat_gateway(sdk: &SdkConfig) -> (String, String) {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.expect("CreateVpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("a VPC id").to_owned();
    let subnet = ec2.create_subnet().vpc_id(&vpc_id).cidr_block("10.0.1.0/24").send().await.expect("CreateSubnet");
    let subnet_id = subnet.subnet().and_then(|s| s.subnet_id()).expect("a subnet id").to_owned();
    let eip = ec2.allocate_address().send().await.expect("AllocateAddress");
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(&subnet_id)
        .allocation_id(eip.allocation_id().expect("an allocation id"))
        .send()
        .await
        .expect("CreateNatGateway");
    let gateway = nat.nat_gateway().expect("a NAT Gateway");
    let nat_gateway_id = gateway.nat_gateway_id().expect("a NAT Gateway id").to_owned();
    let network_interface_id = gateway.nat_gateway_addresses()[0].network_interface_id().expect("an ENI").to_owned();
    (nat_gateway_id, network_interface_id)
}

impl World {
    /// The same world (stack, table, log group) seen from another NAT Gateway it watches, made
    /// now; deploy first, then name every gateway in `NAT_GATEWAY_IDS`.
    pub async fn another_nat_gateway(&self) -> World {
        let (nat_gateway_id, network_interface_id) = nat_gateway(&self.sdk).await;
        World { nat_gateway_id, network_interface_id, ..self.clone() }
    }
}

/// CloudWatch's timestamp form, e.g. `2024-05-14T10:15:00.123+0000`.
pub fn millis_to_cloudwatch(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .expect("a representable time")
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

pub use recorder::fixtures::fixture;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_as_cloudwatch_does() {
        assert_eq!(millis_to_cloudwatch(1_715_681_700_123), "2024-05-14T10:15:00.123+0000");
        assert_eq!(millis_to_cloudwatch(0), "1970-01-01T00:00:00.000+0000");
    }
}
