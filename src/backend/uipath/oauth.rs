//! UiPath OAuth2 client credentials (External Applications) at Identity Server's token endpoint
//! (vendor-apis.md §1.4).
//!
//! The request is a form: `grant_type=client_credentials`, `client_id`, `client_secret` and the
//! space-separated `scope`. The answer is `{"access_token", "expires_in", "token_type": "Bearer", "scope"}`;
//! the token goes in `Authorization: Bearer` with the same folder and tenant headers as the bearer login.
//! Errors are OAuth's `{"error": "invalid_client" | "invalid_scope" | "unsupported_grant_type"}` with 400.
//!
//! Where the token endpoint is depends on the deployment, and the two forms differ by one underscore:
//!
//! | deployment | token endpoint |
//! |---|---|
//! | Automation Cloud | `https://cloud.uipath.com/{org}/identity_/connect/token` |
//! | Automation Suite | `https://{host}/identity_/connect/token` |
//! | standalone (on-premises) Orchestrator 2020.4+ | `https://{host}/identity/connect/token` |
//!
//! A `*.uipath.com` URL decides it. Any other host may be either of the last two, so the login tries one
//! form (`identity_` first when the URL has the Automation Suite `/{org}/{tenant}/orchestrator_/`
//! shape) and, when it answers 404, 405 (2023.10 answers a POST to the wrong one with 405
//! `UnsupportedApiVersion`) or an HTML page, the other; it remembers which one answered.
//! [`token_url`] overrides all of this.
//!
//! [`token_url`]: UiPathClientCredentialsLogin::token_url

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::{Host, Url};

use super::context::context_setters;
use super::{ContextHeaders, ENV_URL};
use crate::backend::{authenticator_by_login, from_env_constructors, require_name, require_secret};
use crate::credential::{Credential, Placement};
use crate::env::Env;
use crate::error::{Error, RejectReason, Result, ServerMessage};
use crate::exchange::{self, EndpointProbe, Probed, Reply, as_text, get_ci};
use crate::redact::Secrets;
use crate::store::LoginIdentity;
use crate::{origin, token};

const BACKEND: &str = "uipath-oauth";

/// How long a token lives when the answer has no `expires_in`: 1 hour, what UiPath documents for
/// access tokens.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The token path of a standalone (on-premises) Orchestrator's Identity Server, from the host root.
const ON_PREMISES_TOKEN_PATH: &str = "/identity/connect/token";

/// The token path on Automation Cloud (after `/{org}`) and Automation Suite (from the host root).
const CLOUD_TOKEN_PATH: &str = "/identity_/connect/token";

/// Environment variable: the External Application's id.
const ENV_CLIENT_ID: &str = "UIPATH_CLIENT_ID";
/// Environment variable: the External Application's secret.
const ENV_CLIENT_SECRET: &str = "UIPATH_CLIENT_SECRET";
/// Environment variable: the scopes, space-separated (e.g. `OR.Jobs OR.Folders.Read`).
const ENV_SCOPE: &str = "UIPATH_SCOPE";
/// Environment variable: the scopes, as `uipathcli` names it; read when [`ENV_SCOPE`] is unset.
const ENV_AUTH_SCOPES: &str = "UIPATH_AUTH_SCOPES";
/// Environment variable: the token endpoint, overriding the one derived from `UIPATH_URL`.
const ENV_TOKEN_URL: &str = "UIPATH_TOKEN_URL";

/// The scope OAuth uses to ask for a refresh token; client credentials never get one.
const OFFLINE_ACCESS: &str = "offline_access";

/// Logs into UiPath Orchestrator as an External Application with OAuth2 client credentials.
///
/// The recommended way in on Automation Cloud, Automation Suite and Orchestrator 2020.4+. Register a
/// confidential application with application scopes (Admin → External Applications) and pass its id,
/// secret and the scopes it should use.
///
/// Where the token endpoint is depends on the deployment, and the two forms differ by one underscore:
///
/// | deployment | token endpoint |
/// |---|---|
/// | Automation Cloud | `https://cloud.uipath.com/{org}/identity_/connect/token` |
/// | Automation Suite | `https://{host}/identity_/connect/token` |
/// | standalone (on-premises) Orchestrator 2020.4+ | `https://{host}/identity/connect/token` |
///
/// A `*.uipath.com` URL decides it. Any other host may be either of the last two, so the login tries one
/// form (`identity_` first when the URL has the Automation Suite `/{org}/{tenant}/orchestrator_/`
/// shape) and, when it answers 404, 405 (2023.10 answers a POST to the wrong one with 405
/// `UnsupportedApiVersion`) or an HTML page, the other; it remembers which one answered.
/// [`token_url`](Self::token_url) overrides all of this.
///
/// ```no_run
/// # async fn run() -> rpa_auth::Result<()> {
/// use rpa_auth::{AuthClient, SecretString, UiPathClientCredentialsLogin};
///
/// let login = UiPathClientCredentialsLogin::new(
///     "https://cloud.uipath.com/acme/DefaultTenant/orchestrator_/",
///     "8b2e…",
///     SecretString::from("…"),
/// )?
/// .scope("OR.Jobs OR.Folders.Read")?
/// .folder_path("Shared");
/// let client = AuthClient::new(login)?;
/// let jobs = client.get("odata/Jobs").send().await?;
/// # let _ = jobs; Ok(()) }
/// ```
#[derive(Clone)]
pub struct UiPathClientCredentialsLogin {
    base: Url,
    client_id: String,
    client_secret: SecretString,
    scopes: Vec<String>,
    endpoint: TokenEndpoint,
    headers: ContextHeaders,
    token_lifetime: Duration,
    secrets: Secrets,
}

/// Where tokens are asked for.
#[derive(Clone, Debug)]
enum TokenEndpoint {
    /// Decided by the URL (Automation Cloud) or set by the user.
    Fixed(Url),
    /// Not decided by the URL: try the candidates in order and remember the one that answers.
    Probe {
        candidates: [Url; 2],
        probe: EndpointProbe,
    },
}

impl UiPathClientCredentialsLogin {
    /// A login to the Orchestrator at `base_url` as the External Application `client_id`.
    ///
    /// `base_url` is the API base: `https://cloud.uipath.com/{org}/{tenant}/orchestrator_/` on Automation
    /// Cloud (a cloud URL ending at `/{org}/{tenant}/` gets `orchestrator_/` added), the same shape on
    /// Automation Suite, or the server root on-premises. The token endpoint is derived from it (see the
    /// table above); override it with [`token_url`](Self::token_url).
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL, or an empty client id or secret.
    pub fn new(
        base_url: &str,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Result<Self> {
        let client_id = client_id.into().trim().to_owned();
        require_name(BACKEND, "client id", &client_id)?;
        if client_id.chars().any(char::is_control) {
            return Err(Error::config(
                BACKEND,
                "the client id contains control characters",
            ));
        }
        require_secret(BACKEND, "client secret", &client_secret)?;
        let mut base = origin::parse_base_url(BACKEND, base_url)?;
        let endpoint = if is_cloud(&base) {
            complete_cloud_base(&mut base);
            TokenEndpoint::Fixed(cloud_token_url(&base))
        } else {
            let root = |path: &str| {
                base.join(path).map_err(|e| {
                    Error::config(BACKEND, format!("cannot build the token URL ({e})"))
                })
            };
            let (on_premises, suite) = (root(ON_PREMISES_TOKEN_PATH)?, root(CLOUD_TOKEN_PATH)?);
            // An `orchestrator_` segment is the Automation Suite layout: try `identity_` first there.
            let candidates = if base
                .path_segments()
                .into_iter()
                .flatten()
                .any(|s| s == "orchestrator_")
            {
                [suite, on_premises]
            } else {
                [on_premises, suite]
            };
            TokenEndpoint::Probe {
                candidates,
                probe: EndpointProbe::default(),
            }
        };
        Ok(Self {
            base,
            client_id,
            secrets: Secrets::new().with(&client_secret),
            client_secret,
            scopes: Vec::new(),
            endpoint,
            headers: ContextHeaders::default(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
        })
    }

    from_env_constructors! {
        /// A login configured from the process environment: `UIPATH_URL`, `UIPATH_CLIENT_ID` and
        /// `UIPATH_CLIENT_SECRET` (required), `UIPATH_SCOPE` (or `UIPATH_AUTH_SCOPES`), `UIPATH_TOKEN_URL`,
        /// `UIPATH_TENANT` (sent as `X-UIPATH-TenantName`), `UIPATH_FOLDER_PATH`, `UIPATH_FOLDER_ID`. Blank
        /// optional variables count as unset.
        ///
        /// ```no_run
        /// # fn run() -> rpa_auth::Result<()> {
        /// let client = rpa_auth::AuthClient::new(rpa_auth::UiPathClientCredentialsLogin::from_env()?)?;
        /// # let _ = client; Ok(()) }
        /// ```
    }

    fn read_env(env: &Env<'_>) -> Result<Self> {
        let url = env.required(ENV_URL)?;
        let client_id = env.required(ENV_CLIENT_ID)?;
        if client_id.chars().any(char::is_control) {
            return Err(env.malformed(ENV_CLIENT_ID, "contains control characters"));
        }
        let client_secret = env.secret(ENV_CLIENT_SECRET)?;
        let mut login =
            Self::new(&url, client_id, client_secret).map_err(|e| env.blame(ENV_URL, e))?;
        if let Some((name, scope)) = env.first_optional(&[ENV_SCOPE, ENV_AUTH_SCOPES])? {
            login = login.scope(&scope).map_err(|e| env.blame(name, e))?;
        }
        if let Some(token_url) = env.optional(ENV_TOKEN_URL)? {
            login = login
                .token_url(&token_url)
                .map_err(|e| env.blame(ENV_TOKEN_URL, e))?;
        }
        login.headers.read_env(env, true)?;
        Ok(login)
    }

    /// The scopes to ask for, separated by spaces (commas are accepted too), e.g.
    /// `OR.Jobs OR.Folders.Read`. Each must be registered for the application. Defaults to none: the
    /// `scope` field is sent empty and Identity Server grants every scope registered for the application.
    ///
    /// # Errors
    /// [`Error::Config`] for a character OAuth does not allow in a scope (quotes, backslashes, control
    /// characters, non-ASCII).
    pub fn scope(mut self, scopes: &str) -> Result<Self> {
        let mut parsed = Vec::new();
        for scope in scopes.split(|c: char| c.is_ascii_whitespace() || c == ',') {
            if scope.is_empty() {
                continue;
            }
            // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
            if let Some(bad) = scope
                .chars()
                .find(|&c| !matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
            {
                return Err(Error::config(
                    BACKEND,
                    format!(
                        "the scope `{}` contains {}, which OAuth does not allow in a scope; separate scopes with spaces",
                        scope.escape_debug(),
                        describe_char(bad)
                    ),
                ));
            }
            if !parsed.iter().any(|s| s == scope) {
                parsed.push(scope.to_owned());
            }
        }
        self.scopes = parsed;
        Ok(self)
    }

    /// The token endpoint, used as given instead of the one derived from the server URL. Defaults to the
    /// derived one (see the table in the type's documentation).
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL, or plain `http://` to a remote host that is not the API
    /// server itself (which would send the client secret unencrypted).
    pub fn token_url(mut self, url: &str) -> Result<Self> {
        let url = origin::parse_url(BACKEND, "token URL", url)?;
        // Same origin as the API: the client's own http:// rule (loopback or opt-in) covers it.
        if url.scheme() == "http"
            && !origin::is_loopback(&url)
            && !origin::same_origin(&self.base, &url)
        {
            return Err(Error::config(
                BACKEND,
                "the token URL is plain http:// to a remote host, which would send the client secret unencrypted; use https://",
            ));
        }
        self.endpoint = TokenEndpoint::Fixed(url);
        Ok(self)
    }

    context_setters!();

    /// How long a token lives when the answer has no `expires_in`. Defaults to 1 hour, what UiPath
    /// documents for access tokens.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// The API base URL, as completed from the one given (Automation Cloud bases end in `orchestrator_/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The scopes asked for.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The token endpoints the next login will try, in order: one when the URL decides it, it was set
    /// explicitly, or an earlier login found it; otherwise the two candidates.
    pub fn token_urls(&self) -> Vec<Url> {
        match &self.endpoint {
            TokenEndpoint::Fixed(url) => vec![url.clone()],
            TokenEndpoint::Probe { candidates, probe } => match probe.found() {
                Some(index) => vec![candidates[index].clone()],
                None => candidates.to_vec(),
            },
        }
    }

    /// Asks for a token once and returns the credential.
    ///
    /// # Errors
    /// [`Error::LoginRejected`] for an unknown client or wrong secret ([`RejectReason::InvalidClient`]),
    /// scopes the application does not have ([`RejectReason::InvalidScope`]), or a server that does not
    /// take client credentials there ([`RejectReason::Unsupported`], also for a wrong token endpoint);
    /// [`Error::Status`] for 429/5xx; [`Error::InvalidResponse`] for an answer that is not the expected
    /// JSON; [`Error::Transport`].
    pub async fn login(&self, http: &reqwest::Client) -> Result<Credential> {
        let reply = match &self.endpoint {
            TokenEndpoint::Fixed(url) => self.post(http, url).await?,
            TokenEndpoint::Probe { candidates, probe } => {
                let sent = probe.send(
                    candidates.len(),
                    |index| self.post(http, &candidates[index]),
                    is_wrong_endpoint,
                );
                match sent.await? {
                    Probed::Answered(index, reply) => {
                        if !is_wrong_endpoint(&reply) {
                            probe.remember(index);
                        }
                        reply
                    }
                    Probed::NoneAnswered(replies) => return Err(neither_endpoint(&replies)),
                }
            }
        };
        let (token, lifetime) = self.read_token(&reply)?;
        let credential = Credential::new(token, Placement::Bearer).expires_in(lifetime);
        Ok(self.headers.apply(credential))
    }

    async fn post(&self, http: &reqwest::Client, url: &Url) -> Result<Reply> {
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials")
                .append_pair("client_id", &self.client_id)
                .append_pair("client_secret", self.client_secret.expose_secret());
            // Always sent, empty when none is configured, as UiPath's own CLI does: Identity Server
            // then grants every scope registered for the application.
            form.append_pair("scope", &self.scopes.join(" "));
            form.finish()
        };
        let request = http
            .post(url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(body);
        exchange::send(BACKEND, &self.secrets, http, request).await
    }

    /// The token and its lifetime from a token answer, or the error the answer stands for.
    pub(crate) fn read_token(&self, reply: &Reply) -> Result<(SecretString, Duration)> {
        if !reply.status.is_success() {
            return Err(self.error_for(reply));
        }
        let body: Value = reply.json()?;
        let token = match token::field(get_ci(&body, "access_token"), &[]) {
            token::Field::Missing(_) if let Some(server) = server_message(&body) => {
                return Err(self.rejection(reply, server));
            }
            field => reply.token(field, None, |_| RejectReason::Other)?,
        };
        if let Some(kind) = get_ci(&body, "token_type").and_then(Value::as_str)
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(reply.invalid(format!(
                "token_type is `{}`, expected Bearer",
                kind.chars().take(40).collect::<String>()
            )));
        }
        let lifetime = get_ci(&body, "expires_in")
            .and_then(seconds)
            .unwrap_or(self.token_lifetime);
        self.secrets.remember_token(&token);
        Ok((token, lifetime))
    }

    /// Maps a non-2xx token answer to an error.
    fn error_for(&self, reply: &Reply) -> Error {
        let server = reply.server_message(server_message);
        match reply.status.as_u16() {
            404 | 405 => reply.rejected(
                RejectReason::Unsupported,
                Some(
                    server
                        .unwrap_or_else(|| ServerMessage::new("error", None, None))
                        .with_hint(wrong_endpoint_hint(reply.endpoint.path())),
                ),
            ),
            429 | 500.. => reply.status_error(server),
            status => match server {
                Some(server) if server.code().is_some() => self.rejection(reply, server),
                // A 401 without an OAuth error code is still a refused client (RFC 6749 §5.2 allows 401
                // for client authentication failures).
                server if status == 401 => {
                    let message = server.and_then(|s| s.message().map(str::to_owned));
                    self.rejection(
                        reply,
                        ServerMessage::new("error", Some("invalid_client".into()), message),
                    )
                }
                _ if reply.is_html() => {
                    reply.invalid("an HTML page where the JSON error was expected")
                }
                server => reply.status_error(server),
            },
        }
    }

    /// A refusal, classified by OAuth's error code, with what to do about it.
    fn rejection(&self, reply: &Reply, server: ServerMessage) -> Error {
        let code = server.code().unwrap_or_default().to_ascii_lowercase();
        let (reason, hint) = match code.as_str() {
            "invalid_client" => (
                RejectReason::InvalidClient,
                "the client id is unknown or the client secret is wrong; check both against the External Application (Admin > External Applications), which must be a confidential application".to_owned(),
            ),
            "invalid_scope" => (RejectReason::InvalidScope, self.scope_hint()),
            "unsupported_grant_type" => (
                RejectReason::Unsupported,
                "this token endpoint does not accept client credentials; check that it is the Identity Server of Orchestrator 2020.4 or later (older servers only have the user-name login)".to_owned(),
            ),
            "unauthorized_client" => (
                RejectReason::Unsupported,
                "the application may not use client credentials; register it as a confidential External Application with application scopes".to_owned(),
            ),
            _ => (
                RejectReason::Other,
                "the token request was refused".to_owned(),
            ),
        };
        reply.rejected(reason, Some(server.with_hint(hint)))
    }

    fn scope_hint(&self) -> String {
        if self
            .scopes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(OFFLINE_ACCESS))
        {
            return "offline_access asks for a refresh token, which client credentials never get; remove it from the scope".to_owned();
        }
        if self.scopes.is_empty() {
            return "the application has no application scopes the server will grant; add some to the External Application, or ask for specific ones".to_owned();
        }
        format!(
            "the application is not granted all of `{}`; ask only for application scopes registered for the External Application (e.g. OR.Jobs OR.Folders.Read)",
            self.scopes.join(" ")
        )
    }
}

/// True for hosts of UiPath's own cloud: `cloud.uipath.com` and the other `*.uipath.com` environments,
/// and Automation Cloud Public Sector (`*.uipath.us`).
fn is_cloud(url: &Url) -> bool {
    let Some(Host::Domain(host)) = url.host() else {
        return false;
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    ["uipath.com", "uipath.us"].iter().any(|domain| {
        host.strip_suffix(domain)
            .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
    })
}

/// The path segments of `url`, without empty ones.
fn segments(url: &Url) -> Vec<String> {
    url.path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Adds `orchestrator_/` to a cloud URL that stops at `/{org}/{tenant}/`, the form `UIPATH_URL` has in
/// UiPath's own SDKs.
fn complete_cloud_base(base: &mut Url) {
    let segments = segments(base);
    if segments.len() == 2 && segments.iter().all(|s| !s.ends_with('_')) {
        let path = format!("{}orchestrator_/", base.path());
        base.set_path(&path);
    }
}

/// `https://{host}/{org}/identity_/connect/token`, or `/identity_/connect/token` from the root when the
/// URL names no organization.
fn cloud_token_url(base: &Url) -> Url {
    // Segments come percent-encoded, and `set_path` keeps existing escapes.
    let org = segments(base)
        .into_iter()
        .next()
        .filter(|s| !s.ends_with('_'));
    let mut url = base.clone();
    match org {
        Some(org) => url.set_path(&format!("/{org}{CLOUD_TOKEN_PATH}")),
        None => url.set_path(CLOUD_TOKEN_PATH),
    }
    url
}

/// True when the reply says "no token endpoint here", so the other form is worth a try: 404, 405, or an
/// HTML page that is not a server error (a portal's catch-all route; token endpoints answer JSON).
fn is_wrong_endpoint(reply: &Reply) -> bool {
    match reply.status {
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => true,
        status => {
            status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() && reply.is_html()
        }
    }
}

fn wrong_endpoint_hint(path: &str) -> String {
    let path = path.to_ascii_lowercase();
    if path.ends_with(CLOUD_TOKEN_PATH) {
        format!(
            "no token endpoint here; a standalone (on-premises) Orchestrator takes tokens at {ON_PREMISES_TOKEN_PATH}, without the underscore: set the token URL (UIPATH_TOKEN_URL) to it"
        )
    } else if path.ends_with(ON_PREMISES_TOKEN_PATH) {
        format!(
            "no token endpoint here; Automation Cloud (https://cloud.uipath.com/{{org}}{CLOUD_TOKEN_PATH}) and Automation Suite take tokens at {CLOUD_TOKEN_PATH}, with an underscore: set the token URL (UIPATH_TOKEN_URL) to it"
        )
    } else {
        format!(
            "no token endpoint here; the on-premises token endpoint is {ON_PREMISES_TOKEN_PATH}, Automation Cloud and Automation Suite use {CLOUD_TOKEN_PATH}: set the token URL (UIPATH_TOKEN_URL) to the right one"
        )
    }
}

/// The error when neither candidate endpoint exists.
fn neither_endpoint(replies: &[Reply]) -> Error {
    let (Some(first), Some(second)) = (replies.first(), replies.last()) else {
        return Error::config(BACKEND, "no token endpoint to try");
    };
    let server = second
        .server_message(server_message)
        .unwrap_or_else(|| ServerMessage::new("error", None, None))
        .with_hint(format!(
            "neither {} (HTTP {}) nor {} (HTTP {}) takes token requests on this host; check that the URL points at Orchestrator 2020.4 or later (older servers only have the user-name login), or set the token URL (UIPATH_TOKEN_URL)",
            first.endpoint.path(),
            first.status.as_u16(),
            second.endpoint.path(),
            second.status.as_u16()
        ));
    second.rejected(RejectReason::Unsupported, Some(server))
}

/// The code and message from OAuth's `{"error", "error_description"}`, ASP.NET's
/// `{"error": {"code", "message"}}`, or Orchestrator's `{"errorCode", "message"}`.
fn server_message(body: &Value) -> Option<ServerMessage> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let server = match get_ci(body, "error") {
        Some(Value::String(code)) => ServerMessage::new(
            "error",
            Some(code.clone()).filter(|c| !c.is_empty()),
            text(get_ci(body, "error_description")),
        ),
        Some(nested @ Value::Object(_)) => ServerMessage::new(
            "error",
            get_ci(nested, "code").and_then(as_text),
            text(get_ci(nested, "message")),
        ),
        _ => ServerMessage::new(
            "errorCode",
            get_ci(body, "errorCode").and_then(as_text),
            text(get_ci(body, "message")),
        ),
    };
    (!server.is_empty()).then_some(server)
}

/// A positive number of seconds, from a JSON number or a numeric string.
fn seconds(value: &Value) -> Option<Duration> {
    let seconds = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (seconds.is_finite() && seconds >= 1.0)
        .then(|| Duration::from_secs(seconds.min(10.0 * 365.0 * 86_400.0) as u64))
}

fn describe_char(c: char) -> String {
    match c {
        '"' => "a double quote".to_owned(),
        '\\' => "a backslash".to_owned(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

authenticator_by_login!(UiPathClientCredentialsLogin, {
    fn store_identity(&self) -> Option<LoginIdentity> {
        let identity = LoginIdentity::new(&self.client_id).with("scopes", self.scopes.join(" "));
        Some(self.headers.identify(identity))
    }
});

impl fmt::Debug for UiPathClientCredentialsLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token_urls: Vec<String> = self.token_urls().iter().map(|u| u.to_string()).collect();
        f.debug_struct("UiPathClientCredentialsLogin")
            .field("base_url", &self.base.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"** redacted **")
            .field("scopes", &self.scopes)
            .field("token_urls", &token_urls)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
