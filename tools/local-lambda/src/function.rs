//! One function: its processes (a pool that grows to [`MAX_INSTANCES_PER_FUNCTION`]), the
//! invocations queued for them, their cold-start clocks, and the faults a test injects.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::{debug, info, warn};

use crate::runtime_api::serve_runtime_api;
use crate::{full, now_millis, plain, Body, ACCOUNT};

/// How many processes one function may run at once.
pub const MAX_INSTANCES_PER_FUNCTION: usize = 4;

/// One function as the template defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub name: String,
    pub region: String,
    /// The built `bootstrap` (for example `target/debug/alarm-start`).
    pub binary: PathBuf,
    /// The function's environment, as the template sets it, plus what the local run needs
    /// (`AWS_ENDPOINT_URL`); what Lambda itself sets comes from [`lambda_environment`].
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// Where the processes' stdout and stderr go; discarded when `None`.
    pub log_file: Option<PathBuf>,
    /// The execution role's credentials, as Lambda hands them to a function; dummy ones when
    /// `None` (moto then takes any, unless it enforces IAM).
    pub credentials: Option<RoleCredentials>,
}

/// Temporary credentials of a role (what STS AssumeRole returns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl FunctionSpec {
    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{}:{ACCOUNT}:function:{}", self.region, self.name)
    }
}

/// What Lambda itself sets in a function process's environment, over the function's own
/// variables: the Runtime API's address, the function's name, version, memory and log names,
/// the region, and the execution role's credentials.
pub fn lambda_environment(
    name: &str,
    region: &str,
    memory_mb: u32,
    runtime_api: SocketAddr,
    log_stream: &str,
    credentials: Option<&RoleCredentials>,
) -> Vec<(&'static str, String)> {
    let (key, secret, token) = match credentials {
        Some(c) => (c.access_key_id.clone(), c.secret_access_key.clone(), c.session_token.clone()),
        None => ("function".into(), "function".into(), "function".into()),
    };
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_owned()),
        ("AWS_REGION", region.to_owned()),
        ("AWS_DEFAULT_REGION", region.to_owned()),
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_SESSION_TOKEN", token),
    ]
}

/// Makes the process `command` starts die (SIGKILL) when the thread that started it exits, so
/// nothing a test or the gateway started outlives it.
pub fn die_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// What an invocation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Response(Bytes),
    /// The `{"errorType", "errorMessage"}` document of a function error.
    FunctionError(Bytes),
}

fn error_document(error_type: &str, message: &str) -> Bytes {
    Bytes::from(json!({"errorType": error_type, "errorMessage": message}).to_string())
}

struct Invocation {
    request_id: String,
    payload: Bytes,
    deadline_ms: u128,
    reply: oneshot::Sender<Outcome>,
}

struct InFlight {
    instance: u64,
    reply: oneshot::Sender<Outcome>,
}

/// What one process's cold start took, as the Runtime API saw it: from the spawn to its first
/// `next`, to its first response, its own CPU time until that response (every thread, user and
/// system), and its peak resident memory (VmHWM) at that response. `to_response` less `cpu` is
/// time the process spent waiting, on the emulator above all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColdStart {
    pub to_next: Duration,
    pub to_response: Duration,
    pub cpu: Duration,
    pub peak_rss_kib: u64,
}

/// A process's clock while it starts.
pub(crate) struct StartClock {
    spawned: Instant,
    pid: u32,
    first_next: Option<Instant>,
    pub(crate) measured: Option<ColdStart>,
}

/// The process's CPU time so far: `utime` plus `stime` of `/proc/<pid>/stat` (fields 14 and 15,
/// every thread's; proc(5)), in clock ticks of `sysconf(_SC_CLK_TCK)`. A tick is 10 ms here: the
/// kernel charges each tick to whatever runs at that moment, so one sample is coarse, but the
/// mean of many estimates the time without bias (the bench reports means).
fn cpu_time(pid: u32) -> Duration {
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // After the name, field 3 (state) is index 0: utime (14) is index 11, stime (15) index 12.
    Duration::from_secs_f64((tick(11) + tick(12)) as f64 / ticks_per_second)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

pub(crate) struct Function {
    pub(crate) spec: FunctionSpec,
    queue: mpsc::UnboundedSender<Invocation>,
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    pub(crate) idle: AtomicUsize,
    pub(crate) instances: AtomicUsize,
    inflight: Mutex<HashMap<String, InFlight>>,
    pub(crate) kill_switches: Mutex<HashMap<u64, Arc<Notify>>>,
    /// The last init error an instance reported, answered to what is queued when none is left.
    pub(crate) init_error: Mutex<Option<Bytes>>,
    /// While true, invocations wait at the door (a test holds a step back to order a race).
    pub(crate) paused: tokio::sync::watch::Sender<bool>,
    /// Invocations waiting at the door.
    pub(crate) held: AtomicUsize,
    /// Instances that have asked for an invocation at least once (their init succeeded).
    pub(crate) ready: Mutex<std::collections::HashSet<u64>>,
    /// Fault injection: this many coming invocations kill the process that takes them.
    pub(crate) crashes: AtomicUsize,
    /// How many invocations a crash has struck so far.
    pub(crate) crashed: AtomicUsize,
    /// Fault injection: this many coming invocations fail with this error, unrun.
    pub(crate) failures: Mutex<(usize, String)>,
    /// Fault injection: this many coming invocations run to their end, and then answer
    /// `Sandbox.Timedout` (the function's work is done; its answer came too late).
    pub(crate) late_answers: AtomicUsize,
    /// Each instance's cold start, for the benchmark.
    pub(crate) clocks: Mutex<HashMap<u64, StartClock>>,
}

/// Counts while alive (an instance idle in `next`, an invocation held at the door), and stops
/// counting however the wait ends.
pub(crate) struct CountGuard<'a>(&'a AtomicUsize);

impl<'a> CountGuard<'a> {
    pub(crate) fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

static IDS: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    IDS.fetch_add(1, Ordering::Relaxed)
}

fn request_id() -> String {
    let n = next_id();
    let t = now_millis();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (t >> 16) as u32,
        (t & 0xffff) as u16,
        n & 0xfff,
        (n >> 12) & 0xfff,
        n
    )
}

impl Function {
    pub(crate) fn new(spec: FunctionSpec) -> Arc<Self> {
        let (queue, receiver) = mpsc::unbounded_channel();
        Arc::new(Self {
            spec,
            queue,
            next: tokio::sync::Mutex::new(receiver),
            idle: AtomicUsize::new(0),
            instances: AtomicUsize::new(0),
            inflight: Mutex::new(HashMap::new()),
            kill_switches: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            paused: tokio::sync::watch::channel(false).0,
            held: AtomicUsize::new(0),
            ready: Mutex::new(std::collections::HashSet::new()),
            crashes: AtomicUsize::new(0),
            crashed: AtomicUsize::new(0),
            failures: Mutex::new((0, String::new())),
            late_answers: AtomicUsize::new(0),
            clocks: Mutex::new(HashMap::new()),
        })
    }

    /// Runs one invocation to its end: a response, a function error, or a timeout.
    pub(crate) async fn invoke(self: &Arc<Self>, payload: Bytes) -> Outcome {
        if *self.paused.borrow() {
            let _held = CountGuard::new(&self.held);
            let mut paused = self.paused.subscribe();
            let _ = paused.wait_for(|paused| !paused).await;
        }
        {
            let mut failures = self.failures.lock().unwrap();
            if failures.0 > 0 {
                failures.0 -= 1;
                let message = format!("injected by the local gateway ({} more to come)", failures.0);
                return Outcome::FunctionError(error_document(&failures.1, &message));
            }
        }
        let late = self.late_answers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        let outcome = self.run(payload).await;
        if late {
            let message = "Task timed out (injected by the local gateway after the function ran to its end)";
            return Outcome::FunctionError(error_document("Sandbox.Timedout", message));
        }
        outcome
    }

    /// Hands one invocation to an instance (starting one if none is idle) and waits for it.
    async fn run(self: &Arc<Self>, payload: Bytes) -> Outcome {
        let (reply, outcome) = oneshot::channel();
        let request_id = request_id();
        let timeout = self.spec.timeout;
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            deadline_ms: now_millis() + timeout.as_millis(),
            reply,
        };
        if self.queue.send(invocation).is_err() {
            return Outcome::FunctionError(error_document("Runtime.Unavailable", "the function's queue is closed"));
        }
        if self.idle.load(Ordering::SeqCst) == 0 && self.instances.load(Ordering::SeqCst) < MAX_INSTANCES_PER_FUNCTION {
            if let Err(e) = Arc::clone(self).spawn_instance().await {
                warn!(function = %self.spec.name, error = %e, "could not start an instance");
                if self.instances.load(Ordering::SeqCst) == 0 {
                    self.drain_queue(&error_document(
                        "Runtime.InvalidEntrypoint",
                        &format!("{}: {e}", self.spec.binary.display()),
                    ));
                }
            }
        }
        match tokio::time::timeout(timeout, outcome).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Outcome::FunctionError(error_document("Runtime.ExitError", "the invocation was dropped")),
            Err(_) => {
                // Like Lambda: the sandbox that ran out of time is stopped.
                let held = self.inflight.lock().unwrap().remove(&request_id);
                if let Some(held) = held {
                    if let Some(kill) = self.kill_switches.lock().unwrap().get(&held.instance) {
                        kill.notify_one();
                    }
                }
                Outcome::FunctionError(error_document(
                    "Sandbox.Timedout",
                    &format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
                ))
            }
        }
    }

    fn queue_is_empty(&self) -> bool {
        self.next.try_lock().map(|receiver| receiver.is_empty()).unwrap_or(false)
    }

    /// Answers every queued invocation with `error` (used when no instance can start).
    fn drain_queue(&self, error: &Bytes) {
        if let Ok(mut receiver) = self.next.try_lock() {
            while let Ok(invocation) = receiver.try_recv() {
                let _ = invocation.reply.send(Outcome::FunctionError(error.clone()));
            }
        }
    }

    /// Starts one more process. Boxed: an instance that exits may start the next one.
    fn spawn_instance(
        self: Arc<Self>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>> {
        Box::pin(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let runtime_api = listener.local_addr()?;
            let instance = next_id();
            let mut command = tokio::process::Command::new(&self.spec.binary);
            command
                .env_clear()
                .envs(&self.spec.env)
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .envs(lambda_environment(
                    &self.spec.name,
                    &self.spec.region,
                    self.spec.memory_mb,
                    runtime_api,
                    &format!("local/{instance}"),
                    self.spec.credentials.as_ref(),
                ))
                .kill_on_drop(true);
            match &self.spec.log_file {
                Some(path) => {
                    let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
                    command.stdout(file.try_clone()?).stderr(file);
                }
                None => {
                    command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
                }
            }
            // The process dies with the thread that started it, a worker of the gateway's runtime,
            // so no function outlives the gateway.
            die_with_parent(command.as_std_mut());
            let spawned = Instant::now();
            let mut child = command.spawn()?;
            let pid = child.id().unwrap_or_default();
            self.clocks.lock().unwrap().insert(instance, StartClock { spawned, pid, first_next: None, measured: None });
            self.instances.fetch_add(1, Ordering::SeqCst);
            let kill = Arc::new(Notify::new());
            self.kill_switches.lock().unwrap().insert(instance, Arc::clone(&kill));
            debug!(function = %self.spec.name, instance, %runtime_api, "instance started");

            let function = Arc::clone(&self);
            let server = tokio::spawn(serve_runtime_api(listener, Arc::clone(&self), instance));
            tokio::spawn(async move {
                let status = tokio::select! {
                    status = child.wait() => status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                    _ = kill.notified() => {
                        let _ = child.kill().await;
                        "stopped after a timeout".to_owned()
                    }
                };
                server.abort();
                function.kill_switches.lock().unwrap().remove(&instance);
                let orphans: Vec<InFlight> = {
                    let mut inflight = function.inflight.lock().unwrap();
                    let ids: Vec<String> =
                        inflight.iter().filter(|(_, f)| f.instance == instance).map(|(id, _)| id.clone()).collect();
                    ids.into_iter().filter_map(|id| inflight.remove(&id)).collect()
                };
                for orphan in orphans {
                    let message = format!("RequestId: the runtime exited during the invocation ({status})");
                    let _ = orphan.reply.send(Outcome::FunctionError(error_document("Runtime.ExitError", &message)));
                }
                let left = function.instances.fetch_sub(1, Ordering::SeqCst) - 1;
                let served = function.ready.lock().unwrap().remove(&instance);
                info!(function = %function.spec.name, instance, %status, served, "instance exited");
                if left == 0 && !served {
                    // It died during init: what waits would only meet the same fate, so answer it
                    // as Lambda does, with the init error the runtime reported or the exit status.
                    let reported = function.init_error.lock().unwrap().clone();
                    let message = format!("Runtime exited with error: {status}");
                    function.drain_queue(&reported.unwrap_or_else(|| error_document("Runtime.ExitError", &message)));
                } else if left == 0 && !function.queue_is_empty() {
                    if let Err(e) = Arc::clone(&function).spawn_instance().await {
                        warn!(function = %function.spec.name, error = %e, "could not start an instance");
                    }
                }
            });
            Ok(())
        })
    }

    /// `GET /2018-06-01/runtime/invocation/next`: hands the instance the next invocation.
    pub(crate) async fn next_invocation(&self, instance: u64) -> Response<Body> {
        if self.ready.lock().unwrap().insert(instance) {
            if let Some(clock) = self.clocks.lock().unwrap().get_mut(&instance) {
                clock.first_next = Some(Instant::now());
            }
        }
        let invocation = {
            let mut receiver = self.next.lock().await;
            let _idle = CountGuard::new(&self.idle);
            receiver.recv().await
        };
        let Some(invocation) = invocation else {
            return plain(StatusCode::GONE, "the gateway is shutting down");
        };
        let Invocation { request_id, payload, deadline_ms, reply } = invocation;
        self.inflight.lock().unwrap().insert(request_id.clone(), InFlight { instance, reply });
        if self.crashes.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            self.crashed.fetch_add(1, Ordering::SeqCst);
            // The process dies with the event in hand, as a panic under panic = "abort" would;
            // the exit answers the invocation with Runtime.ExitError.
            let kill = self.kill_switches.lock().unwrap().get(&instance).cloned();
            if let Some(kill) = kill {
                kill.notify_one();
            }
            return plain(StatusCode::SERVICE_UNAVAILABLE, "the instance is crashing");
        }
        let mut response = Response::new(full(payload));
        let headers = response.headers_mut();
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        set("Lambda-Runtime-Aws-Request-Id", request_id);
        set("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string());
        set("Lambda-Runtime-Invoked-Function-Arn", self.spec.arn());
        set("Lambda-Runtime-Trace-Id", format!("Root=1-{:08x}-{:024x};Sampled=0", now_millis() / 1000, next_id()));
        set("Content-Type", "application/json".into());
        response
    }

    /// `POST .../invocation/{id}/response` and `.../error`.
    pub(crate) fn complete(&self, request_id: &str, outcome: Outcome) -> Response<Body> {
        match self.inflight.lock().unwrap().remove(request_id) {
            Some(held) => {
                if let Some(clock) = self.clocks.lock().unwrap().get_mut(&held.instance) {
                    if let (Some(first_next), None) = (clock.first_next, clock.measured) {
                        clock.measured = Some(ColdStart {
                            to_next: first_next - clock.spawned,
                            to_response: clock.spawned.elapsed(),
                            cpu: cpu_time(clock.pid),
                            peak_rss_kib: peak_rss_kib(clock.pid),
                        });
                    }
                }
                let _ = held.reply.send(outcome);
                plain(StatusCode::ACCEPTED, "")
            }
            None => plain(StatusCode::BAD_REQUEST, "unknown or finished request id"),
        }
    }
}
