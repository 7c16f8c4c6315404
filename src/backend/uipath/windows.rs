//! UiPath Orchestrator with Windows authentication (vendor-apis.md §1.2): directory users skip
//! `/api/Account/Authenticate`; every API request travels over a connection that NTLM or Negotiate has
//! authenticated (IIS keeps the connection authenticated after the handshake).

use std::fmt;
use std::sync::{Arc, OnceLock};

use reqwest::ResponseBuilderExt;
use secrecy::SecretString;
use url::Url;

use super::context::context_setters;
use super::{ContextHeaders, ENV_PASSWORD, ENV_URL, ENV_USERNAME};
use crate::backend::{
    authenticator_by_login, from_env_constructors, require_name, require_secret, windows_setters,
};
use crate::credential::{AuthenticatedTransport, Credential};
use crate::env::Env;
use crate::error::{Endpoint, Error, Result};
use crate::future::BoxFuture;
use crate::ntlm::{
    DEFAULT_MAX_CONNECTIONS, NtlmPool, Scheme, WindowsCredentials, WindowsIdentity, tls_for,
};
use crate::origin;
use crate::redact::Secrets;

const BACKEND: &str = "uipath-ntlm";

/// The call made at login to check the Windows credentials once, before any real request: the current
/// user, which every user may read.
const DEFAULT_PROBE_PATH: &str = "odata/Users/UiPath.Server.Configuration.OData.GetCurrentUser";

/// Environment variable: the Windows domain, for a plain `UIPATH_USERNAME`.
const ENV_DOMAIN: &str = "UIPATH_DOMAIN";

/// Logs into UiPath Orchestrator as a Windows (directory) user, from any platform, with explicit
/// credentials.
///
/// The login opens a connection, runs the NTLM (or Negotiate) handshake on it with a probe call, and
/// yields a credential whose requests go over a small pool of authenticated connections. A wrong password
/// therefore fails once, at login, where the [`AuthClient`](crate::AuthClient) makes sure concurrent
/// callers share that one attempt: a directory account locks after a few failures too.
///
/// ```no_run
/// # async fn run() -> rpa_auth::Result<()> {
/// use rpa_auth::{AuthClient, SecretString};
/// use rpa_auth::UiPathNtlmLogin;
///
/// let login = UiPathNtlmLogin::new("https://orch.corp.example/", r"CORP\robot", SecretString::from("…"))?;
/// let client = AuthClient::new(login)?;
/// let jobs = client.get("odata/Jobs").header("X-UIPATH-OrganizationUnitId", "1").send().await?;
/// # let _ = jobs; Ok(()) }
/// ```
///
/// Clones share the pool of authenticated connections (a setter called on a clone gives it a pool of
/// its own).
#[derive(Clone)]
pub struct UiPathNtlmLogin {
    base: Url,
    identity: WindowsIdentity,
    tls: Option<Arc<rustls::ClientConfig>>,
    scheme: Option<Scheme>,
    max_connections: usize,
    probe_path: String,
    headers: ContextHeaders,
    pool: Arc<OnceLock<Arc<NtlmPool>>>,
    secrets: Secrets,
}

impl UiPathNtlmLogin {
    /// A Windows login to the Orchestrator at `base_url` as `user` (`DOMAIN\user`, `user@domain`, or a
    /// plain name with [`domain`](Self::domain)).
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL or an empty user name or password.
    pub fn new(base_url: &str, user: impl Into<String>, password: SecretString) -> Result<Self> {
        let user = user.into();
        require_name(BACKEND, "user name", &user)?;
        require_secret(BACKEND, "password", &password)?;
        let secrets = Secrets::new().with(&password);
        Self::with_identity(
            base_url,
            WindowsIdentity::from(WindowsCredentials::new(&user, password)),
            secrets,
        )
    }

    /// A login to the Orchestrator at `base_url` as the logged-on user: the Kerberos ticket of the default
    /// credential cache (`kinit`, `KRB5CCNAME`), through Negotiate, with no password. The service is
    /// `HTTP@<host of the URL>` unless [`spn`](Self::spn) names another.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL.
    #[cfg(feature = "kerberos")]
    pub fn current_user(base_url: &str) -> Result<Self> {
        Self::with_identity(base_url, WindowsIdentity::current_user(), Secrets::new())
    }

    fn with_identity(base_url: &str, identity: WindowsIdentity, secrets: Secrets) -> Result<Self> {
        Ok(Self {
            base: origin::parse_base_url(BACKEND, base_url)?,
            identity,
            secrets,
            tls: None,
            scheme: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            probe_path: DEFAULT_PROBE_PATH.to_owned(),
            headers: ContextHeaders::default(),
            pool: Arc::default(),
        })
    }

    windows_setters!();

    /// Drops the authenticated connections of a clone whose configuration changed.
    fn reconfigured(&mut self) {
        self.pool = Arc::default();
    }

    from_env_constructors! {
        /// A login configured from the process environment: `UIPATH_URL`, `UIPATH_USERNAME` (`DOMAIN\user`,
        /// `user@domain` or a plain name) and `UIPATH_PASSWORD` (required), `UIPATH_DOMAIN` (the Windows
        /// domain, replacing one given in the user name), `UIPATH_TENANT` (sent as `X-UIPATH-TenantName`),
        /// `UIPATH_FOLDER_PATH`, `UIPATH_FOLDER_ID`. Blank optional variables count as unset. With the
        /// `kerberos` feature, an unset `UIPATH_PASSWORD` means the logged-on user
        /// (`current_user`) and `UIPATH_USERNAME` is not read.
        ///
        /// ```no_run
        /// # fn run() -> rpa_auth::Result<()> {
        /// let client = rpa_auth::AuthClient::new(rpa_auth::UiPathNtlmLogin::from_env()?)?;
        /// # let _ = client; Ok(()) }
        /// ```
    }

    fn read_env(env: &Env<'_>) -> Result<Self> {
        let url = env.required(ENV_URL)?;
        #[cfg(feature = "kerberos")]
        if env.optional_secret(ENV_PASSWORD)?.is_none() {
            let mut login = Self::current_user(&url).map_err(|e| env.blame(ENV_URL, e))?;
            login.headers.read_env(env, true)?;
            return Ok(login);
        }
        let user = env.windows_user(ENV_USERNAME)?;
        let password = env.secret(ENV_PASSWORD)?;
        let mut login = Self::new(&url, &user, password).map_err(|e| env.blame(ENV_URL, e))?;
        if let Some(domain) = env.optional(ENV_DOMAIN)? {
            login = login.domain(domain);
        }
        // Tenant and folder as for the other UiPath logins; the tenant goes as a header (there is no
        // login body to carry `tenancyName`).
        login.headers.read_env(env, true)?;
        Ok(login)
    }

    /// How many authenticated connections are kept at most. Defaults to 8.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self.pool = Arc::default(); // a clone configured anew gets its own connections
        self
    }

    /// The call made at login to check the credentials. Defaults to
    /// `odata/Users/UiPath.Server.Configuration.OData.GetCurrentUser`, which every user may read.
    pub fn probe_path(mut self, path: impl Into<String>) -> Self {
        self.probe_path = path.into();
        self
    }

    context_setters!();

    /// Handshakes run so far (one per connection while the server keeps connections authenticated).
    pub fn handshakes(&self) -> u64 {
        self.pool.get().map_or(0, |pool| pool.handshakes())
    }

    /// Connections opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.pool.get().map_or(0, |pool| pool.connections_opened())
    }

    fn pool(&self) -> Result<Arc<NtlmPool>> {
        if let Some(pool) = self.pool.get() {
            return Ok(pool.clone());
        }
        let tls = tls_for(&self.base, self.tls.as_ref()).map_err(|e| {
            Error::config(
                BACKEND,
                format!("cannot set up TLS for Windows authentication ({e})"),
            )
        })?;
        let mut pool = NtlmPool::with_identity(
            self.base.clone(),
            self.identity.clone(),
            tls,
            self.max_connections,
        );
        if let Some(scheme) = self.scheme {
            pool = pool.scheme(scheme);
        }
        Ok(self.pool.get_or_init(|| Arc::new(pool)).clone())
    }

    /// Authenticates one connection with the probe call and returns the connection credential.
    ///
    /// # Errors
    /// [`Error::LoginRejected`] when the server refuses the Windows credentials, [`Error::WindowsAuth`]
    /// when it offers no Windows authentication or its challenge is malformed, or the connection fails.
    pub async fn login(&self, _http: &reqwest::Client) -> Result<Credential> {
        let pool = self.pool()?;
        let transport = NtlmTransport { pool };
        let url = origin::join(&self.base, &self.probe_path)
            .map_err(|e| Error::config(BACKEND, format!("the probe path is not valid ({e})")))?;
        transport
            .send_raw(reqwest::Request::new(reqwest::Method::GET, url))
            .await?;
        Ok(self
            .headers
            .apply(Credential::over_connection(Arc::new(transport))))
    }
}

authenticator_by_login!(UiPathNtlmLogin);

impl fmt::Debug for UiPathNtlmLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UiPathNtlmLogin")
            .field("base_url", &self.base.as_str())
            .field("identity", &self.identity)
            .field("scheme", &self.scheme)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// Carries requests over the pool's authenticated connections.
#[derive(Debug)]
struct NtlmTransport {
    pool: Arc<NtlmPool>,
}

impl NtlmTransport {
    async fn send_raw(&self, request: reqwest::Request) -> Result<reqwest::Response> {
        let endpoint = Endpoint::new(request.method().clone(), request.url());
        let outgoing = crate::ntlm::http_request(&request).map_err(|cause| Error::Request {
            backend: BACKEND,
            endpoint: endpoint.clone(),
            cause: cause.into(),
        })?;
        let send = self.pool.send(outgoing);
        let response = match request.timeout() {
            Some(timeout) => tokio::time::timeout(*timeout, send)
                .await
                .unwrap_or(Err(crate::ntlm::HandshakeError::Timeout)),
            None => send.await,
        }
        .map_err(|e| Error::windows_auth(BACKEND, endpoint, e))?;
        // Rebuilt so that `Response::url()` names the request's URL, as it does for reqwest's own answers.
        let (parts, body) = response.into_parts();
        let mut builder = http::Response::builder()
            .status(parts.status)
            .version(parts.version)
            .url(request.url().clone());
        if let Some(headers) = builder.headers_mut() {
            *headers = parts.headers;
        }
        let answer = builder.body(body).map_err(|_| Error::Request {
            backend: BACKEND,
            endpoint: Endpoint::new(request.method().clone(), request.url()),
            cause: "the answer could not be handed over".into(),
        })?;
        Ok(reqwest::Response::from(answer))
    }
}

impl AuthenticatedTransport for NtlmTransport {
    fn send(&self, request: reqwest::Request) -> BoxFuture<'_, Result<reqwest::Response>> {
        Box::pin(self.send_raw(request))
    }
}
