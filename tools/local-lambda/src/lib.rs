//! A local stand-in for the Lambda service, for development and tests only.
//!
//! moto's Step Functions interpreter invokes Lambda at `http://localhost:$MOTO_PORT`. The
//! gateway listens there: it answers the Invoke API (`POST /2015-03-31/functions/{name}/invocations`)
//! by running the real `bootstrap` binaries through the Lambda Runtime API, as the service does,
//! and forwards every other request to moto unchanged.
//!
//! Each function keeps warm instances (processes) that long-poll `invocation/next` on a
//! Runtime API endpoint of their own; more start when all are busy, up to
//! [`MAX_INSTANCES_PER_FUNCTION`]. A function error is answered as HTTP 200 with
//! `X-Amz-Function-Error` and the `errorType`/`errorMessage` body, as Lambda does.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::{debug, info, warn};

/// How many processes one function may run at once.
pub const MAX_INSTANCES_PER_FUNCTION: usize = 4;

const ACCOUNT: &str = "123456789012";

type Body = BoxBody<Bytes, hyper::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

fn now_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

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
}

impl FunctionSpec {
    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{}:{ACCOUNT}:function:{}", self.region, self.name)
    }
}

/// What Lambda itself sets in a function process's environment, over the function's own
/// variables: the Runtime API's address, the function's name, version, memory and log names,
/// the region, and the execution role's credentials (moto takes any).
pub fn lambda_environment(
    name: &str,
    region: &str,
    memory_mb: u32,
    runtime_api: SocketAddr,
    log_stream: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_owned()),
        ("AWS_REGION", region.to_owned()),
        ("AWS_DEFAULT_REGION", region.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_SESSION_TOKEN", "testing".into()),
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
/// `next`, to its first response, and its peak resident memory (VmHWM) at that response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColdStart {
    pub to_next: Duration,
    pub to_response: Duration,
    pub peak_rss_kib: u64,
}

/// A process's clock while it starts.
struct StartClock {
    spawned: Instant,
    pid: u32,
    first_next: Option<Instant>,
    measured: Option<ColdStart>,
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

struct Function {
    spec: FunctionSpec,
    queue: mpsc::UnboundedSender<Invocation>,
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    idle: AtomicUsize,
    instances: AtomicUsize,
    inflight: Mutex<HashMap<String, InFlight>>,
    kill_switches: Mutex<HashMap<u64, Arc<Notify>>>,
    /// The last init error an instance reported, answered to what is queued when none is left.
    init_error: Mutex<Option<Bytes>>,
    /// While true, invocations wait at the door (a test holds a step back to order a race).
    paused: tokio::sync::watch::Sender<bool>,
    /// Invocations waiting at the door.
    held: AtomicUsize,
    /// Instances that have asked for an invocation at least once (their init succeeded).
    ready: Mutex<std::collections::HashSet<u64>>,
    /// Fault injection: this many coming invocations kill the process that takes them.
    crashes: AtomicUsize,
    /// Fault injection: this many coming invocations fail with this error, unrun.
    failures: Mutex<(usize, String)>,
    /// Each instance's cold start, for the benchmark.
    clocks: Mutex<HashMap<u64, StartClock>>,
}

/// Counts while alive (an instance idle in `next`, an invocation held at the door), and stops
/// counting however the wait ends.
struct CountGuard<'a>(&'a AtomicUsize);

impl<'a> CountGuard<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
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
    fn new(spec: FunctionSpec) -> Arc<Self> {
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
            failures: Mutex::new((0, String::new())),
            clocks: Mutex::new(HashMap::new()),
        })
    }

    /// Runs one invocation to its end: a response, a function error, or a timeout.
    async fn invoke(self: &Arc<Self>, payload: Bytes) -> Outcome {
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
    async fn next_invocation(&self, instance: u64) -> Response<Body> {
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
    fn complete(&self, request_id: &str, outcome: Outcome) -> Response<Body> {
        match self.inflight.lock().unwrap().remove(request_id) {
            Some(held) => {
                if let Some(clock) = self.clocks.lock().unwrap().get_mut(&held.instance) {
                    if let (Some(first_next), None) = (clock.first_next, clock.measured) {
                        clock.measured = Some(ColdStart {
                            to_next: first_next - clock.spawned,
                            to_response: clock.spawned.elapsed(),
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

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(full(text.to_owned()));
    *response.status_mut() = status;
    response
}

async fn serve_runtime_api(listener: TcpListener, function: Arc<Function>, instance: u64) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let function = Arc::clone(&function);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let function = Arc::clone(&function);
                async move { Ok::<_, Infallible>(runtime_api(&function, instance, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn runtime_api(function: &Function, instance: u64, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (request.method(), segments.as_slice()) {
        (&Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => function.next_invocation(instance).await,
        (&Method::POST, ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")]) => {
            let id = id.to_string();
            let error = *kind == "error";
            let body = match request.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
            };
            let outcome = if error { Outcome::FunctionError(body) } else { Outcome::Response(body) };
            function.complete(&id, outcome)
        }
        (&Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            warn!(function = %function.spec.name, error = %String::from_utf8_lossy(&body), "init error");
            *function.init_error.lock().unwrap() = Some(body);
            plain(StatusCode::ACCEPTED, "")
        }
        _ => plain(StatusCode::NOT_FOUND, "not a Runtime API path"),
    }
}

/// The gateway: functions by name and ARN, and the upstream (moto) for everything else.
pub struct Gateway {
    functions: RwLock<HashMap<String, Arc<Function>>>,
    /// moto applies DynamoDB requests from concurrent threads without a lock, so two
    /// conditional writes can both pass; DynamoDB never lets them. The gateway serialises
    /// DynamoDB calls to keep that guarantee, which the recorder's invariants rest on.
    dynamodb: tokio::sync::Mutex<()>,
    upstream: hyper::Uri,
    client: Client<HttpConnector, Incoming>,
}

/// A running gateway.
#[derive(Clone)]
pub struct GatewayHandle {
    pub addr: SocketAddr,
    gateway: Arc<Gateway>,
}

impl GatewayHandle {
    /// Registers (or replaces) a function; it is reachable by name and by ARN.
    pub fn register(&self, spec: FunctionSpec) {
        let arn = spec.arn();
        let name = spec.name.clone();
        let function = Function::new(spec);
        let mut functions = self.gateway.functions.write().unwrap();
        functions.insert(arn, Arc::clone(&function));
        functions.insert(name, function);
    }

    /// Holds back every new invocation of the function until [`Self::resume`].
    pub fn pause(&self, name: &str) {
        self.function(name).paused.send_replace(true);
    }

    pub fn resume(&self, name: &str) {
        self.function(name).paused.send_replace(false);
    }

    /// Fault injection: the next `count` invocations of the function crash its process while
    /// it handles them; Step Functions sees `Runtime.ExitError`.
    pub fn crash_next(&self, name: &str, count: usize) {
        self.function(name).crashes.store(count, Ordering::SeqCst);
    }

    /// Fault injection: the next `count` invocations fail with `error_type`, without running.
    pub fn fail_next(&self, name: &str, count: usize, error_type: &str) {
        *self.function(name).failures.lock().unwrap() = (count, error_type.to_owned());
    }

    /// Invokes the function as the Invoke API would, and waits for the outcome.
    pub async fn invoke(&self, name: &str, payload: impl Into<Bytes>) -> Outcome {
        self.function(name).invoke(payload.into()).await
    }

    /// The cold starts of the function's processes that have answered an invocation.
    pub fn cold_starts(&self, name: &str) -> Vec<ColdStart> {
        self.function(name).clocks.lock().unwrap().values().filter_map(|c| c.measured).collect()
    }

    /// Stops every process of the function; the next invocation starts a new one.
    pub fn stop_instances(&self, name: &str) {
        for kill in self.function(name).kill_switches.lock().unwrap().values() {
            kill.notify_one();
        }
    }

    /// How many invocations of the function are held back by [`Self::pause`].
    pub fn held(&self, name: &str) -> usize {
        self.function(name).held.load(Ordering::SeqCst)
    }

    fn function(&self, name: &str) -> Arc<Function> {
        self.gateway.function(name).unwrap_or_else(|| panic!("no function {name} is registered"))
    }

    /// The gateway's base URL: what moto's interpreter and the functions call.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts the gateway on `listen`, forwarding what is not a Lambda invocation to `upstream`.
pub async fn start(listen: SocketAddr, upstream: &str) -> std::io::Result<GatewayHandle> {
    let upstream: hyper::Uri = upstream
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("upstream {upstream:?}: {e}")))?;
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let gateway = Arc::new(Gateway {
        functions: RwLock::new(HashMap::new()),
        dynamodb: tokio::sync::Mutex::new(()),
        upstream,
        client: Client::builder(TokioExecutor::new()).build_http(),
    });
    let serving = Arc::clone(&gateway);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let gateway = Arc::clone(&serving);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let gateway = Arc::clone(&gateway);
                    async move { Ok::<_, Infallible>(gateway.handle(request).await) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    info!(%addr, "local Lambda gateway listening");
    Ok(GatewayHandle { addr, gateway })
}

/// Decodes the `%XX` escapes of a path segment (an ARN arrives as `arn%3Aaws%3Alambda...`).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&segment[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The function name of an Invoke API path, if the path is one.
pub fn invoked_function(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/2015-03-31/functions/")?;
    let name = rest.strip_suffix("/invocations")?;
    Some(percent_decode(name))
}

impl Gateway {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        if request.method() == Method::POST {
            if let Some(name) = invoked_function(request.uri().path()) {
                return self.invoke(&name, request).await;
            }
        }
        self.forward(request).await
    }

    fn function(&self, name: &str) -> Option<Arc<Function>> {
        let functions = self.functions.read().unwrap();
        // A qualified name or ARN ends in :$LATEST or :alias; we run one version.
        functions.get(name).cloned().or_else(|| {
            let unqualified = name.rsplit_once(':').map(|(head, _)| head)?;
            functions.get(unqualified).cloned()
        })
    }

    async fn invoke(&self, name: &str, request: Request<Incoming>) -> Response<Body> {
        let Some(function) = self.function(name) else {
            let mut response = Response::new(full(
                json!({"Type": "User", "message": format!("Function not found: {name}")}).to_string(),
            ));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static("ResourceNotFoundException"));
            return response;
        };
        let invocation_type = request
            .headers()
            .get("X-Amz-Invocation-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("RequestResponse")
            .to_owned();
        let payload = match request.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        match invocation_type.as_str() {
            "DryRun" => plain(StatusCode::NO_CONTENT, ""),
            "Event" => {
                tokio::spawn(async move {
                    function.invoke(payload).await;
                });
                plain(StatusCode::ACCEPTED, "")
            }
            _ => {
                let outcome = function.invoke(payload).await;
                let (body, error) = match outcome {
                    Outcome::Response(body) => (body, false),
                    Outcome::FunctionError(body) => (body, true),
                };
                let mut response = Response::new(full(body));
                let headers = response.headers_mut();
                headers.insert("Content-Type", HeaderValue::from_static("application/json"));
                headers.insert("X-Amz-Executed-Version", HeaderValue::from_static("$LATEST"));
                if error {
                    headers.insert("X-Amz-Function-Error", HeaderValue::from_static("Unhandled"));
                }
                response
            }
        }
    }

    async fn forward(&self, request: Request<Incoming>) -> Response<Body> {
        let dynamodb = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.to_str().ok())
            .is_some_and(|t| t.starts_with("DynamoDB_"));
        let _serialised = if dynamodb { Some(self.dynamodb.lock().await) } else { None };
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
        let mut uri = self.upstream.clone().into_parts();
        uri.path_and_query = path_and_query.parse().ok();
        parts.uri = match hyper::Uri::from_parts(uri) {
            Ok(uri) => uri,
            Err(e) => return plain(StatusCode::BAD_GATEWAY, &e.to_string()),
        };
        match self.client.request(Request::from_parts(parts, body)).await {
            Ok(response) => response.map(|b| b.boxed()),
            Err(e) => plain(StatusCode::BAD_GATEWAY, &format!("moto did not answer: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_paths_name_the_function_by_name_or_escaped_arn() {
        assert_eq!(invoked_function("/2015-03-31/functions/alarm-start/invocations").as_deref(), Some("alarm-start"));
        assert_eq!(
            invoked_function(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Ax/invocations"
            )
            .as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:x")
        );
        assert_eq!(invoked_function("/2015-03-31/functions/x/configuration"), None);
        assert_eq!(invoked_function("/"), None);
    }

    #[test]
    fn a_broken_escape_is_kept_as_it_is() {
        assert_eq!(percent_decode("a%zzb%4"), "a%zzb%4");
        assert_eq!(percent_decode("%41%42"), "AB");
    }
}
