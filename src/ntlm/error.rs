//! What can go wrong in a handshake.

use std::error::Error as StdError;

use super::Scheme;

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
        cause: String,
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
    /// Anything else that breaks the protocol: a bad URL, the server closing the connection between
    /// legs, an unexpected status, a token the client could not produce.
    #[error("{0}")]
    Protocol(String),
}

impl HandshakeError {
    /// Whether retrying on a new connection may help (connection-level failures and timeouts).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Io(_) | Self::Timeout)
    }
}
