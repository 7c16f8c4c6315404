//! Pyramid Analytics: password login at `/API2/auth/authenticateUser` or
//! `/API3/authentication/authenticateUser`, and Windows single sign-on at `authenticateUserWindows`
//! behind NTLM / Negotiate (vendor-apis.md §3).
//!
//! Every Pyramid method is a `POST` with a JSON body. API2 wraps the credentials in `{"data": {…}}` and
//! takes the token back as the top-level `"auth"` property of every later body; API3 (2023.10+) takes a flat
//! body and the token in the `paToken` header; browsers carry it in the `PyramidAuth` cookie. The token comes
//! back as a bare base64 string (some servers send it as a JSON string) and contains `+`, `/` and `=`,
//! which must arrive unchanged. Its lifetime is not documented: a configurable default applies, and a 401
//! (Pyramid's "YOU DON'T HAVE THE AUTHORIZATION" page) leads to a new login.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use crate::authenticator::{Authenticator, BoxFuture};
use crate::backend::{require_name, require_secret};
use crate::credential::{Credential, Placement};
use crate::env::{self, Env};
use crate::error::{Endpoint, Error, RejectReason, Result, ServerMessage};
use crate::exchange::{self, Reply, get_ci};
use crate::ntlm::{NtlmConnection, Scheme, WindowsCredentials, tls_for};
use crate::origin;

const BACKEND: &str = "pyramid";

/// API2 password login path.
pub const API2_LOGIN_PATH: &str = "API2/auth/authenticateUser";
/// API3 password login path.
pub const API3_LOGIN_PATH: &str = "API3/authentication/authenticateUser";
/// API2 Windows (single sign-on) login path, behind NTLM / Negotiate.
pub const API2_WINDOWS_LOGIN_PATH: &str = "API2/auth/authenticateUserWindows";
/// API3 Windows (single sign-on) login path, behind NTLM / Negotiate.
pub const API3_WINDOWS_LOGIN_PATH: &str = "API3/authentication/authenticateUserWindows";
/// API2 "who am I" path, used to check a token.
pub const API2_GET_ME_PATH: &str = "API2/access/getMe";
/// API3 "who am I" path.
pub const API3_GET_ME_PATH: &str = "API3/access/getMe";

/// The API2 body property that carries the token.
pub const AUTH_FIELD: &str = "auth";
/// The API3 header that carries the token.
pub const TOKEN_HEADER: &str = "patoken";
/// The browser cookie that carries the token.
pub const AUTH_COOKIE: &str = "PyramidAuth";

/// How long a token is used before logging in again, since Pyramid does not say: 20 minutes. A token the
/// server expires sooner is renewed on its 401.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(20 * 60);

/// Environment variable: the Pyramid server URL.
pub const ENV_URL: &str = "PYRAMID_URL";
/// Environment variable: the user name (for Windows login `DOMAIN\user`, `user@domain` or a plain name).
pub const ENV_USERNAME: &str = "PYRAMID_USERNAME";
/// Environment variable: the password.
pub const ENV_PASSWORD: &str = "PYRAMID_PASSWORD";
/// Environment variable: the `domain` login field for the password login; the Windows domain for the
/// Windows login.
pub const ENV_DOMAIN: &str = "PYRAMID_DOMAIN";
/// Environment variable: the API generation, `2` or `3` (also `API2`, `API3`).
pub const ENV_API: &str = "PYRAMID_API";

/// The URL, user name (checked as a Windows account name when `windows`), password and API generation.
fn read_common(env: &Env<'_>, windows: bool) -> Result<(String, String, SecretString, PyramidApi)> {
    let url = env.required(ENV_URL)?;
    let username = if windows {
        env.windows_user(ENV_USERNAME)?
    } else {
        env.required(ENV_USERNAME)?
    };
    let password = env.secret(ENV_PASSWORD)?;
    let api = match env.optional(ENV_API)? {
        None => PyramidApi::default(),
        Some(text) => match text.to_ascii_uppercase().as_str() {
            "2" | "API2" => PyramidApi::Api2,
            "3" | "API3" => PyramidApi::Api3,
            _ => {
                return Err(
                    env.malformed(ENV_API, &format!("is not 2 or 3 (API2, API3): `{text}`"))
                );
            }
        },
    };
    Ok((url, username, password, api))
}

/// Which generation of Pyramid's REST API to log in with.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PyramidApi {
    /// `/API2/...` (2018.5+): `{"data": {…}}` bodies, token in the body's `auth` property.
    #[default]
    Api2,
    /// `/API3/...` (2023.10+): flat bodies, token in the `paToken` header.
    Api3,
}

/// Where later calls carry a Pyramid token.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PyramidPlacement {
    /// As the API expects: API2 the body's `auth` property, API3 the `paToken` header.
    #[default]
    Api,
    /// The `PyramidAuth` cookie, as a browser session does.
    Cookie,
}

fn placement_for(api: PyramidApi, placement: PyramidPlacement) -> Placement {
    match (placement, api) {
        (PyramidPlacement::Cookie, _) => Placement::Cookie(AUTH_COOKIE.to_owned()),
        (PyramidPlacement::Api, PyramidApi::Api2) => {
            Placement::JsonBodyField(AUTH_FIELD.to_owned())
        }
        (PyramidPlacement::Api, PyramidApi::Api3) => {
            Placement::Header(HeaderName::from_static(TOKEN_HEADER))
        }
    }
}

/// Logs into Pyramid Analytics with a user name and password.
///
/// ```no_run
/// # async fn run() -> rpa_auth::Result<()> {
/// use rpa_auth::{AuthClient, SecretString};
/// use rpa_auth::backend::pyramid::PyramidPasswordLogin;
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
            password,
            domain: None,
            api: PyramidApi::default(),
            placement: PyramidPlacement::default(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
        })
    }

    /// A login configured from the process environment: `PYRAMID_URL`, `PYRAMID_USERNAME` and
    /// `PYRAMID_PASSWORD` (required), `PYRAMID_DOMAIN` (the `domain` login field) and `PYRAMID_API`
    /// (`2` or `3`, also `API2`/`API3`). Blank optional variables count as unset.
    ///
    /// ```no_run
    /// # fn run() -> rpa_auth::Result<()> {
    /// use rpa_auth::backend::pyramid::PyramidPasswordLogin;
    ///
    /// let client = rpa_auth::AuthClient::new(PyramidPasswordLogin::from_env()?)?;
    /// # let _ = client; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable that is missing or malformed (never quoting the password
    /// or the URL).
    pub fn from_env() -> Result<Self> {
        Self::read_env(&Env::new(BACKEND, &env::process))
    }

    /// Like [`from_env`](Self::from_env), reading each variable through `lookup` (a map, a vault, a
    /// test fixture) instead of the process environment.
    ///
    /// # Errors
    /// As for [`from_env`](Self::from_env).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Self::read_env(&Env::new(BACKEND, &|name: &str| {
            lookup(name).map(std::ffi::OsString::from)
        }))
    }

    fn read_env(env: &Env<'_>) -> Result<Self> {
        let (url, username, password, api) = read_common(env, false)?;
        let mut login = Self::new(&url, username, password).map_err(|e| env.blame(ENV_URL, e))?;
        if let Some(domain) = env.optional(ENV_DOMAIN)? {
            login = login.domain(domain);
        }
        Ok(login.api(api))
    }

    /// The API generation. Defaults to [`PyramidApi::Api2`], which every server since 2018.5 has.
    pub fn api(mut self, api: PyramidApi) -> Self {
        self.api = api;
        self
    }

    /// Where later calls carry the token. Defaults to [`PyramidPlacement::Api`].
    pub fn placement(mut self, placement: PyramidPlacement) -> Self {
        self.placement = placement;
        self
    }

    /// The `domain` login field (API3; embedding scenarios). Defaults to none.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// How long a token is used before logging in again. Defaults to [`DEFAULT_TOKEN_LIFETIME`].
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
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
        let reply = exchange::send(BACKEND, http, request).await?;
        let token = read_token(&reply)?;
        Ok(
            Credential::new(token, placement_for(self.api, self.placement))
                .expires_in(self.token_lifetime),
        )
    }
}

/// Logs into Pyramid Analytics as a Windows user: `authenticateUserWindows` behind the NTLM / Negotiate
/// handshake, with explicit credentials, from any platform. The token it yields is used like a password
/// login's.
///
/// ```no_run
/// # async fn run() -> rpa_auth::Result<()> {
/// use rpa_auth::{AuthClient, SecretString};
/// use rpa_auth::backend::pyramid::PyramidWindowsLogin;
///
/// let login = PyramidWindowsLogin::new("https://pyramid.corp.example/", r"CORP\analyst", SecretString::from("…"))?;
/// let client = AuthClient::new(login)?;
/// let me = client.post("API2/access/getMe").send().await?;
/// # let _ = me; Ok(()) }
/// ```
pub struct PyramidWindowsLogin {
    base: Url,
    credentials: WindowsCredentials,
    tls: Option<Arc<rustls::ClientConfig>>,
    scheme: Option<Scheme>,
    api: PyramidApi,
    placement: PyramidPlacement,
    token_lifetime: Duration,
}

impl PyramidWindowsLogin {
    /// A Windows login to the Pyramid server at `base_url` as `user` (`DOMAIN\user`, `user@domain`, or a
    /// plain name with [`domain`](Self::domain)).
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL or an empty user name or password.
    pub fn new(base_url: &str, user: &str, password: SecretString) -> Result<Self> {
        require_name(BACKEND, "user name", user)?;
        require_secret(BACKEND, "password", &password)?;
        Ok(Self {
            base: origin::parse_base_url(BACKEND, base_url)?,
            credentials: WindowsCredentials::new(user, password),
            tls: None,
            scheme: None,
            api: PyramidApi::default(),
            placement: PyramidPlacement::default(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
        })
    }

    /// The Windows domain, for a plain user name. Defaults to the one in the user name, if any.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.credentials = self.credentials.domain(domain);
        self
    }

    /// A login configured from the process environment: `PYRAMID_URL`, `PYRAMID_USERNAME`
    /// (`DOMAIN\user`, `user@domain` or a plain name) and `PYRAMID_PASSWORD` (required),
    /// `PYRAMID_DOMAIN` (the Windows domain, replacing one given in the user name) and `PYRAMID_API`
    /// (`2` or `3`, also `API2`/`API3`). Blank optional variables count as unset.
    ///
    /// ```no_run
    /// # fn run() -> rpa_auth::Result<()> {
    /// use rpa_auth::backend::pyramid::PyramidWindowsLogin;
    ///
    /// let client = rpa_auth::AuthClient::new(PyramidWindowsLogin::from_env()?)?;
    /// # let _ = client; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable that is missing or malformed (never quoting the password
    /// or the URL).
    pub fn from_env() -> Result<Self> {
        Self::read_env(&Env::new(BACKEND, &env::process))
    }

    /// Like [`from_env`](Self::from_env), reading each variable through `lookup` (a map, a vault, a
    /// test fixture) instead of the process environment.
    ///
    /// # Errors
    /// As for [`from_env`](Self::from_env).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Self::read_env(&Env::new(BACKEND, &|name: &str| {
            lookup(name).map(std::ffi::OsString::from)
        }))
    }

    fn read_env(env: &Env<'_>) -> Result<Self> {
        let (url, username, password, api) = read_common(env, true)?;
        let mut login = Self::new(&url, &username, password).map_err(|e| env.blame(ENV_URL, e))?;
        if let Some(domain) = env.optional(ENV_DOMAIN)? {
            login = login.domain(domain);
        }
        Ok(login.api(api))
    }

    /// The API generation. Defaults to [`PyramidApi::Api2`].
    pub fn api(mut self, api: PyramidApi) -> Self {
        self.api = api;
        self
    }

    /// Where later calls carry the token. Defaults to [`PyramidPlacement::Api`].
    pub fn placement(mut self, placement: PyramidPlacement) -> Self {
        self.placement = placement;
        self
    }

    /// The TLS configuration of the handshake connection (an internal CA, say). Defaults to the
    /// platform's trust store.
    pub fn tls_config(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Uses `scheme` even when the server offers both. Defaults to the server's offer, NTLM first.
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = Some(scheme);
        self
    }

    /// How long a token is used before logging in again. Defaults to [`DEFAULT_TOKEN_LIFETIME`].
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Runs the handshake on a new connection and returns the token credential.
    ///
    /// # Errors
    /// [`Error::LoginRejected`] when the server refuses the Windows credentials, [`Error::WindowsAuth`]
    /// when it offers no Windows authentication or its challenge is malformed, and the errors of a
    /// password login's answer.
    pub async fn login(&self) -> Result<Credential> {
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
            connection = connection.force_scheme(scheme);
        }
        let mut request = http::Request::new(Bytes::from_static(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = url.as_str().parse().map_err(|_| {
            Error::config(
                BACKEND,
                "the login URL cannot be sent as an HTTP/1.1 request target",
            )
        })?;
        if !body.is_empty() {
            // API3 takes no body, and an empty body labelled JSON is malformed to a strict reader.
            request
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        request.headers_mut().insert(
            ACCEPT,
            HeaderValue::from_static("text/plain, application/json"),
        );
        let response = connection
            .send(request, &self.credentials)
            .await
            .map_err(failed)?;
        let (parts, body) = response.into_parts();
        let reply = Reply {
            backend: BACKEND,
            endpoint,
            status: parts.status,
            headers: parts.headers,
            body,
        };
        let token = read_token(&reply)?;
        Ok(
            Credential::new(token, placement_for(self.api, self.placement))
                .expires_in(self.token_lifetime),
        )
    }
}

impl Authenticator for PyramidWindowsLogin {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn base_url(&self) -> &Url {
        &self.base
    }

    fn authenticate<'a>(&'a self, _http: &'a reqwest::Client) -> BoxFuture<'a, Result<Credential>> {
        Box::pin(self.login())
    }
}

impl fmt::Debug for PyramidWindowsLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PyramidWindowsLogin")
            .field("base_url", &self.base.as_str())
            .field("credentials", &self.credentials)
            .field("api", &self.api)
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

/// The token from a Pyramid login answer: a bare base64 string or a JSON string.
pub(crate) fn read_token(reply: &Reply) -> Result<SecretString> {
    if !reply.status.is_success() {
        return Err(error_for(reply));
    }
    if reply.is_html() {
        return Err(reply.invalid("an HTML page where the token was expected"));
    }
    let text = reply.text()?.trim().trim_start_matches('\u{feff}');
    let token = if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .map_err(|_| reply.invalid("a malformed JSON string where the token was expected"))?
    } else if text.starts_with('{') {
        let body: Value = reply.json()?;
        return Err(match server_message(&body) {
            Some(server) => reply.rejected(RejectReason::Other, Some(server)),
            None => reply.invalid("a JSON object where the token was expected"),
        });
    } else {
        text.to_owned()
    };
    if token.is_empty() {
        return Err(reply.invalid("an empty answer where the token was expected"));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=-_.".contains(&b))
    {
        return Err(reply.invalid("an answer that is not a token (unexpected characters)"));
    }
    Ok(SecretString::from(token))
}

/// Maps a non-2xx login answer to an error. Pyramid refuses credentials with a 401 HTML page.
fn error_for(reply: &Reply) -> Error {
    let server = reply
        .json::<Value>()
        .ok()
        .and_then(|body| server_message(&body));
    match reply.status.as_u16() {
        401 | 403 => reply.rejected(RejectReason::BadCredentials, server),
        400 => reply.rejected(RejectReason::Other, server),
        // Some Pyramid versions refuse credentials with a bare 500 (vendor-apis.md §3.1, §3.7): treat it
        // as a refusal, so the credentials are not sent again in a loop, and say what it may mean.
        500 if server.is_none() && (reply.body.is_empty() || reply.is_html()) => reply.rejected(
            RejectReason::Other,
            Some(ServerMessage::new("error", None, None).with_hint(
                "the server answered HTTP 500 without detail, which is how some Pyramid versions refuse wrong credentials",
            )),
        ),
        _ => reply.status_error(server),
    }
}

/// `{"error": "..."}` or `{"errorMessage": "..."}` replies, top level or under `data`.
fn server_message(body: &Value) -> Option<ServerMessage> {
    let scope = get_ci(body, "data")
        .filter(|d| d.is_object())
        .unwrap_or(body);
    let message = ["error", "errorMessage", "message"]
        .iter()
        .find_map(|key| {
            get_ci(scope, key)
                .or_else(|| get_ci(body, key))
                .and_then(Value::as_str)
        })
        .filter(|m| !m.is_empty())?;
    Some(ServerMessage::new("error", None, Some(message.to_owned())))
}

impl Authenticator for PyramidPasswordLogin {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn base_url(&self) -> &Url {
        &self.base
    }

    fn authenticate<'a>(&'a self, http: &'a reqwest::Client) -> BoxFuture<'a, Result<Credential>> {
        Box::pin(self.login(http))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn reply(status: u16, content_type: &str, body: &str) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, content_type.parse().unwrap());
        Reply {
            backend: BACKEND,
            endpoint: crate::Endpoint::new(
                reqwest::Method::POST,
                &Url::parse("http://h/API2/auth/authenticateUser").unwrap(),
            ),
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: Bytes::from(body.to_owned()),
        }
    }

    const TOKEN: &str = "+/+/aGVsbG8gd29ybGQ=";

    #[test]
    fn bare_and_json_string_tokens_arrive_unchanged() {
        let bare = read_token(&reply(200, "text/plain", TOKEN)).unwrap();
        assert_eq!(bare.expose_secret(), TOKEN);
        let quoted = read_token(&reply(200, "application/json", &format!("\"{TOKEN}\""))).unwrap();
        assert_eq!(quoted.expose_secret(), TOKEN);
        let padded = read_token(&reply(200, "text/plain", &format!("{TOKEN}\r\n"))).unwrap();
        assert_eq!(padded.expose_secret(), TOKEN);
    }

    #[test]
    fn empty_html_and_object_answers_are_errors() {
        for (content_type, body) in [
            ("text/plain", ""),
            ("text/html", "<html><body>Sign in</body></html>"),
            ("text/plain", "<!DOCTYPE html><html></html>"),
            ("application/json", r#"{"data":{"id":1}}"#),
            ("text/plain", "two words"),
        ] {
            let error = read_token(&reply(200, content_type, body)).unwrap_err();
            assert!(
                matches!(error, Error::InvalidResponse { .. }),
                "{body}: {error:?}"
            );
        }
        let error =
            read_token(&reply(200, "application/json", r#"{"error":"Bad user"}"#)).unwrap_err();
        assert!(error.is_login_rejected());
        assert!(error.to_string().contains("Bad user"));
    }

    #[test]
    fn refusals_by_status() {
        let html = "<html><title>YOU DON'T HAVE THE AUTHORIZATION</title></html>";
        let error = read_token(&reply(401, "text/html", html)).unwrap_err();
        assert_eq!(error.reject_reason(), Some(RejectReason::BadCredentials));
        // A bare 500 is how some versions refuse credentials: a refusal, with a hint.
        let error = read_token(&reply(500, "text/plain", "")).unwrap_err();
        assert_eq!(error.reject_reason(), Some(RejectReason::Other));
        assert!(error.to_string().contains("without detail"), "{error}");
        // A 500 that says what went wrong is a server error.
        let error = read_token(&reply(
            500,
            "application/json",
            r#"{"error":"database down"}"#,
        ))
        .unwrap_err();
        assert!(matches!(error, Error::Status { .. }));
    }

    #[test]
    fn byte_order_mark_before_the_token_is_dropped() {
        let token = read_token(&reply(200, "text/plain", &format!("\u{feff}{TOKEN}"))).unwrap();
        assert_eq!(token.expose_secret(), TOKEN);
    }

    #[test]
    fn placements_follow_the_api() {
        assert_eq!(
            placement_for(PyramidApi::Api2, PyramidPlacement::Api),
            Placement::JsonBodyField("auth".into())
        );
        assert_eq!(
            placement_for(PyramidApi::Api3, PyramidPlacement::Api),
            Placement::Header(HeaderName::from_static("patoken"))
        );
        assert_eq!(
            placement_for(PyramidApi::Api3, PyramidPlacement::Cookie),
            Placement::Cookie("PyramidAuth".into())
        );
    }

    #[test]
    fn debug_hides_password() {
        let login =
            PyramidPasswordLogin::new("https://p.example.com", "u", SecretString::from("s3cr3t"))
                .unwrap();
        assert!(!format!("{login:?}").contains("s3cr3t"));
    }
}
