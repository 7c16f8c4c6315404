//! A small pool of authenticated connections to one server, for servers where every request must travel
//! over a Windows-authenticated connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use tokio::sync::Semaphore;
use url::Url;

use super::error::Protocol;
use super::{HandshakeError, NtlmConnection, Scheme, WindowsCredentials, WindowsIdentity};

/// How many authenticated connections a pool keeps to one server at most: 8. Requests beyond that wait
/// for a connection to come free rather than opening (and authenticating) more.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8;

/// How long opening a connection (TCP and TLS) may take: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Authenticated connections to one server, opened on demand up to a bound and reused.
///
/// Concurrent requests each take their own connection (one is opened and authenticated when all are
/// busy); a connection that broke is dropped. Each connection is authenticated once and stays so, unless
/// the server re-challenges every request, in which case [`NtlmConnection::send`] authenticates again.
#[derive(Debug)]
pub struct NtlmPool {
    url: Url,
    identity: WindowsIdentity,
    tls: Option<Arc<rustls::ClientConfig>>,
    scheme: Option<Scheme>,
    connect_timeout: Duration,
    idle: Mutex<Vec<NtlmConnection>>,
    permits: Semaphore,
    opened: AtomicU64,
    handshakes: AtomicU64,
}

impl NtlmPool {
    /// A pool for the server of `url`, logging in as `credentials`, with at most `max_connections`.
    /// `tls` is required for https (see [`platform_tls_config`](super::platform_tls_config)).
    pub fn new(
        url: Url,
        credentials: WindowsCredentials,
        tls: Option<Arc<rustls::ClientConfig>>,
        max_connections: usize,
    ) -> Self {
        Self::with_identity(
            url,
            WindowsIdentity::from(credentials),
            tls,
            max_connections,
        )
    }

    /// A pool for the server of `url`, logging in as `identity` (explicit credentials, or with the
    /// `kerberos` feature the current user), with at most `max_connections`.
    pub fn with_identity(
        url: Url,
        identity: WindowsIdentity,
        tls: Option<Arc<rustls::ClientConfig>>,
        max_connections: usize,
    ) -> Self {
        Self {
            url,
            identity,
            tls,
            scheme: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max_connections.max(1)),
            opened: AtomicU64::new(0),
            handshakes: AtomicU64::new(0),
        }
    }

    /// Uses `scheme` even when the server offers both. Defaults to the server's offer (NTLM first).
    #[must_use]
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = Some(scheme);
        self
    }

    /// How long opening a connection may take. Defaults to [`DEFAULT_CONNECT_TIMEOUT`].
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sends `request` over an authenticated connection (authenticating a new one when none is free).
    ///
    /// # Errors
    /// As [`NtlmConnection::send`], and the connection errors of [`NtlmConnection::connect`].
    pub async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HandshakeError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Protocol::PoolClosed)?;
        let Some(idle) = self.take_idle() else {
            let connection = self.open().await?;
            return self.send_on(connection, request).await;
        };
        // A reused connection may have been closed by the server while idle; an idempotent request that
        // fails on it before an answer is sent once more on a new connection.
        let again = is_idempotent(request.method()).then(|| copy(&request));
        match (self.send_on(idle, request).await, again) {
            (Err(HandshakeError::Io(_)), Some(again)) => {
                tracing::debug!(url = %self.url, "a reused connection failed; retrying on a new one");
                let connection = self.open().await?;
                self.send_on(connection, again).await
            }
            (result, _) => result,
        }
    }

    /// Sends on `connection`, counts its handshakes, and keeps it for reuse when it is still good.
    async fn send_on(
        &self,
        mut connection: NtlmConnection,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, HandshakeError> {
        let before = connection.handshakes();
        let result = connection.send_as(request, &self.identity).await;
        self.handshakes.fetch_add(
            u64::from(connection.handshakes() - before),
            Ordering::Relaxed,
        );
        if result.is_ok() && !connection.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(connection);
        }
        result
    }

    /// Connections opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Handshakes run so far, over all connections.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }

    fn take_idle(&self) -> Option<NtlmConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(connection) = idle.pop() {
            if !connection.is_closed() {
                return Some(connection);
            }
        }
        None
    }

    async fn open(&self) -> Result<NtlmConnection, HandshakeError> {
        let mut connection =
            NtlmConnection::connect(&self.url, self.tls.clone(), self.connect_timeout).await?;
        if let Some(scheme) = self.scheme {
            connection = connection.scheme(scheme);
        }
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(connection)
    }
}

fn is_idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PUT
            | http::Method::DELETE
    )
}

/// A copy of a request whose body is in memory.
fn copy(request: &Request<Bytes>) -> Request<Bytes> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}
