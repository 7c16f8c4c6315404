//! The crate's one error type.
//!
//! Every error names the backend (`uipath`, `aa`, `pyramid`, …), the endpoint it concerns (method and path,
//! never the query string or userinfo) and the cause, with the server's own code and message when it sent
//! one. No error ever holds a password, key or token: failed responses are reduced to their parsed error
//! code and message, truncated, and the body of a successful login is never kept.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use url::Url;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The longest server message kept in an error, in characters.
const MAX_SERVER_TEXT: usize = 200;

/// The request an error concerns: method and path, without query string or userinfo.
///
/// ```
/// # use rpa_auth::Endpoint;
/// let url = url::Url::parse("https://orch.example.com/api/Account/Authenticate?x=1").unwrap();
/// let endpoint = Endpoint::new(reqwest::Method::POST, &url);
/// assert_eq!(endpoint.to_string(), "POST /api/Account/Authenticate");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    method: Method,
    path: Box<str>,
}

impl Endpoint {
    /// The endpoint of a request to `url` with `method`; only the path of the URL is kept.
    pub fn new(method: Method, url: &Url) -> Self {
        Self {
            method,
            path: url.path().into(),
        }
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL path, without query string.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// What a server said about a failure: its own error code and message, as parsed from its error body,
/// and optionally a hint from this crate on what to do about it.
///
/// The text is truncated to a few hundred characters; the rest of the body is not kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerMessage {
    // Boxed so that `Error` stays small on the happy path's `Result`.
    inner: Box<ServerText>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ServerText {
    code_field: &'static str,
    code: Option<Box<str>>,
    message: Option<Box<str>>,
    hint: Option<Box<str>>,
}

impl ServerMessage {
    /// A server message whose code came in the field named `code_field` (e.g. `errorCode`, `code`, `error`).
    ///
    /// The texts are made one line (runs of white space and control characters become one space) and
    /// shown truncated to a few hundred characters.
    pub fn new(code_field: &'static str, code: Option<String>, message: Option<String>) -> Self {
        Self {
            inner: Box::new(ServerText {
                code_field,
                code: code.map(|c| pre_cut(&c)),
                message: message.map(|m| pre_cut(&m)),
                hint: None,
            }),
        }
    }

    /// The same message with its server text passed through `scrub` (which removes secrets), before the
    /// text is cut to its shown length, so a cut never leaves part of a secret behind. `scrub` is told
    /// whether the stored text was already cut short.
    pub(crate) fn scrubbed(mut self, scrub: impl Fn(&str, bool) -> String) -> Self {
        let clean = |text: &mut Option<Box<str>>| {
            if let Some(stored) = text.take() {
                let cut = stored.chars().count() >= PRE_CUT;
                *text = Some(scrub(&stored, cut).into());
            }
        };
        clean(&mut self.inner.code);
        clean(&mut self.inner.message);
        self
    }

    /// Adds what the user can do about the failure, in this crate's words (shown after the server's
    /// text), e.g. "the on-premises token endpoint is /identity/connect/token".
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.inner.hint = Some(hint.into().into());
        self
    }

    /// What the user can do about the failure, when this crate knows.
    pub fn hint(&self) -> Option<&str> {
        self.inner.hint.as_deref()
    }

    /// The server's error code, e.g. `1000` for UiPath or `UM1117` for Automation Anywhere.
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref().map(shown)
    }

    /// The server's error message, at most a few hundred characters.
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref().map(shown)
    }

    /// True when there is nothing to show: the server sent neither code nor message and there is no hint.
    pub fn is_empty(&self) -> bool {
        self.inner.code.is_none() && self.inner.message.is_none() && self.inner.hint.is_none()
    }
}

impl fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.inner.code_field;
        let text = |stored: &Option<Box<str>>| {
            stored.as_deref().map(|t| {
                let cut = shown(t);
                if cut.len() < t.len() {
                    format!("{cut}…")
                } else {
                    cut.to_owned()
                }
            })
        };
        match (text(&self.inner.code), text(&self.inner.message)) {
            (Some(code), Some(message)) => write!(f, "{field} {code}: {message}"),
            (Some(code), None) => write!(f, "{field} {code}"),
            (None, Some(message)) => f.write_str(&message),
            (None, None) => Ok(()),
        }?;
        let said = self.inner.code.is_some() || self.inner.message.is_some();
        match &self.inner.hint {
            Some(hint) if said => write!(f, "; {hint}"),
            Some(hint) => f.write_str(hint),
            None => Ok(()),
        }
    }
}

/// The longest server text kept before secrets are removed, in characters; what is shown is cut to
/// [`MAX_SERVER_TEXT`] after that.
const PRE_CUT: usize = 4096;

/// One line, at most [`PRE_CUT`] characters: runs of white space and control characters from the
/// server become single spaces, so an error stays one line.
fn pre_cut(text: &str) -> Box<str> {
    let text = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match text.char_indices().nth(PRE_CUT) {
        Some((cut, _)) => text[..cut].into(),
        None => text.into(),
    }
}

/// The shown part of a stored text: at most [`MAX_SERVER_TEXT`] characters.
fn shown(text: &str) -> &str {
    match text.char_indices().nth(MAX_SERVER_TEXT) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

/// Why a server refused a login.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// Wrong user name, password, API key or client secret.
    BadCredentials,
    /// The account is locked after too many failed logins; it may unlock by itself later.
    AccountLocked,
    /// The account is disabled; an administrator must enable it.
    AccountDisabled,
    /// The account needs a multi-factor code and none was given.
    MfaRequired,
    /// The multi-factor code was wrong or expired.
    MfaInvalid,
    /// The OAuth client is unknown or its secret is wrong.
    InvalidClient,
    /// The OAuth client asked for scopes it is not granted.
    InvalidScope,
    /// The server does not accept this kind of login here (wrong endpoint, grant or version).
    Unsupported,
    /// Anything else the server said no to.
    Other,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadCredentials => "invalid credentials",
            Self::AccountLocked => "account locked",
            Self::AccountDisabled => "account disabled",
            Self::MfaRequired => "multi-factor code required",
            Self::MfaInvalid => "multi-factor code rejected",
            Self::InvalidClient => "invalid client",
            Self::InvalidScope => "invalid scope",
            Self::Unsupported => "login method not supported here",
            Self::Other => "login refused",
        })
    }
}

/// What kind of transport failure happened.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be made (DNS, refused, TLS handshake).
    Connect,
    /// The server did not answer in time.
    Timeout,
    /// The connection was reset or closed before the answer was complete.
    Reset,
    /// The answer is not valid HTTP: an invalid status line, a malformed or oversized header section,
    /// conflicting `Content-Length`, bad chunked encoding.
    Malformed,
    /// The answer's body ended before the length it announced.
    BodyCut,
    /// The connection broke for another reason.
    Other,
}

/// Every error this crate returns.
///
/// Display is one lower-case line naming the backend, the endpoint and the cause; the underlying
/// transport error, if any, is reachable through [`std::error::Error::source`].
#[non_exhaustive]
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable: a malformed URL, plain `http://` to a remote host, a missing value.
    #[non_exhaustive]
    #[error("{backend}: invalid configuration: {message}")]
    Config {
        /// Backend name.
        backend: &'static str,
        /// What is wrong, in words a user can act on.
        message: String,
    },

    /// The server refused the login.
    #[non_exhaustive]
    #[error("{backend}: {reason}: login rejected by {endpoint} (HTTP {}{})", status.as_u16(), with_server(server))]
    LoginRejected {
        /// Backend name.
        backend: &'static str,
        /// The login endpoint.
        endpoint: Endpoint,
        /// HTTP status of the refusal.
        status: StatusCode,
        /// Why, as far as the server's answer tells.
        reason: RejectReason,
        /// The server's own code and message.
        server: Option<ServerMessage>,
    },

    /// The server answered with an error status that is not a refusal of the credentials
    /// (429, 5xx, an unexpected 4xx).
    #[non_exhaustive]
    #[error("{backend}: {endpoint} answered HTTP {}{}{}", status.as_u16(), retry_after_text(retry_after), with_server(server))]
    Status {
        /// Backend name.
        backend: &'static str,
        /// The endpoint.
        endpoint: Endpoint,
        /// HTTP status.
        status: StatusCode,
        /// How long the server asked the client to wait, from `Retry-After`.
        retry_after: Option<Duration>,
        /// The server's own code and message.
        server: Option<ServerMessage>,
    },

    /// The server's answer could not be read: an HTML page instead of JSON, malformed or truncated JSON,
    /// an oversized body, a missing field.
    #[non_exhaustive]
    #[error("{backend}: unreadable answer from {endpoint} (HTTP {}): {cause}", status.as_u16())]
    InvalidResponse {
        /// Backend name.
        backend: &'static str,
        /// The endpoint.
        endpoint: Endpoint,
        /// HTTP status of the answer.
        status: StatusCode,
        /// What was wrong with it.
        cause: String,
    },

    /// The request did not get an answer: connection refused, timeout, broken connection.
    #[non_exhaustive]
    #[error("{backend}: {endpoint} {}", transport_text(*kind, cause))]
    Transport {
        /// Backend name.
        backend: &'static str,
        /// The endpoint.
        endpoint: Endpoint,
        /// What kind of failure.
        kind: TransportKind,
        /// What went wrong, in words (never a URL).
        cause: Option<Box<str>>,
        /// The underlying error, with its URL removed.
        #[source]
        source: Option<Arc<reqwest::Error>>,
    },

    /// A request was still answered 401 after the credential was renewed.
    #[non_exhaustive]
    #[error("{backend}: {endpoint} still answered HTTP {} after a fresh login", status.as_u16())]
    Unauthorized {
        /// Backend name.
        backend: &'static str,
        /// The endpoint.
        endpoint: Endpoint,
        /// The status of the last answer (401).
        status: StatusCode,
    },

    /// A request answered 401 could not be sent again after the re-login, because its body is a stream.
    #[non_exhaustive]
    #[error(
        "{backend}: {endpoint} answered HTTP 401 and its streaming body cannot be replayed; the credential was dropped, send the request again"
    )]
    BodyNotReplayable {
        /// Backend name.
        backend: &'static str,
        /// The endpoint.
        endpoint: Endpoint,
    },

    /// Windows authentication (NTLM / Negotiate) failed for a reason other than refused credentials
    /// (those are [`Error::LoginRejected`]): the server offers no Windows authentication, its challenge is
    /// malformed, or the dedicated connection failed.
    #[non_exhaustive]
    #[error("{backend}: windows authentication at {endpoint} failed: {cause}")]
    WindowsAuth {
        /// Backend name.
        backend: &'static str,
        /// The endpoint.
        endpoint: Endpoint,
        /// The handshake's own error.
        #[source]
        cause: WindowsCause,
    },

    /// The request itself cannot be sent as asked: a credential placement it cannot carry, a
    /// malformed URL, a target outside the configured origin.
    #[non_exhaustive]
    #[error("{backend}: cannot send {endpoint}: {cause}")]
    Request {
        /// Backend name.
        backend: &'static str,
        /// The endpoint.
        endpoint: Endpoint,
        /// Why.
        cause: String,
    },
}

fn with_server(server: &Option<ServerMessage>) -> String {
    match server {
        Some(server) if !server.is_empty() => format!(", {server}"),
        _ => String::new(),
    }
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(", retry after {} s", wait.as_secs()),
        None => String::new(),
    }
}

fn transport_text(kind: TransportKind, cause: &Option<Box<str>>) -> String {
    let what = match kind {
        TransportKind::Connect => "could not connect",
        TransportKind::Timeout => "timed out",
        _ => "failed in transit",
    };
    match cause {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_owned(),
    }
}

impl Error {
    /// A configuration error for `backend`.
    pub(crate) fn config(backend: &'static str, message: impl Into<String>) -> Self {
        Self::Config {
            backend,
            message: message.into(),
        }
    }

    /// For a custom [`Authenticator`](crate::Authenticator): the server refused the login (wrong
    /// credentials, a locked account, a missing multi-factor code). The
    /// [`AuthClient`](crate::AuthClient) then does not log in again at once, so a retry loop cannot lock
    /// the account.
    pub fn login_rejected(
        backend: &'static str,
        endpoint: Endpoint,
        status: StatusCode,
        reason: RejectReason,
        server: Option<ServerMessage>,
    ) -> Self {
        Self::LoginRejected {
            backend,
            endpoint,
            status,
            reason,
            server,
        }
    }

    /// For a custom [`Authenticator`](crate::Authenticator): the server answered an error status that
    /// is not a refusal of the credentials (429, 5xx), optionally asking to wait `retry_after`.
    pub fn unexpected_status(
        backend: &'static str,
        endpoint: Endpoint,
        status: StatusCode,
        retry_after: Option<Duration>,
        server: Option<ServerMessage>,
    ) -> Self {
        Self::Status {
            backend,
            endpoint,
            status,
            retry_after,
            server,
        }
    }

    /// The backend the error comes from.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Config { backend, .. }
            | Self::LoginRejected { backend, .. }
            | Self::Status { backend, .. }
            | Self::InvalidResponse { backend, .. }
            | Self::Transport { backend, .. }
            | Self::Unauthorized { backend, .. }
            | Self::BodyNotReplayable { backend, .. }
            | Self::WindowsAuth { backend, .. }
            | Self::Request { backend, .. } => backend,
        }
    }

    /// The endpoint the error concerns, when it concerns one.
    pub fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            Self::Config { .. } => None,
            Self::LoginRejected { endpoint, .. }
            | Self::Status { endpoint, .. }
            | Self::InvalidResponse { endpoint, .. }
            | Self::Transport { endpoint, .. }
            | Self::Unauthorized { endpoint, .. }
            | Self::BodyNotReplayable { endpoint, .. }
            | Self::WindowsAuth { endpoint, .. }
            | Self::Request { endpoint, .. } => Some(endpoint),
        }
    }

    /// The HTTP status of the answer behind the error, when there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::LoginRejected { status, .. }
            | Self::Status { status, .. }
            | Self::InvalidResponse { status, .. }
            | Self::Unauthorized { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's own error code and message, when it sent one.
    pub fn server_message(&self) -> Option<&ServerMessage> {
        match self {
            Self::LoginRejected { server, .. } | Self::Status { server, .. } => server.as_ref(),
            _ => None,
        }
    }

    /// Why the login was rejected, for [`Error::LoginRejected`].
    pub fn reject_reason(&self) -> Option<RejectReason> {
        match self {
            Self::LoginRejected { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// True when the server refused the credentials (or the account): trying again with the same
    /// credentials will fail again, and may lock the account.
    pub fn is_login_rejected(&self) -> bool {
        matches!(self, Self::LoginRejected { .. })
    }

    /// True for a timeout.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Transport { kind, .. } => *kind == TransportKind::Timeout,
            Self::WindowsAuth { cause, .. } => cause.timeout,
            _ => false,
        }
    }

    // `handshake_error()` and the crate-private `windows_auth` constructor live beside the handshake, in
    // `ntlm/error.rs`, so this module depends on nothing of the crate's.

    /// How long the server asked to wait before trying again (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when trying again later may succeed: transport failures, 429, 502, 503, 504.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::WindowsAuth { cause, .. } => cause.transient,
            Self::Status { status, .. } => matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504),
            _ => false,
        }
    }
}

/// The cause of an [`Error::WindowsAuth`]: the handshake's own error (a
/// [`HandshakeError`](crate::ntlm::HandshakeError)), shared so [`Error`] stays `Clone`. It dereferences
/// to that error, which is also what [`source`](std::error::Error::source) returns.
#[derive(Clone, Debug)]
pub struct WindowsCause {
    pub(crate) error: Arc<dyn std::error::Error + Send + Sync>,
    pub(crate) transient: bool,
    pub(crate) timeout: bool,
}

impl std::ops::Deref for WindowsCause {
    type Target = dyn std::error::Error + Send + Sync;

    fn deref(&self) -> &Self::Target {
        &*self.error
    }
}

impl fmt::Display for WindowsCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.error, f)
    }
}

#[cfg(test)]
mod tests;
