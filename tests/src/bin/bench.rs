//! `make bench`: cold start, peak memory and size of every Lambda, beside a bare echo function
//! built with the same release profile (the floor). Each run starts a fresh process against a
//! Runtime API of its own and gives it one real invocation against the local moto stack.
//!
//! Every function's cold start is paired with one of the floor's, side by side (the floor first
//! in even runs, second in odd ones), and a ratio is the median of the pairs' ratios. What a start
//! costs depends on what the machine was doing a moment before (right after a deployment the floor
//! itself starts ~15% slower than after an idle moment), so a floor measured once per run, in the
//! quietest slot, would flatter it; a pair shares its conditions.
//!
//! Usage: `bench RELEASE_DIR OUT.json [RUNS]` (RUNS: 20 unless given).

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

/// A function's cold start and the floor's beside it.
#[derive(Debug, Clone, Copy)]
struct Pair {
    function: Sample,
    floor: Sample,
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
        // What Lambda (and the local gateway) sets for every function.
        .envs(local_lambda::lambda_environment("bench", "us-east-1", 128, api, "bench"))
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

/// Every function's pairs so far, by name.
type Pairs = BTreeMap<String, Vec<Pair>>;

/// Starts `name` and the floor side by side (the floor first in even runs, second in odd ones),
/// and adds the pair to `name`'s.
async fn paired(
    pairs: &mut Pairs,
    release: &Path,
    run: usize,
    name: &str,
    env: &BTreeMap<String, String>,
    event: &Value,
) {
    let (floor_binary, floor_env, floor_event) =
        (release.join("echo-floor"), BTreeMap::new(), json!({"hello": "world"}));
    let binary = release.join(name);
    let floor = || cold_start(&floor_binary, &floor_env, &floor_event);
    let function = || cold_start(&binary, env, event);
    let (function, floor) = if run.is_multiple_of(2) {
        let floor = floor().await;
        (function().await, floor)
    } else {
        let function = function().await;
        (function, floor().await)
    };
    let measured = |sample: Result<Sample, String>| sample.unwrap_or_else(|e| panic!("{e}"));
    pairs.entry(name.to_owned()).or_default().push(Pair { function: measured(function), floor: measured(floor) });
}

async fn run(release: &Path, runs: usize) -> Pairs {
    let mut pairs = Pairs::new();
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
            paired(&mut pairs, release, run, name, &env(id), &event).await;
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
        paired(&mut pairs, release, run, "flowlog-stop", &env("FlowlogStopFunction"), &stop_input).await;
        state["stop"] = json!({
            "natGatewayId": world.nat_gateway_id, "ending": "alarm-ok", "deletedFlowLogIds": [],
            "stoppedAt": recorder::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "released": true
        });
        paired(&mut pairs, release, run, "notifier", &env("NotifierFunction"), &json!({"state": state})).await;
        paired(&mut pairs, release, run, "flowlog-sweeper", &env("FlowlogSweeperFunction"), &json!({})).await;

        let macro_env = BTreeMap::from([("AWS_ENDPOINT_URL".to_owned(), d.local.endpoint.clone())]);
        let request = json!({
            "requestId": "bench", "region": "us-east-1", "accountId": "123456789012", "transformId": "x", "params": {},
            "fragment": recorder_tests::template::to_cfn_json(&recorder_tests::template::Template::load().root),
            "templateParameterValues": {"NatGatewayIDs": [world.nat_gateway_id], "SamplingPeriod": "60"}
        });
        paired(&mut pairs, release, run, "nat-alarms-macro", &macro_env, &request).await;
        eprintln!("run {}/{runs} done", run + 1);
    }
    pairs
}

/// What the functions must stay within, beside the floor: the targets of the shipping issue.
const TARGETS: [Target; 3] = [
    Target { what: "cold start to next", limit: 1.5, unit: "x", of: |m| m.row.next_x },
    Target { what: "peak memory", limit: 2.0, unit: "x", of: |m| m.row.rss_x },
    Target { what: "zip", limit: 5.0, unit: " MB", of: |m| m.zip_bytes as f64 / 1e6 },
];

struct Target {
    what: &'static str,
    limit: f64,
    unit: &'static str,
    of: fn(&Measured) -> f64,
}

impl Target {
    /// One line: met or not, and the function closest to (or furthest past) the limit.
    fn verdict(&self, functions: &[Measured]) -> (bool, String) {
        let worst = functions.iter().max_by(|a, b| (self.of)(a).total_cmp(&(self.of)(b))).expect("functions");
        let value = (self.of)(worst);
        let met = value <= self.limit;
        let over = functions.iter().filter(|m| (self.of)(m) > self.limit).count();
        let verdict = if met { "met".to_owned() } else { format!("MISSED by {over} of {}", functions.len()) };
        let line = format!(
            "{} within {}{}: {verdict} (highest {value:.2}{}, {})",
            self.what, self.limit, self.unit, self.unit, worst.name
        );
        (met, line)
    }
}

/// A function's row and sizes.
struct Measured {
    name: String,
    row: Row,
    zip_bytes: u64,
}

/// Medians of a function's samples, and the medians of its ratios to the floor beside it.
struct Row {
    next_ms: f64,
    response_ms: f64,
    rss_kib: f64,
    next_x: f64,
    response_x: f64,
    rss_x: f64,
}

impl Row {
    fn of(pairs: &[Pair]) -> Self {
        let next = |s: &Sample| s.to_next.as_secs_f64() * 1000.0;
        let response = |s: &Sample| s.to_response.as_secs_f64() * 1000.0;
        let rss = |s: &Sample| s.peak_rss_kib as f64;
        let value = |f: &dyn Fn(&Sample) -> f64| median(pairs.iter().map(|p| f(&p.function)).collect());
        let ratio = |f: &dyn Fn(&Sample) -> f64| median(pairs.iter().map(|p| f(&p.function) / f(&p.floor)).collect());
        Row {
            next_ms: value(&next),
            response_ms: value(&response),
            rss_kib: value(&rss),
            next_x: ratio(&next),
            response_x: ratio(&response),
            rss_x: ratio(&rss),
        }
    }
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
    let runs: usize = match args.get(3).map(|r| (r, r.parse::<usize>())) {
        None => 20,
        Some((_, Ok(runs))) if runs > 0 => runs,
        Some((text, _)) => {
            eprintln!("bench: RUNS {text:?} is not a whole number of runs above zero");
            std::process::exit(2);
        }
    };
    let mut pairs = run(&release, runs).await;
    // The floor's own row: every floor start of the run, each its own pair.
    let floor: Vec<Pair> = pairs.values().flatten().map(|p| Pair { function: p.floor, floor: p.floor }).collect();
    pairs.insert("echo-floor".into(), floor);

    println!(
        "{:<18} {:>10} {:>6} {:>12} {:>6} {:>9} {:>6} {:>9} {:>8}",
        "function", "to next ms", "x", "to reply ms", "x", "peak MiB", "x", "bin MiB", "zip MiB"
    );
    let mut rows = Vec::new();
    let mut functions = Vec::new();
    for (name, list) in &pairs {
        let row = Row::of(list);
        let binary = release.join(name);
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        let zip = zipped_size(&binary);
        println!(
            "{name:<18} {:>10.2} {:>6.2} {:>12.2} {:>6.2} {:>9.1} {:>6.2} {:>9.2} {:>8.2}",
            row.next_ms,
            row.next_x,
            row.response_ms,
            row.response_x,
            row.rss_kib / 1024.0,
            row.rss_x,
            size as f64 / 1_048_576.0,
            zip as f64 / 1_048_576.0
        );
        rows.push(json!({
            "function": name, "runs": list.len(),
            "median_start_to_next_ms": row.next_ms, "next_vs_floor": row.next_x,
            "median_start_to_response_ms": row.response_ms, "response_vs_floor": row.response_x,
            "median_peak_rss_kib": row.rss_kib, "rss_vs_floor": row.rss_x,
            "binary_bytes": size, "zip_bytes": zip
        }));
        if name != "echo-floor" {
            functions.push(Measured { name: name.clone(), row, zip_bytes: zip });
        }
    }
    let verdicts: Vec<(bool, String)> = TARGETS.iter().map(|t| t.verdict(&functions)).collect();
    let targets: Vec<Value> = verdicts.iter().map(|(met, line)| json!({"met": met, "verdict": line})).collect();
    let text =
        serde_json::to_string_pretty(&json!({"runs": runs, "results": rows, "targets": targets})).unwrap() + "\n";
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    println!(
        "\nmedians of {runs} runs; x = median ratio to the echo-floor start beside each (the floor row: all {} of its starts); written to {}",
        pairs["echo-floor"].len(),
        out.display()
    );
    for (_, line) in &verdicts {
        println!("target: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(name: &str, next_x: f64, rss_x: f64, zip_bytes: u64) -> Measured {
        let row = Row { next_ms: 1.0, response_ms: 5.0, rss_kib: 5000.0, next_x, response_x: 5.0, rss_x };
        Measured { name: name.into(), row, zip_bytes }
    }

    #[test]
    fn a_target_names_the_function_nearest_its_limit_and_every_one_past_it() {
        let [cold_start, memory, zip] = &TARGETS;
        let functions = [measured("a", 1.2, 2.01, 1_800_000), measured("b", 1.5, 2.3, 1_700_000)];

        assert_eq!(
            cold_start.verdict(&functions),
            (true, "cold start to next within 1.5x: met (highest 1.50x, b)".into())
        );
        assert_eq!(
            memory.verdict(&functions),
            (false, "peak memory within 2x: MISSED by 2 of 2 (highest 2.30x, b)".into())
        );
        assert_eq!(zip.verdict(&functions), (true, "zip within 5 MB: met (highest 1.80 MB, a)".into()));
    }
}
