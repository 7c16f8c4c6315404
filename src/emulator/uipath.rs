//! A local UiPath Orchestrator: `POST /api/Account/Authenticate` (§1.1), Identity Server's OAuth2
//! client-credentials token endpoint (§1.4), bearer-protected `/odata/*` with folder headers (§1.3) and
//! the 401/403 bodies of §1.6.
//!
//! Switches cover what differs between server versions: the success envelope's casing, the error-body
//! generation, the token format, whether `tenancyName` is required, the lockout policy, and which form
//! of the token path (`/identity/…` or `/identity_/…`) is served and what the other one answers.
//!
//! API routes are also served under an Automation Suite style prefix `/{org}/{tenant}/orchestrator_/`,
//! and in the [`IdentityProfile::Cloud`] profile the token endpoint also under `/{org}/`.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use secrecy::SecretString;

use crate::json::get_ci;

use super::windows::UserDirectory;
use super::{
    EmuRequest, EmuResponse, Handler, Server, WindowsAuthMode, WindowsGate, json_response, lock,
};

/// The tenant of users and applications added without one.
const DEFAULT_TENANT: &str = "Default";

/// The success envelope's casing: `result` (most versions) or `Result` (2017.1-era servers).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// `{"result": …, "success": true, …}`.
    CamelCase,
    /// `{"Result": …, "Success": true, …}`.
    PascalCase,
}

/// Which generation of error bodies the server sends (vendor-apis.md §1.0).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorBody {
    /// 2016: the full ABP envelope with `error{code, message, details}`.
    Abp,
    /// 2017–2019: `{"message", "errorCode", "resourceIds"}`.
    Legacy,
    /// 2019–2020 cloud: `message` + `errorCode` plus the ABP fields.
    Hybrid,
    /// 2020.4+ and cloud: `{"message", "errorCode", "traceId"}`.
    Modern,
}

/// The format of issued tokens.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormat {
    /// An opaque base64url ticket (2017–2019).
    Opaque,
    /// A JWT with `iat` and `exp` (2020.4+).
    Jwt,
}

/// Which token path the emulated Identity Server serves (vendor-apis.md §1.4).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityProfile {
    /// A standalone (on-premises) Orchestrator: `POST /identity/connect/token`.
    OnPremises,
    /// Automation Cloud and Automation Suite: `POST /identity_/connect/token`, also under `/{org}/`.
    Cloud,
}

/// What the token path of the other profile answers.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrongTokenPath {
    /// `405` with the `UnsupportedApiVersion` body a 2023.10 on-premises server sends for
    /// `/identity_/connect/token`.
    MethodNotAllowed,
    /// A plain `404`.
    NotFound,
}

#[derive(Clone, Debug)]
struct Settings {
    token_lifetime: Duration,
    lockout_attempts: u32,
    lockout_duration: Duration,
    envelope: Envelope,
    error_body: ErrorBody,
    token_format: TokenFormat,
    require_tenancy_name: bool,
    identity: IdentityProfile,
    wrong_token_path: WrongTokenPath,
    oauth_token_lifetime: Duration,
    send_expires_in: bool,
}

/// An External Application registered for client credentials.
struct OAuthClient {
    tenant: String,
    id: String,
    secret: String,
    scopes: Vec<String>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

struct User {
    tenant: String,
    username: String,
    password: String,
    failures: u32,
    locked_until: Option<Instant>,
}

struct Session {
    tenant: String,
    username: String,
    expires_at: Instant,
}

#[derive(Default)]
struct Counters {
    logins: AtomicU64,
    failed_logins: AtomicU64,
    calls: AtomicU64,
    rejected_calls: AtomicU64,
    token_requests: AtomicU64,
    tokens_issued: AtomicU64,
    failed_token_requests: AtomicU64,
    token_path_misses: AtomicU64,
}

struct Orchestrator {
    settings: Settings,
    windows: Option<WindowsGate>,
    users: Mutex<Vec<User>>,
    sessions: Mutex<HashMap<String, Session>>,
    clients: Vec<OAuthClient>,
    counters: Counters,
}

/// Configures a [`UiPathEmulator`]; every setter says its default.
#[must_use]
pub struct UiPathEmulatorBuilder {
    settings: Settings,
    users: Vec<(String, String, String)>,
    windows_users: UserDirectory,
    windows_mode: Option<WindowsAuthMode>,
    clients: Vec<OAuthClient>,
    kerberos: bool,
}

impl UiPathEmulatorBuilder {
    /// Adds a local user of the tenant `Default`. No users by default.
    pub fn user(self, username: &str, password: &str) -> Self {
        self.tenant_user(DEFAULT_TENANT, username, password)
    }

    /// Adds a local user of `tenant`, for a multi-tenant server.
    pub fn tenant_user(mut self, tenant: &str, username: &str, password: &str) -> Self {
        self.users
            .push((tenant.into(), username.into(), password.into()));
        self
    }

    /// Adds a directory user for Windows authentication and turns it on (IIS-like: `/odata/*` and `/api/*`
    /// answer 401 offering `Negotiate` and `NTLM` to requests without a bearer token). No Windows users by
    /// default, and Windows authentication off.
    pub fn windows_user(mut self, domain: &str, username: &str, password: &str) -> Self {
        self.windows_users =
            self.windows_users
                .user(domain, username, SecretString::from(password.to_owned()));
        self
    }

    /// Accepts Kerberos inside Negotiate as well as NTLM, as IIS in a domain does, and turns Windows
    /// authentication on: tickets are checked with the process's default service keytab (`KRB5_KTNAME`),
    /// for any principal of the realm. Off by default.
    #[cfg(feature = "kerberos")]
    pub fn kerberos(mut self) -> Self {
        self.kerberos = true;
        self
    }

    /// What a successful handshake means for the connection. Defaults to
    /// [`WindowsAuthMode::PersistConnection`], IIS's default.
    pub fn windows_auth_mode(mut self, mode: WindowsAuthMode) -> Self {
        self.windows_mode = Some(mode);
        self
    }

    /// Registers an External Application of tenant `Default` for client credentials, with the scopes it
    /// may ask for. No applications by default.
    pub fn client(mut self, client_id: &str, secret: &str, scopes: &[&str]) -> Self {
        self.clients.push(OAuthClient {
            tenant: DEFAULT_TENANT.into(),
            id: client_id.into(),
            secret: secret.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        });
        self
    }

    /// Which token path is served. Defaults to [`IdentityProfile::OnPremises`].
    pub fn identity(mut self, profile: IdentityProfile) -> Self {
        self.settings.identity = profile;
        self
    }

    /// What the other profile's token path answers. Defaults to [`WrongTokenPath::MethodNotAllowed`].
    pub fn wrong_token_path(mut self, answer: WrongTokenPath) -> Self {
        self.settings.wrong_token_path = answer;
        self
    }

    /// Lifetime of tokens issued to client credentials. Defaults to 1 hour.
    pub fn oauth_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.oauth_token_lifetime = lifetime;
        self
    }

    /// Whether token answers carry `expires_in`. Defaults to `true`.
    pub fn expires_in(mut self, send: bool) -> Self {
        self.settings.send_expires_in = send;
        self
    }

    /// Lifetime of issued tokens. Defaults to 30 minutes.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.token_lifetime = lifetime;
        self
    }

    /// Consecutive failed logins that lock an account, and for how long. Defaults to 10 and 300 s.
    pub fn lockout(mut self, attempts: u32, duration: Duration) -> Self {
        self.settings.lockout_attempts = attempts;
        self.settings.lockout_duration = duration;
        self
    }

    /// The success envelope's casing. Defaults to [`Envelope::CamelCase`].
    pub fn envelope(mut self, envelope: Envelope) -> Self {
        self.settings.envelope = envelope;
        self
    }

    /// The error-body generation. Defaults to [`ErrorBody::Legacy`].
    pub fn error_body(mut self, error_body: ErrorBody) -> Self {
        self.settings.error_body = error_body;
        self
    }

    /// The token format. Defaults to [`TokenFormat::Opaque`].
    pub fn token_format(mut self, format: TokenFormat) -> Self {
        self.settings.token_format = format;
        self
    }

    /// Whether a login without `tenancyName` is refused (a multi-tenant server). Defaults to `false`: the
    /// user is looked up in any tenant, as single-tenant servers do.
    pub fn require_tenancy_name(mut self, required: bool) -> Self {
        self.settings.require_tenancy_name = required;
        self
    }

    /// Starts the emulator on a free loopback port.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn start(self) -> io::Result<UiPathEmulator> {
        let users = self
            .users
            .into_iter()
            .map(|(tenant, username, password)| User {
                tenant,
                username,
                password,
                failures: 0,
                locked_until: None,
            })
            .collect();
        let windows = (!self.windows_users.is_empty() || self.kerberos).then(|| {
            WindowsGate::new(
                self.windows_users,
                self.windows_mode
                    .unwrap_or(WindowsAuthMode::PersistConnection),
            )
        });
        #[cfg(feature = "kerberos")]
        let windows = match windows {
            Some(gate) if self.kerberos => Some(gate.with_kerberos()?),
            other => other,
        };
        let orchestrator = Arc::new(Orchestrator {
            settings: self.settings,
            windows,
            users: Mutex::new(users),
            sessions: Mutex::new(HashMap::new()),
            clients: self.clients,
            counters: Counters::default(),
        });
        let server = Server::start(orchestrator.clone()).await?;
        Ok(UiPathEmulator {
            server,
            orchestrator,
        })
    }
}

/// A running UiPath Orchestrator emulator; it stops when dropped. It dereferences to its [`Server`]
/// for the URL, fault injection, the request log and the request and handshake counters.
pub struct UiPathEmulator {
    server: Server,
    orchestrator: Arc<Orchestrator>,
}

impl UiPathEmulator {
    /// A builder with no users and the defaults of a 2018–2019 on-premises server.
    pub fn builder() -> UiPathEmulatorBuilder {
        UiPathEmulatorBuilder {
            settings: Settings {
                token_lifetime: Duration::from_secs(30 * 60),
                lockout_attempts: 10,
                lockout_duration: Duration::from_secs(300),
                envelope: Envelope::CamelCase,
                error_body: ErrorBody::Legacy,
                token_format: TokenFormat::Opaque,
                require_tenancy_name: false,
                identity: IdentityProfile::OnPremises,
                wrong_token_path: WrongTokenPath::MethodNotAllowed,
                oauth_token_lifetime: Duration::from_secs(60 * 60),
                send_expires_in: true,
            },
            users: Vec::new(),
            windows_users: UserDirectory::new(),
            kerberos: false,
            windows_mode: None,
            clients: Vec::new(),
        }
    }

    /// Successful logins.
    pub fn logins(&self) -> u64 {
        self.orchestrator.counters.logins.load(Ordering::Relaxed)
    }

    /// Refused logins (wrong password, unknown user, locked account).
    pub fn failed_logins(&self) -> u64 {
        self.orchestrator
            .counters
            .failed_logins
            .load(Ordering::Relaxed)
    }

    /// API calls served with a valid token.
    pub fn calls(&self) -> u64 {
        self.orchestrator.counters.calls.load(Ordering::Relaxed)
    }

    /// API calls refused with 401 (no, unknown or expired token).
    pub fn rejected_calls(&self) -> u64 {
        self.orchestrator
            .counters
            .rejected_calls
            .load(Ordering::Relaxed)
    }

    /// Requests to either form of the token path, whatever the answer.
    pub fn token_requests(&self) -> u64 {
        self.orchestrator
            .counters
            .token_requests
            .load(Ordering::Relaxed)
    }

    /// Tokens issued to client credentials.
    pub fn tokens_issued(&self) -> u64 {
        self.orchestrator
            .counters
            .tokens_issued
            .load(Ordering::Relaxed)
    }

    /// Token requests refused with an OAuth error (`invalid_client`, `invalid_scope`, …).
    pub fn failed_token_requests(&self) -> u64 {
        self.orchestrator
            .counters
            .failed_token_requests
            .load(Ordering::Relaxed)
    }

    /// Token requests sent to the token path of the other profile (answered 405 or 404).
    pub fn token_path_misses(&self) -> u64 {
        self.orchestrator
            .counters
            .token_path_misses
            .load(Ordering::Relaxed)
    }

    /// Expires every issued token now, as a server restart or a lifetime change would.
    pub fn expire_all_tokens(&self) {
        let now = Instant::now();
        for session in lock(&self.orchestrator.sessions).values_mut() {
            session.expires_at = now;
        }
    }
}

impl fmt::Debug for UiPathEmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<String> = self
            .users
            .iter()
            .map(|(t, u, _)| format!("{t}/{u}"))
            .collect();
        f.debug_struct("UiPathEmulatorBuilder")
            .field("settings", &self.settings)
            .field("users", &users)
            .field("windows_users", &self.windows_users)
            .field("windows_mode", &self.windows_mode)
            .field("clients", &self.clients)
            .field("kerberos", &self.kerberos)
            .finish()
    }
}

impl fmt::Debug for UiPathEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.server
            .debug_as(f, "UiPathEmulator", &self.orchestrator.settings)
    }
}

impl Deref for UiPathEmulator {
    type Target = Server;

    /// The server's URL, fault injection, request log and counters.
    fn deref(&self) -> &Server {
        &self.server
    }
}

/// Folder-scoped entity sets: calls to them need a folder header (error 1101 otherwise).
const FOLDER_SCOPED: &[&str] = &[
    "jobs",
    "queues",
    "queueitems",
    "queuedefinitions",
    "processes",
    "releases",
    "assets",
    "triggers",
    "processschedules",
    "buckets",
];

const FOLDER_HEADERS: &[&str] = &[
    "x-uipath-organizationunitid",
    "x-uipath-folderpath",
    "x-uipath-folderpath-encoded",
    "x-uipath-folderkey",
];

impl Handler for Orchestrator {
    fn windows(&self) -> Option<&WindowsGate> {
        self.windows.as_ref()
    }

    fn handle(&self, request: &EmuRequest) -> Option<EmuResponse> {
        if let Some(profile) = token_path(&request.path) {
            return Some(self.token(request, profile));
        }
        let path = api_path(&request.path);
        match (&request.method, path) {
            (&Method::POST, "/api/account/authenticate") => Some(self.authenticate(request)),
            (_, path) if path.starts_with("/odata/") || path.starts_with("/api/") => {
                Some(self.api_call(request, path))
            }
            _ => None,
        }
    }
}

/// The profile whose token path `path` (lower-cased) is: `/identity/connect/token` (on-premises),
/// `/identity_/connect/token` or `/{org}/identity_/connect/token` (cloud).
fn token_path(path: &str) -> Option<IdentityProfile> {
    if path == "/identity/connect/token" {
        return Some(IdentityProfile::OnPremises);
    }
    let rest = path.strip_suffix("/identity_/connect/token")?;
    let org_prefix = rest.len() > 1 && rest.starts_with('/') && !rest[1..].contains('/');
    (rest.is_empty() || org_prefix).then_some(IdentityProfile::Cloud)
}

/// The path with an Automation Suite style `/{org}/{tenant}/orchestrator_` prefix removed.
fn api_path(path: &str) -> &str {
    let mut parts = path.splitn(5, '/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(""), Some(org), Some(tenant), Some("orchestrator_"))
            if !org.is_empty() && !tenant.is_empty() =>
        {
            let prefix = 1 + org.len() + 1 + tenant.len() + "/orchestrator_".len();
            &path[prefix..]
        }
        _ => path,
    }
}

impl Orchestrator {
    fn authenticate(&self, request: &EmuRequest) -> EmuResponse {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return self.error(StatusCode::BAD_REQUEST, 0, "loginModel is null!");
        };
        let field = |name: &str| {
            get_ci(&body, name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let (Some(username), Some(password)) = (field("usernameOrEmailAddress"), field("password"))
        else {
            return self.error(StatusCode::BAD_REQUEST, 0, "Username cannot be empty.");
        };
        let tenant = field("tenancyName").filter(|t| !t.is_empty());
        if tenant.is_none() && self.settings.require_tenancy_name {
            return self.bad_credentials();
        }

        let now = Instant::now();
        let mut users = lock(&self.users);
        let Some(user) = users.iter_mut().find(|u| {
            u.username.eq_ignore_ascii_case(&username)
                && tenant
                    .as_deref()
                    .is_none_or(|t| t.eq_ignore_ascii_case(&u.tenant))
        }) else {
            drop(users);
            return self.bad_credentials();
        };
        if user.locked_until.is_some_and(|until| now < until) {
            drop(users);
            self.counters.failed_logins.fetch_add(1, Ordering::Relaxed);
            return self.error(
                StatusCode::BAD_REQUEST,
                1000,
                "The user account has been locked out. Please try again later.",
            );
        }
        if user.password != password {
            user.failures += 1;
            if user.failures >= self.settings.lockout_attempts {
                user.locked_until = Some(now + self.settings.lockout_duration);
                user.failures = 0;
            }
            drop(users);
            return self.bad_credentials();
        }
        user.failures = 0;
        user.locked_until = None;
        let session = Session {
            tenant: user.tenant.clone(),
            username: user.username.clone(),
            expires_at: now + self.settings.token_lifetime,
        };
        drop(users);

        let token = self.issue_token(&session, self.settings.token_lifetime);
        lock(&self.sessions).insert(token.clone(), session);
        self.counters.logins.fetch_add(1, Ordering::Relaxed);
        let envelope = match self.settings.envelope {
            Envelope::CamelCase => json!({
                "result": token, "targetUrl": null, "success": true, "error": null,
                "unAuthorizedRequest": false, "__abp": true
            }),
            Envelope::PascalCase => json!({
                "Result": token, "TargetUrl": null, "Success": true, "Error": null,
                "UnAuthorizedRequest": false, "__abp": true
            }),
        };
        json_response(StatusCode::OK, &envelope)
    }

    fn issue_token(&self, session: &Session, lifetime: Duration) -> String {
        let random = URL_SAFE_NO_PAD.encode(super::random_token(48));
        match self.settings.token_format {
            TokenFormat::Opaque => random,
            TokenFormat::Jwt => {
                let iat = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
                let claims = json!({
                    "iss": "https://orchestrator.emulator/identity",
                    "sub": session.username,
                    "prt_id": session.tenant,
                    "iat": iat,
                    "exp": iat + lifetime.as_secs(),
                });
                let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
                format!("{header}.{payload}.{random}")
            }
        }
    }

    fn bad_credentials(&self) -> EmuResponse {
        self.counters.failed_logins.fetch_add(1, Ordering::Relaxed);
        let message = match self.settings.error_body {
            ErrorBody::Legacy => "Invalid username/email address or password.",
            ErrorBody::Abp | ErrorBody::Hybrid | ErrorBody::Modern => {
                "Invalid credentials, failed to login."
            }
        };
        self.error(StatusCode::BAD_REQUEST, 1000, message)
    }

    /// An error body in the configured generation's shape.
    fn error(&self, status: StatusCode, code: u32, message: &str) -> EmuResponse {
        let abp_error =
            json!({ "code": code, "message": message, "details": null, "validationErrors": null });
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let body = match self.settings.error_body {
            ErrorBody::Abp => json!({
                "result": null, "targetUrl": null, "success": false, "error": abp_error,
                "unAuthorizedRequest": unauthorized, "__abp": true
            }),
            ErrorBody::Legacy => {
                json!({ "message": message, "errorCode": code, "resourceIds": null })
            }
            ErrorBody::Hybrid => json!({
                "message": message, "errorCode": code, "result": null, "targetUrl": null, "success": false,
                "error": abp_error, "unAuthorizedRequest": unauthorized, "__abp": true
            }),
            ErrorBody::Modern => {
                json!({ "message": message, "errorCode": code, "traceId": trace_id() })
            }
        };
        json_response(status, &body)
    }

    /// The Identity Server token endpoint (§1.4): client credentials only.
    fn token(&self, request: &EmuRequest, profile: IdentityProfile) -> EmuResponse {
        self.counters.token_requests.fetch_add(1, Ordering::Relaxed);
        if profile != self.settings.identity {
            self.counters
                .token_path_misses
                .fetch_add(1, Ordering::Relaxed);
            return match self.settings.wrong_token_path {
                WrongTokenPath::MethodNotAllowed => json_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &json!({ "error": {
                        "code": "UnsupportedApiVersion",
                        "message": format!(
                            "The HTTP resource that matches the request URI '{}' does not support HTTP method '{}'.",
                            request.path, request.method
                        ),
                        "innerError": null,
                    }}),
                ),
                WrongTokenPath::NotFound => {
                    super::text_response(StatusCode::NOT_FOUND, "Not Found")
                }
            };
        }
        if request.method != Method::POST {
            return super::text_response(StatusCode::METHOD_NOT_ALLOWED, "");
        }
        let form_content = request.header("content-type").is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        if !form_content {
            return self.oauth_error("invalid_request");
        }
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let (client_id, secret) = match basic_credentials(request) {
            Some(pair) => pair,
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        let Some(client) = self
            .clients
            .iter()
            .find(|c| c.id == client_id && c.secret == secret)
        else {
            return self.oauth_error("invalid_client");
        };
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return self.oauth_error("unsupported_grant_type");
        }
        let requested: Vec<&str> = form
            .get("scope")
            .map(|s| s.split_ascii_whitespace().collect())
            .unwrap_or_default();
        let granted: Vec<String> = if requested.is_empty() {
            client.scopes.clone()
        } else if requested
            .iter()
            .all(|r| client.scopes.iter().any(|s| s == r))
        {
            requested.iter().map(|s| (*s).to_owned()).collect()
        } else {
            // Unregistered scopes, and `offline_access` (no refresh tokens for client credentials).
            return self.oauth_error("invalid_scope");
        };

        let lifetime = self.settings.oauth_token_lifetime;
        let session = Session {
            tenant: client.tenant.clone(),
            username: client.id.clone(),
            expires_at: Instant::now() + lifetime,
        };
        let token = self.issue_token(&session, lifetime);
        lock(&self.sessions).insert(token.clone(), session);
        self.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
        let mut body = json!({
            "access_token": token,
            "token_type": "Bearer",
            "scope": granted.join(" "),
        });
        if self.settings.send_expires_in {
            body["expires_in"] = json!(lifetime.as_secs());
        }
        json_response(StatusCode::OK, &body)
    }

    fn oauth_error(&self, error: &str) -> EmuResponse {
        self.counters
            .failed_token_requests
            .fetch_add(1, Ordering::Relaxed);
        json_response(StatusCode::BAD_REQUEST, &json!({ "error": error }))
    }

    fn api_call(&self, request: &EmuRequest, path: &str) -> EmuResponse {
        let token = request.header("authorization").and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        });
        if let (None, Some(gate)) = (token, &self.windows) {
            return gate.guard(request, |user| {
                self.serve(request, path, DEFAULT_TENANT, user)
            });
        }
        let now = Instant::now();
        let session = token.and_then(|token| {
            lock(&self.sessions)
                .get(token)
                .filter(|s| now < s.expires_at)
                .map(|s| (s.tenant.clone(), s.username.clone()))
        });
        let Some((tenant, username)) = session else {
            self.counters.rejected_calls.fetch_add(1, Ordering::Relaxed);
            return self.error(StatusCode::UNAUTHORIZED, 0, "You are not authenticated!");
        };
        self.serve(request, path, &tenant, &username)
    }

    /// Answers an authenticated API call to `path` (the request's path without an Automation Suite prefix).
    fn serve(&self, request: &EmuRequest, path: &str, tenant: &str, username: &str) -> EmuResponse {
        let entity = path
            .trim_start_matches("/odata/")
            .split(['/', '(', '?'])
            .next()
            .unwrap_or_default();
        let has_folder = FOLDER_HEADERS
            .iter()
            .any(|h| request.headers.contains_key(*h));
        if path.starts_with("/odata/") && FOLDER_SCOPED.contains(&entity) && !has_folder {
            self.counters.calls.fetch_add(1, Ordering::Relaxed);
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({
                    "message": "An organization unit is required for this action.",
                    "errorCode": 1101,
                    "traceId": trace_id(),
                }),
            );
        }
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let body = match entity {
            "users" if path.ends_with("getcurrentuser") => json!({
                "@odata.context": "/odata/$metadata#Users/$entity",
                "UserName": username, "TenancyName": tenant, "Name": username, "Id": 1,
            }),
            "settings" if path.ends_with("getauthenticationsettings") => json!({
                "Keys": ["Build.Version", "Auth.Windows.Enabled"],
                "Values": ["19.10.emulator", "false"],
            }),
            _ => json!({
                "@odata.context": format!("/odata/$metadata#{entity}"),
                "@odata.count": 0,
                "value": [],
            }),
        };
        json_response(StatusCode::OK, &body)
    }
}

/// Client id and secret from `Authorization: Basic`, each form-urlencoded as RFC 6749 §2.3.1 says.
fn basic_credentials(request: &EmuRequest) -> Option<(String, String)> {
    let value = request.header("authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |text: &str| {
        url::form_urlencoded::parse(format!("x={text}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn trace_id() -> String {
    let bytes = super::random_token(24);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("00-{}-{}-00", &hex[..32], &hex[32..48])
}
