//! Pyramid Windows single sign-on: `authenticateUserWindows` behind NTLM / Negotiate
//! (vendor-apis.md §3.2).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use secrecy::SecretString;
use url::Url;

use super::{
    API2_WINDOWS_LOGIN_PATH, API3_WINDOWS_LOGIN_PATH, DEFAULT_TOKEN_LIFETIME, ENV_DOMAIN, ENV_URL,
    PyramidApi, PyramidPlacement, placement_for, read_common, read_token, token_setters,
};
#[cfg(feature = "kerberos")]
use super::{ENV_PASSWORD, read_api};
use crate::backend::{
    authenticator_by_login, from_env_constructors, require_name, require_secret, windows_setters,
};
use crate::credential::Credential;
use crate::env::Env;
use crate::error::{Endpoint, Error, Result};
use crate::exchange::Reply;
use crate::ntlm::{NtlmConnection, Scheme, WindowsCredentials, WindowsIdentity, tls_for};
use crate::origin;
use crate::redact::Secrets;

/// The backend name in errors and logs: the one the user chose, not the password login's.
const BACKEND: &str = "pyramid-windows";

/// Logs into Pyramid Analytics as a Windows user: `authenticateUserWindows` behind the NTLM / Negotiate
/// handshake, with explicit credentials, from any platform. The token it yields is used like a password
/// login's.
///
/// ```no_run
/// # async fn run() -> rpa_auth::Result<()> {
/// use rpa_auth::{AuthClient, SecretString};
/// use rpa_auth::PyramidWindowsLogin;
///
/// let login = PyramidWindowsLogin::new("https://pyramid.corp.example/", r"CORP\analyst", SecretString::from("…"))?;
/// let client = AuthClient::new(login)?;
/// let me = client.post("API2/access/getMe").send().await?;
/// # let _ = me; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PyramidWindowsLogin {
    base: Url,
    identity: WindowsIdentity,
    tls: Option<Arc<rustls::ClientConfig>>,
    scheme: Option<Scheme>,
    api: PyramidApi,
    placement: PyramidPlacement,
    token_lifetime: Duration,
    secrets: Secrets,
}

impl PyramidWindowsLogin {
    /// A Windows login to the Pyramid server at `base_url` as `user` (`DOMAIN\user`, `user@domain`, or a
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

    /// A Windows login to the Pyramid server at `base_url` as the logged-on user: the Kerberos ticket of
    /// the default credential cache (`kinit`, `KRB5CCNAME`), through Negotiate, with no password, as .NET's
    /// `UseDefaultCredentials` does on Windows. The service is `HTTP@<host of the URL>` unless
    /// [`spn`](Self::spn) names another.
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
            api: PyramidApi::default(),
            placement: PyramidPlacement::default(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
        })
    }

    windows_setters!();

    /// Nothing to drop: every login opens its own connection.
    fn reconfigured(&mut self) {}

    from_env_constructors! {
        /// A login configured from the process environment: `PYRAMID_URL`, `PYRAMID_USERNAME`
        /// (`DOMAIN\user`, `user@domain` or a plain name) and `PYRAMID_PASSWORD` (required),
        /// `PYRAMID_DOMAIN` (the Windows domain, replacing one given in the user name) and `PYRAMID_API`
        /// (`2` or `3`, also `API2`/`API3`). Blank optional variables count as unset. With the
        /// `kerberos` feature, an unset `PYRAMID_PASSWORD` means the logged-on user
        /// (`current_user`) and `PYRAMID_USERNAME` is not read.
        ///
        /// ```no_run
        /// # fn run() -> rpa_auth::Result<()> {
        /// use rpa_auth::PyramidWindowsLogin;
        ///
        /// let client = rpa_auth::AuthClient::new(PyramidWindowsLogin::from_env()?)?;
        /// # let _ = client; Ok(()) }
        /// ```
    }

    fn read_env(env: &Env<'_>) -> Result<Self> {
        #[cfg(feature = "kerberos")]
        if env.optional_secret(ENV_PASSWORD)?.is_none() {
            let url = env.required(ENV_URL)?;
            let api = read_api(env)?;
            let login = Self::current_user(&url).map_err(|e| env.blame(ENV_URL, e))?;
            return Ok(login.api(api));
        }
        let (url, username, password, api) = read_common(env, true)?;
        let mut login = Self::new(&url, &username, password).map_err(|e| env.blame(ENV_URL, e))?;
        if let Some(domain) = env.optional(ENV_DOMAIN)? {
            login = login.domain(domain);
        }
        Ok(login.api(api))
    }

    token_setters!();

    /// Runs the handshake on a new connection and returns the token credential.
    ///
    /// # Errors
    /// [`Error::LoginRejected`] when the server refuses the Windows credentials, [`Error::WindowsAuth`]
    /// when it offers no Windows authentication or its challenge is malformed, and the errors of a
    /// password login's answer.
    pub async fn login(&self, _http: &reqwest::Client) -> Result<Credential> {
        let (path, body): (&str, &'static [u8]) = match self.api {
            // The documented C# sample posts the JSON `null`.
            PyramidApi::Api2 => (API2_WINDOWS_LOGIN_PATH, b"null"),
            PyramidApi::Api3 => (API3_WINDOWS_LOGIN_PATH, b""),
        };
        let url = self
            .base
            .join(path)
            .map_err(|e| Error::config(BACKEND, format!("cannot build the login URL ({e})")))?;
        let endpoint = Endpoint::new(reqwest::Method::POST, &url);
        let failed = |e| Error::windows_auth(BACKEND, endpoint.clone(), e);
        let tls = tls_for(&url, self.tls.as_ref()).map_err(failed)?;
        let mut connection =
            NtlmConnection::connect(&url, tls, crate::ntlm::DEFAULT_CONNECT_TIMEOUT)
                .await
                .map_err(failed)?;
        if let Some(scheme) = self.scheme {
            connection = connection.scheme(scheme);
        }
        let mut request = reqwest::Request::new(reqwest::Method::POST, url);
        if !body.is_empty() {
            // API3 takes no body, and an empty body labelled JSON is malformed to a strict reader.
            request
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            *request.body_mut() = Some(Bytes::from_static(body).into());
        }
        request.headers_mut().insert(
            ACCEPT,
            HeaderValue::from_static("text/plain, application/json"),
        );
        let request =
            crate::ntlm::http_request(&request).map_err(|cause| Error::config(BACKEND, cause))?;
        let response = connection
            .send_as(request, &self.identity)
            .await
            .map_err(failed)?;
        let (parts, body) = response.into_parts();
        let reply = Reply {
            backend: BACKEND,
            endpoint,
            status: parts.status,
            headers: parts.headers,
            body,
            secrets: self.secrets.clone(),
        };
        let token = read_token(&reply)?;
        self.secrets.remember_token(&token);
        Ok(
            Credential::new(token, placement_for(self.api, self.placement))
                .expires_in(self.token_lifetime),
        )
    }
}

authenticator_by_login!(PyramidWindowsLogin);

impl fmt::Debug for PyramidWindowsLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PyramidWindowsLogin")
            .field("base_url", &self.base.as_str())
            .field("identity", &self.identity)
            .field("api", &self.api)
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}
