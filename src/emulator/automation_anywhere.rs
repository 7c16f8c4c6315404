//! A local Automation Anywhere Control Room: login at `POST /v1/authentication` and
//! `POST /v2/authentication` (§2.1), validate, refresh and logout (§2.2–2.4), and `X-Authorization`
//! on every other `/v1/…`, `/v2/…`, `/v3/…` path (§2.5).
//!
//! Tokens look like the real ones: an RS512 JWT header, the payload claims seen in documented examples
//! (`sub`, `clientType`, `licenses`, `tenantUuid`, `iat`, `exp = iat + lifetime`, `iss`, `nanoTime`,
//! `csrfToken`) and a random 256-byte signature. Where public material says nothing (the wire body of an
//! MFA refusal, a disabled or locked user, the deprecated v1), the emulator answers 401 (400 for v1)
//! with `{"code", "details", "message"}` and a descriptive `code` of its own; clients should rely on the
//! status and message, not on those codes.
//!
//! Session rules: a password login without `"multipleLogin": true` ends the user's earlier password
//! sessions (their tokens get 401); API-key logins end nothing and are ended by nothing but logout and
//! expiry. A refreshed token keeps the old one valid until it expires.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{EmuRequest, EmuResponse, Handler, Server, json_response, lock};

mod login;

/// What happens to a user after too many failed logins.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockoutAction {
    /// The user is disabled until an administrator enables it ([`AutomationAnywhereEmulator::enable_user`]),
    /// as on Automation 360 cloud.
    Disable,
    /// The user is locked for this long, as an Enterprise 11 password policy does.
    Lock(Duration),
}

#[derive(Clone)]
struct Settings {
    token_lifetime: Duration,
    mfa_code: u64,
    failures_before_lockout: u32,
    lockout: LockoutAction,
    v1_deprecated: bool,
    v2_available: bool,
    missing_v2_filtered: bool,
}

#[derive(Default)]
struct User {
    id: u64,
    username: String,
    password: Option<String>,
    api_key: Option<String>,
    mfa: bool,
    disabled: bool,
    locked_until: Option<Instant>,
    failures: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Password,
    ApiKey,
}

struct Session {
    user_id: u64,
    kind: Kind,
    expires_at: Instant,
    ended: bool,
}

#[derive(Default)]
struct Counters {
    logins: AtomicU64,
    failed_logins: AtomicU64,
    refreshes: AtomicU64,
    logouts: AtomicU64,
    calls: AtomicU64,
    rejected_calls: AtomicU64,
    expired_token_calls: AtomicU64,
}

struct ControlRoom {
    settings: Settings,
    refuse_refresh: AtomicBool,
    users: Mutex<Vec<User>>,
    sessions: Mutex<HashMap<String, Session>>,
    counters: Counters,
    tenant_uuid: String,
    started: std::time::Instant,
}

/// Configures an [`AutomationAnywhereEmulator`]; every setter says its default.
#[must_use]
pub struct AutomationAnywhereEmulatorBuilder {
    settings: Settings,
    refuse_refresh: bool,
    users: Vec<UserSpec>,
}

#[derive(Default)]
struct UserSpec {
    username: String,
    password: Option<String>,
    api_key: Option<String>,
    mfa: bool,
}

impl AutomationAnywhereEmulatorBuilder {
    fn spec(&mut self, username: &str) -> &mut UserSpec {
        let index = match self
            .users
            .iter()
            .position(|u| u.username.eq_ignore_ascii_case(username))
        {
            Some(index) => index,
            None => {
                self.users.push(UserSpec {
                    username: username.to_owned(),
                    ..UserSpec::default()
                });
                self.users.len() - 1
            }
        };
        &mut self.users[index]
    }

    /// Adds a user who logs in with `password` (`domain\user` names work). Calling it again for the same
    /// user changes the password. No users by default.
    pub fn user(mut self, username: &str, password: &str) -> Self {
        self.spec(username).password = Some(password.to_owned());
        self
    }

    /// Gives `username` (added if new) an API key.
    pub fn api_key_user(mut self, username: &str, api_key: &str) -> Self {
        self.spec(username).api_key = Some(api_key.to_owned());
        self
    }

    /// Adds a user who logs in with `password` and must give the multi-factor code
    /// ([`mfa_code`](Self::mfa_code)). API-key logins of that user need no code.
    pub fn mfa_user(mut self, username: &str, password: &str) -> Self {
        let spec = self.spec(username);
        spec.password = Some(password.to_owned());
        spec.mfa = true;
        self
    }

    /// The one multi-factor code accepted (a real server takes the current TOTP code). Defaults to
    /// `123456`.
    pub fn mfa_code(mut self, code: u32) -> Self {
        self.settings.mfa_code = u64::from(code);
        self
    }

    /// Lifetime of issued tokens, whole seconds in the JWT (at least 1). Defaults to 20 minutes.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.token_lifetime = lifetime.max(Duration::from_secs(1));
        self
    }

    /// Consecutive failed logins (wrong password, key or code) after which the user is disabled or
    /// locked; 0 for never. Defaults to 3, the Automation 360 cloud default.
    pub fn disable_after(mut self, failures: u32) -> Self {
        self.settings.failures_before_lockout = failures;
        self
    }

    /// What too many failures do. Defaults to [`LockoutAction::Disable`].
    pub fn lockout_action(mut self, action: LockoutAction) -> Self {
        self.settings.lockout = action;
        self
    }

    /// Makes `/v1/authentication` refuse every login as deprecated (400), as recent Automation 360
    /// clouds do. Defaults to `false`.
    pub fn v1_deprecated(mut self, deprecated: bool) -> Self {
        self.settings.v1_deprecated = deprecated;
        self
    }

    /// Whether `/v2/authentication` exists; without it the path answers 404, as on Enterprise 11.
    /// Defaults to `true`.
    pub fn v2_available(mut self, available: bool) -> Self {
        self.settings.v2_available = available;
        self
    }

    /// How a missing `/v2/authentication` answers: `false` (the default) a 404; `true` the token filter's
    /// 401 `UM1117` "Access token expected in the 'X-Authorization' header", as a server whose filter runs
    /// before routing does.
    pub fn missing_v2_answers_um1117(mut self, filtered: bool) -> Self {
        self.settings.missing_v2_filtered = filtered;
        self
    }

    /// Makes `POST /v1/authentication/token` refuse every refresh with 401. Defaults to `false`; can be
    /// changed later with [`AutomationAnywhereEmulator::refuse_refresh`].
    pub fn refuse_refresh(mut self, refuse: bool) -> Self {
        self.refuse_refresh = refuse;
        self
    }

    /// Starts the emulator on a free loopback port.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn start(self) -> io::Result<AutomationAnywhereEmulator> {
        let users = self
            .users
            .into_iter()
            .zip(1u64..)
            .map(|(spec, n)| User {
                id: n + 8,
                username: spec.username,
                password: spec.password,
                api_key: spec.api_key,
                mfa: spec.mfa,
                ..User::default()
            })
            .collect();
        let uuid = hex(&super::random_token(16));
        let control_room = Arc::new(ControlRoom {
            settings: self.settings,
            refuse_refresh: AtomicBool::new(self.refuse_refresh),
            users: Mutex::new(users),
            sessions: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            tenant_uuid: format!(
                "{}-{}-{}-{}-{}",
                &uuid[..8],
                &uuid[8..12],
                &uuid[12..16],
                &uuid[16..20],
                &uuid[20..32]
            ),
            started: std::time::Instant::now(),
        });
        let server = Server::start(control_room.clone()).await?;
        Ok(AutomationAnywhereEmulator {
            server,
            control_room,
        })
    }
}

/// A running Automation Anywhere Control Room emulator; it stops when dropped. It dereferences to its
/// [`Server`] for the URL, fault injection, the request log and the request counters.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use rpa_auth::emulator::automation_anywhere::AutomationAnywhereEmulator;
///
/// let control_room = AutomationAnywhereEmulator::builder()
///     .user("jdoe", "secret")
///     .api_key_user("bot", "0123456789abcdef0123456789abcdef01234567")
///     .mfa_user("secure", "secret")
///     .start()
///     .await?;
/// println!("Control Room emulator at {}", control_room.url());
/// # Ok(()) }
/// ```
pub struct AutomationAnywhereEmulator {
    server: Server,
    control_room: Arc<ControlRoom>,
}

impl AutomationAnywhereEmulator {
    /// A builder with no users and the defaults of an Automation 360 Control Room that still serves v1.
    pub fn builder() -> AutomationAnywhereEmulatorBuilder {
        AutomationAnywhereEmulatorBuilder {
            settings: Settings {
                token_lifetime: Duration::from_secs(20 * 60),
                mfa_code: 123_456,
                failures_before_lockout: 3,
                lockout: LockoutAction::Disable,
                v1_deprecated: false,
                v2_available: true,
                missing_v2_filtered: false,
            },
            refuse_refresh: false,
            users: Vec::new(),
        }
    }

    /// Successful logins (either version).
    pub fn logins(&self) -> u64 {
        self.counter(|c| &c.logins)
    }

    /// Refused logins (wrong credentials or code, missing code, disabled or locked user, deprecated v1).
    pub fn failed_logins(&self) -> u64 {
        self.counter(|c| &c.failed_logins)
    }

    /// Successful token refreshes.
    pub fn refreshes(&self) -> u64 {
        self.counter(|c| &c.refreshes)
    }

    /// Successful logouts.
    pub fn logouts(&self) -> u64 {
        self.counter(|c| &c.logouts)
    }

    /// API calls served with a valid token.
    pub fn calls(&self) -> u64 {
        self.counter(|c| &c.calls)
    }

    /// API calls refused with 401 (no `X-Authorization`, a `Bearer ` prefix, an unknown, ended or
    /// expired token).
    pub fn rejected_calls(&self) -> u64 {
        self.counter(|c| &c.rejected_calls)
    }

    /// API calls made with a token that had expired (also counted as rejected). A client that renews in
    /// time makes none.
    pub fn expired_token_calls(&self) -> u64 {
        self.counter(|c| &c.expired_token_calls)
    }

    /// Makes refreshes be refused (401) or served again.
    pub fn refuse_refresh(&self, refuse: bool) {
        self.control_room
            .refuse_refresh
            .store(refuse, Ordering::Relaxed);
    }

    /// Disables `username`, as an administrator would; its sessions end. Returns false for an unknown
    /// user.
    pub fn disable_user(&self, username: &str) -> bool {
        let mut users = lock(&self.control_room.users);
        let Some(user) = find_user(&mut users, username) else {
            return false;
        };
        user.disabled = true;
        let id = user.id;
        drop(users);
        for session in lock(&self.control_room.sessions).values_mut() {
            if session.user_id == id {
                session.ended = true;
            }
        }
        true
    }

    /// Enables `username` again and clears its failure count and lock. Returns false for an unknown
    /// user.
    pub fn enable_user(&self, username: &str) -> bool {
        let mut users = lock(&self.control_room.users);
        let Some(user) = find_user(&mut users, username) else {
            return false;
        };
        user.disabled = false;
        user.locked_until = None;
        user.failures = 0;
        true
    }

    /// Expires every issued token now, as a server restart would.
    pub fn expire_all_tokens(&self) {
        let now = Instant::now();
        for session in lock(&self.control_room.sessions).values_mut() {
            session.expires_at = now;
        }
    }

    fn counter(&self, pick: impl Fn(&Counters) -> &AtomicU64) -> u64 {
        pick(&self.control_room.counters).load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("token_lifetime", &self.token_lifetime)
            .field("failures_before_lockout", &self.failures_before_lockout)
            .field("lockout", &self.lockout)
            .field("v1_deprecated", &self.v1_deprecated)
            .field("v2_available", &self.v2_available)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AutomationAnywhereEmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.users.iter().map(|u| u.username.as_str()).collect();
        f.debug_struct("AutomationAnywhereEmulatorBuilder")
            .field("settings", &self.settings)
            .field("users", &users)
            .finish_non_exhaustive()
    }
}

super::emulator_handle!(AutomationAnywhereEmulator, control_room);

fn find_user<'u>(users: &'u mut [User], username: &str) -> Option<&'u mut User> {
    users
        .iter_mut()
        .find(|u| u.username.eq_ignore_ascii_case(username))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A Control Room error body.
fn error(status: StatusCode, code: &str, message: &str) -> EmuResponse {
    json_response(
        status,
        &json!({ "code": code, "details": null, "message": message }),
    )
}

fn token_missing() -> EmuResponse {
    error(
        StatusCode::UNAUTHORIZED,
        "UM1117",
        "Access token expected in the 'X-Authorization' header",
    )
}

fn token_invalid() -> EmuResponse {
    error(
        StatusCode::UNAUTHORIZED,
        "authentication.token.invalid",
        "Authentication token is invalid or has expired",
    )
}

const VALIDATE_PATH_PREFIX: &str = "/v1/authentication/token/";

impl Handler for ControlRoom {
    fn handle(&self, request: &EmuRequest) -> Option<EmuResponse> {
        let path = request.path.trim_end_matches('/');
        match (&request.method, path) {
            (&Method::POST, "/v1/authentication") => Some(self.login(request, 1)),
            (&Method::POST, "/v2/authentication") => Some(self.login(request, 2)),
            (&Method::GET, "/v1/authentication/token") => {
                let token = request.query.as_deref().and_then(|query| {
                    url::form_urlencoded::parse(query.as_bytes())
                        .find(|(key, _)| key == "token")
                        .map(|(_, value)| value.into_owned())
                });
                Some(self.validate(token.as_deref(), false))
            }
            (&Method::GET, path) if path.starts_with(VALIDATE_PATH_PREFIX) => {
                // The harness lower-cases paths; the path form is matched ignoring case.
                Some(self.validate(path.strip_prefix(VALIDATE_PATH_PREFIX), true))
            }
            (&Method::POST, "/v1/authentication/token") => Some(self.refresh(request)),
            (&Method::POST, "/v1/authentication/logout") => Some(self.logout(request)),
            (_, path) if path.starts_with("/v1/authentication") => None,
            (_, path)
                if ["/v1/", "/v2/", "/v3/", "/v4/"]
                    .iter()
                    .any(|prefix| path.starts_with(prefix)) =>
            {
                Some(self.api_call(request))
            }
            _ => None,
        }
    }
}

impl ControlRoom {
    /// A session of `user_id` starting `now`, living the configured token lifetime.
    fn session(&self, user_id: u64, kind: Kind, now: Instant) -> Session {
        Session {
            user_id,
            kind,
            expires_at: now + self.settings.token_lifetime,
            ended: false,
        }
    }

    fn issue_token(&self, user_id: u64) -> String {
        let iat = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let nano_time = u64::try_from(self.started.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(3_657_562_494_631_600);
        let claims = json!({
            "sub": user_id.to_string(),
            "clientType": "WEB",
            "licenses": ["DEVELOPMENT"],
            "analyticsLicensesPurchased": { "AnalyticsClient": false, "AnalyticsAPI": false },
            "tenantUuid": self.tenant_uuid,
            "iat": iat,
            "exp": iat + self.settings.token_lifetime.as_secs(),
            "iss": "AutomationAnywhere",
            "nanoTime": nano_time,
            "csrfToken": hex(&super::random_token(16)),
        });
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS512"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(super::random_token(256)),
        )
    }

    /// True when `token` names a session that is neither ended nor expired.
    fn is_active(&self, token: &str, ignore_case: bool) -> bool {
        let now = Instant::now();
        let sessions = lock(&self.sessions);
        let session = if ignore_case {
            sessions
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(token))
                .map(|(_, s)| s)
        } else {
            sessions.get(token)
        };
        session.is_some_and(|s| !s.ended && now < s.expires_at)
    }

    fn validate(&self, token: Option<&str>, ignore_case: bool) -> EmuResponse {
        match token.filter(|t| !t.is_empty()) {
            Some(token) => json_response(
                StatusCode::OK,
                &json!({ "valid": self.is_active(token, ignore_case) }),
            ),
            None => error(
                StatusCode::BAD_REQUEST,
                "generic.bad.request",
                "token is required",
            ),
        }
    }

    fn refresh(&self, request: &EmuRequest) -> EmuResponse {
        let token = serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|body| body.get("token").and_then(Value::as_str).map(str::to_owned));
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return error(
                StatusCode::BAD_REQUEST,
                "generic.bad.request",
                "token is required",
            );
        };
        if self.refuse_refresh.load(Ordering::Relaxed) {
            return token_invalid();
        }
        let now = Instant::now();
        let (user_id, kind) = {
            let sessions = lock(&self.sessions);
            match sessions.get(&token) {
                Some(s) if !s.ended && now < s.expires_at => (s.user_id, s.kind),
                _ => return token_invalid(),
            }
        };
        let new_token = self.issue_token(user_id);
        lock(&self.sessions).insert(new_token.clone(), self.session(user_id, kind, now));
        self.counters.refreshes.fetch_add(1, Ordering::Relaxed);
        json_response(StatusCode::OK, &json!({ "token": new_token }))
    }

    fn logout(&self, request: &EmuRequest) -> EmuResponse {
        let Some(token) = request.header("x-authorization") else {
            return token_missing();
        };
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        match sessions.get_mut(token) {
            Some(session) if !session.ended && now < session.expires_at => {
                session.ended = true;
                drop(sessions);
                self.counters.logouts.fetch_add(1, Ordering::Relaxed);
                EmuResponse::new(StatusCode::NO_CONTENT, Bytes::new())
            }
            _ => token_invalid(),
        }
    }

    fn api_call(&self, request: &EmuRequest) -> EmuResponse {
        let reject = |response| {
            self.counters.rejected_calls.fetch_add(1, Ordering::Relaxed);
            response
        };
        let Some(token) = request.header("x-authorization") else {
            return reject(token_missing());
        };
        let now = Instant::now();
        let state = lock(&self.sessions)
            .get(token)
            .map(|s| (s.ended, now >= s.expires_at));
        match state {
            Some((false, false)) => {
                self.counters.calls.fetch_add(1, Ordering::Relaxed);
                json_response(
                    StatusCode::OK,
                    &json!({
                        "page": { "offsetFrom": 0, "offsetTo": 0, "totalFilter": 0, "total": 0 },
                        "list": [],
                    }),
                )
            }
            Some((false, true)) => {
                self.counters
                    .expired_token_calls
                    .fetch_add(1, Ordering::Relaxed);
                reject(token_invalid())
            }
            // Ended, unknown, or sent as `Bearer <token>`: not a token the Control Room issued.
            _ => reject(token_invalid()),
        }
    }
}
