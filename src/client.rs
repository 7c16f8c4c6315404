//! [`AuthClient`]: the one request wrapper every backend shares. It decides *when* to log in — caching,
//! early refresh, one login in flight, retry once on 401 — and places the credential on each request.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use crate::authenticator::Authenticator;
use crate::credential::Credential;
use crate::error::{Endpoint, Error, Result};
use crate::future::BoxFuture;
use crate::origin;

/// How long before expiry a credential is renewed: 5 minutes (as Azure and UiPath's own PowerShell
/// client do), but never more than half the credential's lifetime, so short-lived tokens are still used.
pub const DEFAULT_REFRESH_BUFFER: Duration = Duration::from_secs(5 * 60);

/// How many more times a login answered 429 or 503 is tried: 2.
pub const DEFAULT_LOGIN_RETRIES: u32 = 2;

/// The longest `Retry-After` a login waits for before trying again: 30 s. A longer one ends in the error.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// How long the wait is when a 429 or 503 carries no `Retry-After`: 1 s.
pub const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);

/// After the server rejects the credentials, how long the client answers with that same error instead
/// of sending them again: 5 minutes. UiPath locks an account after 10 failures and Automation Anywhere
/// disables it after 3; a client looping on a wrong password must not be the cause.
pub const DEFAULT_REJECTED_LOGIN_COOLDOWN: Duration = Duration::from_secs(5 * 60);

/// After an early refresh fails while the credential is still valid, how long the client keeps serving
/// the old credential before trying to refresh again: 15 s.
pub const DEFAULT_REFRESH_RETRY_INTERVAL: Duration = Duration::from_secs(15);

/// Request timeout of the `reqwest::Client` built when none is given: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connect timeout of the `reqwest::Client` built when none is given: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
    http: reqwest::Client,
    auth: Arc<dyn Authenticator>,
    base: Url,
    config: Config,
    state: Mutex<State>,
    login_lock: tokio::sync::Mutex<()>,
}

#[derive(Clone, Copy, Debug)]
struct Config {
    refresh_buffer: Duration,
    login_retries: u32,
    max_retry_wait: Duration,
    rejected_login_cooldown: Duration,
    refresh_retry_interval: Duration,
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    generations: u64,
    attempts: u64,
    failure: Option<Failure>,
    refresh_not_before: Option<Instant>,
}

struct Cached {
    credential: Credential,
    generation: u64,
}

struct Failure {
    attempt: u64,
    error: Error,
    at: Instant,
}

enum Need {
    Login,
    Refresh(Credential),
}

impl State {
    /// The cached credential when it is outside its refresh window.
    fn fresh(&self, now: Instant, buffer: Duration) -> Option<(Credential, u64)> {
        let cached = self.current.as_ref()?;
        let fresh = match (cached.credential.expires_at(), cached.credential.lifetime()) {
            (Some(expires_at), Some(lifetime)) => now + buffer.min(lifetime / 2) < expires_at,
            _ => true,
        };
        fresh.then(|| (cached.credential.clone(), cached.generation))
    }

    fn drop_generation(&mut self, generation: u64) {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            self.current = None;
        }
    }
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
        self.inner.auth.backend()
    }

    /// The server's base URL; request paths are joined onto it.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The underlying `reqwest::Client`, for requests that must not carry the credential.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The authenticator this client logs in with.
    pub fn authenticator(&self) -> &Arc<dyn Authenticator> {
        &self.inner.auth
    }

    /// A valid credential: the cached one, or a fresh login when there is none or it is about to expire.
    ///
    /// # Errors
    /// The login's error; concurrent callers waiting on the same failed login all get it.
    pub async fn credential(&self) -> Result<Credential> {
        self.current_credential(None)
            .await
            .map(|(credential, _)| credential)
    }

    /// Drops the cached credential, so the next request logs in again.
    pub fn invalidate(&self) {
        self.state().current = None;
    }

    /// Ends the server-side session (where the server has one) and drops the cached credential.
    /// Call it at shutdown; a later request simply logs in again.
    ///
    /// # Errors
    /// The server's refusal of the logout; the cached credential is dropped all the same.
    pub async fn logout(&self) -> Result<()> {
        let _login = self.inner.login_lock.lock().await;
        let current = self.state().current.take();
        match current {
            Some(cached) => {
                self.inner
                    .auth
                    .logout(&self.inner.http, &cached.credential)
                    .await
            }
            None => Ok(()),
        }
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
        let mut http = HttpSender(&self.inner.http);
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
    pub(crate) async fn execute_with<S: Sender>(
        &self,
        request: reqwest::Request,
        sender: &mut S,
    ) -> Result<reqwest::Response, SendFailure<S::Error>> {
        let endpoint = Endpoint::new(request.method().clone(), request.url());
        if !origin::same_origin(&self.inner.base, request.url()) {
            return Err(SendFailure::Auth(self.request_error(
                endpoint,
                format!(
                    "{} is not the configured server {}; credentials are only sent to it",
                    request.url().origin().ascii_serialization(),
                    self.inner.base.origin().ascii_serialization()
                ),
            )));
        }
        let replay = request.try_clone();
        let (credential, generation) = self
            .current_credential(None)
            .await
            .map_err(SendFailure::Auth)?;
        let response = self
            .send_with(request, &credential, &endpoint, sender)
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        drop(response);
        tracing::info!(
            backend = self.backend(),
            endpoint = %endpoint,
            "answered 401: renewing the credential and retrying once"
        );
        let Some(retry) = replay else {
            self.state().drop_generation(generation);
            return Err(SendFailure::Auth(Error::BodyNotReplayable {
                backend: self.backend(),
                endpoint,
            }));
        };
        let (credential, _) = self
            .current_credential(Some(generation))
            .await
            .map_err(SendFailure::Auth)?;
        let response = self
            .send_with(retry, &credential, &endpoint, sender)
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
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
        credential: &Credential,
        endpoint: &Endpoint,
        sender: &mut S,
    ) -> Result<reqwest::Response, SendFailure<S::Error>> {
        credential
            .apply(&mut request)
            .map_err(|cause| SendFailure::Auth(self.request_error(endpoint.clone(), cause)))?;
        match credential.transport() {
            Some(transport) => transport.send(request).await.map_err(SendFailure::Auth),
            None => sender
                .send(request)
                .await
                .map_err(|error| SendFailure::Downstream(error, endpoint.clone())),
        }
    }

    fn request_error(&self, endpoint: Endpoint, cause: String) -> Error {
        Error::Request {
            backend: self.backend(),
            endpoint,
            cause,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The credential to use, with its generation. `rejected` names a generation the server has just
    /// answered 401 to: it is dropped unless a newer one has already replaced it.
    async fn current_credential(&self, rejected: Option<u64>) -> Result<(Credential, u64)> {
        let buffer = self.inner.config.refresh_buffer;
        let seen_attempts = {
            let mut state = self.state();
            if let Some(generation) = rejected {
                state.drop_generation(generation);
            }
            if let Some(hit) = state.fresh(Instant::now(), buffer) {
                tracing::trace!(
                    backend = self.backend(),
                    generation = hit.1,
                    "credential reused"
                );
                return Ok(hit);
            }
            state.attempts
        };

        let _login = self.inner.login_lock.lock().await;
        let now = Instant::now();
        let need = {
            let state = self.state();
            if let Some(hit) = state.fresh(now, buffer) {
                return Ok(hit);
            }
            if let Some(failure) = &state.failure {
                // A login finished while this caller waited and failed: share its outcome rather than
                // sending the same credentials again.
                if state.attempts != seen_attempts && failure.attempt == state.attempts {
                    tracing::debug!(
                        backend = self.backend(),
                        "sharing the failure of the login just made"
                    );
                    return Err(failure.error.clone());
                }
                if failure.error.is_login_rejected()
                    && now < failure.at + self.inner.config.rejected_login_cooldown
                {
                    tracing::debug!(
                        backend = self.backend(),
                        "credentials were rejected recently; not sending them again yet"
                    );
                    return Err(failure.error.clone());
                }
            }
            match &state.current {
                Some(cached) if !cached.credential.is_expired_at(now) => {
                    if state.refresh_not_before.is_some_and(|at| now < at) {
                        return Ok((cached.credential.clone(), cached.generation));
                    }
                    Need::Refresh(cached.credential.clone())
                }
                _ => Need::Login,
            }
        };

        let kind = match need {
            Need::Login => "login",
            Need::Refresh(_) => "refresh",
        };
        tracing::debug!(backend = self.backend(), kind, "logging in");
        let started = Instant::now();
        let outcome = self.log_in(&need).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let mut state = self.state();
        state.attempts += 1;
        match outcome {
            Ok(credential) => {
                tracing::info!(
                    backend = self.backend(),
                    kind,
                    elapsed_ms,
                    lifetime_s = credential.lifetime().map(|l| l.as_secs()),
                    placement = %credential.placement(),
                    "logged in"
                );
                state.generations += 1;
                let generation = state.generations;
                state.current = Some(Cached {
                    credential: credential.clone(),
                    generation,
                });
                state.failure = None;
                state.refresh_not_before = None;
                Ok((credential, generation))
            }
            Err(error) => {
                let now = Instant::now();
                if matches!(need, Need::Refresh(_))
                    && let Some(cached) = &state.current
                    && !cached.credential.is_expired_at(now)
                {
                    // Keep serving the still-valid credential; try the refresh again a little later.
                    tracing::warn!(
                        backend = self.backend(),
                        error = %error,
                        "early refresh failed; keeping the still-valid credential"
                    );
                    let hit = (cached.credential.clone(), cached.generation);
                    state.refresh_not_before = Some(now + self.inner.config.refresh_retry_interval);
                    return Ok(hit);
                }
                tracing::warn!(backend = self.backend(), kind, elapsed_ms, error = %error, "login failed");
                state.failure = Some(Failure {
                    attempt: state.attempts,
                    error: error.clone(),
                    at: now,
                });
                Err(error)
            }
        }
    }

    /// Runs the login or refresh, trying again after a 429 or 503 as the server asks.
    async fn log_in(&self, need: &Need) -> Result<Credential> {
        let Inner {
            http, auth, config, ..
        } = &*self.inner;
        let mut tries = 0;
        loop {
            let result = match need {
                Need::Login => auth.authenticate(http).await,
                Need::Refresh(current) => auth.refresh(http, current).await,
            };
            let error = match result {
                Ok(credential) => return Ok(credential),
                Err(error) => error,
            };
            let busy = matches!(
                error.status(),
                Some(StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE)
            ) && !error.is_login_rejected();
            let wait = error.retry_after().unwrap_or(DEFAULT_RETRY_WAIT);
            if !busy || tries >= config.login_retries || wait > config.max_retry_wait {
                return Err(error);
            }
            tries += 1;
            tracing::warn!(
                backend = auth.backend(),
                status = error.status().map(|s| s.as_u16()),
                wait_ms = wait.as_millis() as u64,
                "login throttled by the server; trying again"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

impl fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthClient")
            .field("authenticator", &self.inner.auth)
            .field("base_url", &self.inner.base.as_str())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
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
    ) -> BoxFuture<'_, Result<reqwest::Response, Self::Error>>;
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
    ) -> BoxFuture<'_, Result<reqwest::Response, reqwest::Error>> {
        Box::pin(self.0.execute(request))
    }
}

/// Builds an [`AuthClient`]; setters are named after what they set and say their default.
#[must_use]
pub struct AuthClientBuilder {
    auth: Arc<dyn Authenticator>,
    http: Option<reqwest::Client>,
    config: Config,
    allow_http: bool,
}

impl AuthClientBuilder {
    fn new(auth: Arc<dyn Authenticator>) -> Self {
        Self {
            auth,
            http: None,
            config: Config {
                refresh_buffer: DEFAULT_REFRESH_BUFFER,
                login_retries: DEFAULT_LOGIN_RETRIES,
                max_retry_wait: DEFAULT_MAX_RETRY_WAIT,
                rejected_login_cooldown: DEFAULT_REJECTED_LOGIN_COOLDOWN,
                refresh_retry_interval: DEFAULT_REFRESH_RETRY_INTERVAL,
            },
            allow_http: false,
        }
    }

    /// The `reqwest::Client` used for logins and calls alike: bring your own for a custom root CA, a
    /// proxy or other timeouts. Build it with `redirect(reqwest::redirect::Policy::none())`: a client that
    /// follows redirects can carry non-`Authorization` credentials to another host.
    ///
    /// Defaults to a client with no redirects, a [`DEFAULT_TIMEOUT`] request timeout and a
    /// [`DEFAULT_CONNECT_TIMEOUT`] connect timeout.
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
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(DEFAULT_TIMEOUT)
                .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
                .build()
                .map_err(|e| {
                    Error::config(backend, format!("could not build the HTTP client ({e})"))
                })?,
        };
        Ok(AuthClient {
            inner: Arc::new(Inner {
                http,
                auth: self.auth,
                base,
                config: self.config,
                state: Mutex::new(State::default()),
                login_lock: tokio::sync::Mutex::new(()),
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
