//! The Lambda Runtime API one process talks to: `invocation/next`, its response or error, and
//! `init/error`.

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tracing::warn;

use crate::function::{Function, Outcome};
use crate::{plain, serve, Body};

pub(crate) async fn serve_runtime_api(listener: TcpListener, function: Arc<Function>, instance: u64) {
    serve(listener, move |request| {
        let function = Arc::clone(&function);
        async move { runtime_api(&function, instance, request).await }
    })
    .await
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
