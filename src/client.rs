//! [`AuthClient`]: the one request wrapper every backend shares. It decides *when* to log in — caching,
//! early refresh, one login in flight, retry once on 401 — and places the credential on each request.

mod cache;
mod default_http;
mod shared;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use url::Url;

use crate::authenticator::Authenticator;
use crate::credential::Credential;
use crate::error::{Endpoint, Error, Result};
use crate::origin;
use crate::store::{StoreKey, TokenStore};
use cache::{Cached, Config, CredentialCache};
use shared::SharedStore;

pub use cache::{
    DEFAULT_LOGIN_RETRIES, DEFAULT_MAX_RETRY_WAIT, DEFAULT_REFRESH_BUFFER,
    DEFAULT_REFRESH_RETRY_INTERVAL, DEFAULT_REJECTED_LOGIN_COOLDOWN, DEFAULT_RETRY_WAIT,
};
pub use default_http::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};

/// An HTTP client that stays logged in.
///
/// It wraps a `reqwest::Client` and one [`Authenticator`]. For every request it uses the cached
/// credential, logs in when there is none or it is about to expire (one login in flight however many
/// tasks wait), places the credential where the server expects it, and on a 401 logs in once more and
/// retries once. Credentials are only sent to the authenticator's origin.
///
/// `AuthClient` is cheap to clone and every clone shares the cache: there is no need to wrap it in an
/// `Arc`. Share one client per server and user.
///
/// ```no_run
/// # async fn run() -> rpa_auth::Result<()> {
/// use rpa_auth::{AuthClient, SecretString, UiPathBearerLogin};
///
/// let login = UiPathBearerLogin::new(
///     "https://orchestrator.example.com/",
///     "admin",
///     SecretString::from(std::env::var("RPA_AUTH_PASSWORD").unwrap_or_default()),
/// )?
/// .tenant("Default");
/// let client = AuthClient::new(login)?;
/// let jobs = client.get("odata/Jobs").send().await?;
/// println!("{}", jobs.status());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: Url,
    cache: Arc<CredentialCache>,
}

impl AuthClient {
    /// A client with the default settings for `authenticator`.
    ///
    /// # Errors
    /// [`Error::Config`] when the server URL is plain `http://` to a host that is not loopback.
    pub fn new(authenticator: impl Authenticator + 'static) -> Result<Self> {
        Self::builder(authenticator).build()
    }

    /// A builder for a client logging in with `authenticator`.
    pub fn builder(authenticator: impl Authenticator + 'static) -> AuthClientBuilder {
        AuthClientBuilder::new(Arc::new(authenticator))
    }

    /// The backend name, as used in errors.
    pub fn backend(&self) -> &'static str {
        self.inner.cache.authenticator().backend()
    }

    /// The server's base URL; request paths are joined onto it.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The underlying `reqwest::Client`, for requests that must not carry the credential.
    pub fn http(&self) -> &reqwest::Client {
        self.inner.cache.http()
    }

    /// The authenticator this client logs in with.
    pub fn authenticator(&self) -> &Arc<dyn Authenticator> {
        self.inner.cache.authenticator()
    }

    /// A valid credential: the cached one, or a fresh login when there is none or it is about to expire.
    ///
    /// # Errors
    /// The login's error; concurrent callers waiting on the same failed login all get it.
    pub async fn credential(&self) -> Result<Credential> {
        self.inner
            .cache
            .get(None)
            .await
            .map(|cached| cached.credential().clone())
    }

    /// `text` with every secret this client holds or has been issued removed (password, API key,
    /// client secret, multi-factor code, current and earlier tokens), in every form a server may echo
    /// it in (see [`Secrets`](crate::Secrets)). Use it before printing or logging a server's answer.
    pub fn redact(&self, text: &str) -> String {
        self.inner.cache.redact(text)
    }

    /// Drops the cached credential, so the next request logs in again.
    pub fn invalidate(&self) {
        self.inner.cache.invalidate();
    }

    /// Ends the server-side session (where the server has one) and drops the cached credential.
    /// Call it at shutdown; a later request simply logs in again.
    ///
    /// # Errors
    /// The server's refusal of the logout; the cached credential is dropped all the same.
    pub async fn logout(&self) -> Result<()> {
        self.inner.cache.logout().await
    }

    /// Starts a request to `path`, relative to the base URL (`odata/Jobs`, `/odata/Jobs`), or an absolute
    /// URL on the same origin.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = match origin::join(&self.inner.base, path) {
            Ok(url) => Ok(reqwest::Request::new(method, url)),
            Err(e) => Err(Error::Request {
                backend: self.backend(),
                endpoint: Endpoint::new(method, &self.inner.base),
                cause: format!("`{path}` is not a valid path ({e})"),
            }),
        };
        RequestBuilder {
            client: self.clone(),
            request,
        }
    }

    /// Starts a `GET` request; see [`AuthClient::request`].
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// Starts a `POST` request; see [`AuthClient::request`].
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// Starts a `PUT` request; see [`AuthClient::request`].
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    /// Starts a `PATCH` request; see [`AuthClient::request`].
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// Starts a `DELETE` request; see [`AuthClient::request`].
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// Sends `request` with the credential in place. On a 401 the credential is renewed once and the
    /// request sent once more; any other status is returned as it came, as reqwest does.
    ///
    /// # Errors
    /// - [`Error::Request`] for a URL outside the configured origin (nothing is sent), or a body that
    ///   cannot carry the credential;
    /// - the login's error when no credential can be had;
    /// - [`Error::Transport`] when the request gets no answer;
    /// - [`Error::BodyNotReplayable`] for a 401 on a streaming body;
    /// - [`Error::Unauthorized`] when the retry is answered 401 too.
    pub async fn execute(&self, request: reqwest::Request) -> Result<reqwest::Response> {
        let mut http = HttpSender(self.http());
        self.execute_with(request, &mut http)
            .await
            .map_err(|failure| match failure {
                SendFailure::Auth(error) => error,
                SendFailure::Downstream(error, endpoint) => {
                    Error::transport(self.backend(), endpoint, error)
                }
            })
    }

    /// The request wrapper, over any way of sending: reqwest itself, or the rest of a middleware chain.
    /// Credentials that are authenticated connections go through their own transport instead.
    ///
    /// On the way of a request answered as expected nothing is allocated beyond the copy kept for a
    /// retry: the credential is shared, its header made once, and the endpoint named only for an error.
    pub(crate) async fn execute_with<S: Sender>(
        &self,
        request: reqwest::Request,
        sender: &mut S,
    ) -> Result<reqwest::Response, SendFailure<S::Error>> {
        if !origin::same_origin(&self.inner.base, request.url()) {
            let endpoint = Endpoint::new(request.method().clone(), request.url());
            return Err(SendFailure::Auth(self.request_error(
                endpoint,
                format!(
                    "{} is not the configured server {}; credentials are only sent to it",
                    request.url().origin().ascii_serialization(),
                    self.inner.base.origin().ascii_serialization()
                ),
            )));
        }
        let kept = Kept::of(&request);
        let cached = self
            .inner
            .cache
            .get(None)
            .await
            .map_err(SendFailure::Auth)?;
        // Placed and sent here rather than through `send_with`, so the future every request awaits holds
        // one copy of the request, not two.
        let mut request = request;
        cached
            .placed()
            .apply(&mut request)
            .map_err(|cause| SendFailure::Auth(self.request_error(kept.endpoint(), cause)))?;
        let response = match cached.credential().transport() {
            Some(transport) => transport.send(request).await.map_err(SendFailure::Auth)?,
            None => sender
                .send(request)
                .await
                .map_err(|error| SendFailure::Downstream(error, kept.endpoint()))?,
        };
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        drop(response);
        // The rare path, boxed so its state does not enlarge every request's future.
        Box::pin(self.retry_after_401(kept, cached, sender)).await
    }

    /// After a 401 to `rejected`: renews the credential once and sends the kept copy once more.
    async fn retry_after_401<S: Sender>(
        &self,
        kept: Kept,
        rejected: Arc<Cached>,
        sender: &mut S,
    ) -> Result<reqwest::Response, SendFailure<S::Error>> {
        let endpoint = kept.endpoint();
        tracing::info!(
            backend = self.backend(),
            endpoint = %endpoint,
            "answered 401: renewing the credential and retrying once"
        );
        self.inner.cache.discard(rejected.credential()).await;
        let generation = rejected.generation();
        let Kept::Replay(retry) = kept else {
            self.inner.cache.reject(generation);
            return Err(SendFailure::Auth(Error::BodyNotReplayable {
                backend: self.backend(),
                endpoint,
            }));
        };
        let cached = self
            .inner
            .cache
            .get(Some(generation))
            .await
            .map_err(SendFailure::Auth)?;
        let kept = Kept::Endpoint(endpoint);
        let response = self.send_with(retry, &cached, &kept, sender).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            let endpoint = kept.endpoint();
            tracing::warn!(backend = self.backend(), endpoint = %endpoint, "still 401 after a fresh login");
            return Err(SendFailure::Auth(Error::Unauthorized {
                backend: self.backend(),
                endpoint,
                status: response.status(),
            }));
        }
        Ok(response)
    }

    async fn send_with<S: Sender>(
        &self,
        mut request: reqwest::Request,
        cached: &Cached,
        kept: &Kept,
        sender: &mut S,
    ) -> Result<reqwest::Response, SendFailure<S::Error>> {
        cached
            .placed()
            .apply(&mut request)
            .map_err(|cause| SendFailure::Auth(self.request_error(kept.endpoint(), cause)))?;
        match cached.credential().transport() {
            Some(transport) => transport.send(request).await.map_err(SendFailure::Auth),
            None => sender
                .send(request)
                .await
                .map_err(|error| SendFailure::Downstream(error, kept.endpoint())),
        }
    }

    fn request_error(&self, endpoint: Endpoint, cause: String) -> Error {
        Error::Request {
            backend: self.backend(),
            endpoint,
            cause,
        }
    }
}

impl fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthClient")
            .field("authenticator", self.authenticator())
            .field("base_url", &self.inner.base.as_str())
            .field("config", self.inner.cache.config())
            .finish_non_exhaustive()
    }
}

/// What the wrapper keeps of a request while it is out: a copy to send again after a 401 (a bytes body
/// is reference-counted, so the copy is cheap), or, for a streaming body that cannot be sent twice, the
/// endpoint to name in errors.
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every request keeps a replay; boxing it would cost an allocation each time"
)]
enum Kept {
    Replay(reqwest::Request),
    Endpoint(Endpoint),
}

impl Kept {
    fn of(request: &reqwest::Request) -> Self {
        match request.try_clone() {
            Some(replay) => Self::Replay(replay),
            None => Self::Endpoint(Endpoint::new(request.method().clone(), request.url())),
        }
    }

    /// The endpoint of the request, for an error or a log event.
    fn endpoint(&self) -> Endpoint {
        match self {
            Self::Replay(request) => Endpoint::new(request.method().clone(), request.url()),
            Self::Endpoint(endpoint) => endpoint.clone(),
        }
    }
}

/// A way of sending a request once the credential is on it.
pub(crate) trait Sender: Send {
    /// What sending can fail with.
    type Error;
    /// Sends `request`.
    fn send(
        &mut self,
        request: reqwest::Request,
    ) -> impl Future<Output = Result<reqwest::Response, Self::Error>> + Send + '_;
}

/// Why [`AuthClient::execute_with`] failed: the wrapper's own error, or the sender's (with the endpoint
/// of the request it failed on).
pub(crate) enum SendFailure<E> {
    Auth(Error),
    Downstream(E, Endpoint),
}

/// Sends with the client's `reqwest::Client`.
struct HttpSender<'c>(&'c reqwest::Client);

impl Sender for HttpSender<'_> {
    type Error = reqwest::Error;
    fn send(
        &mut self,
        request: reqwest::Request,
    ) -> impl Future<Output = Result<reqwest::Response, reqwest::Error>> + Send + '_ {
        self.0.execute(request)
    }
}

/// Builds an [`AuthClient`]; setters are named after what they set and say their default.
#[must_use]
pub struct AuthClientBuilder {
    auth: Arc<dyn Authenticator>,
    http: Option<reqwest::Client>,
    config: Config,
    allow_http: bool,
    store: Option<Arc<dyn TokenStore>>,
    store_retry_interval: Duration,
}

impl AuthClientBuilder {
    fn new(auth: Arc<dyn Authenticator>) -> Self {
        Self {
            auth,
            http: None,
            config: Config::default(),
            allow_http: false,
            store: None,
            store_retry_interval: shared::STORE_RETRY_INTERVAL,
        }
    }

    /// A token store shared with other clients, processes or machines (see [`crate::store`]): consulted
    /// only when this client has no usable credential in memory, so that N clients of one account make
    /// one login. Logins whose authenticator names no [identity](Authenticator::store_identity), such as
    /// NTLM's authenticated connections, never go through it. Defaults to none: every client logs in by
    /// itself.
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// After the token store fails, how long the client logs in by itself before trying the store again.
    /// Defaults to 30 s.
    pub fn token_store_retry_interval(mut self, interval: Duration) -> Self {
        self.store_retry_interval = interval;
        self
    }

    /// The `reqwest::Client` used for logins and calls alike: bring your own for a custom root CA, a
    /// proxy or other timeouts. Build it with `redirect(reqwest::redirect::Policy::none())`: a client that
    /// follows redirects can carry non-`Authorization` credentials to another host.
    ///
    /// Defaults to a client with no redirects, a [`DEFAULT_TIMEOUT`] request timeout and a
    /// [`DEFAULT_CONNECT_TIMEOUT`] connect timeout, built once and shared by every `AuthClient` built
    /// without `http_client` on the same tokio runtime (one built outside a runtime gets its own).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// How long before expiry the credential is renewed (capped at half its lifetime).
    /// Defaults to [`DEFAULT_REFRESH_BUFFER`].
    pub fn refresh_buffer(mut self, buffer: Duration) -> Self {
        self.config.refresh_buffer = buffer;
        self
    }

    /// How many more times a login answered 429 or 503 is tried. Defaults to [`DEFAULT_LOGIN_RETRIES`].
    pub fn login_retries(mut self, retries: u32) -> Self {
        self.config.login_retries = retries;
        self
    }

    /// The longest `Retry-After` a login waits for. Defaults to [`DEFAULT_MAX_RETRY_WAIT`].
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.config.max_retry_wait = wait;
        self
    }

    /// How long a rejection of the credentials is answered from memory instead of sending them again.
    /// Defaults to [`DEFAULT_REJECTED_LOGIN_COOLDOWN`].
    pub fn rejected_login_cooldown(mut self, cooldown: Duration) -> Self {
        self.config.rejected_login_cooldown = cooldown;
        self
    }

    /// How long a still-valid credential is served after a failed early refresh before the next try.
    /// Defaults to [`DEFAULT_REFRESH_RETRY_INTERVAL`].
    pub fn refresh_retry_interval(mut self, interval: Duration) -> Self {
        self.config.refresh_retry_interval = interval;
        self
    }

    /// Allows plain `http://` to hosts that are not loopback, sending credentials unencrypted.
    /// Defaults to `false`; loopback (`127.0.0.1`, `localhost`, `::1`) is always allowed.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] when the server URL is plain `http://` to a host that is not loopback and
    /// [`allow_http`](Self::allow_http) is off, or when the default `reqwest::Client` cannot be built.
    pub fn build(self) -> Result<AuthClient> {
        let backend = self.auth.backend();
        let base = self.auth.base_url().clone();
        if base.scheme() == "http" && !self.allow_http && !origin::is_loopback(&base) {
            return Err(Error::config(
                backend,
                format!(
                    "{} is plain http://, which would send credentials unencrypted; use https:// or opt in with allow_http",
                    base.origin().ascii_serialization()
                ),
            ));
        }
        let http = match self.http {
            Some(http) => http,
            None => default_http::default_client(backend)?,
        };
        let mut cache = CredentialCache::new(http, self.auth.clone(), self.config);
        match (self.store, self.auth.store_identity()) {
            (Some(store), Some(identity)) => {
                let key = StoreKey::new(backend, &base, &identity);
                cache = cache.with_store(SharedStore::new(store, key, self.store_retry_interval));
            }
            (Some(store), None) => tracing::debug!(
                backend,
                store = store.kind(),
                "this login cannot be shared (no account identity, or an authenticated connection); the token store is not used"
            ),
            (None, _) => {}
        }
        Ok(AuthClient {
            inner: Arc::new(Inner {
                base,
                cache: Arc::new(cache),
            }),
        })
    }
}

impl fmt::Debug for AuthClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthClientBuilder")
            .field("authenticator", &self.auth)
            .field("config", &self.config)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

/// A request being built on an [`AuthClient`]; [`send`](Self::send) places the credential and sends it.
#[must_use]
pub struct RequestBuilder {
    client: AuthClient,
    request: Result<reqwest::Request>,
}

impl RequestBuilder {
    /// Adds a header (e.g. `X-UIPATH-OrganizationUnitId` for one call). A header the credential would
    /// add is left as the request sets it.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        if let Ok(request) = &mut self.request {
            match (name.try_into(), value.try_into()) {
                (Ok(name), Ok(value)) => {
                    request.headers_mut().append(name, value);
                }
                _ => {
                    let endpoint = Endpoint::new(request.method().clone(), request.url());
                    self.request = Err(self
                        .client
                        .request_error(endpoint, "invalid header name or value".into()));
                }
            }
        }
        self
    }

    /// Appends query parameters.
    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        if let Ok(request) = &mut self.request {
            request.url_mut().query_pairs_mut().extend_pairs(pairs);
        }
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        if let Ok(request) = &mut self.request {
            match serde_json::to_vec(body) {
                Ok(bytes) => {
                    *request.body_mut() = Some(bytes.into());
                    request.headers_mut().insert(
                        reqwest::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                Err(e) => {
                    let endpoint = Endpoint::new(request.method().clone(), request.url());
                    self.request = Err(self
                        .client
                        .request_error(endpoint, format!("could not write the JSON body ({e})")));
                }
            }
        }
        self
    }

    /// Sets the body as it is.
    pub fn body(mut self, body: impl Into<reqwest::Body>) -> Self {
        if let Ok(request) = &mut self.request {
            *request.body_mut() = Some(body.into());
        }
        self
    }

    /// Sets a timeout for this request, overriding the client's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Ok(request) = &mut self.request {
            *request.timeout_mut() = Some(timeout);
        }
        self
    }

    /// The request as built so far, without the credential.
    ///
    /// # Errors
    /// [`Error::Request`] for an invalid path, header or body.
    pub fn build(self) -> Result<reqwest::Request> {
        self.request
    }

    /// Places the credential and sends the request; see [`AuthClient::execute`].
    ///
    /// # Errors
    /// As [`AuthClient::execute`], and [`Error::Request`] for an invalid path, header or body.
    pub async fn send(self) -> Result<reqwest::Response> {
        let request = self.request?;
        self.client.execute(request).await
    }
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self
            .request
            .as_ref()
            .map(|r| Endpoint::new(r.method().clone(), r.url()).to_string());
        f.debug_struct("RequestBuilder")
            .field("request", &target)
            .finish_non_exhaustive()
    }
}
