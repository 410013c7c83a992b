//! `make bench`: what a user feels of each Lambda, measured through the local gateway's Runtime
//! API: start to the first `next`, the first invocation answered (against the local moto stack),
//! peak resident memory, and the size of the binary and its zip. A bare `lambda_runtime` echo
//! function built the same way (the floor) stays in the table for context.
//!
//! With a baseline build (`bench RELEASE_DIR OUT.json RUNS BASELINE_DIR`), every cold start of the
//! new build has one of the baseline beside it, in alternating order, so both share the machine's
//! moment: the table then shows old against new from one run.
//!
//! Usage: `bench RELEASE_DIR OUT.json [RUNS] [BASELINE_DIR]` (RUNS: 20 unless given).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use local_lambda::{ColdStart, FunctionSpec, Outcome};
use recorder_tests::deploy::Deployment;
use recorder_tests::{unique, World};
use serde_json::{json, Value};

/// One build's samples, by function.
type Samples = BTreeMap<String, Vec<ColdStart>>;

/// Starts `binary` cold through the gateway, as the deployment runs it (its environment but
/// the log level, and its role's credentials), hands it `event` and measures.
async fn cold_start(d: &Deployment, binary: &Path, deployed: &FunctionSpec, event: &Value) -> ColdStart {
    let gateway = &d.local.gateway;
    let name = unique("bench");
    let mut env = deployed.env.clone();
    env.remove("RUST_LOG");
    gateway.register(FunctionSpec {
        name: name.clone(),
        binary: binary.to_path_buf(),
        env,
        timeout: Duration::from_secs(120),
        log_file: None,
        ..deployed.clone()
    });
    let outcome = gateway.invoke(&name, event.to_string()).await;
    gateway.stop_instances(&name);
    if let Outcome::FunctionError(body) = outcome {
        panic!("{} answered with an error: {}", binary.display(), String::from_utf8_lossy(&body));
    }
    gateway.cold_starts(&name).pop().unwrap_or_else(|| panic!("{} answered but was not timed", binary.display()))
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

/// The builds being measured: the new one first, then the baseline if any.
struct Builds {
    dirs: Vec<(&'static str, PathBuf)>,
}

impl Builds {
    /// Measures `name` in every build, in an order that alternates with `run`.
    async fn measure(
        &self,
        samples: &mut [Samples],
        d: &Deployment,
        run: usize,
        name: &str,
        deployed: &FunctionSpec,
        event: &Value,
    ) {
        let mut order: Vec<usize> = (0..self.dirs.len()).collect();
        if run % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let sample = cold_start(d, &self.dirs[i].1.join(name), deployed, event).await;
            samples[i].entry(name.to_owned()).or_default().push(sample);
        }
    }
}

async fn run(builds: &Builds, runs: usize) -> Vec<Samples> {
    // The bench times the functions, not AWS's consistency: with the lag on, StartRecording's
    // wait for EC2 to list its new flow log would be most of what it measures.
    recorder_tests::moto_stack().gateway.realism().set_consistency_lag(Duration::ZERO);
    let mut samples = vec![Samples::new(); builds.dirs.len()];
    for run in 0..runs {
        let world = World::new().await;
        let d = world.deploy(&[]).await;
        let execution = format!("arn:aws:states:us-east-1:123456789012:execution:bench:{}", unique("run"));
        for (name, id, event) in chain(&d, &execution) {
            builds.measure(&mut samples, &d, run, name, &d.specs[id], &event).await;
        }
        // StopRecording and Notify get the state the workflow would give them: StartRecording's
        // output, read back idempotently (this execution still owns the slot)
        let recording = recorder::steps::start_recording(
            &world.start_config(0),
            &recorder::store::SlotTable::from_sdk_config(&world.sdk, &world.table_name),
            &recorder::flowlogs::FlowLogs::from_sdk_config(&world.sdk),
            recorder::contract::StartInput {
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
        builds.measure(&mut samples, &d, run, "flowlog-stop", &d.specs["FlowlogStopFunction"], &stop_input).await;
        // The notifier reports on the README's spike: its four queries find rows, the meter its
        // datapoints, and the email has every line
        let nat = world.nat_private_address().await;
        let now = chrono::Utc::now();
        world.write_flow_records(&recorder_tests::spike::records(&nat), now).await;
        let minute = recorder_tests::spike::minute(now);
        world.put_nat_metrics(&recorder_tests::spike::metrics(minute - chrono::Duration::seconds(120), minute)).await;
        state["stop"] = json!({
            "natGatewayId": world.nat_gateway_id, "ending": "alarm-ok", "deletedFlowLogIds": [],
            "stoppedAt": recorder::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "released": true
        });
        let notify_input = json!({"state": state});
        builds.measure(&mut samples, &d, run, "notifier", &d.specs["NotifierFunction"], &notify_input).await;
        builds.measure(&mut samples, &d, run, "flowlog-sweeper", &d.specs["FlowlogSweeperFunction"], &json!({})).await;

        // The macro (its own stack, its own role) and the floor (no AWS call) beside the rest.
        let macro_spec = FunctionSpec {
            env: BTreeMap::from([("AWS_ENDPOINT_URL".to_owned(), d.local.endpoint.clone())]),
            credentials: Some(d.local.credentials_of("nat-alarms-macro")),
            ..d.specs["AlarmStartFunction"].clone()
        };
        let floor_spec = FunctionSpec { env: BTreeMap::new(), credentials: None, ..macro_spec.clone() };
        let request = json!({
            "requestId": "bench", "region": "us-east-1", "accountId": "123456789012", "transformId": "x", "params": {},
            "fragment": recorder_tests::template::to_cfn_json(&recorder_tests::template::Template::load().root),
            "templateParameterValues": {"NatGatewayIDs": [world.nat_gateway_id], "SamplingPeriod": "60"}
        });
        builds.measure(&mut samples, &d, run, "nat-alarms-macro", &macro_spec, &request).await;
        builds.measure(&mut samples, &d, run, "echo-floor", &floor_spec, &json!({"hello": "world"})).await;
        eprintln!("run {}/{runs} done", run + 1);
    }
    samples
}

/// The performance budget of every function, on this machine's x86 release build.
const TARGETS: [Target; 4] = [
    Target { what: "start to first next", limit: 10.0, unit: " ms", of: |m| m.row.next_ms },
    // Its own CPU time, not its wall time: the time it waits on the emulator is shown apart and
    // not budgeted (the emulator is not what a user runs it against).
    Target { what: "first invocation's own CPU time", limit: 20.0, unit: " ms", of: |m| m.row.cpu_ms },
    Target { what: "peak RSS", limit: 16.0, unit: " MiB", of: |m| m.row.rss_kib / 1024.0 },
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

/// Medians of a function's samples; the CPU time is their mean (see `local_lambda::ColdStart`:
/// it is counted in 10 ms ticks, whose mean over many runs is unbiased and whose median is not).
struct Row {
    next_ms: f64,
    response_ms: f64,
    cpu_ms: f64,
    rss_kib: f64,
}

impl Row {
    fn of(samples: &[ColdStart]) -> Self {
        let value = |f: &dyn Fn(&ColdStart) -> f64| median(samples.iter().map(f).collect());
        Row {
            next_ms: value(&|s| s.to_next.as_secs_f64() * 1000.0),
            response_ms: value(&|s| s.to_response.as_secs_f64() * 1000.0),
            cpu_ms: samples.iter().map(|s| s.cpu.as_secs_f64() * 1000.0).sum::<f64>() / samples.len().max(1) as f64,
            rss_kib: value(&|s| s.peak_rss_kib as f64),
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench RELEASE_DIR OUT.json [RUNS] [BASELINE_DIR]");
        std::process::exit(2);
    }
    let out = PathBuf::from(&args[2]);
    let runs: usize = match args.get(3).map(|r| (r, r.parse::<usize>())) {
        None => 20,
        Some((_, Ok(runs))) if runs > 0 => runs,
        Some((text, _)) => {
            eprintln!("bench: RUNS {text:?} is not a whole number of runs above zero");
            std::process::exit(2);
        }
    };
    let mut dirs = vec![("new", PathBuf::from(&args[1]))];
    if let Some(baseline) = args.get(4) {
        dirs.push(("old", PathBuf::from(baseline)));
    }
    for (_, dir) in &dirs {
        if !dir.join("echo-floor").exists() {
            eprintln!("bench: {} holds no release build (no echo-floor in it)", dir.display());
            std::process::exit(2);
        }
    }
    let builds = Builds { dirs };
    let samples = run(&builds, runs).await;

    println!(
        "{:<18} {:>5} {:>10} {:>12} {:>7} {:>9} {:>9} {:>8} {:>8}",
        "function", "build", "to next ms", "to reply ms", "CPU ms", "waited ms", "peak MiB", "bin MiB", "zip MiB"
    );
    let mut rows = Vec::new();
    let mut functions = Vec::new();
    for name in samples[0].keys() {
        for (i, (label, dir)) in builds.dirs.iter().enumerate() {
            let row = Row::of(&samples[i][name]);
            let binary = dir.join(name);
            let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
            let zip = zipped_size(&binary);
            println!(
                "{name:<18} {label:>5} {:>10.2} {:>12.2} {:>7.1} {:>9.1} {:>9.1} {:>8.2} {:>8.2}",
                row.next_ms,
                row.response_ms,
                row.cpu_ms,
                (row.response_ms - row.cpu_ms).max(0.0),
                row.rss_kib / 1024.0,
                size as f64 / 1_048_576.0,
                zip as f64 / 1_048_576.0
            );
            rows.push(json!({
                "function": name, "build": label, "runs": samples[i][name].len(),
                "median_start_to_next_ms": row.next_ms, "median_start_to_response_ms": row.response_ms,
                "mean_cpu_to_response_ms": row.cpu_ms,
                "median_peak_rss_kib": row.rss_kib, "binary_bytes": size, "zip_bytes": zip
            }));
            if i == 0 && name != "echo-floor" {
                functions.push(Measured { name: name.clone(), row, zip_bytes: zip });
            }
        }
    }
    let verdicts: Vec<(bool, String)> = TARGETS.iter().map(|t| t.verdict(&functions)).collect();
    let targets: Vec<Value> = verdicts.iter().map(|(met, line)| json!({"met": met, "verdict": line})).collect();
    let text =
        serde_json::to_string_pretty(&json!({"runs": runs, "results": rows, "targets": targets})).unwrap() + "\n";
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    println!("\nmedians of {runs} cold starts each, through the local gateway; written to {}", out.display());
    for (_, line) in &verdicts {
        println!("target (new build): {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(name: &str, next_ms: f64, cpu_ms: f64, rss_mib: f64, zip_bytes: u64) -> Measured {
        let row = Row { next_ms, response_ms: cpu_ms + 40.0, cpu_ms, rss_kib: rss_mib * 1024.0 };
        Measured { name: name.into(), row, zip_bytes }
    }

    #[test]
    fn a_target_names_the_function_nearest_its_limit_and_every_one_past_it() {
        let [next, cpu, rss, zip] = &TARGETS;
        let functions = [measured("a", 3.0, 12.0, 17.0, 1_800_000), measured("b", 10.0, 25.0, 16.5, 1_700_000)];
        assert_eq!(
            next.verdict(&functions),
            (true, "start to first next within 10 ms: met (highest 10.00 ms, b)".into())
        );
        // The CPU time is budgeted, not the answer's wall time (which waits on the emulator)
        assert_eq!(
            cpu.verdict(&functions),
            (false, "first invocation's own CPU time within 20 ms: MISSED by 1 of 2 (highest 25.00 ms, b)".into())
        );
        assert_eq!(
            rss.verdict(&functions),
            (false, "peak RSS within 16 MiB: MISSED by 2 of 2 (highest 17.00 MiB, a)".into())
        );
        assert_eq!(zip.verdict(&functions), (true, "zip within 5 MB: met (highest 1.80 MB, a)".into()));
    }
}
