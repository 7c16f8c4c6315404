//! A local UiPath Orchestrator: `POST /api/Account/Authenticate` (§1.1), bearer-protected `/odata/*`
//! with folder headers (§1.3) and the 401/403 bodies of §1.6.
//!
//! Switches cover what differs between server versions: the success envelope's casing, the error-body
//! generation, the token format, whether `tenancyName` is required, and the lockout policy.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use super::{
    EmuRequest, EmuResponse, Fault, GateOutcome, Handler, RecordedRequest, Server, WindowsAuthMode,
    WindowsGate, json_response, with_final_header,
};

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
}

struct Orchestrator {
    settings: Settings,
    windows: Option<WindowsGate>,
    users: Mutex<Vec<User>>,
    sessions: Mutex<HashMap<String, Session>>,
    counters: Counters,
}

/// Configures a [`UiPathEmulator`]; every setter says its default.
#[must_use]
#[derive(Debug)]
pub struct UiPathEmulatorBuilder {
    settings: Settings,
    users: Vec<(String, String, String)>,
    windows_users: Vec<(String, String, String)>,
    windows_mode: Option<WindowsAuthMode>,
}

impl UiPathEmulatorBuilder {
    /// Adds a local user of `tenant` (e.g. `Default`). No users by default.
    pub fn user(mut self, tenant: &str, username: &str, password: &str) -> Self {
        self.users
            .push((tenant.into(), username.into(), password.into()));
        self
    }

    /// Adds a directory user for Windows authentication and turns it on (IIS-like: `/odata/*` and `/api/*`
    /// answer 401 offering `Negotiate` and `NTLM` to requests without a bearer token). No Windows users by
    /// default, and Windows authentication off.
    pub fn windows_user(mut self, domain: &str, username: &str, password: &str) -> Self {
        self.windows_users
            .push((domain.into(), username.into(), password.into()));
        self
    }

    /// What a successful handshake means for the connection. Defaults to
    /// [`WindowsAuthMode::PersistConnection`], IIS's default.
    pub fn windows_auth_mode(mut self, mode: WindowsAuthMode) -> Self {
        self.windows_mode = Some(mode);
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
        let windows = (!self.windows_users.is_empty()).then(|| {
            WindowsGate::new(
                self.windows_users,
                self.windows_mode
                    .unwrap_or(WindowsAuthMode::PersistConnection),
            )
        });
        let orchestrator = Arc::new(Orchestrator {
            settings: self.settings,
            windows,
            users: Mutex::new(users),
            sessions: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        });
        let server = Server::start(orchestrator.clone()).await?;
        Ok(UiPathEmulator {
            server,
            orchestrator,
        })
    }
}

/// A running UiPath Orchestrator emulator; it stops when dropped.
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
            },
            users: Vec::new(),
            windows_users: Vec::new(),
            windows_mode: None,
        }
    }

    /// Successful Windows-authentication handshakes (one per connection while connections stay
    /// authenticated).
    pub fn handshakes(&self) -> u64 {
        self.orchestrator
            .windows
            .as_ref()
            .map_or(0, WindowsGate::handshakes)
    }

    /// Refused Windows-authentication handshakes.
    pub fn windows_rejections(&self) -> u64 {
        self.orchestrator
            .windows
            .as_ref()
            .map_or(0, WindowsGate::rejections)
    }

    /// The base URL, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> Url {
        self.server.url()
    }

    /// Makes the next `times` answers on `path` (any path when `None`) show `fault`.
    pub fn inject(&self, fault: Fault, path: Option<&str>, times: u32) {
        self.server.common().inject(fault, path, times);
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

    /// Requests to routes the emulator does not serve. A test should expect zero.
    pub fn unexpected_requests(&self) -> u64 {
        self.server.unexpected_requests()
    }

    /// All requests received.
    pub fn requests(&self) -> u64 {
        self.server.requests()
    }

    /// The last requests received (up to 1000), oldest first.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.server.recorded()
    }

    /// Expires every issued token now, as a server restart or a lifetime change would.
    pub fn expire_all_tokens(&self) {
        let now = Instant::now();
        for session in lock(&self.orchestrator.sessions).values_mut() {
            session.expires_at = now;
        }
    }
}

impl fmt::Debug for UiPathEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UiPathEmulator")
            .field("url", &self.url().as_str())
            .field("settings", &self.orchestrator.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
    fn handle(&self, request: &EmuRequest) -> Option<EmuResponse> {
        match (&request.method, request.path.as_str()) {
            (&Method::POST, "/api/account/authenticate") => Some(self.authenticate(request)),
            (_, path) if path.starts_with("/odata/") || path.starts_with("/api/") => {
                Some(self.api_call(request))
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
            body.as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .and_then(|(_, v)| v.as_str())
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

        let token = self.issue_token(&session);
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

    fn issue_token(&self, session: &Session) -> String {
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
                    "exp": iat + self.settings.token_lifetime.as_secs(),
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

    fn api_call(&self, request: &EmuRequest) -> EmuResponse {
        let token = request.header("authorization").and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        });
        if let (None, Some(gate)) = (token, &self.windows) {
            return match gate.check(request) {
                GateOutcome::Pass { user, final_header } => {
                    with_final_header(self.serve(request, "Default", &user), final_header)
                }
                GateOutcome::Answer(answer) => answer,
            };
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
        self.serve(request, &tenant, &username)
    }

    /// Answers an authenticated API call.
    fn serve(&self, request: &EmuRequest, tenant: &str, username: &str) -> EmuResponse {
        let entity = request
            .path
            .trim_start_matches("/odata/")
            .split(['/', '(', '?'])
            .next()
            .unwrap_or_default();
        let has_folder = FOLDER_HEADERS
            .iter()
            .any(|h| request.headers.contains_key(*h));
        if request.path.starts_with("/odata/") && FOLDER_SCOPED.contains(&entity) && !has_folder {
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
            "users" if request.path.ends_with("getcurrentuser") => json!({
                "@odata.context": "/odata/$metadata#Users/$entity",
                "UserName": username, "TenancyName": tenant, "Name": username, "Id": 1,
            }),
            "settings" if request.path.ends_with("getauthenticationsettings") => json!({
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

fn trace_id() -> String {
    let bytes = super::random_token(24);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("00-{}-{}-00", &hex[..32], &hex[32..48])
}
