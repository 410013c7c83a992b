//! The one HTTPS client every AWS client of a function shares: hyper's HTTP/1.1 client over rustls
//! (ring), trusting Mozilla's root certificates as compiled in by `webpki-roots`.
//!
//! Why not the SDK's default client: it brings HTTP/2, proxy tunnelling and aws-lc, none of which
//! our calls use, and a Lambda loads every byte of its binary; it also reads and parses the
//! platform's certificate store while each service client is being built, before the function
//! can ask for its first event. Here the TLS configuration is built by the first request, once
//! per process, from certificates already in the binary: no file to read, nothing to parse.
//!
//! Errors are classified as the SDK's retry strategy expects: connection failures, resets and
//! timeouts are transient (retried with backoff), a malformed request is the caller's.

use std::error::Error as StdError;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// How long an idle connection stays in the pool (hyper's default, and the SDK's).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The HTTPS client of [`crate::sdk_config`].
pub fn https_client() -> SharedHttpClient {
    Http1Client::default().into_shared()
}

type Timeouts = (Option<Duration>, Option<Duration>);

/// Hands each SDK client a connector for its timeout settings, building it on first use; all
/// clients of a function share the same settings, so in practice there is one.
#[derive(Debug, Default)]
struct Http1Client {
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl HttpClient for Http1Client {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(key, _)| *key == timeouts) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(Http1Connector::new(timeouts));
        connectors.push((timeouts, connector.clone()));
        connector
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some("1.x".into())))
    }
}

/// Mozilla's root certificates as `webpki-roots` compiles them in (update with
/// `cargo update -p webpki-roots`); AWS's endpoints chain to the Amazon Root CAs among them.
fn root_store() -> rustls::RootCertStore {
    rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// rustls with ring, TLS 1.2 and 1.3, [`root_store`]; built once per process.
fn tls_config() -> rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring's default provider supports TLS 1.2 and 1.3")
                .with_root_certificates(root_store())
                .with_no_client_auth()
        })
        .clone()
}

#[derive(Debug)]
struct Http1Connector {
    client: Client<HttpsConnector<TcpConnector>, SdkBody>,
    read_timeout: Option<Duration>,
}

impl Http1Connector {
    fn new((connect_timeout, read_timeout): Timeouts) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config())
            // AWS is reached over HTTPS; http:// is for the local emulator (AWS_ENDPOINT_URL).
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(https);
        Self { client, read_timeout }
    }
}

impl HttpConnector for Http1Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(err) => return HttpConnectorFuture::ready(Err(ConnectorError::user(err.into()))),
        };
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, response).await.map_err(|_| {
                    ConnectorError::timeout(format!("no response within the read timeout of {limit:?}").into())
                })?,
                None => response.await,
            }
            .map_err(classify)?;
            let (parts, body) = response.into_parts();
            HttpResponse::try_from(http::Response::from_parts(parts, SdkBody::from_body_1_x(body)))
                .map_err(|err| ConnectorError::other(err.into(), None))
        })
    }
}

/// The first error of type `E` in `err`'s chain of sources.
fn find_source<'a, E: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(found) = err.downcast_ref::<E>() {
            return Some(found);
        }
        next = err.source();
    }
    None
}

/// Maps a hyper failure to the kind the SDK's retry strategy decides on (as the SDK's own client
/// does): connection failures and resets are I/O, so transient.
fn classify(err: hyper_util::client::legacy::Error) -> ConnectorError {
    let wrap: fn(BoxError) -> ConnectorError = if err.is_connect() || find_source::<std::io::Error>(&err).is_some() {
        ConnectorError::io
    } else {
        match find_source::<hyper::Error>(&err) {
            Some(e) if e.is_timeout() => ConnectorError::timeout,
            Some(e) if e.is_user() => ConnectorError::user,
            Some(e) if e.is_closed() || e.is_canceled() => ConnectorError::io,
            // A response cut short: the SDK's client treats it as transient too.
            Some(e) if e.is_incomplete_message() => |err| ConnectorError::other(err, Some(ErrorKind::TransientError)),
            _ => |err| ConnectorError::other(err, None),
        }
    };
    wrap(Box::new(err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-connection server: reads the request head, then does `answer` with the socket.
    async fn server<F, Fut>(answer: F) -> String
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            answer(socket).await;
        });
        format!("http://{addr}/")
    }

    fn request(url: &str) -> HttpRequest {
        HttpRequest::try_from(http::Request::builder().method("POST").uri(url).body(SdkBody::from("{}")).unwrap())
            .unwrap()
    }

    fn connector(read_timeout: Option<Duration>) -> Http1Connector {
        Http1Connector::new((Some(Duration::from_secs(2)), read_timeout))
    }

    #[tokio::test]
    async fn a_request_and_its_response_round_trip() {
        let url = server(|mut socket| async move {
            let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
            socket.write_all(reply.as_bytes()).await.unwrap();
        })
        .await;
        let response = connector(None).call(request(&url)).await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers().get("content-type"), Some("application/json"));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{\"ok\":true}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient_io() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let err = connector(None).call(request(&url)).await.unwrap_err();
        assert!(err.is_io(), "{err:?}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_hits_the_read_timeout() {
        let url = server(|socket| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(socket);
        })
        .await;
        let err = connector(Some(Duration::from_millis(200))).call(request(&url)).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(err.to_string().contains("timeout") || format!("{err:?}").contains("read timeout of 200ms"), "{err:?}");
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_response_is_retryable() {
        let url = server(|socket| async move { drop(socket) }).await;
        let err = connector(None).call(request(&url)).await.unwrap_err();
        assert!(err.is_io() || err.as_other() == Some(ErrorKind::TransientError), "{err:?}");
        assert!(!err.is_user() && !err.is_timeout(), "{err:?}");
    }

    #[tokio::test]
    async fn https_to_a_server_that_does_not_speak_tls_fails_to_connect() {
        // Answers the ClientHello with plain HTTP, as a misconfigured endpoint would.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
        });
        let err = connector(None).call(request(&url)).await.unwrap_err();
        assert!(err.is_io(), "{err:?}");
        assert!(
            format!("{err:?}").to_lowercase().contains("corrupt") || format!("{err:?}").contains("InvalidContentType"),
            "{err:?}"
        );
    }

    #[test]
    fn amazons_roots_are_trusted() {
        let roots = root_store();
        let subjects: Vec<&[u8]> = roots.roots.iter().map(|anchor| anchor.subject.as_ref()).collect();
        assert!(subjects.len() > 100, "only {} roots", subjects.len());
        for name in ["Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4"] {
            assert!(subjects.iter().any(|s| s.windows(name.len()).any(|w| w == name.as_bytes())), "{name} missing");
        }
    }

    #[test]
    fn clients_with_the_same_timeouts_share_one_connector() {
        let client = Http1Client::default();
        let components = RuntimeComponentsBuilder::for_tests().build().unwrap();
        let settings =
            |connect: u64| HttpConnectorSettings::builder().connect_timeout(Duration::from_millis(connect)).build();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = runtime.enter();
        client.http_connector(&settings(3100), &components);
        client.http_connector(&settings(3100), &components);
        assert_eq!(client.connectors.lock().unwrap().len(), 1);
        client.http_connector(&settings(1000), &components);
        assert_eq!(client.connectors.lock().unwrap().len(), 2);
    }
}
