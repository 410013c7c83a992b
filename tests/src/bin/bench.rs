//! `make bench`: cold start, peak memory and size of every Lambda, beside a bare echo function
//! built with the same release profile (the floor). Each run starts a fresh process against a
//! Runtime API of its own and gives it one real invocation against the local moto stack.
//!
//! Usage: `bench RELEASE_DIR OUT.json [RUNS]`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use recorder_tests::deploy::Deployment;
use recorder_tests::{unique, World};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// One cold start, measured.
#[derive(Debug, Clone, Copy)]
struct Sample {
    to_next: Duration,
    to_response: Duration,
    peak_rss_kib: u64,
}

/// What the Runtime API saw of one process.
#[derive(Default)]
struct Seen {
    first_next: Option<Instant>,
    response: Option<(Instant, bool, Bytes)>,
    served: bool,
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Starts `binary`, hands it `event` through a Runtime API of its own, and measures.
async fn cold_start(binary: &Path, env: &BTreeMap<String, String>, event: &Value) -> Result<Sample, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let api = listener.local_addr().map_err(|e| e.to_string())?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let done_tx = Arc::new(Mutex::new(Some(done_tx)));
    let payload = Bytes::from(event.to_string());
    let server = {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (seen, done_tx, payload) = (Arc::clone(&seen), Arc::clone(&done_tx), payload.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let (seen, done_tx, payload) = (Arc::clone(&seen), Arc::clone(&done_tx), payload.clone());
                        async move {
                            let path = request.uri().path().to_owned();
                            if path.ends_with("/invocation/next") {
                                let first = {
                                    let mut seen = seen.lock().unwrap();
                                    seen.first_next.get_or_insert_with(Instant::now);
                                    !std::mem::replace(&mut seen.served, true)
                                };
                                if !first {
                                    // The runtime asks for a second event: the run is over.
                                    std::future::pending::<()>().await;
                                }
                                let deadline = std::time::SystemTime::now()
                                    .duration_since(std::time::UNIX_EPOCH)
                                    .unwrap()
                                    .as_millis()
                                    + 300_000;
                                let response = Response::builder()
                                    .header("Lambda-Runtime-Aws-Request-Id", "bench-1")
                                    .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
                                    .header(
                                        "Lambda-Runtime-Invoked-Function-Arn",
                                        "arn:aws:lambda:us-east-1:123456789012:function:bench",
                                    )
                                    .body(Full::new(payload))
                                    .unwrap();
                                return Ok::<_, Infallible>(response);
                            }
                            let failed = path.ends_with("/error");
                            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            seen.lock().unwrap().response = Some((Instant::now(), failed, body));
                            if let Some(tx) = done_tx.lock().unwrap().take() {
                                let _ = tx.send(());
                            }
                            Ok(Response::builder().status(202).body(Full::new(Bytes::new())).unwrap())
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    };
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        // The role's credentials, as Lambda (and the local gateway) gives every function.
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let pid = child.id().unwrap_or_default();
    let outcome = tokio::time::timeout(Duration::from_secs(120), done_rx).await;
    let peak_rss_kib = peak_rss_kib(pid);
    let _ = child.kill().await;
    server.abort();
    outcome.map_err(|_| format!("{} gave no response within 120 s", binary.display()))?.map_err(|e| e.to_string())?;
    let seen = seen.lock().unwrap();
    let (responded, failed, body) = seen.response.clone().expect("a response");
    if failed {
        return Err(format!("{} answered with an error: {}", binary.display(), String::from_utf8_lossy(&body)));
    }
    Ok(Sample {
        to_next: seen.first_next.expect("a next request") - started,
        to_response: responded - started,
        peak_rss_kib,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn zipped_size(binary: &Path) -> u64 {
    let zip = std::env::temp_dir().join(format!("{}.zip", unique("bench")));
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[2], 'bootstrap')",
        ])
        .arg(&zip)
        .arg(binary)
        .status()
        .expect("python3 zips the binary");
    assert!(status.success(), "zipping {} failed", binary.display());
    let size = std::fs::metadata(&zip).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(zip);
    size
}

/// The functions in the order one recording calls them, with the event each gets.
fn chain(d: &Deployment, execution: &str) -> Vec<(&'static str, &'static str, Value)> {
    let world = &d.world;
    let alarm = world.alarm_event("ALARM", 1_715_681_700_123);
    vec![
        ("alarm-start", "AlarmStartFunction", json!({"event": alarm, "executionArn": execution})),
        (
            "token-register",
            "TokenRegisterFunction",
            json!({"taskToken": "bench-token", "natGatewayId": world.nat_gateway_id, "executionArn": execution}),
        ),
        ("alarm-ok-resolver", "AlarmOkResolverFunction", world.alarm_event("OK", 1_715_681_760_000)),
    ]
}

async fn run(release: &Path, runs: usize) -> BTreeMap<String, Vec<Sample>> {
    let mut samples: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for run in 0..runs {
        let world = World::new().await;
        let d = world.deploy(&[]).await;
        let execution = format!("arn:aws:states:us-east-1:123456789012:execution:bench:{}", unique("run"));
        let env = |id: &str| {
            let mut env = d.environments[id].clone();
            env.remove("RUST_LOG");
            env
        };
        for (name, id, event) in chain(&d, &execution) {
            let sample = cold_start(&release.join(name), &env(id), &event).await.unwrap_or_else(|e| panic!("{e}"));
            samples.entry(name.to_owned()).or_default().push(sample);
        }
        // StopRecording and Notify get the state the workflow would give them: StartRecording's
        // output, read back idempotently (this execution still owns the slot)
        let recording = recorder::steps::start_recording(
            &world.start_config(0),
            &recorder::store::SlotTable::from_sdk_config(&world.sdk, &world.table_name),
            &recorder::flowlogs::FlowLogs::from_sdk_config(&world.sdk),
            recorder::steps::StartInput {
                event: world.alarm_event("ALARM", 1_715_681_700_123),
                execution_arn: execution.clone(),
            },
            recorder::now(),
        )
        .await
        .expect("the recording is still owned by this run's execution");
        let mut state = world.alarm_event("ALARM", 1_715_681_700_123);
        state["start"] = serde_json::to_value(&recording).unwrap();
        state["wait"] = json!({"ending": "alarm-ok"});
        let stop_input = json!({"state": state, "executionArn": execution});
        let sample = cold_start(&release.join("flowlog-stop"), &env("FlowlogStopFunction"), &stop_input)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        samples.entry("flowlog-stop".into()).or_default().push(sample);
        state["stop"] = json!({
            "natGatewayId": world.nat_gateway_id, "ending": "alarm-ok", "deletedFlowLogIds": [],
            "stoppedAt": recorder::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "released": true
        });
        let sample = cold_start(&release.join("notifier"), &env("NotifierFunction"), &json!({"state": state}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        samples.entry("notifier".into()).or_default().push(sample);
        let sample = cold_start(&release.join("flowlog-sweeper"), &env("FlowlogSweeperFunction"), &json!({}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        samples.entry("flowlog-sweeper".into()).or_default().push(sample);

        let macro_env = BTreeMap::from([("AWS_ENDPOINT_URL".to_owned(), d.local.endpoint.clone())]);
        let request = json!({
            "requestId": "bench", "region": "us-east-1", "accountId": "123456789012", "transformId": "x", "params": {},
            "fragment": recorder_tests::template::to_cfn_json(&recorder_tests::template::Template::load().root),
            "templateParameterValues": {"NatGatewayIDs": [world.nat_gateway_id], "SamplingPeriod": "60"}
        });
        let sample =
            cold_start(&release.join("nat-alarms-macro"), &macro_env, &request).await.unwrap_or_else(|e| panic!("{e}"));
        samples.entry("nat-alarms-macro".into()).or_default().push(sample);
        let sample = cold_start(&release.join("echo-floor"), &BTreeMap::new(), &json!({"hello": "world"}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        samples.entry("echo-floor".into()).or_default().push(sample);
        eprintln!("run {}/{runs} done", run + 1);
    }
    samples
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench RELEASE_DIR OUT.json [RUNS]");
        std::process::exit(2);
    }
    let release = PathBuf::from(&args[1]);
    let out = PathBuf::from(&args[2]);
    let runs: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(10);
    let samples = run(&release, runs).await;

    let floor = &samples["echo-floor"];
    let floor_next = median(floor.iter().map(|s| s.to_next.as_secs_f64() * 1000.0).collect());
    let floor_resp = median(floor.iter().map(|s| s.to_response.as_secs_f64() * 1000.0).collect());
    let floor_rss = median(floor.iter().map(|s| s.peak_rss_kib as f64).collect());
    println!(
        "{:<18} {:>10} {:>6} {:>12} {:>6} {:>9} {:>6} {:>9} {:>8}",
        "function", "to next ms", "x", "to reply ms", "x", "peak MiB", "x", "bin MiB", "zip MiB"
    );
    let mut rows = Vec::new();
    for (name, list) in &samples {
        let next = median(list.iter().map(|s| s.to_next.as_secs_f64() * 1000.0).collect());
        let resp = median(list.iter().map(|s| s.to_response.as_secs_f64() * 1000.0).collect());
        let rss = median(list.iter().map(|s| s.peak_rss_kib as f64).collect());
        let binary = release.join(name);
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        let zip = zipped_size(&binary);
        println!(
            "{name:<18} {next:>10.2} {:>6.2} {resp:>12.2} {:>6.2} {:>9.1} {:>6.2} {:>9.2} {:>8.2}",
            next / floor_next,
            resp / floor_resp,
            rss / 1024.0,
            rss / floor_rss,
            size as f64 / 1_048_576.0,
            zip as f64 / 1_048_576.0
        );
        rows.push(json!({
            "function": name, "runs": list.len(),
            "median_start_to_next_ms": next, "next_vs_floor": next / floor_next,
            "median_start_to_response_ms": resp, "response_vs_floor": resp / floor_resp,
            "median_peak_rss_kib": rss, "rss_vs_floor": rss / floor_rss,
            "binary_bytes": size, "zip_bytes": zip
        }));
    }
    let text = serde_json::to_string_pretty(&json!({"runs": runs, "results": rows})).unwrap() + "\n";
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    println!("\nmedians of {runs} runs; x = ratio to echo-floor; written to {}", out.display());
}
