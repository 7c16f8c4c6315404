//! Windows authentication for the emulators: an IIS-like gate in front of a vendor's routes, and the
//! server-side NTLMv2 verifier behind it.

mod acceptor;
#[cfg(feature = "kerberos")]
mod kerberos;
mod spnego;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{HeaderValue, WWW_AUTHENTICATE};

pub use acceptor::{AcceptStep, NtlmAcceptor, UserDirectory};

use super::{EmuRequest, EmuResponse, html_response, lock};

/// How an emulator's Windows authentication treats a connection after a successful handshake.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowsAuthMode {
    /// IIS's default: the connection stays authenticated; later requests on it need no header.
    PersistConnection,
    /// `authPersistSingleRequest`: every request is challenged again.
    RechallengeEveryRequest,
}

/// IIS-like Windows authentication in front of a server's routes: a request without credentials gets
/// 401 offering `Negotiate` and `NTLM`; the handshake is verified for real (NTLMv2) by an
/// [`NtlmAcceptor`], one per TCP connection.
pub struct WindowsGate {
    users: Arc<UserDirectory>,
    mode: WindowsAuthMode,
    connections: Mutex<HashMap<u64, ConnectionAuth>>,
    handshakes: AtomicU64,
    rejections: AtomicU64,
    /// Accept Kerberos inside Negotiate too, with the process's default keytab.
    #[cfg(feature = "kerberos")]
    kerberos: bool,
}

struct ConnectionAuth {
    acceptor: NtlmAcceptor,
    user: Option<String>,
    #[cfg(feature = "kerberos")]
    kerberos: kerberos::KerberosAcceptor,
}

impl fmt::Debug for WindowsGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowsGate")
            .field("users", &self.users)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// What the gate decided about a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum GateOutcome {
    /// Authenticated as `user`; add `final_header` as `WWW-Authenticate` to the answer.
    Pass {
        /// `DOMAIN\user` as the directory spells it.
        user: String,
        /// The SPNEGO completion (server mechListMIC), if the handshake produced one.
        final_header: Option<HeaderValue>,
    },
    /// Answer with this 401 carrying the next handshake token.
    Challenge(EmuResponse),
    /// Answer with this 401 offering `Negotiate` and `NTLM` (no credentials, or refused ones).
    Refuse(EmuResponse),
}

impl WindowsGate {
    /// A gate for the accounts in `users`.
    pub fn new(users: UserDirectory, mode: WindowsAuthMode) -> Self {
        Self {
            users: Arc::new(users),
            mode,
            connections: Mutex::new(HashMap::new()),
            handshakes: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            #[cfg(feature = "kerberos")]
            kerberos: false,
        }
    }

    /// Accepts Kerberos inside Negotiate as well, with the default acceptor credential (`KRB5_KTNAME`).
    ///
    /// # Errors
    /// When there is no usable service key, saying how to give one.
    #[cfg(feature = "kerberos")]
    pub(crate) fn with_kerberos(mut self) -> std::io::Result<Self> {
        kerberos::acceptor_available().map_err(std::io::Error::other)?;
        self.kerberos = true;
        Ok(self)
    }

    /// Handshakes that succeeded.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }

    /// Handshakes that were refused (wrong password, unknown user).
    pub fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }

    /// Answers `serve(user)` (with the SPNEGO completion header when there is one) once `request`'s
    /// connection is authenticated; otherwise the challenge or the refusal.
    pub fn guard(
        &self,
        request: &EmuRequest,
        serve: impl FnOnce(&str) -> EmuResponse,
    ) -> EmuResponse {
        match self.check(request) {
            GateOutcome::Pass { user, final_header } => {
                let mut response = serve(&user);
                if let Some(value) = final_header {
                    response.headers.insert(WWW_AUTHENTICATE, value);
                }
                response
            }
            GateOutcome::Challenge(response) | GateOutcome::Refuse(response) => response,
        }
    }

    /// Decides about `request`: one handshake step, or the connection's earlier authentication.
    pub fn check(&self, request: &EmuRequest) -> GateOutcome {
        let authorization = request.header("authorization").filter(|value| {
            let scheme = value.split(' ').next().unwrap_or_default();
            scheme.eq_ignore_ascii_case("ntlm") || scheme.eq_ignore_ascii_case("negotiate")
        });
        let mut connections = lock(&self.connections);
        let state = connections
            .entry(request.connection)
            .or_insert_with(|| ConnectionAuth {
                acceptor: NtlmAcceptor::new(self.users.clone()),
                user: None,
                #[cfg(feature = "kerberos")]
                kerberos: kerberos::KerberosAcceptor::default(),
            });
        let Some(authorization) = authorization else {
            return match (&state.user, self.mode) {
                (Some(user), WindowsAuthMode::PersistConnection) => GateOutcome::Pass {
                    user: user.clone(),
                    final_header: None,
                },
                _ => GateOutcome::Refuse(windows_offers()),
            };
        };
        #[cfg(feature = "kerberos")]
        if self.kerberos
            && let Some(token) =
                kerberos::negotiate_token(authorization).filter(|t| kerberos::is_kerberos(t))
        {
            return match state.kerberos.step(&token) {
                kerberos::KerberosStep::Accepted {
                    principal,
                    final_header,
                } => {
                    self.handshakes.fetch_add(1, Ordering::Relaxed);
                    if self.mode == WindowsAuthMode::PersistConnection {
                        state.user = Some(principal.clone());
                    }
                    GateOutcome::Pass {
                        user: principal,
                        final_header: final_header.and_then(|h| HeaderValue::from_str(&h).ok()),
                    }
                }
                kerberos::KerberosStep::Continue(challenge) => {
                    GateOutcome::Challenge(challenge_response(&challenge))
                }
                kerberos::KerberosStep::Rejected(reason) => {
                    tracing::debug!(reason = %reason, "emulator refused a Kerberos ticket");
                    self.rejections.fetch_add(1, Ordering::Relaxed);
                    GateOutcome::Refuse(windows_offers())
                }
            };
        }
        match state.acceptor.step(authorization) {
            AcceptStep::Challenge(challenge) => {
                GateOutcome::Challenge(challenge_response(&challenge))
            }
            AcceptStep::Accepted {
                user,
                domain,
                final_header,
            } => {
                self.handshakes.fetch_add(1, Ordering::Relaxed);
                state.acceptor = NtlmAcceptor::new(self.users.clone());
                let user = format!("{domain}\\{user}");
                if self.mode == WindowsAuthMode::PersistConnection {
                    state.user = Some(user.clone());
                }
                GateOutcome::Pass {
                    user,
                    final_header: final_header.and_then(|h| HeaderValue::from_str(&h).ok()),
                }
            }
            AcceptStep::Rejected(_) => {
                self.rejections.fetch_add(1, Ordering::Relaxed);
                state.acceptor = NtlmAcceptor::new(self.users.clone());
                GateOutcome::Refuse(windows_offers())
            }
        }
    }
}

/// A 401 carrying the next handshake token (`challenge` is the whole `WWW-Authenticate` value).
fn challenge_response(challenge: &str) -> EmuResponse {
    let mut response = EmuResponse::new(StatusCode::UNAUTHORIZED, Bytes::new());
    if let Ok(value) = HeaderValue::from_str(challenge) {
        response.headers.insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// IIS's 401 for Windows authentication: both providers offered, in its default order.
fn windows_offers() -> EmuResponse {
    let mut response = html_response(
        StatusCode::UNAUTHORIZED,
        "<html><head><title>401 - Unauthorized</title></head><body>401 - Unauthorized: Access is denied due to invalid credentials.</body></html>",
    );
    response
        .headers
        .append(WWW_AUTHENTICATE, HeaderValue::from_static("Negotiate"));
    response
        .headers
        .append(WWW_AUTHENTICATE, HeaderValue::from_static("NTLM"));
    response
}
