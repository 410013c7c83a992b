//! Deploys the main stack into the local stack, from `template.yaml`: the five functions with
//! their template environments (run by the gateway from the built binaries), the state machine
//! from the real ASL and its DefinitionSubstitutions, and the report topic with an inbox queue.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use local_lambda::FunctionSpec;
use recorder::notify::Email;
use recorder::protocol::Slot;
use recorder::store::SlotTable;
use serde_json::Value;

use crate::template::{read_repo_file, Resolver, Template};
use crate::{http, moto_stack, unique, MotoStack, World, ACCOUNT, REGION};

/// Where cargo put the binaries of this build (`target/debug`, beside `deps/`).
pub fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("deps/");
    if deps.ends_with("deps") {
        deps.parent().expect("target/debug").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The main stack, deployed into the local stack for one world.
pub struct Deployment {
    pub world: World,
    pub local: &'static MotoStack,
    pub state_machine_arn: String,
    pub topic_arn: String,
    pub inbox_url: String,
    /// Logical id to the function's registered name.
    pub functions: BTreeMap<String, String>,
    /// Logical id to the environment the function runs with (template values, resolved).
    pub environments: BTreeMap<String, BTreeMap<String, String>>,
    /// Logical id to the function as the gateway runs it.
    pub specs: BTreeMap<String, FunctionSpec>,
    pub log_dir: PathBuf,
    pub sfn: aws_sdk_sfn::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Deployment {
    /// Whether the stack watches every NAT Gateway of the Region (and the sweeper keeps the alarms).
    pub fn watches_all(&self) -> bool {
        self.environments["FlowlogSweeperFunction"]["NAT_GATEWAY_IDS"] == "all"
    }
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: ExecutionStatus,
    pub output: Value,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl World {
    /// A topic named after `name`, with a queue subscribed to it that reads as an inbox: the
    /// topic's ARN and the queue's URL.
    pub async fn topic_with_inbox(&self, name: &str) -> (String, String) {
        let sns = aws_sdk_sns::Client::new(&self.sdk);
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let topic_arn = sns.create_topic().name(unique(name)).send().await.unwrap().topic_arn().unwrap().to_owned();
        let inbox_url =
            sqs.create_queue().queue_name(unique("inbox")).send().await.unwrap().queue_url().unwrap().to_owned();
        let inbox_arn = queue_arn(&sqs, &inbox_url).await;
        sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(inbox_arn).send().await.unwrap();
        (topic_arn, inbox_url)
    }

    /// Deploys the stack for this world; `parameters` override the template's defaults.
    pub async fn deploy(&self, parameters: &[(&str, &str)]) -> Deployment {
        let local = moto_stack();
        let template = Template::deployed();
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let (topic_arn, inbox_url) = self.topic_with_inbox("reports").await;

        let prefix = unique("fn");
        let functions: BTreeMap<String, String> =
            template.functions().iter().map(|(id, binary)| (id.clone(), format!("{prefix}-{binary}"))).collect();
        let mut resources: BTreeMap<String, String> = [
            ("RecordingsTable", self.table_name.clone()),
            ("FlowLogGroup", self.log_group_name.clone()),
            ("FlowLogDeliveryRole.Arn", self.delivery_role_arn()),
            ("ReportTopic", topic_arn.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (id, name) in &functions {
            resources.insert(format!("{id}.Arn"), format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"));
        }
        // Named before it exists: the sweep's environment names it.
        let state_machine_name = format!("{}-recorder", self.stack_name);
        let state_machine_arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{state_machine_name}");
        resources.insert("RecorderStateMachine".into(), state_machine_arn.clone());
        // The report waits for delivery and a recording lasts a minimum (minutes by default): tests
        // that want either ask for it.
        resources.insert("ReportDelaySeconds".into(), "0".into());
        resources.insert("MinRecordingSeconds".into(), "0".into());
        for (name, value) in parameters {
            assert!(!template.root["Parameters"][*name].is_null(), "the template has no parameter {name} to override");
            resources.insert(name.to_string(), value.to_string());
        }
        let resolver = Resolver { stack_name: &self.stack_name, region: REGION, account: ACCOUNT, resources };

        let log_dir = std::env::temp_dir().join("vpc-flowlogs-recorder-local").join(&prefix);
        std::fs::create_dir_all(&log_dir).expect("a folder for the functions' logs");
        let globals = &template.root["Globals"]["Function"];
        let mut environments = BTreeMap::new();
        let mut specs = BTreeMap::new();
        for (id, binary) in template.functions() {
            let (id, binary) = (id.as_str(), binary.as_str());
            let path = binary_dir().join(binary);
            assert!(
                path.exists(),
                "{} is not built: run `cargo build --workspace --bins` (make test does)",
                path.display()
            );
            let mut env = template.function_env(id, &resolver);
            env.insert("AWS_ENDPOINT_URL".into(), local.endpoint.clone());
            // What the alarms macro writes at deploy time: the NAT Gateways this stack watches
            // (this world's, unless the test names others), or all. A template without the
            // macro (org/recorder.yaml) says all itself.
            if env.contains_key("NAT_GATEWAY_IDS") && !template.root["Parameters"]["NatGatewayIDs"].is_null() {
                let listed = parameters.iter().find(|(name, _)| *name == "NatGatewayIDs").map(|(_, ids)| *ids);
                let watched = match listed {
                    Some(ids) if ids.trim().eq_ignore_ascii_case("all") => "all".to_owned(),
                    Some(ids) => ids.to_owned(),
                    None => self.nat_gateway_id.clone(),
                };
                env.insert("NAT_GATEWAY_IDS".into(), watched);
            }
            // Tests sweep seconds after the fact; the minimum age has a test of its own.
            if env.contains_key("SWEEP_MIN_AGE_SECONDS") {
                env.insert("SWEEP_MIN_AGE_SECONDS".into(), "0".into());
            }
            env.insert("RUST_LOG".into(), "info".into());
            let name = functions[id].clone();
            environments.insert(id.to_owned(), env.clone());
            let spec = FunctionSpec {
                log_file: Some(log_dir.join(format!("{binary}.log"))),
                name,
                region: REGION.into(),
                binary: path,
                env,
                timeout: Duration::from_secs(
                    template.resource(id)["Properties"]["Timeout"]
                        .as_u64()
                        .or(globals["Timeout"].as_u64())
                        .expect("a Timeout"),
                ),
                memory_mb: globals["MemorySize"].as_u64().expect("Globals MemorySize") as u32,
                credentials: Some(local.credentials_of(binary)),
            };
            local.gateway.register(spec.clone());
            specs.insert(id.to_owned(), spec);
        }

        let mut definition = read_repo_file("statemachine/recorder.asl.json");
        let substitutions = &template.resource("RecorderStateMachine")["Properties"]["DefinitionSubstitutions"];
        for (key, value) in substitutions.as_mapping().expect("DefinitionSubstitutions") {
            let key = key.as_str().unwrap();
            definition = definition.replace(&format!("${{{key}}}"), &template.resolve(value, &resolver));
        }
        let sfn = aws_sdk_sfn::Client::new(&self.sdk);
        let created = sfn
            .create_state_machine()
            .name(&state_machine_name)
            .definition(definition)
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{}-StateMachineRole", self.stack_name))
            .send()
            .await
            .expect("CreateStateMachine")
            .state_machine_arn()
            .to_owned();
        assert_eq!(created, state_machine_arn, "moto names state machines as AWS does");
        // What CloudFormation says of the uninstall cleanup once the stack is created.
        local.gateway.set_resource_status(&self.stack_id(), "UninstallCleanup", "CREATE_COMPLETE");
        Deployment {
            world: self.clone(),
            local,
            state_machine_arn,
            topic_arn,
            inbox_url,
            functions,
            environments,
            specs,
            log_dir,
            sfn,
            sqs,
        }
    }
}

impl Deployment {
    /// Plays CloudFormation deleting the stack: from now on it says the uninstall cleanup's
    /// resource is being deleted.
    pub fn cloudformation_deletes_the_stack(&self) {
        self.local.gateway.set_resource_status(&self.world.stack_id(), "UninstallCleanup", "DELETE_IN_PROGRESS");
    }

    /// A custom-resource request for the uninstall cleanup as CloudFormation sends it (CloudFormation
    /// User Guide, "Custom resource request objects"), answered at `response_url`.
    pub fn cleanup_request(&self, request_type: &str, response_url: &str) -> Value {
        serde_json::json!({
            "RequestType": request_type, "ServiceToken": self.specs["FlowlogSweeperFunction"].arn(),
            "ResponseURL": response_url, "StackId": self.world.stack_id(), "RequestId": format!("{request_type}-1"),
            "ResourceType": "AWS::CloudFormation::CustomResource", "LogicalResourceId": "UninstallCleanup",
            "PhysicalResourceId": format!("{}-uninstall-cleanup", self.world.stack_name),
            // Longer than the local stack's consistency lag, as 35 s is longer than AWS's
            "ResourceProperties": {"ServiceToken": "sweeper", "SettleSeconds": "3"}
        })
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("a queue ARN")
        .clone()
}

/// Polls `check` every 100 ms until it holds, or fails naming `what` after `limit`.
pub async fn eventually<F>(what: &str, limit: Duration, mut check: F)
where
    F: AsyncFnMut() -> bool,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Deployment {
    pub fn function(&self, logical_id: &str) -> &str {
        &self.functions[logical_id]
    }

    /// Runs the function from now on with one variable of its environment changed.
    pub fn set_env(&self, logical_id: &str, name: &str, value: &str) {
        let mut spec = self.specs[logical_id].clone();
        spec.env.insert(name.to_owned(), value.to_owned());
        self.local.gateway.register(spec);
    }

    /// Starts an execution with the event as input, as the ALARM rule would (moto cannot
    /// deliver to a state machine target). Executions are always named: moto's unnamed ones
    /// collide.
    pub async fn start(&self, event: &Value) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(unique("alarm"))
            .input(event.to_string())
            .send()
            .await
            .expect("StartExecution")
            .execution_arn()
            .to_owned()
    }

    /// Invokes a function with an event, as an EventBridge rule target would.
    pub fn deliver(&self, logical_id: &str, event: &Value) -> Value {
        let path = format!("/2015-03-31/functions/{}/invocations", self.function(logical_id));
        let (status, body) =
            http(&self.local.endpoint, "POST", &path, &event.to_string()).expect("the gateway answers");
        assert_eq!(status, 200, "invoking {logical_id}: {body}");
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    }

    pub async fn status(&self, execution_arn: &str) -> Finished {
        let out = self.sfn.describe_execution().execution_arn(execution_arn).send().await.expect("DescribeExecution");
        Finished {
            status: out.status().clone(),
            output: out.output().and_then(|o| serde_json::from_str(o).ok()).unwrap_or(Value::Null),
            error: out.error().map(str::to_owned),
            cause: out.cause().map(str::to_owned),
        }
    }

    /// Waits for the execution to end.
    pub async fn finished(&self, execution_arn: &str, limit: Duration) -> Finished {
        let mut last = None;
        let logs = self.log_dir.display().to_string();
        eventually(&format!("{execution_arn} ends (function logs in {logs})"), limit, async || {
            let status = self.status(execution_arn).await;
            let done = status.status != ExecutionStatus::Running;
            last = Some(status);
            done
        })
        .await;
        last.expect("a status")
    }

    /// The execution's history so far (its first 1000 events: more than any test makes).
    async fn history(&self, execution_arn: &str) -> Vec<aws_sdk_sfn::types::HistoryEvent> {
        let history = self
            .sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .max_results(1000)
            .send()
            .await
            .expect("GetExecutionHistory");
        history.events().to_vec()
    }

    /// The names of the states the execution entered, in order.
    pub async fn states_entered(&self, execution_arn: &str) -> Vec<String> {
        self.history(execution_arn)
            .await
            .iter()
            .filter(|e| {
                matches!(
                    e.r#type(),
                    HistoryEventType::TaskStateEntered
                        | HistoryEventType::ChoiceStateEntered
                        | HistoryEventType::WaitStateEntered
                        | HistoryEventType::SucceedStateEntered
                        | HistoryEventType::FailStateEntered
                )
            })
            .filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_owned()))
            .collect()
    }

    /// The errors the execution's tasks failed with so far, retried or not, in order.
    pub async fn history_errors(&self, execution_arn: &str) -> Vec<String> {
        self.history(execution_arn)
            .await
            .iter()
            .filter_map(|e| {
                let task = e.task_failed_event_details().and_then(|d| d.error());
                task.or_else(|| e.lambda_function_failed_event_details().and_then(|d| d.error())).map(str::to_owned)
            })
            .collect()
    }

    /// What the execution's tasks answered, in order (retried tasks' successful answers too).
    pub async fn task_outputs(&self, execution_arn: &str) -> Vec<Value> {
        self.history(execution_arn)
            .await
            .iter()
            .filter_map(|e| {
                let task = e.task_succeeded_event_details().and_then(|d| d.output());
                task.or_else(|| e.lambda_function_succeeded_event_details().and_then(|d| d.output()))
            })
            .filter_map(|output| serde_json::from_str(output).ok())
            .collect()
    }

    /// Every execution of the stack's state machine: those the tests started and the successors
    /// hand-overs started.
    pub async fn executions(&self) -> Vec<String> {
        let listed: Vec<aws_sdk_sfn::types::ExecutionListItem> = self
            .sfn
            .list_executions()
            .state_machine_arn(&self.state_machine_arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .expect("ListExecutions");
        listed.iter().map(|e| e.execution_arn().to_owned()).collect()
    }

    pub async fn slot(&self) -> Option<Slot> {
        SlotTable::from_sdk_config(&self.world.sdk, &self.world.table_name)
            .slot(&self.world.nat_gateway_id)
            .await
            .expect("the slot")
    }

    /// Waits until `execution_arn` owns the slot and its task token is stored.
    pub async fn waiting(&self, execution_arn: &str) {
        let logs = self.log_dir.display().to_string();
        eventually(
            &format!("{execution_arn} waits for the OK (function logs in {logs})"),
            Duration::from_secs(30),
            async || {
                self.slot()
                    .await
                    .and_then(|s| s.owner)
                    .is_some_and(|o| o.execution == execution_arn && o.task_token.is_some())
            },
        )
        .await;
    }

    /// The flow logs on the NAT Gateway's interface now.
    pub async fn flow_logs(&self) -> Vec<aws_sdk_ec2::types::FlowLog> {
        self.world.flow_logs().await
    }

    /// Every email the subscriber has received since the last call.
    pub async fn emails(&self) -> Vec<Email> {
        self.emails_with_ids().await.into_iter().map(|(_, email)| email).collect()
    }

    /// The same, each with the message id SNS gave it (what Notify's output names).
    pub async fn emails_with_ids(&self) -> Vec<(String, Email)> {
        self.emails_in(&self.inbox_url).await
    }

    /// The emails a queue subscribed to a topic (not necessarily the stack's) holds, taken out.
    pub async fn emails_in(&self, inbox_url: &str) -> Vec<(String, Email)> {
        let mut emails = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(inbox_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("ReceiveMessage");
            if out.messages().is_empty() {
                return emails;
            }
            for message in out.messages() {
                let envelope: Value = serde_json::from_str(message.body().unwrap_or("{}")).expect("an SNS envelope");
                let id = envelope["MessageId"].as_str().expect("an SNS envelope names its message").to_owned();
                let subject = envelope["Subject"].as_str().unwrap_or_default().to_owned();
                let body = envelope["Message"].as_str().unwrap_or_default().to_owned();
                emails.push((id, Email { subject, body }));
                if let Some(handle) = message.receipt_handle() {
                    self.sqs.delete_message().queue_url(inbox_url).receipt_handle(handle).send().await.unwrap();
                }
            }
        }
    }
}

/// A stand-in for the pre-signed S3 URL CloudFormation hands a custom resource: it answers
/// every PUT 200 and passes on its request line and body.
pub fn response_catcher() -> (String, std::sync::mpsc::Receiver<(String, Value)>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the response URL");
    let url = format!("http://{}/cfn-response/stack?X-Amz-Signature=local", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
            let _ = tx.send((line.trim().to_owned(), serde_json::from_slice(&body).unwrap_or(Value::Null)));
        }
    });
    (url, rx)
}
