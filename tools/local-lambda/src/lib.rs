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
//!
//! It also runs the Logs Insights commands the recorder's queries use, which moto does not
//! (`insights`), and translates the CBOR protocol the SDK calls CloudWatch in to the JSON moto
//! reads (`cbor`), and answers CloudFormation's DescribeStackResource for the resources the
//! harness names (`stacks`), the local stack having no CloudFormation.

mod cbor;
mod function;
mod gateway;
mod insights;
mod realism;
mod resign;
mod runtime_api;
mod stacks;

use std::convert::Infallible;
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub use function::{
    die_with_parent, lambda_environment, ColdStart, FunctionSpec, Outcome, RoleCredentials, MAX_INSTANCES_PER_FUNCTION,
};
pub use gateway::{invoked_function, start, Gateway, GatewayHandle};
pub use realism::{element, Before, Call, Realism};

pub(crate) const ACCOUNT: &str = "123456789012";

pub(crate) type Body = BoxBody<Bytes, hyper::Error>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

pub(crate) fn now_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(full(text.to_owned()));
    *response.status_mut() = status;
    response
}

/// Serves HTTP/1.1 on `listener`, each connection on a task of its own and each request answered
/// by `handle`, until the listener fails: the gateway and every Runtime API endpoint.
pub(crate) async fn serve<H, F>(listener: TcpListener, handle: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let answer = handle(request);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
