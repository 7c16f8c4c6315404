//! Pyramid password login: `/API2/auth/authenticateUser` or `/API3/authentication/authenticateUser`
//! (vendor-apis.md §3.1).

use std::fmt;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};

use crate::redact::Secrets;
use serde_json::{Value, json};
use url::Url;

use super::{
    API2_LOGIN_PATH, API3_LOGIN_PATH, BACKEND, DEFAULT_TOKEN_LIFETIME, ENV_DOMAIN, ENV_URL,
    PyramidApi, PyramidPlacement, placement_for, read_common, read_token, token_setters,
};
use crate::backend::{authenticator_by_login, from_env_constructors, require_name, require_secret};
use crate::credential::Credential;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::store::LoginIdentity;
use crate::{exchange, origin};

/// Logs into Pyramid Analytics with a user name and password.
///
/// ```no_run
/// # async fn run() -> rpa_auth::Result<()> {
/// use rpa_auth::{AuthClient, SecretString};
/// use rpa_auth::PyramidPasswordLogin;
///
/// let login = PyramidPasswordLogin::new("https://pyramid.example.com/", "analyst", SecretString::from("…"))?;
/// let client = AuthClient::new(login)?;
/// // API2: the token is added to the body as "auth"; the rest of the body is left as it was.
/// let me = client.post("API2/access/getMe").json(&serde_json::json!({})).send().await?;
/// # let _ = me; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PyramidPasswordLogin {
    base: Url,
    username: String,
    password: SecretString,
    domain: Option<String>,
    api: PyramidApi,
    placement: PyramidPlacement,
    token_lifetime: Duration,
    secrets: Secrets,
}

impl PyramidPasswordLogin {
    /// A login to the Pyramid server at `base_url` as `username` (a plain name for Pyramid's own users,
    /// `domain\user` or a UPN for directory users).
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL or an empty user name or password.
    pub fn new(
        base_url: &str,
        username: impl Into<String>,
        password: SecretString,
    ) -> Result<Self> {
        let username = username.into();
        require_name(BACKEND, "user name", &username)?;
        require_secret(BACKEND, "password", &password)?;
        Ok(Self {
            base: origin::parse_base_url(BACKEND, base_url)?,
            username,
            secrets: Secrets::new().with(&password),
            password,
            domain: None,
            api: PyramidApi::default(),
            placement: PyramidPlacement::default(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
        })
    }

    from_env_constructors! {
        /// A login configured from the process environment: `PYRAMID_URL`, `PYRAMID_USERNAME` and
        /// `PYRAMID_PASSWORD` (required), `PYRAMID_DOMAIN` (the `domain` login field) and `PYRAMID_API`
        /// (`2` or `3`, also `API2`/`API3`). Blank optional variables count as unset.
        ///
        /// ```no_run
        /// # fn run() -> rpa_auth::Result<()> {
        /// use rpa_auth::PyramidPasswordLogin;
        ///
        /// let client = rpa_auth::AuthClient::new(PyramidPasswordLogin::from_env()?)?;
        /// # let _ = client; Ok(()) }
        /// ```
    }

    fn read_env(env: &Env<'_>) -> Result<Self> {
        let (url, username, password, api) = read_common(env, false)?;
        let mut login = Self::new(&url, username, password).map_err(|e| env.blame(ENV_URL, e))?;
        if let Some(domain) = env.optional(ENV_DOMAIN)? {
            login = login.domain(domain);
        }
        Ok(login.api(api))
    }

    token_setters!();

    /// The `domain` login field (API3; embedding scenarios). Defaults to none.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Logs in once and returns the credential.
    ///
    /// # Errors
    /// [`Error::LoginRejected`] for wrong credentials, [`Error::Status`] for 429/5xx,
    /// [`Error::InvalidResponse`] for an answer that is not a token, [`Error::Transport`].
    pub async fn login(&self, http: &reqwest::Client) -> Result<Credential> {
        let password = self.password.expose_secret();
        let (path, body) = match self.api {
            PyramidApi::Api2 => {
                let mut data = json!({ "userName": self.username, "password": password });
                if let Some(domain) = &self.domain {
                    data["domain"] = Value::String(domain.clone());
                }
                (API2_LOGIN_PATH, json!({ "data": data }))
            }
            // The API3 samples disagree on `username` and `userName`; servers match either without regard
            // to case, and sending both could be a duplicate field to a strict reader. `userName` is what
            // API2 and the C# and JavaScript samples use.
            PyramidApi::Api3 => (
                API3_LOGIN_PATH,
                json!({
                    "userName": self.username,
                    "password": password,
                    "domain": self.domain.clone().unwrap_or_default(),
                }),
            ),
        };
        let url = self
            .base
            .join(path)
            .map_err(|e| Error::config(BACKEND, format!("cannot build the login URL ({e})")))?;
        let body = serde_json::to_vec(&body).map_err(|e| Error::config(BACKEND, e.to_string()))?;
        let request = http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/plain, application/json")
            .body(body);
        let reply = exchange::send(BACKEND, &self.secrets, http, request).await?;
        let token = read_token(&reply)?;
        self.secrets.remember_token(&token);
        Ok(
            Credential::new(token, placement_for(self.api, self.placement))
                .expires_in(self.token_lifetime),
        )
    }
}

authenticator_by_login!(PyramidPasswordLogin, {
    fn store_identity(&self) -> Option<LoginIdentity> {
        let identity = LoginIdentity::new(&self.username)
            .with("domain", self.domain.clone().unwrap_or_default())
            .with("api", format!("{:?}/{:?}", self.api, self.placement));
        Some(identity)
    }
});

impl fmt::Debug for PyramidPasswordLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PyramidPasswordLogin")
            .field("base_url", &self.base.as_str())
            .field("username", &self.username)
            .field("password", &"** redacted **")
            .field("domain", &self.domain)
            .field("api", &self.api)
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}
