//! Windows authentication (NTLM, and Negotiate with NTLM inside) over one dedicated HTTP/1.1
//! connection.
//!
//! Protocol code only: nothing here knows any vendor. [`NtlmConnection`] opens the connection,
//! sends a request, and when the server answers 401 with `WWW-Authenticate: NTLM` or `Negotiate`,
//! runs the three-leg handshake on that same connection (NTLM authenticates the connection, not the
//! request), then keeps using it.
//!
//! The messages come from the `sspi` crate (NTLMv2 with MIC, 128-bit keys, SPNEGO with
//! mechListMIC, channel bindings over https). Every challenge is validated here before `sspi` sees
//! it, so a malformed server message is a [`HandshakeError::MalformedChallenge`], never a panic.
//! (The server side, for the crate's emulators, is in `emulator::windows`.)
//!
//! With the `kerberos` feature, Negotiate carries Kerberos first (the system GSS-API, SPNEGO): as the
//! current user from the ticket cache, or `user@REALM` with a password, NTLM being the fallback; see
//! [`WindowsIdentity`] and [`NtlmConnection::send_as`].

mod channel_binding;
pub(crate) mod connection;
pub(crate) mod context;
mod credentials;
mod error;
mod identity;
#[cfg(feature = "kerberos")]
mod kerberos;
pub(crate) mod message;
mod pool;
mod scheme;
pub(crate) mod spnego;

pub use connection::{DEFAULT_RESPONSE_TIMEOUT, NtlmConnection};
pub use credentials::WindowsCredentials;
pub use error::{HandshakeError, MalformedToken, ProtocolError};
pub use identity::WindowsIdentity;
#[cfg(feature = "kerberos")]
pub use kerberos::KerberosError;
pub use pool::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, NtlmPool};
pub use scheme::Scheme;

/// The TLS configuration for a connection to `url`: `configured` when given, the platform's trust store
/// for https, none for plain http.
///
/// # Errors
/// [`HandshakeError::Tls`] when the platform verifier cannot be set up.
pub fn tls_for(
    url: &url::Url,
    configured: Option<&std::sync::Arc<rustls::ClientConfig>>,
) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>, HandshakeError> {
    match (configured, url.scheme()) {
        (Some(tls), _) => Ok(Some(tls.clone())),
        (None, "https") => platform_tls_config().map(Some),
        (None, _) => Ok(None),
    }
}

/// A TLS configuration that verifies servers against the platform's trust store, as reqwest's default
/// client does. Pass your own `rustls::ClientConfig` instead for an internal CA.
///
/// # Errors
/// [`HandshakeError::Tls`] when the platform verifier cannot be set up.
pub fn platform_tls_config() -> Result<std::sync::Arc<rustls::ClientConfig>, HandshakeError> {
    use rustls_platform_verifier::ConfigVerifierExt;
    rustls::ClientConfig::with_platform_verifier()
        .map(std::sync::Arc::new)
        .map_err(|e| HandshakeError::Tls(std::io::Error::other(e)))
}

/// The HTTP/1.1 request that carries `request` over a Windows-authenticated connection, or why it cannot:
/// a streaming body (the handshake may need to send it again) or a URL that is no request target.
pub(crate) fn http_request(
    request: &reqwest::Request,
) -> Result<http::Request<bytes::Bytes>, &'static str> {
    let body = match request.body() {
        None => bytes::Bytes::new(),
        Some(body) => match body.as_bytes() {
            Some(bytes) => bytes::Bytes::copy_from_slice(bytes),
            None => {
                return Err(
                    "a streaming body cannot be sent over a Windows-authenticated connection",
                );
            }
        },
    };
    let mut outgoing = http::Request::new(body);
    *outgoing.method_mut() = request.method().clone();
    *outgoing.uri_mut() = request
        .url()
        .as_str()
        .parse()
        .map_err(|_| "the URL cannot be sent as an HTTP/1.1 request target")?;
    *outgoing.headers_mut() = request.headers().clone();
    Ok(outgoing)
}
