//! The one HTTP server behind every emulator (and the crate's own test servers): a loopback listener,
//! a [`Handler`] for the routes, and what every emulator shares: the [`Fault`] queue, the request log and
//! the counters.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use url::Url;

use super::lock;
use super::windows::WindowsGate;

/// The largest request body an emulator reads.
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// How many requests an emulator remembers for [`RecordedRequest`] inspection.
const MAX_RECORDED: usize = 1000;

/// A misbehaviour an emulator shows for its next answers.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `429 Too Many Requests`, with `Retry-After: <seconds>` when given.
    TooManyRequests {
        /// The `Retry-After` value to send.
        retry_after: Option<Duration>,
    },
    /// `503 Service Unavailable`, with `Retry-After: <seconds>` when given.
    Unavailable {
        /// The `Retry-After` value to send.
        retry_after: Option<Duration>,
    },
    /// `500 Internal Server Error` with a plain-text body.
    InternalError,
    /// An HTML page (a proxy's or a login portal's) with the given status, instead of the real answer.
    HtmlPage {
        /// The status to answer with.
        status: u16,
    },
    /// The real answer, with its body cut in half.
    TruncatedJson,
    /// A `200` JSON answer of this many bytes.
    OversizedBody {
        /// Body size in bytes.
        bytes: usize,
    },
    /// The real answer, sent after this delay.
    Delay(Duration),
}

/// A request an emulator received, for tests that check what the client sent.
#[derive(Clone)]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The path as sent.
    pub path: String,
    /// The headers as sent (credentials included: this is the server's view).
    pub headers: HeaderMap,
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// One request as a [`Handler`] sees it, its body read whole.
#[derive(Debug)]
pub struct EmuRequest {
    pub(crate) method: Method,
    /// The path, lower-cased: vendor servers route case-insensitively.
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Which TCP connection the request came on (connection-bound Windows authentication needs it).
    pub(crate) connection: u64,
}

impl EmuRequest {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path (without the query), lower-cased: vendor servers route case-insensitively.
    /// [`Server::recorded`] keeps it as sent.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The value of header `name`, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Which TCP connection the request came on, numbered from 1 in order of arrival.
    pub fn connection(&self) -> u64 {
        self.connection
    }
}

/// An answer as a [`Handler`] builds it.
#[derive(Debug)]
pub struct EmuResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl EmuResponse {
    /// An answer with `status` and `body`, and no headers.
    pub fn new(status: StatusCode, body: Bytes) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body,
        }
    }

    /// A JSON answer.
    pub fn json(status: StatusCode, body: &serde_json::Value) -> Self {
        json_response(status, body)
    }

    /// Adds header `name: value` (after any already there with that name).
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn into_hyper(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

/// A server's routes: a vendor emulator's, or a test's own.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `request`, or `None` for a route the server does not serve (answered 404 and
    /// counted as unexpected).
    fn handle(&self, request: &EmuRequest) -> Option<EmuResponse>;

    /// The Windows authentication in front of the routes, if any (its counters become the server's).
    fn windows(&self) -> Option<&WindowsGate> {
        None
    }
}

#[derive(Default)]
struct FaultRule {
    fault: Option<Fault>,
    path: Option<String>,
    remaining: u32,
}

/// What every server shares: the fault queue, request log and counters.
#[derive(Default)]
struct Common {
    faults: Mutex<Vec<FaultRule>>,
    recorded: Mutex<VecDeque<RecordedRequest>>,
    requests: AtomicU64,
    unexpected: AtomicU64,
}

impl Common {
    fn inject(&self, fault: Fault, path: Option<&str>, times: u32) {
        lock(&self.faults).push(FaultRule {
            fault: Some(fault),
            path: path.map(|p| p.trim_start_matches('/').to_ascii_lowercase()),
            remaining: times,
        });
    }

    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let rule = faults.iter_mut().find(|rule| {
            rule.remaining > 0
                && rule
                    .path
                    .as_deref()
                    .is_none_or(|p| path.trim_start_matches('/') == p)
        })?;
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        faults.retain(|rule| rule.remaining > 0);
        fault
    }

    fn unexpected(&self, request: &EmuRequest) -> EmuResponse {
        self.unexpected.fetch_add(1, Ordering::Relaxed);
        json_response(
            StatusCode::NOT_FOUND,
            &serde_json::json!({ "message": format!("emulator: no route for {} {}", request.method, request.path) }),
        )
    }
}

/// A running server on a free loopback port, answering with its [`Handler`]; it stops when dropped.
///
/// Every emulator is one (they dereference to it), and a test can start one with routes of its own.
pub struct Server {
    addr: SocketAddr,
    common: Arc<Common>,
    handler: Arc<dyn Handler>,
    tasks: JoinSet<()>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.url().as_str())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts a server that answers with `handler`.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn start(handler: Arc<dyn Handler>) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let common = Arc::new(Common::default());
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(listener, handler.clone(), common.clone()));
        Ok(Self {
            addr,
            common,
            handler,
            tasks,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> Url {
        // A loopback socket address always makes a valid URL.
        Url::parse(&format!("http://{}/", self.addr)).unwrap_or_else(|_| unreachable!())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Makes the next `times` answers on `path` (any path when `None`) show `fault`.
    pub fn inject(&self, fault: Fault, path: Option<&str>, times: u32) {
        self.common.inject(fault, path, times);
    }

    /// All requests received.
    pub fn requests(&self) -> u64 {
        self.common.requests.load(Ordering::Relaxed)
    }

    /// Requests to routes the server does not serve. A test should expect zero.
    pub fn unexpected_requests(&self) -> u64 {
        self.common.unexpected.load(Ordering::Relaxed)
    }

    /// The last requests received (up to 1000), oldest first.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        lock(&self.common.recorded).iter().cloned().collect()
    }

    /// Successful Windows-authentication handshakes (one per connection while connections stay
    /// authenticated); 0 without Windows authentication.
    pub fn handshakes(&self) -> u64 {
        self.handler.windows().map_or(0, WindowsGate::handshakes)
    }

    /// Refused Windows-authentication handshakes.
    pub fn windows_rejections(&self) -> u64 {
        self.handler.windows().map_or(0, WindowsGate::rejections)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

async fn accept_loop(listener: TcpListener, handler: Arc<dyn Handler>, common: Arc<Common>) {
    let mut connections = JoinSet::new();
    let mut next_connection = 0u64;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        next_connection += 1;
        let connection = next_connection;
        let handler = handler.clone();
        let common = common.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let handler = handler.clone();
                let common = common.clone();
                async move { Ok::<_, Infallible>(serve(&*handler, &common, request, connection).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
}

async fn serve(
    handler: &dyn Handler,
    common: &Common,
    request: Request<Incoming>,
    connection: u64,
) -> Response<Full<Bytes>> {
    common.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return text_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                .into_hyper();
        }
    };
    {
        let mut recorded = lock(&common.recorded);
        if recorded.len() == MAX_RECORDED {
            recorded.pop_front();
        }
        recorded.push_back(RecordedRequest {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            headers: parts.headers.clone(),
        });
    }
    let request = EmuRequest {
        method: parts.method,
        path: parts.uri.path().to_ascii_lowercase(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        connection,
    };
    let answer = |request: &EmuRequest| {
        handler
            .handle(request)
            .unwrap_or_else(|| common.unexpected(request))
    };
    match common.take_fault(&request.path) {
        None => answer(&request),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            answer(&request)
        }
        Some(Fault::TruncatedJson) => {
            let mut response = answer(&request);
            response.body = response.body.slice(..response.body.len() / 2);
            response
        }
        Some(fault) => fault_response(&fault),
    }
    .into_hyper()
}

fn fault_response(fault: &Fault) -> EmuResponse {
    let with_retry_after = |status, retry_after: &Option<Duration>| {
        let mut response =
            json_response(status, &serde_json::json!({ "message": "emulated fault" }));
        if let Some(wait) = retry_after {
            response
                .headers
                .insert(RETRY_AFTER, HeaderValue::from(wait.as_secs()));
        }
        response
    };
    match fault {
        Fault::TooManyRequests { retry_after } => {
            with_retry_after(StatusCode::TOO_MANY_REQUESTS, retry_after)
        }
        Fault::Unavailable { retry_after } => {
            with_retry_after(StatusCode::SERVICE_UNAVAILABLE, retry_after)
        }
        Fault::InternalError => {
            text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Fault::HtmlPage { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
            html_response(
                status,
                "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>Sign in to continue</form></body></html>",
            )
        }
        Fault::OversizedBody { bytes } => {
            let mut body = Vec::with_capacity(bytes + 16);
            body.extend_from_slice(b"{\"result\":\"");
            body.resize(bytes.saturating_sub(2).max(body.len()), b'a');
            body.extend_from_slice(b"\"}");
            let mut response = EmuResponse::new(StatusCode::OK, Bytes::from(body));
            response
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Fault::Delay(_) | Fault::TruncatedJson => {
            text_response(StatusCode::INTERNAL_SERVER_ERROR, "unreachable")
        }
    }
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> EmuResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = EmuResponse::new(status, Bytes::from(bytes));
    response.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A plain-text answer.
pub(crate) fn text_response(status: StatusCode, body: &str) -> EmuResponse {
    let mut response = EmuResponse::new(status, Bytes::from(body.to_owned()));
    response.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// An HTML answer.
pub(crate) fn html_response(status: StatusCode, body: &str) -> EmuResponse {
    let mut response = text_response(status, body);
    response.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
