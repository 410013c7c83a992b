//! The gateway: the Lambda Invoke API over the functions, and every other request forwarded to
//! moto (DynamoDB calls one at a time, as DynamoDB's conditions would order them).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::net::TcpListener;
use tracing::info;

use crate::cbor;
use crate::function::{ColdStart, Function, FunctionSpec, Outcome};
use crate::insights::Insights;
use crate::realism::{Before, Call, Realism};
use crate::resign::Signer;
use crate::stacks::Stacks;
use crate::{full, plain, serve, Body};

/// The gateway: functions by name and ARN, and the upstream (moto) for everything else.
pub struct Gateway {
    functions: RwLock<HashMap<String, Arc<Function>>>,
    /// moto applies DynamoDB requests from concurrent threads without a lock, so two
    /// conditional writes can both pass; DynamoDB never lets them. The gateway serialises
    /// DynamoDB calls to keep that guarantee, which the recorder's invariants rest on.
    dynamodb: tokio::sync::Mutex<()>,
    upstream: hyper::Uri,
    client: Client<HttpConnector, http_body_util::Full<Bytes>>,
    /// What real AWS does and moto does not: consistency lag, latency, throttling.
    realism: Realism,
    signer: Signer,
    /// Logs Insights' commands, which moto does not run (see [`Insights`]).
    insights: Insights,
    /// What CloudFormation would say about the local stack's resources (see [`Stacks`]).
    stacks: Stacks,
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

    /// Fault injection: `count` more of the coming invocations of the function crash its
    /// process when it takes them, before it handles them; Step Functions sees
    /// `Runtime.ExitError`. Added to what is already pending, so each crash asked for lands.
    pub fn crash_next(&self, name: &str, count: usize) {
        self.function(name).crashes.fetch_add(count, Ordering::SeqCst);
    }

    /// How many invocations of the function a crash has struck so far.
    pub fn crashed(&self, name: &str) -> usize {
        self.function(name).crashed.load(Ordering::SeqCst)
    }

    /// Fault injection: the next `count` invocations fail with `error_type`, without running.
    pub fn fail_next(&self, name: &str, count: usize, error_type: &str) {
        *self.function(name).failures.lock().unwrap() = (count, error_type.to_owned());
    }

    /// Fault injection: the next `count` invocations run to their end, then answer
    /// `Sandbox.Timedout` as Lambda does for a function whose answer came too late: whatever
    /// the function did is done, and the caller retries it.
    pub fn answer_late_next(&self, name: &str, count: usize) {
        self.function(name).late_answers.fetch_add(count, Ordering::SeqCst);
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

    /// Eventual consistency, latency and throttling for the code under test (see [`Realism`]).
    pub fn realism(&self) -> &Realism {
        &self.gateway.realism
    }

    /// The gateway may sign calls again for this caller (see [`Signer`]).
    pub fn trust(&self, access_key: &str, secret: &str, session_token: Option<&str>) {
        self.gateway.signer.trust(access_key, secret, session_token);
    }

    /// Calls signed with `access_key` run as the trusted caller `as_key` (see [`Signer`]).
    pub fn stand_in(&self, access_key: &str, as_key: &str) {
        self.gateway.signer.stand_in(access_key, as_key);
    }

    fn function(&self, name: &str) -> Arc<Function> {
        self.gateway.function(name).unwrap_or_else(|| panic!("no function {name} is registered"))
    }

    /// The gateway's base URL: what moto's interpreter and the functions call.
    /// What CloudFormation's DescribeStackResource says from now on about `logical_id` of the
    /// stack `stack_id` (the harness plays CloudFormation: see [`crate::stacks`]).
    pub fn set_resource_status(&self, stack_id: &str, logical_id: &str, status: &str) {
        self.gateway.stacks.set(stack_id, logical_id, status);
    }

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
        realism: Realism::default(),
        signer: Signer::default(),
        insights: Insights::default(),
        stacks: Stacks::default(),
    });
    let serving = Arc::clone(&gateway);
    tokio::spawn(serve(listener, move |request| {
        let gateway = Arc::clone(&serving);
        async move { gateway.handle(request).await }
    }));
    info!(%addr, "local Lambda gateway listening");
    Ok(GatewayHandle { addr, gateway })
}

/// Decodes the `%XX` escapes of a path segment (an ARN arrives as `arn%3Aaws%3Alambda...`).
pub(crate) fn percent_decode(segment: &str) -> String {
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
        let (mut parts, body) = request.into_parts();
        let mut body = match body.collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let cbor = parts.headers.get(cbor::PROTOCOL_HEADER).is_some_and(|v| v == cbor::PROTOCOL);
        if cbor {
            match cbor::target(parts.uri.path()).zip(cbor::request(&body).ok()) {
                Some((target, json)) => {
                    body = Bytes::from(json);
                    let headers = &mut parts.headers;
                    for name in [cbor::PROTOCOL_HEADER, "accept", "x-amzn-query-mode"] {
                        headers.remove(name);
                    }
                    headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
                    headers
                        .insert("x-amz-target", HeaderValue::from_str(&target).unwrap_or(HeaderValue::from_static("")));
                    parts.uri = hyper::Uri::from_static("/");
                }
                None => return plain(StatusCode::BAD_REQUEST, "the local gateway could not translate this CBOR call"),
            }
        }
        let call = Call::identify(&parts.headers, &body);
        if let Some(call) = &call {
            let before = self.realism.before(call);
            let (Before::Forward(delay) | Before::Throttle(delay)) = before;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if before == Before::Throttle(delay) {
                info!(action = %call.action(), "throttled");
                let (status, content_type, text) = call.throttled();
                return error_response(status, content_type, text);
            }
            if let Some(text) = self.realism.unseen_execution(call, &body) {
                return error_response(400, "application/x-amz-json-1.0", text);
            }
            if call.action() == "logs:StartQuery" {
                if let Some(reason) = self.insights.refuses(&body) {
                    info!(%reason, "Logs Insights query refused");
                    let text = json!({"__type": "MalformedQueryException", "message": reason}).to_string();
                    return error_response(400, "application/x-amz-json-1.1", text);
                }
            }
            match self.signer.resign(&mut parts, call, &body, cbor) {
                Ok(Some(encoded)) => body = encoded,
                Ok(None) => {}
                Err(e) => {
                    let text = format!("could not sign {} again: {e}", call.action());
                    return plain(StatusCode::INTERNAL_SERVER_ERROR, &text);
                }
            }
        }
        let dynamodb = call.as_ref().is_some_and(|c| c.service == "dynamodb");
        let _serialised = if dynamodb { Some(self.dynamodb.lock().await) } else { None };
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
        let mut uri = self.upstream.clone().into_parts();
        uri.path_and_query = path_and_query.parse().ok();
        parts.uri = match hyper::Uri::from_parts(uri) {
            Ok(uri) => uri,
            Err(e) => return plain(StatusCode::BAD_GATEWAY, &e.to_string()),
        };
        let request_body = body.clone();
        let response = match self.client.request(Request::from_parts(parts, http_body_util::Full::new(body))).await {
            Ok(response) => response,
            Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("moto did not answer: {e}")),
        };
        if cbor {
            return cbor_answer(response).await;
        }
        // moto has no such stack (400); an IAM refusal (403) stands.
        let describe = call.as_ref().is_some_and(|c| c.action() == "cloudformation:DescribeStackResource");
        if describe && response.status() == StatusCode::BAD_REQUEST {
            if let Some(xml) = self.stacks.describe(&request_body) {
                let mut answer = Response::new(full(xml));
                answer.headers_mut().insert("content-type", HeaderValue::from_static("text/xml"));
                return answer;
            }
        }
        // Decided before the response: whether it names new resources, and whether it must hide
        // young ones from this caller.
        let hides = call.as_ref().is_some_and(|c| self.realism.hides_from(c));
        let insights = call.as_ref().map(Call::action).filter(|a| INSIGHTS_CALLS.contains(&a.as_str()));
        let Some(call) = call.filter(|c| hides || insights.is_some() || Realism::creates(c)) else {
            return response.map(|b| b.boxed());
        };
        // A response the realism reads: whole, then as the caller should see it.
        let (mut parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("moto's answer broke off: {e}")),
        };
        if !parts.status.is_success() {
            return Response::from_parts(parts, full(body));
        }
        let body = match insights.as_deref() {
            Some("logs:PutLogEvents") => {
                self.insights.stored(&request_body, &body);
                body
            }
            Some("logs:StartQuery") => {
                self.insights.started(&request_body, &body);
                body
            }
            Some(_) => self.insights.results(&request_body).map_or(body, |answer| Bytes::from(answer.to_string())),
            None => body,
        };
        self.realism.born_in(&call, &body);
        let body = if hides {
            Bytes::from(self.realism.without_young_flow_logs(&call, &String::from_utf8_lossy(&body)))
        } else {
            body
        };
        parts.headers.remove(hyper::header::CONTENT_LENGTH);
        Response::from_parts(parts, full(body))
    }
}

/// moto's JSON answer to a translated call, in CBOR (see [`cbor`]).
async fn cbor_answer(response: Response<Incoming>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("moto's answer broke off: {e}")),
    };
    let body = match cbor::response(&body) {
        Ok(body) => body,
        Err(e) => {
            let text =
                format!("{e} (HTTP {}: {})", parts.status, String::from_utf8_lossy(&body[..body.len().min(900)]));
            return plain(StatusCode::BAD_GATEWAY, &text);
        }
    };
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    parts.headers.insert("content-type", HeaderValue::from_static("application/cbor"));
    parts.headers.insert(cbor::PROTOCOL_HEADER, HeaderValue::from_static(cbor::PROTOCOL));
    Response::from_parts(parts, full(body))
}

/// The calls the Logs Insights stand-in watches: what is stored, what is asked, what is answered.
const INSIGHTS_CALLS: [&str; 3] = ["logs:PutLogEvents", "logs:StartQuery", "logs:GetQueryResults"];

fn error_response(status: u16, content_type: &'static str, text: String) -> Response<Body> {
    let mut response = plain(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), &text);
    response.headers_mut().insert("Content-Type", HeaderValue::from_static(content_type));
    response
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
