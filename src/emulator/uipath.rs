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

mod api;
mod identity;

pub use identity::{IdentityProfile, WrongTokenPath};

use api::api_path;
use identity::{OAuthClient, token_path};

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

super::emulator_handle!(UiPathEmulator, orchestrator);

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
}

fn trace_id() -> String {
    let bytes = super::random_token(24);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("00-{}-{}-00", &hex[..32], &hex[32..48])
}
