//! Test support: a moto server on 127.0.0.1, SDK clients pointed at it, and a small world (a
//! VPC with a NAT Gateway, a log group, the slot table) built fresh for each test.
//!
//! Set `MOTO_ENDPOINT` to share one running server (the Makefile does); otherwise each test
//! binary starts its own from the project's virtualenv and it dies with the test process.

pub mod template;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use serde_json::Value;

pub const REGION: &str = "us-east-1";
pub const STACK: &str = "nat-recorder";
pub const ALARM_PREFIX: &str = "nat-recorder.NatGatewaySpike.";

/// Where the moto server listens.
#[derive(Debug, Clone)]
pub struct Moto {
    pub endpoint: String,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port on 127.0.0.1")
}

/// Sends one HTTP/1.1 request and returns the status code and body.
pub fn http(endpoint: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

fn start_moto() -> Moto {
    let server =
        std::env::var_os("MOTO_SERVER").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv/bin/moto_server"));
    assert!(
        server.exists(),
        "{} not found: run `make setup` (a virtualenv with moto[server]==5.2.5), or set MOTO_ENDPOINT",
        server.display()
    );
    let port = free_port();
    let (started, outcome) = mpsc::channel();
    // PR_SET_PDEATHSIG fires when the *thread* that spawned the child exits, so the spawning
    // thread lives as long as the test process.
    std::thread::spawn(move || {
        let mut command = Command::new(&server);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // moto's Step Functions interpreter calls services at localhost:$MOTO_PORT.
            .env("MOTO_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let _ = started.send(command.spawn().map(|_| ()));
        loop {
            std::thread::park();
        }
    });
    outcome.recv().expect("the moto launcher thread").expect("moto_server starts");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(&endpoint, "GET", "/moto-api/", "").is_err() {
        assert!(Instant::now() < deadline, "moto_server did not answer on {endpoint} within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    Moto { endpoint }
}

/// The moto server for this test process: `MOTO_ENDPOINT`, or one started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let moto = match std::env::var("MOTO_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => Moto { endpoint },
            _ => start_moto(),
        };
        let (status, body) =
            http(&moto.endpoint, "POST", "/moto-api/config", r#"{"stepfunctions":{"execute_state_machine":true}}"#)
                .expect("moto accepts its configuration");
        assert_eq!(status, 201, "moto refused the Step Functions configuration: {body}");
        moto
    })
}

/// SDK configuration for the moto server: fixed region and dummy credentials.
pub async fn sdk() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&moto().endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
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
    pub nat_gateway_id: String,
    pub network_interface_id: String,
    pub log_group_name: String,
    pub table_name: String,
}

impl World {
    pub async fn new() -> Self {
        let sdk = sdk().await;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
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
        let network_interface_id =
            gateway.nat_gateway_addresses()[0].network_interface_id().expect("an ENI").to_owned();

        let log_group_name = format!("/vpc-flowlogs-recorder/{}", unique("flowlogs"));
        aws_sdk_cloudwatchlogs::Client::new(&sdk)
            .create_log_group()
            .log_group_name(&log_group_name)
            .send()
            .await
            .expect("CreateLogGroup");

        let table_name = unique("slots");
        aws_sdk_dynamodb::Client::new(&sdk)
            .create_table()
            .table_name(&table_name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("CreateTable");
        Self { sdk, nat_gateway_id, network_interface_id, log_group_name, table_name }
    }

    /// The settings StartRecording would read from the template's environment.
    pub fn start_config(&self, max_recordings: u32) -> recorder::config::StartConfig {
        recorder::config::StartConfig {
            table_name: self.table_name.clone(),
            alarm_name_prefix: ALARM_PREFIX.into(),
            stack_name: STACK.into(),
            log_group_name: self.log_group_name.clone(),
            delivery_role_arn: "arn:aws:iam::123456789012:role/nat-recorder-FlowLogDelivery".into(),
            recording_time_seconds: 900,
            max_recordings,
        }
    }

    /// A real-shaped alarm event for this world's NAT Gateway (from `fixtures/`), entering
    /// `state` at `at_millis`.
    pub fn alarm_event(&self, state: &str, at_millis: i64) -> Value {
        let mut event = fixture(if state == "OK" { "ok.json" } else { "alarm.json" });
        let name = format!("{ALARM_PREFIX}{}", self.nat_gateway_id);
        event["detail"]["alarmName"] = name.clone().into();
        event["resources"] = serde_json::json!([format!("arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}")]);
        event["detail"]["state"]["value"] = state.into();
        event["detail"]["state"]["timestamp"] = millis_to_cloudwatch(at_millis).into();
        for metric in event["detail"]["configuration"]["metrics"].as_array_mut().unwrap() {
            if let Some(dimensions) = metric.pointer_mut("/metricStat/metric/dimensions") {
                dimensions["NatGatewayId"] = self.nat_gateway_id.clone().into();
            }
        }
        event
    }
}

/// CloudWatch's timestamp form, e.g. `2024-05-14T10:15:00.123+0000`.
pub fn millis_to_cloudwatch(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .expect("a representable time")
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

/// A JSON fixture from the repository's `fixtures/` folder.
pub fn fixture(name: &str) -> Value {
    let path = repo_root().join("fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_as_cloudwatch_does() {
        assert_eq!(millis_to_cloudwatch(1_715_681_700_123), "2024-05-14T10:15:00.123+0000");
        assert_eq!(millis_to_cloudwatch(0), "1970-01-01T00:00:00.000+0000");
    }
}
