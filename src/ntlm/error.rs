//! What can go wrong in a handshake, and how it becomes the crate's [`Error`](crate::Error).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use super::Scheme;
use super::message::MessageError;
use super::spnego::SpnegoError;
use crate::error::{Endpoint, Error, RejectReason, ServerMessage, WindowsCause};

/// Why an NTLM / Negotiate exchange failed.
///
/// Display is one lower-case line without the source's text (reach it with
/// [`source`](std::error::Error::source)); it never contains a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The server answered 401 without offering NTLM or Negotiate.
    #[error("server does not offer ntlm or negotiate (offered: {})", if offered.is_empty() { "nothing".to_owned() } else { offered.join(", ") })]
    NotOffered {
        /// The schemes the server did offer, as written in `WWW-Authenticate`.
        offered: Vec<String>,
    },
    /// The server refused the credentials (a 401 answered the AUTHENTICATE message, or the
    /// re-authentication of a re-challenged connection failed).
    #[error("server rejected the {scheme} credentials")]
    Rejected {
        /// The scheme that was used.
        scheme: Scheme,
    },
    /// The server's challenge (or final token) could not be used.
    #[error("malformed {scheme} challenge from server: {cause}")]
    MalformedChallenge {
        /// The scheme that was used.
        scheme: Scheme,
        /// What was wrong with it.
        cause: MalformedToken,
    },
    /// The TCP connection could not be opened.
    #[error("could not connect to the server")]
    Connect(#[source] std::io::Error),
    /// The TLS handshake failed.
    #[error("tls handshake with the server failed")]
    Tls(#[source] std::io::Error),
    /// Reading or writing the connection failed, or the server closed it.
    #[error("connection to the server failed")]
    Io(#[source] Box<dyn StdError + Send + Sync>),
    /// Connecting, or waiting for a response, took longer than allowed.
    #[error("timed out waiting for the server")]
    Timeout,
    /// Kerberos (inside Negotiate) could not log in, and NTLM could not be used instead.
    #[cfg(feature = "kerberos")]
    #[error("{0}")]
    Kerberos(super::KerberosError),
    /// Anything else that breaks the protocol: a bad URL, the server closing the connection between
    /// legs, an unexpected status, a token the client could not produce.
    #[error("{0}")]
    Protocol(ProtocolError),
}

impl HandshakeError {
    /// Whether retrying on a new connection may help (connection-level failures and timeouts).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Io(_) | Self::Timeout)
    }

    pub(crate) fn malformed(scheme: Scheme, cause: impl Into<Malformed>) -> Self {
        Self::MalformedChallenge {
            scheme,
            cause: MalformedToken(cause.into()),
        }
    }
}

impl From<Protocol> for HandshakeError {
    fn from(protocol: Protocol) -> Self {
        Self::Protocol(ProtocolError(protocol))
    }
}

/// What was wrong with a token the server sent: one lower-case line naming the fault.
#[derive(Debug)]
pub struct MalformedToken(Malformed);

impl fmt::Display for MalformedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for MalformedToken {}

/// The faults of a server token, inside [`MalformedToken`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum Malformed {
    #[error("invalid base64: {0}")]
    Base64(base64::DecodeError),
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error("server sent {0}")]
    Spnego(SpnegoError),
    #[error("final token is {0}")]
    FinalToken(SpnegoError),
    #[error("server selected a mechanism other than ntlm")]
    OtherMechanism,
    #[error("negTokenResp carries no ntlm challenge")]
    NoChallenge,
    #[error("a raw NTLMSSP challenge where SPNEGO was expected")]
    RawWhereSpnego,
    #[error("ntlm context error: {0}")]
    Context(sspi::Error),
    #[error("final negotiate token left the context incomplete ({0:?})")]
    Incomplete(sspi::SecurityStatus),
}

/// A protocol failure that is not the server's token: one lower-case line naming it.
#[derive(Debug)]
pub struct ProtocolError(Protocol);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for ProtocolError {}

/// The protocol failures inside [`ProtocolError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum Protocol {
    #[error("unsupported url scheme {0:?}")]
    UrlScheme(String),
    #[error("url has no host")]
    NoHost,
    #[error("url has no port")]
    NoPort,
    #[error("url host is not a valid header")]
    HostHeader,
    #[error("https url but no tls configuration given")]
    NoTlsConfig,
    #[error("invalid tls server name: {0}")]
    ServerName(rustls::pki_types::InvalidDnsNameError),
    #[error(
        "server closed the connection during the {0} handshake (it must stay open between legs)"
    )]
    ClosedBetweenLegs(Scheme),
    #[error("connection is closed after an earlier failure")]
    Broken,
    #[error("token is not a valid header value")]
    TokenHeader,
    #[error("server answered the negotiate message with HTTP 400")]
    NegotiateBadRequest,
    #[error(
        "server answered the {scheme} negotiate message with HTTP {status} instead of a challenge"
    )]
    NoChallenge { scheme: Scheme, status: u16 },
    #[error("invalid windows user name: {0}")]
    UserName(sspi::Error),
    #[error("{scheme} credentials not accepted: {cause}")]
    Credentials { scheme: Scheme, cause: sspi::Error },
    #[error("negotiate setup failed: {0}")]
    Setup(sspi::Error),
    #[error("ntlm context error: {0}")]
    Context(sspi::Error),
    #[error("the connection pool is closed")]
    PoolClosed,
    #[error("ntlm needs a password, and this login has none")]
    NoPassword,
    #[cfg(feature = "kerberos")]
    #[error("the kerberos exchange did not finish within {0} legs")]
    KerberosLegs(usize),
}

impl Error {
    /// An error from a Windows-authentication handshake: refused credentials become
    /// [`Error::LoginRejected`] (HTTP 401, naming the scheme), everything else [`Error::WindowsAuth`].
    pub(crate) fn windows_auth(
        backend: &'static str,
        endpoint: Endpoint,
        error: HandshakeError,
    ) -> Self {
        match error {
            HandshakeError::Rejected { scheme } => Self::windows_refusal(
                backend,
                endpoint,
                scheme,
                "the server refused the Windows credentials".to_owned(),
            ),
            // The server (or, for `user@REALM`, the KDC) refused who we are: a refusal, like a wrong password.
            #[cfg(feature = "kerberos")]
            HandshakeError::Kerberos(
                ref refusal @ (super::KerberosError::Refused { .. }
                | super::KerberosError::PasswordRefused { .. }),
            ) => Self::windows_refusal(backend, endpoint, Scheme::Negotiate, refusal.to_string()),
            other => Self::WindowsAuth {
                backend,
                endpoint,
                cause: WindowsCause {
                    transient: other.is_transient(),
                    timeout: matches!(other, HandshakeError::Timeout),
                    error: Arc::new(other),
                },
            },
        }
    }

    /// The server refused who we are with `scheme` (HTTP 401), saying `message`.
    fn windows_refusal(
        backend: &'static str,
        endpoint: Endpoint,
        scheme: Scheme,
        message: String,
    ) -> Self {
        Self::login_rejected(
            backend,
            endpoint,
            reqwest::StatusCode::UNAUTHORIZED,
            RejectReason::BadCredentials,
            Some(ServerMessage::new(
                "scheme",
                Some(scheme.as_str().to_owned()),
                Some(message),
            )),
        )
    }

    /// The handshake's own error, for [`Error::WindowsAuth`] (also reachable as its
    /// [`source`](std::error::Error::source)).
    pub fn handshake_error(&self) -> Option<&HandshakeError> {
        StdError::source(self)?.downcast_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        let url = url::Url::parse("https://orch.example.com/odata/Users?x=1").expect("url");
        Endpoint::new(reqwest::Method::GET, &url)
    }

    #[test]
    fn handshake_error_is_the_source_and_answers_the_questions() {
        let error = Error::windows_auth("uipath-ntlm", endpoint(), HandshakeError::Timeout);
        assert!(matches!(error, Error::WindowsAuth { .. }), "{error:?}");
        assert!(error.is_timeout() && error.is_transient());
        assert!(matches!(
            error.handshake_error(),
            Some(HandshakeError::Timeout)
        ));
        let source = StdError::source(&error).expect("a source");
        assert!(source.downcast_ref::<HandshakeError>().is_some());
        assert_eq!(
            error.to_string(),
            "uipath-ntlm: windows authentication at GET /odata/Users failed: timed out waiting for the server"
        );

        let malformed = Error::windows_auth(
            "uipath-ntlm",
            endpoint(),
            HandshakeError::malformed(Scheme::Ntlm, Malformed::NoChallenge),
        );
        assert!(!malformed.is_timeout() && !malformed.is_transient());
        assert!(matches!(
            malformed.handshake_error(),
            Some(HandshakeError::MalformedChallenge {
                scheme: Scheme::Ntlm,
                ..
            })
        ));
    }

    #[test]
    fn refused_credentials_are_a_login_rejection() {
        let error = Error::windows_auth(
            "pyramid",
            endpoint(),
            HandshakeError::Rejected {
                scheme: Scheme::Negotiate,
            },
        );
        assert!(error.is_login_rejected(), "{error:?}");
        assert_eq!(error.status(), Some(reqwest::StatusCode::UNAUTHORIZED));
        assert!(error.handshake_error().is_none());
    }
}
