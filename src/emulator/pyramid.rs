//! A local Pyramid Analytics server (vendor-apis.md §3): API2 and API3 password login, `getMe`, token
//! checks on every other method (`auth` body property, `paToken` header or `PyramidAuth` cookie), and the
//! 401 HTML page Pyramid answers unauthenticated calls with. Paths are matched without regard to case and
//! the JSON reader is lenient (single-quoted pseudo-JSON is accepted), as the real server is.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use secrecy::SecretString;

use crate::json::get_ci;

use super::windows::UserDirectory;
use super::{
    EmuRequest, EmuResponse, Handler, Server, WindowsAuthMode, WindowsGate, html_response,
    json_response, lock,
};

/// How the emulator sends a token back.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenReply {
    /// The bare base64 string, `text/plain` (as documented).
    Bare,
    /// A JSON string, `application/json` (as some servers do).
    JsonString,
}

/// How the emulator refuses a wrong password (the real answer is not documented).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadLoginReply {
    /// 401 with the "YOU DON'T HAVE THE AUTHORIZATION" HTML page.
    Unauthorized,
    /// 500 with an empty body.
    ServerError,
}

const UNAUTHORIZED_PAGE: &str = "<!DOCTYPE html><html><head><title>Pyramid</title></head>\
<body><div class=\"error\">YOU DON'T HAVE THE AUTHORIZATION</div></body></html>";

#[derive(Clone, Debug)]
struct Settings {
    token_lifetime: Duration,
    token_reply: TokenReply,
    bad_login: BadLoginReply,
}

struct Session {
    user: String,
    expires_at: Instant,
}

#[derive(Default)]
struct Counters {
    logins: AtomicU64,
    failed_logins: AtomicU64,
    calls: AtomicU64,
    rejected_calls: AtomicU64,
}

struct Pyramid {
    settings: Settings,
    windows: Option<WindowsGate>,
    users: HashMap<String, String>,
    sessions: Mutex<HashMap<String, Session>>,
    counters: Counters,
}

/// Configures a [`PyramidEmulator`]; every setter says its default.
#[must_use]
pub struct PyramidEmulatorBuilder {
    settings: Settings,
    users: Vec<(String, String)>,
    windows_users: UserDirectory,
    kerberos: bool,
}

impl PyramidEmulatorBuilder {
    /// Adds a user (names are matched without regard to case). No users by default.
    pub fn user(mut self, username: &str, password: &str) -> Self {
        self.users.push((username.into(), password.into()));
        self
    }

    /// Adds a directory user for Windows single sign-on (`authenticateUserWindows` behind NTLM /
    /// Negotiate, verified for real). No Windows users by default.
    pub fn windows_user(mut self, domain: &str, username: &str, password: &str) -> Self {
        self.windows_users =
            self.windows_users
                .user(domain, username, SecretString::from(password.to_owned()));
        self
    }

    /// Accepts Kerberos inside Negotiate as well as NTLM at `authenticateUserWindows`, and turns Windows
    /// single sign-on on: tickets are checked with the process's default service keytab (`KRB5_KTNAME`),
    /// for any principal of the realm. Off by default.
    #[cfg(feature = "kerberos")]
    pub fn kerberos(mut self) -> Self {
        self.kerberos = true;
        self
    }

    /// Lifetime of issued tokens. Defaults to 30 minutes.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.token_lifetime = lifetime;
        self
    }

    /// How tokens are sent back. Defaults to [`TokenReply::Bare`].
    pub fn token_reply(mut self, reply: TokenReply) -> Self {
        self.settings.token_reply = reply;
        self
    }

    /// How a wrong password is refused. Defaults to [`BadLoginReply::Unauthorized`].
    pub fn bad_login_reply(mut self, reply: BadLoginReply) -> Self {
        self.settings.bad_login = reply;
        self
    }

    /// Starts the emulator on a free loopback port.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn start(self) -> io::Result<PyramidEmulator> {
        let windows = (!self.windows_users.is_empty() || self.kerberos)
            .then(|| WindowsGate::new(self.windows_users, WindowsAuthMode::PersistConnection));
        #[cfg(feature = "kerberos")]
        let windows = match windows {
            Some(gate) if self.kerberos => Some(gate.with_kerberos()?),
            other => other,
        };
        let pyramid = Arc::new(Pyramid {
            settings: self.settings,
            windows,
            users: self
                .users
                .into_iter()
                .map(|(user, password)| (user.to_lowercase(), password))
                .collect(),
            sessions: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        });
        let server = Server::start(pyramid.clone()).await?;
        Ok(PyramidEmulator { server, pyramid })
    }
}

/// A running Pyramid Analytics emulator; it stops when dropped. It dereferences to its [`Server`] for
/// the URL, fault injection, the request log and the request and handshake counters.
pub struct PyramidEmulator {
    server: Server,
    pyramid: Arc<Pyramid>,
}

impl PyramidEmulator {
    /// A builder with no users.
    pub fn builder() -> PyramidEmulatorBuilder {
        PyramidEmulatorBuilder {
            settings: Settings {
                token_lifetime: Duration::from_secs(30 * 60),
                token_reply: TokenReply::Bare,
                bad_login: BadLoginReply::Unauthorized,
            },
            users: Vec::new(),
            windows_users: UserDirectory::new(),
            kerberos: false,
        }
    }

    /// Successful logins.
    pub fn logins(&self) -> u64 {
        self.pyramid.counters.logins.load(Ordering::Relaxed)
    }

    /// Refused logins.
    pub fn failed_logins(&self) -> u64 {
        self.pyramid.counters.failed_logins.load(Ordering::Relaxed)
    }

    /// Calls served with a valid token.
    pub fn calls(&self) -> u64 {
        self.pyramid.counters.calls.load(Ordering::Relaxed)
    }

    /// Calls refused with the 401 page.
    pub fn rejected_calls(&self) -> u64 {
        self.pyramid.counters.rejected_calls.load(Ordering::Relaxed)
    }

    /// Expires every issued token now.
    pub fn expire_all_tokens(&self) {
        let now = Instant::now();
        for session in lock(&self.pyramid.sessions).values_mut() {
            session.expires_at = now;
        }
    }
}

impl fmt::Debug for PyramidEmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.users.iter().map(|(u, _)| u.as_str()).collect();
        f.debug_struct("PyramidEmulatorBuilder")
            .field("settings", &self.settings)
            .field("users", &users)
            .field("windows_users", &self.windows_users)
            .field("kerberos", &self.kerberos)
            .finish()
    }
}

super::emulator_handle!(PyramidEmulator, pyramid);

/// Parses a body as JSON, accepting the single-quoted pseudo-JSON some clients send.
fn lenient_json(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok().or_else(|| {
        let text = std::str::from_utf8(body).ok()?;
        serde_json::from_str(&text.replace('\'', "\"")).ok()
    })
}

/// A string property, its name matched without regard to case (as the real server does).
fn field<'v>(object: &'v Value, name: &str) -> Option<&'v str> {
    get_ci(object, name)?.as_str()
}

impl Handler for Pyramid {
    fn windows(&self) -> Option<&WindowsGate> {
        self.windows.as_ref()
    }

    fn handle(&self, request: &EmuRequest) -> Option<EmuResponse> {
        if request.method != Method::POST {
            // Pyramid answers any unauthenticated GET with its 401 page.
            self.counters.rejected_calls.fetch_add(1, Ordering::Relaxed);
            return Some(html_response(StatusCode::UNAUTHORIZED, UNAUTHORIZED_PAGE));
        }
        let response = match request.path.as_str() {
            "/api2/auth/authenticateuser" => {
                let body = lenient_json(&request.body).unwrap_or(Value::Null);
                let data = body.get("data").cloned().unwrap_or(Value::Null);
                self.password_login(field(&data, "userName"), field(&data, "password"))
            }
            "/api3/authentication/authenticateuser" => {
                let body = lenient_json(&request.body).unwrap_or(Value::Null);
                self.password_login(field(&body, "userName"), field(&body, "password"))
            }
            "/api2/auth/authenticateuserwindows"
            | "/api3/authentication/authenticateuserwindows" => match &self.windows {
                None => html_response(StatusCode::UNAUTHORIZED, UNAUTHORIZED_PAGE),
                Some(gate) => gate.guard(request, |user| self.issue(user)),
            },
            path if path.starts_with("/api2/") || path.starts_with("/api3/") => self.call(request),
            _ => return None,
        };
        Some(response)
    }
}

impl Pyramid {
    fn password_login(&self, user: Option<&str>, password: Option<&str>) -> EmuResponse {
        let known = user.and_then(|u| self.users.get(&u.to_lowercase()));
        match (user, known, password) {
            (Some(user), Some(expected), Some(given)) if expected == given => self.issue(user),
            _ => {
                self.counters.failed_logins.fetch_add(1, Ordering::Relaxed);
                match self.settings.bad_login {
                    BadLoginReply::Unauthorized => {
                        html_response(StatusCode::UNAUTHORIZED, UNAUTHORIZED_PAGE)
                    }
                    BadLoginReply::ServerError => {
                        EmuResponse::new(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new())
                    }
                }
            }
        }
    }

    /// Issues a token for `user`. Tokens always contain `+`, `/` and `=`, so clients are tested on them.
    fn issue(&self, user: &str) -> EmuResponse {
        let mut raw = vec![0xfb, 0xff, 0xbf];
        raw.extend(super::random_token(40));
        let token = STANDARD.encode(raw);
        lock(&self.sessions).insert(
            token.clone(),
            Session {
                user: user.to_owned(),
                expires_at: Instant::now() + self.settings.token_lifetime,
            },
        );
        self.counters.logins.fetch_add(1, Ordering::Relaxed);
        let (body, content_type) = match self.settings.token_reply {
            TokenReply::Bare => (token, "text/plain; charset=utf-8"),
            TokenReply::JsonString => (
                Value::String(token).to_string(),
                "application/json; charset=utf-8",
            ),
        };
        let mut response = EmuResponse::new(StatusCode::OK, Bytes::from(body));
        response
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }

    /// The user a request's token belongs to: API2 `auth` body property, API3 `paToken` header, or the
    /// `PyramidAuth` cookie.
    fn session_user(&self, request: &EmuRequest, body: &Value) -> Option<String> {
        let from_body = if request.path.starts_with("/api2/") {
            field(body, "auth")
        } else {
            None
        };
        let from_header = request.header("patoken");
        let from_cookie = request.header("cookie").and_then(|cookies| {
            cookies
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| *name == "PyramidAuth")
                .map(|(_, value)| value)
        });
        let token = from_body.or(from_header).or(from_cookie)?;
        let now = Instant::now();
        lock(&self.sessions)
            .get(token)
            .filter(|session| now < session.expires_at)
            .map(|session| session.user.clone())
    }

    fn call(&self, request: &EmuRequest) -> EmuResponse {
        let body = lenient_json(&request.body).unwrap_or(Value::Null);
        let Some(user) = self.session_user(request, &body) else {
            self.counters.rejected_calls.fetch_add(1, Ordering::Relaxed);
            return html_response(StatusCode::UNAUTHORIZED, UNAUTHORIZED_PAGE);
        };
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        if request.path.ends_with("/access/getme") {
            return json_response(
                StatusCode::OK,
                &json!({ "data": {
                    "inheritanceType": "PyramidViewUserObject",
                    "userName": user, "firstName": "", "lastName": "", "email": null,
                    "adminType": 2, "roleIds": [], "clientLicenceType": 200, "statusID": 1,
                } }),
            );
        }
        // Any other method: echo the body without the token, so tests can see nothing else changed.
        let mut echo = body;
        if let Some(object) = echo.as_object_mut() {
            object.remove("auth");
        }
        json_response(
            StatusCode::OK,
            &json!({ "data": { "method": request.path, "received": echo } }),
        )
    }
}
