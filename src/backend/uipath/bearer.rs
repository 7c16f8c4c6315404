//! UiPath Orchestrator bearer login: `POST /api/Account/Authenticate` (vendor-apis.md §1.1).
//!
//! The server answers with the ASP.NET Boilerplate envelope `{"result": "<token>", "success": true, …}`
//! (`Result` on some versions). Errors come as `{message, errorCode, resourceIds}` (2017–2019),
//! `{message, errorCode, traceId}` (2020+), the full envelope with `error{code, message, details}` (2016),
//! or a mix of both; `errorCode` 1000 is a wrong user name or password. The token lives 30 minutes unless
//! it is a JWT that says otherwise, and goes in `Authorization: Bearer` on later calls, with the optional
//! folder and tenant headers (§1.3).

use std::fmt;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::context::context_setters;
use super::{ContextHeaders, ENV_PASSWORD, ENV_TENANT, ENV_URL, ENV_USERNAME};
use crate::backend::{authenticator_by_login, from_env_constructors, require_name, require_secret};
use crate::credential::{Credential, Placement};
use crate::env::Env;
use crate::error::{Error, RejectReason, Result, ServerMessage};
use crate::exchange::{self, Reply, as_text, get_ci};
use crate::redact::Secrets;
use crate::store::LoginIdentity;
use crate::{jwt, origin, token};

const BACKEND: &str = "uipath";

/// The login path, relative to the Orchestrator base URL.
const AUTHENTICATE_PATH: &str = "api/Account/Authenticate";

/// How long a bearer token lives when the server does not say: 30 minutes, Orchestrator's default
/// (`Auth.Cookie.Expire`).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The UiPath error code for "invalid username/email address or password".
const ERROR_INVALID_CREDENTIALS: &str = "1000";

/// Logs into UiPath Orchestrator with a user name and password at `POST /api/Account/Authenticate`.
///
/// For local Orchestrator users (directory users log in with Windows authentication instead). UiPath
/// calls this flow deprecated and recommends External Applications (OAuth) on 2020.4+; it remains the
/// only way in on older servers and for host administrators.
///
/// ```no_run
/// # async fn run() -> rpa_auth::Result<()> {
/// use rpa_auth::{AuthClient, SecretString, UiPathBearerLogin};
///
/// let login = UiPathBearerLogin::new("https://orch.example.com/", "admin", SecretString::from("…"))?
///     .tenant("Default")
///     .folder_id(42);
/// let client = AuthClient::new(login)?;
/// let response = client.get("odata/Jobs").send().await?;
/// # let _ = response; Ok(()) }
/// ```
#[derive(Clone)]
pub struct UiPathBearerLogin {
    base: Url,
    tenancy_name: Option<String>,
    username: String,
    password: SecretString,
    token_lifetime: Duration,
    headers: ContextHeaders,
    secrets: Secrets,
}

impl UiPathBearerLogin {
    /// A login to the Orchestrator at `base_url` (on Automation Suite, `https://host/{org}/{tenant}/`).
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
            tenancy_name: None,
            username,
            secrets: Secrets::new().with(&password),
            password,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            headers: ContextHeaders::default(),
        })
    }

    from_env_constructors! {
        /// A login configured from the process environment: `UIPATH_URL`, `UIPATH_USERNAME` and
        /// `UIPATH_PASSWORD` (required), `UIPATH_TENANT` (sent as `tenancyName`), `UIPATH_FOLDER_PATH`,
        /// `UIPATH_FOLDER_ID`. Blank optional variables count as unset.
        ///
        /// ```no_run
        /// # fn run() -> rpa_auth::Result<()> {
        /// let client = rpa_auth::AuthClient::new(rpa_auth::UiPathBearerLogin::from_env()?)?;
        /// # let _ = client; Ok(()) }
        /// ```
    }

    fn read_env(env: &Env<'_>) -> Result<Self> {
        let url = env.required(ENV_URL)?;
        let username = env.required(ENV_USERNAME)?;
        let password = env.secret(ENV_PASSWORD)?;
        let mut login = Self::new(&url, username, password).map_err(|e| env.blame(ENV_URL, e))?;
        if let Some(tenant) = env.optional(ENV_TENANT)? {
            login = login.tenant(tenant);
        }
        login.headers.read_env(env, false)?;
        Ok(login)
    }

    /// The tenant to log into, sent as `tenancyName` (`Host` for host administrators). Multi-tenant
    /// servers need it. Defaults to none, which single-tenant servers accept.
    pub fn tenant(mut self, tenancy_name: impl Into<String>) -> Self {
        self.tenancy_name = Some(tenancy_name.into());
        self
    }

    context_setters!();

    /// How long a token lives when it is not a JWT carrying `exp`. Defaults to 30 minutes, Orchestrator's default;
    /// set it to match a server whose `Auth.Cookie.Expire` was changed.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Logs in once and returns the credential.
    ///
    /// # Errors
    /// [`Error::LoginRejected`] for wrong credentials or a locked account, [`Error::Status`] for 429/5xx,
    /// [`Error::InvalidResponse`] for an answer that is not the expected JSON, [`Error::Transport`].
    pub async fn login(&self, http: &reqwest::Client) -> Result<Credential> {
        let url = self
            .base
            .join(AUTHENTICATE_PATH)
            .map_err(|e| Error::config(BACKEND, format!("cannot build the login URL ({e})")))?;
        let mut body = serde_json::Map::new();
        if let Some(tenant) = &self.tenancy_name {
            body.insert("tenancyName".into(), Value::String(tenant.clone()));
        }
        body.insert(
            "usernameOrEmailAddress".into(),
            Value::String(self.username.clone()),
        );
        body.insert(
            "password".into(),
            Value::String(self.password.expose_secret().to_owned()),
        );
        let body = serde_json::to_vec(&body).map_err(|e| Error::config(BACKEND, e.to_string()))?;
        let request = http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body);
        let reply = exchange::send(BACKEND, &self.secrets, http, request).await?;
        let token = read_token(&reply)?;
        self.secrets.remember_token(&token);
        let lifetime = jwt::lifetime(token.expose_secret()).unwrap_or(self.token_lifetime);
        let credential = Credential::new(token, Placement::Bearer).expires_in(lifetime);
        Ok(self.headers.apply(credential))
    }
}

/// The token from a login answer, or the error the answer stands for.
pub(crate) fn read_token(reply: &Reply) -> Result<SecretString> {
    if !reply.status.is_success() {
        return Err(error_for(reply));
    }
    let envelope: Value = reply.json()?;
    let success = get_ci(&envelope, "success").and_then(Value::as_bool);
    // Tolerate a result object carrying the token under a usual name.
    let field = token::field(
        get_ci(&envelope, "result"),
        &["accessToken", "access_token", "token"],
    );
    let server = server_message(&envelope);
    if success == Some(false)
        && let Some(server) = server
    {
        return Err(reply.rejected(classify(&server), Some(server)));
    }
    reply.token(field, server, classify)
}

/// Maps a non-2xx login answer to an error.
fn error_for(reply: &Reply) -> Error {
    let server = reply.server_message(server_message);
    let status = reply.status.as_u16();
    match (status, server) {
        (429 | 500.., server) => reply.status_error(server),
        (_, Some(server)) => reply.rejected(classify(&server), Some(server)),
        (_, None) if reply.is_html() => {
            reply.invalid("an HTML page where the JSON error was expected")
        }
        (_, None) => reply.status_error(None),
    }
}

/// The server's code and message from any of the error shapes Orchestrator versions use.
fn server_message(body: &Value) -> Option<ServerMessage> {
    let nested = get_ci(body, "error").filter(|e| e.is_object());
    let code = get_ci(body, "errorCode")
        .and_then(as_text)
        .or_else(|| nested.and_then(|e| get_ci(e, "code")).and_then(as_text));
    let message = get_ci(body, "message")
        .and_then(Value::as_str)
        .or_else(|| {
            nested
                .and_then(|e| get_ci(e, "message"))
                .and_then(Value::as_str)
        })
        .map(str::to_owned);
    let server = ServerMessage::new("errorCode", code, message);
    (!server.is_empty()).then_some(server)
}

fn classify(server: &ServerMessage) -> RejectReason {
    let message = server.message().unwrap_or_default().to_ascii_lowercase();
    if message.contains("locked") {
        RejectReason::AccountLocked
    } else if message.contains("disabled") || message.contains("inactive") {
        RejectReason::AccountDisabled
    } else if server.code() == Some(ERROR_INVALID_CREDENTIALS) || message.contains("password") {
        RejectReason::BadCredentials
    } else {
        RejectReason::Other
    }
}

authenticator_by_login!(UiPathBearerLogin, {
    fn store_identity(&self) -> Option<LoginIdentity> {
        let identity = LoginIdentity::new(&self.username)
            .with("tenant", self.tenancy_name.clone().unwrap_or_default());
        Some(self.headers.identify(identity))
    }
});

impl fmt::Debug for UiPathBearerLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UiPathBearerLogin")
            .field("base_url", &self.base.as_str())
            .field("tenancy_name", &self.tenancy_name)
            .field("username", &self.username)
            .field("password", &"** redacted **")
            .field("token_lifetime", &self.token_lifetime)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            backend: BACKEND,
            endpoint: crate::Endpoint::new(
                reqwest::Method::POST,
                &Url::parse("http://h/api/Account/Authenticate").unwrap(),
            ),
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
            secrets: Secrets::default(),
        }
    }

    #[test]
    fn reads_camel_and_pascal_envelopes() {
        for body in [
            r#"{"result":"tok","targetUrl":null,"success":true,"error":null,"unAuthorizedRequest":false,"__abp":true}"#,
            r#"{"Result":"tok","TargetUrl":null,"Success":true,"Error":null,"UnAuthorizedRequest":false,"__abp":true}"#,
            r#"{"result":{"accessToken":"tok"},"success":true}"#,
        ] {
            assert_eq!(
                read_token(&reply(200, body)).unwrap().expose_secret(),
                "tok",
                "{body}"
            );
        }
    }

    #[test]
    fn error_shapes_all_give_code_and_message() {
        let bodies = [
            r#"{"message":"Invalid username/email address or password.","errorCode":1000,"resourceIds":null}"#,
            r#"{"message":"Invalid credentials, failed to login.","errorCode":1000,"traceId":"00-ab-cd-00"}"#,
            r#"{"message":"Invalid credentials, failed to login.","errorCode":1000,"result":null,"targetUrl":null,"success":false,"error":{"code":1000,"message":"Invalid credentials, failed to login.","details":null,"validationErrors":null},"unAuthorizedRequest":false,"__abp":true}"#,
        ];
        for body in bodies {
            let error = read_token(&reply(400, body)).unwrap_err();
            assert_eq!(
                error.reject_reason(),
                Some(RejectReason::BadCredentials),
                "{body}"
            );
            assert_eq!(error.server_message().unwrap().code(), Some("1000"));
        }
    }

    #[test]
    fn abp_2016_error_envelope_is_a_rejection() {
        let body = r#"{"result":null,"targetUrl":null,"success":false,"error":{"code":0,"message":"Username cannot be empty.","details":null,"validationErrors":null},"unAuthorizedRequest":false,"__abp":true}"#;
        let error = read_token(&reply(500, body)).unwrap_err();
        assert!(error.to_string().contains("Username cannot be empty."));
        let error = read_token(&reply(200, body)).unwrap_err();
        assert!(error.is_login_rejected());
    }

    #[test]
    fn locked_message_is_told_apart() {
        let body = r#"{"message":"The user account has been locked out. Please try again later.","errorCode":1000}"#;
        let error = read_token(&reply(400, body)).unwrap_err();
        assert_eq!(error.reject_reason(), Some(RejectReason::AccountLocked));
    }

    #[test]
    fn html_and_missing_token_are_invalid_responses() {
        let error = read_token(&reply(200, "<html>login</html>")).unwrap_err();
        assert!(matches!(error, Error::InvalidResponse { .. }));
        let error = read_token(&reply(200, r#"{"success":true}"#)).unwrap_err();
        assert!(matches!(error, Error::InvalidResponse { .. }));
        let error = read_token(&reply(400, "<html>bad</html>")).unwrap_err();
        assert!(matches!(error, Error::InvalidResponse { .. }));
    }

    #[test]
    fn server_errors_are_status_errors() {
        let error = read_token(&reply(503, "")).unwrap_err();
        assert!(error.is_transient());
        let error = read_token(&reply(
            500,
            r#"{"message":"An error has occurred.","errorCode":0}"#,
        ))
        .unwrap_err();
        assert!(matches!(error, Error::Status { .. }));
    }

    #[test]
    fn debug_hides_password() {
        let login = UiPathBearerLogin::new(
            "https://o.example.com",
            "admin",
            SecretString::from("hunter2"),
        )
        .unwrap();
        let text = format!("{login:?}");
        assert!(!text.contains("hunter2"));
    }
}
