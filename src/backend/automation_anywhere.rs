//! Automation Anywhere Control Room login (Enterprise 11 and Automation 360): `POST /v2/authentication`
//! or `POST /v1/authentication` (vendor-apis.md §2).
//!
//! The login body is `{"username", "password" | "apiKey", "mfaCode"?, "multipleLogin"?}`; the answer is
//! `{"token": "<JWT>", "user": {…}}`. The token goes raw in `X-Authorization` on later calls (no `Bearer`
//! prefix, §2.5) and lives as long as the JWT says (`exp - iat`, 20 minutes on every server seen). Before
//! it expires it is renewed at `POST /v1/authentication/token` (§2.3), which is cheaper than a login and
//! does not end other sessions. Errors come as `{"code", "details", "message"}`.
//!
//! # One client per Control Room and user
//!
//! A password login ends the user's earlier sessions unless it asked for `multipleLogin` (and the user
//! is allowed several sessions): two programs logging in as the same user take turns throwing each other
//! out. Share one [`AuthClient`](crate::AuthClient) (clone it freely) per Control Room and user, and
//! prefer an API key for unattended work: API-key tokens do not end other sessions.

use std::fmt;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use crate::backend::{authenticator_by_login, from_env_constructors, require_name, require_secret};
use crate::credential::{Credential, Placement, sensitive_header};
use crate::env::Env;
use crate::error::{Endpoint, Error, RejectReason, Result, ServerMessage};
use crate::exchange::{self, EndpointProbe, Probed, Reply, as_text, get_ci};
use crate::future::BoxFuture;
use crate::redact::Secrets;
use crate::store::LoginIdentity;
use crate::{jwt, origin, token};

const BACKEND: &str = "aa";

/// The A360 login path, relative to the Control Room base URL.
const LOGIN_V2_PATH: &str = "v2/authentication";

/// The Enterprise 11 login path (also served, and called deprecated, by Automation 360).
const LOGIN_V1_PATH: &str = "v1/authentication";

/// Token validation (`GET …?token=`) and refresh (`POST {"token"}`).
const TOKEN_PATH: &str = "v1/authentication/token";

/// Ends the session of the token in `X-Authorization`.
const LOGOUT_PATH: &str = "v1/authentication/logout";

/// The header that carries the token on every call, raw.
const HEADER_AUTHORIZATION: &str = "x-authorization";

/// The Control Room error code for a call without `X-Authorization`.
const ERROR_TOKEN_MISSING: &str = "UM1117";

/// How long a token lives when it is not a JWT with `iat` and `exp`: 20 minutes, the Control Room
/// default.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(20 * 60);

/// Environment variable: the Control Room URL.
const ENV_URL: &str = "AA_URL";
/// Environment variable: the user name (`domain\user` for directory users, or see [`ENV_DOMAIN`]).
const ENV_USERNAME: &str = "AA_USERNAME";
/// Environment variable: the directory domain, prefixed to the user name as `domain\user`.
const ENV_DOMAIN: &str = "AA_DOMAIN";
/// Environment variable: the API key; wins over [`ENV_PASSWORD`] when both are set.
const ENV_API_KEY: &str = "AA_API_KEY";
/// Environment variable: the password, used when [`ENV_API_KEY`] is unset.
const ENV_PASSWORD: &str = "AA_PASSWORD";
/// Environment variable: the multi-factor (TOTP) code.
const ENV_MFA_CODE: &str = "AA_MFA_CODE";
/// Environment variable: `multipleLogin`, `true`/`false`/`1`/`0`.
const ENV_MULTIPLE_LOGIN: &str = "AA_MULTIPLE_LOGIN";
/// Environment variable: the login endpoint version, `v1`, `v2` or `auto`.
const ENV_API_VERSION: &str = "AA_API_VERSION";

/// The most digits accepted in a multi-factor code.
const MAX_MFA_DIGITS: usize = 10;

/// Which login endpoint to use.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    /// Try `/v2/authentication`; when the server answers 404 or 405 (Enterprise 11 has no v2), use
    /// `/v1/authentication` and remember that for later logins.
    Auto,
    /// Always `/v1/authentication` (Enterprise 11; recent Automation 360 clouds refuse it as deprecated).
    V1,
    /// Always `/v2/authentication` (Automation 360).
    V2,
}

impl ApiVersion {
    fn path(self) -> &'static str {
        match self {
            Self::V1 => LOGIN_V1_PATH,
            Self::V2 | Self::Auto => LOGIN_V2_PATH,
        }
    }
}

/// The login paths [`ApiVersion::Auto`] tries, in order; its probe remembers an index into them.
const AUTO_LOGIN_PATHS: [&str; 2] = [LOGIN_V2_PATH, LOGIN_V1_PATH];

#[derive(Clone)]
enum Secret {
    Password(SecretString),
    ApiKey(SecretString),
}

/// Logs into an Automation Anywhere Control Room with a password or an API key, optionally with a
/// multi-factor code, and renews, validates and ends the session.
///
/// The token is sent as `X-Authorization: <JWT>`. Its lifetime is read from the JWT (`exp - iat`, counted
/// from when it arrived, so a wrong local clock does not matter); 20 minutes when it
/// cannot be read. The [`AuthClient`](crate::AuthClient) renews it before it expires with
/// `POST /v1/authentication/token`; if the server refuses the renewal, this login logs in again.
///
/// **Share one `AuthClient` per Control Room and user.** A password login ends the user's earlier
/// sessions (unless [`multiple_login`](Self::multiple_login) is set and allowed), so two clients for one
/// user log each other out. Prefer [`with_api_key`](Self::with_api_key) for unattended work: API-key
/// tokens can be used side by side.
///
/// ```no_run
/// # async fn run() -> rpa_auth::Result<()> {
/// use rpa_auth::{AuthClient, AutomationAnywhereLogin, SecretString};
///
/// let key = SecretString::from(std::env::var("RPA_AUTH_API_KEY").unwrap_or_default());
/// let login = AutomationAnywhereLogin::with_api_key("https://cr.example.com/", "bot-runner", key)?;
/// let client = AuthClient::new(login)?;
/// let bots = client.post("v2/repository/workspaces/private/files/list").json(&serde_json::json!({})).send().await?;
/// # let _ = bots;
/// client.logout().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AutomationAnywhereLogin {
    base: Url,
    username: String,
    secret: Secret,
    mfa_code: Option<SecretString>,
    multiple_login: Option<bool>,
    api_version: ApiVersion,
    detected: EndpointProbe,
    token_lifetime: Duration,
    secrets: Secrets,
}

mod session;

impl AutomationAnywhereLogin {
    /// A password login to the Control Room at `base_url`. `username` may be `domain\user` for Active
    /// Directory users.
    ///
    /// A password login ends the user's earlier sessions; see the type's documentation.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL or an empty user name or password.
    pub fn new(
        base_url: &str,
        username: impl Into<String>,
        password: SecretString,
    ) -> Result<Self> {
        require_secret(BACKEND, "password", &password)?;
        Self::with_secret(base_url, username.into(), Secret::Password(password))
    }

    /// An API-key login to the Control Room at `base_url`: the key generated in the Control Room for
    /// `username` (its role needs "Generate API-Key"). API-key tokens do not end other sessions, which
    /// makes this the method for unattended work.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL or an empty user name or key.
    pub fn with_api_key(
        base_url: &str,
        username: impl Into<String>,
        api_key: SecretString,
    ) -> Result<Self> {
        if api_key.expose_secret().trim().is_empty() {
            return Err(Error::config(BACKEND, "the API key is empty"));
        }
        Self::with_secret(base_url, username.into(), Secret::ApiKey(api_key))
    }

    from_env_constructors! {
        /// A login configured from the process environment: `AA_URL` and `AA_USERNAME` (required),
        /// `AA_DOMAIN` (makes the user `domain\user`), `AA_API_KEY` or `AA_PASSWORD` (one is required; the
        /// API key wins when both are set, since its tokens do not end the user's other sessions),
        /// `AA_MFA_CODE`, `AA_MULTIPLE_LOGIN` (`true`/`false`/`1`/`0`) and `AA_API_VERSION` (`v1`, `v2`,
        /// `auto`). Blank optional variables count as unset.
        ///
        /// ```no_run
        /// # fn run() -> rpa_auth::Result<()> {
        /// let client = rpa_auth::AuthClient::new(rpa_auth::AutomationAnywhereLogin::from_env()?)?;
        /// # let _ = client; Ok(()) }
        /// ```
    }

    fn read_env(env: &Env<'_>) -> Result<Self> {
        let url = env.required(ENV_URL)?;
        let mut username = env.required(ENV_USERNAME)?;
        if let Some(domain) = env.optional(ENV_DOMAIN)? {
            if username.contains('\\') {
                return Err(env.malformed(
                    ENV_DOMAIN,
                    &format!("is set while {ENV_USERNAME} already names a domain (`domain\\user`)"),
                ));
            }
            username = format!("{domain}\\{username}");
        }
        let mut login = match env.optional_secret(ENV_API_KEY)? {
            Some(key) if key.expose_secret().trim().is_empty() => {
                return Err(env.malformed(ENV_API_KEY, "is blank"));
            }
            Some(key) => Self::with_api_key(&url, username, key),
            None => match env.optional_secret(ENV_PASSWORD)? {
                Some(password) => Self::new(&url, username, password),
                None => {
                    return Err(Error::config(
                        BACKEND,
                        format!(
                            "neither of the environment variables {ENV_API_KEY} and {ENV_PASSWORD} is set"
                        ),
                    ));
                }
            },
        }
        // The user name and the secret are known to be non-empty: what is left is the URL.
        .map_err(|e| env.blame(ENV_URL, e))?;
        if let Some(code) = env.optional_secret(ENV_MFA_CODE)? {
            login = login
                .mfa_code(code)
                .map_err(|e| env.blame(ENV_MFA_CODE, e))?;
        }
        if let Some(multiple) = env.flag(ENV_MULTIPLE_LOGIN)? {
            login = login.multiple_login(multiple);
        }
        if let Some(text) = env.optional(ENV_API_VERSION)? {
            let version = match text.to_ascii_lowercase().as_str() {
                "v1" => ApiVersion::V1,
                "v2" => ApiVersion::V2,
                "auto" => ApiVersion::Auto,
                _ => {
                    return Err(
                        env.malformed(ENV_API_VERSION, &format!("is not v1, v2 or auto: `{text}`"))
                    );
                }
            };
            login = login.api_version(version);
        }
        Ok(login)
    }

    fn with_secret(base_url: &str, username: String, secret: Secret) -> Result<Self> {
        require_name(BACKEND, "user name", &username)?;
        let secrets = match &secret {
            Secret::Password(s) | Secret::ApiKey(s) => Secrets::new().with(s),
        };
        Ok(Self {
            base: origin::parse_base_url(BACKEND, base_url)?,
            username,
            secrets,
            secret,
            mfa_code: None,
            multiple_login: None,
            api_version: ApiVersion::Auto,
            detected: EndpointProbe::default(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
        })
    }

    /// The multi-factor (TOTP) code, sent as the JSON number `mfaCode`, for users who must give one.
    ///
    /// The code is only good for a short while, so it only helps the first login: the client then renews
    /// the token without it. A long-running program whose token cannot be renewed must be given a new
    /// code. Leading zeros are lost in a JSON number, as the Control Room API defines it. Defaults to
    /// none.
    ///
    /// # Errors
    /// [`Error::Config`] when the code is not 1 to 10 ASCII digits.
    pub fn mfa_code(mut self, code: SecretString) -> Result<Self> {
        let digits = code.expose_secret().trim();
        if digits.is_empty()
            || digits.len() > MAX_MFA_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::config(
                BACKEND,
                format!("the multi-factor code must be 1 to {MAX_MFA_DIGITS} digits"),
            ));
        }
        self.secrets.add(&code);
        self.mfa_code = Some(SecretString::from(digits.to_owned()));
        Ok(self)
    }

    /// Sends `multipleLogin`: `true` keeps the user's other sessions alive (the user must be allowed
    /// several sessions by an administrator); the server ignores it for API-key logins. Defaults to not
    /// sending it, which the server takes as `false`.
    pub fn multiple_login(mut self, multiple: bool) -> Self {
        self.multiple_login = Some(multiple);
        self
    }

    /// Which login endpoint to use. Defaults to [`ApiVersion::Auto`]: `/v2/authentication`, falling
    /// back to `/v1/authentication` (and remembering it) when the server has no v2, as Enterprise 11.
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.api_version = version;
        self.detected = EndpointProbe::default();
        self
    }

    /// How long a token lives when it is not a JWT carrying `iat` and `exp`. Defaults to
    /// 20 minutes.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// The login endpoint version in use: the forced one, or what [`ApiVersion::Auto`] found (shared by
    /// clones of this login); `None` before the first login in auto mode.
    pub fn api_version_in_use(&self) -> Option<ApiVersion> {
        match (self.api_version, self.detected.found()) {
            (ApiVersion::Auto, Some(0)) => Some(ApiVersion::V2),
            (ApiVersion::Auto, Some(_)) => Some(ApiVersion::V1),
            (ApiVersion::Auto, None) => None,
            (forced, _) => Some(forced),
        }
    }

    /// Logs in once and returns the credential, for `X-Authorization`.
    ///
    /// # Errors
    /// [`Error::LoginRejected`] for wrong credentials, a missing or wrong multi-factor code, a disabled or
    /// locked user, or a refused v1 endpoint; [`Error::Status`] for 429, 5xx and other unexpected
    /// statuses; [`Error::InvalidResponse`] for an answer that is not the expected JSON;
    /// [`Error::Transport`].
    pub async fn login(&self, http: &reqwest::Client) -> Result<Credential> {
        if self.api_version != ApiVersion::Auto {
            let reply = self.post_login(http, self.api_version.path()).await?;
            return Ok(self.credential(self.read_login(&reply)?));
        }
        // Enterprise 11 has no v2: fall back to v1, and remember whichever gave a token.
        let sent = self.detected.send(
            AUTO_LOGIN_PATHS.len(),
            |index| self.post_login(http, AUTO_LOGIN_PATHS[index]),
            is_missing_endpoint,
        );
        let (index, reply) = match sent.await? {
            Probed::Answered(index, reply) => (Some(index), reply),
            // Missing both (a wrong base URL): report the last answer.
            Probed::NoneAnswered(mut replies) => match replies.pop() {
                Some(reply) => (None, reply),
                None => return Err(Error::config(BACKEND, "no login endpoint to try")),
            },
        };
        let token = self.read_login(&reply)?;
        if let Some(index) = index {
            self.detected.remember(index);
        }
        Ok(self.credential(token))
    }

    async fn post_login(&self, http: &reqwest::Client, path: &str) -> Result<Reply> {
        let url = self.url(path)?;
        let body = serde_json::to_vec(&self.login_body())
            .map_err(|e| Error::config(BACKEND, format!("could not write the login body ({e})")))?;
        let request = http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body);
        exchange::send(BACKEND, &self.secrets, http, request).await
    }

    /// The login body. `domain\user` needs nothing special: JSON escapes the backslash.
    fn login_body(&self) -> Value {
        let mut body = serde_json::Map::new();
        body.insert("username".into(), Value::String(self.username.clone()));
        match &self.secret {
            Secret::Password(password) => body.insert(
                "password".into(),
                Value::String(password.expose_secret().to_owned()),
            ),
            Secret::ApiKey(key) => body.insert(
                "apiKey".into(),
                Value::String(key.expose_secret().to_owned()),
            ),
        };
        if let Some(code) = self
            .mfa_code
            .as_ref()
            .and_then(|code| code.expose_secret().parse::<u64>().ok())
        {
            body.insert("mfaCode".into(), Value::from(code));
        }
        if let Some(multiple) = self.multiple_login {
            body.insert("multipleLogin".into(), Value::Bool(multiple));
        }
        Value::Object(body)
    }

    /// The token from a login answer, or the error the answer stands for.
    pub(crate) fn read_login(&self, reply: &Reply) -> Result<SecretString> {
        if !reply.status.is_success() {
            return Err(self.login_error(reply));
        }
        let body: Value = reply.json()?;
        // A 200 without a token but with an error message: how v1 "always returns a failure message"
        // on recent clouds may look.
        reply.token(read_token(&body), server_message(&body), |server| {
            self.classify(reply, server)
        })
    }

    /// Maps a non-2xx login answer to an error.
    fn login_error(&self, reply: &Reply) -> Error {
        let server = reply.server_message(server_message);
        let status = reply.status.as_u16();
        match server {
            Some(server) if is_deprecation(&server) => {
                reply.rejected(RejectReason::Unsupported, Some(server))
            }
            Some(server) if status == 429 || status >= 500 || status == 404 => {
                reply.status_error(Some(server))
            }
            Some(server) => reply.rejected(self.classify(reply, &server), Some(server)),
            None if matches!(status, 401 | 403) => {
                reply.rejected(RejectReason::BadCredentials, None)
            }
            None if status < 500 && reply.is_html() => {
                reply.invalid("an HTML page where the JSON error was expected")
            }
            None => reply.status_error(None),
        }
    }

    /// Why the server refused the login, from its code and message (which differ between versions and
    /// are not documented for most cases; vendor-apis.md §2.1).
    fn classify(&self, reply: &Reply, server: &ServerMessage) -> RejectReason {
        let text = format!(
            "{} {}",
            server.code().unwrap_or_default(),
            server.message().unwrap_or_default()
        )
        .to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
        if is_deprecation(server) {
            RejectReason::Unsupported
        } else if has(&[
            "mfa",
            "2fa",
            "multi-factor",
            "multifactor",
            "two-factor",
            "totp",
            "one-time",
            "verification code",
        ]) {
            if self.mfa_code.is_some() {
                RejectReason::MfaInvalid
            } else {
                RejectReason::MfaRequired
            }
        } else if has(&["locked"]) {
            RejectReason::AccountLocked
        } else if has(&["disabled", "deactivated", "inactive"]) {
            RejectReason::AccountDisabled
        } else if matches!(reply.status.as_u16(), 401 | 403)
            || has(&["credential", "password", "api key", "apikey"])
        {
            RejectReason::BadCredentials
        } else {
            RejectReason::Other
        }
    }

    fn credential(&self, token: SecretString) -> Credential {
        self.secrets.remember_token(&token);
        let lifetime = jwt::lifetime(token.expose_secret()).unwrap_or(self.token_lifetime);
        Credential::new(
            token,
            Placement::Header(HeaderName::from_static(HEADER_AUTHORIZATION)),
        )
        .expires_in(lifetime)
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| Error::config(BACKEND, format!("cannot build the URL of {path} ({e})")))
    }
}

/// The `token` of a login or refresh answer (`accessToken` tolerated: the v2 body is not documented).
fn read_token(body: &Value) -> token::Field<'_> {
    token::first_field(body, &["token", "accessToken", "access_token"])
}

/// The server's `{code, details, message}`; `details` stands in for a missing `message`.
fn server_message(body: &Value) -> Option<ServerMessage> {
    let code = get_ci(body, "code").and_then(as_text);
    let message = get_ci(body, "message")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .or_else(|| get_ci(body, "details").and_then(Value::as_str))
        .map(str::to_owned);
    let server = ServerMessage::new("code", code, message);
    (!server.is_empty()).then_some(server)
}

fn is_deprecation(server: &ServerMessage) -> bool {
    let contains =
        |text: Option<&str>| text.is_some_and(|t| t.to_ascii_lowercase().contains("deprecat"));
    contains(server.code()) || contains(server.message())
}

/// A login endpoint the server does not have: 404, or 405 from servers that route the path elsewhere,
/// or the `UM1117` "access token expected" refusal of a server whose token filter runs before routing and
/// does not know the path as a login (vendor-apis.md §2.5).
fn is_missing_endpoint(reply: &Reply) -> bool {
    if matches!(
        reply.status,
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
    ) {
        return true;
    }
    matches!(
        reply.status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) && reply.server_message(server_message).is_some_and(|server| {
        server.code() == Some(ERROR_TOKEN_MISSING)
            || server
                .message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("x-authorization"))
    })
}

/// A refresh answer that means "this token cannot be renewed": any 4xx but 408 and 429.
fn is_refusal(status: StatusCode) -> bool {
    status.is_client_error()
        && !matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
        )
}

authenticator_by_login!(AutomationAnywhereLogin, {
    fn store_identity(&self) -> Option<LoginIdentity> {
        Some(LoginIdentity::new(&self.username))
    }

    fn refresh<'a>(
        &'a self,
        http: &'a reqwest::Client,
        current: &'a Credential,
    ) -> BoxFuture<'a, Result<Credential>> {
        Box::pin(AutomationAnywhereLogin::refresh(self, http, current))
    }

    fn logout<'a>(
        &'a self,
        http: &'a reqwest::Client,
        current: &'a Credential,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(AutomationAnywhereLogin::logout(self, http, current))
    }
});

impl fmt::Debug for AutomationAnywhereLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = match self.secret {
            Secret::Password(_) => "password",
            Secret::ApiKey(_) => "api key",
        };
        f.debug_struct("AutomationAnywhereLogin")
            .field("base_url", &self.base.as_str())
            .field("username", &self.username)
            .field("method", &method)
            .field("secret", &"** redacted **")
            .field(
                "mfa_code",
                &self.mfa_code.as_ref().map(|_| "** redacted **"),
            )
            .field("multiple_login", &self.multiple_login)
            .field("api_version", &self.api_version)
            .field("api_version_in_use", &self.api_version_in_use())
            .field("token_lifetime", &self.token_lifetime)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
