//! One dedicated HTTP/1.1 connection that carries the handshake and stays authenticated.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::context::{ChallengeError, ClientContext};
use super::error::{Malformed, Protocol};
use super::scheme::challenge_data;
use super::spnego::NegTokenResp;
use super::{HandshakeError, Scheme, WindowsCredentials, WindowsIdentity, channel_binding};

#[cfg(feature = "kerberos")]
mod kerberos;

/// How long [`NtlmConnection::send`] waits for each response (headers and body) by default.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// How one handshake attempt ended badly.
enum Attempt {
    /// The server did not understand SPNEGO (worth one more try with raw NTLMSSP).
    NotUnderstood(HandshakeError),
    /// Anything else.
    Failed(HandshakeError),
}

impl Attempt {
    fn into_error(self) -> HandshakeError {
        match self {
            Self::NotUnderstood(error) | Self::Failed(error) => error,
        }
    }
}

impl From<HandshakeError> for Attempt {
    fn from(error: HandshakeError) -> Self {
        Self::Failed(error)
    }
}

/// Servers send standard base64; accept it with or without padding.
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One dedicated HTTP/1.1 connection (plain TCP, or rustls offering ALPN `http/1.1` only) that
/// carries the NTLM handshake and then stays authenticated.
///
/// NTLM authenticates the TCP connection, not the request, so the NEGOTIATE, the challenge and the
/// AUTHENTICATE must share one connection; a pooled client cannot promise that. Requests on one
/// `NtlmConnection` are sequential (`send` takes `&mut self`); open one per concurrent caller.
pub struct NtlmConnection {
    url: url::Url,
    tls: Option<Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
    host: String,
    host_header: HeaderValue,
    channel_binding: Option<Vec<u8>>,
    forced: Option<Scheme>,
    authenticated: Option<Scheme>,
    handshakes: u32,
    broken: bool,
    response_timeout: Duration,
}

impl std::fmt::Debug for NtlmConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmConnection")
            .field("host", &self.host)
            .field("tls", &self.channel_binding.is_some())
            .field("forced", &self.forced)
            .field("authenticated", &self.authenticated)
            .field("handshakes", &self.handshakes)
            .finish_non_exhaustive()
    }
}

impl Drop for NtlmConnection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl NtlmConnection {
    /// Opens a connection to `url`'s host and port: TLS when the scheme is `https` (with `tls`,
    /// whose ALPN list is replaced by `http/1.1` only; IIS refuses Windows auth over HTTP/2), plain
    /// TCP for `http`. `connect_timeout` covers the TCP connect and the TLS handshake.
    ///
    /// Over https the server's certificate is hashed for channel binding (RFC 5929
    /// `tls-server-end-point`), so servers with Extended Protection accept the handshake.
    ///
    /// Must be called within a Tokio runtime: the connection is driven by a spawned task, which
    /// ends when this value is dropped.
    ///
    /// # Errors
    /// [`HandshakeError::Protocol`] for a URL without host or with another scheme, or https without a
    /// TLS config; [`HandshakeError::Connect`], [`HandshakeError::Tls`], [`HandshakeError::Timeout`].
    pub async fn connect(
        url: &url::Url,
        tls: Option<Arc<rustls::ClientConfig>>,
        connect_timeout: Duration,
    ) -> Result<Self, HandshakeError> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(Protocol::UrlScheme(other.to_owned()).into());
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(Protocol::NoHost.into()),
        };
        let port = url.port_or_known_default().ok_or(Protocol::NoPort)?;
        let host_header = {
            let name = url.host_str().unwrap_or(&host);
            let value = match url.port() {
                Some(p) => format!("{name}:{p}"),
                None => name.to_owned(),
            };
            HeaderValue::from_str(&value).map_err(|_| Protocol::HostHeader)?
        };
        let tls_for_reopen = tls.clone();
        let tls = match (https, tls) {
            (true, Some(config)) => Some(config),
            (true, None) => {
                return Err(Protocol::NoTlsConfig.into());
            }
            (false, _) => None,
        };

        let open = async {
            let tcp = TcpStream::connect((host.as_str(), port))
                .await
                .map_err(HandshakeError::Connect)?;
            // Every leg is one small write waiting for an answer: Nagle only adds delay.
            tcp.set_nodelay(true).map_err(HandshakeError::Connect)?;
            let Some(config) = tls else {
                return Ok::<_, HandshakeError>((Self::start(tcp).await?, None));
            };
            let mut config = (*config).clone();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let server_name = match host.parse::<IpAddr>() {
                Ok(ip) => ServerName::IpAddress(ip.into()),
                Err(_) => ServerName::try_from(host.clone()).map_err(Protocol::ServerName)?,
            };
            let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(server_name, tcp)
                .await
                .map_err(HandshakeError::Tls)?;
            let binding = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| channel_binding::tls_server_end_point(leaf));
            Ok((Self::start(stream).await?, binding))
        };
        let ((sender, driver), channel_binding) = tokio::time::timeout(connect_timeout, open)
            .await
            .map_err(|_| HandshakeError::Timeout)??;

        Ok(Self {
            url: url.clone(),
            tls: tls_for_reopen,
            connect_timeout,
            sender,
            driver,
            host,
            host_header,
            channel_binding,
            forced: None,
            authenticated: None,
            handshakes: 0,
            broken: false,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
        })
    }

    /// Replaces the connection with a new one to the same server, keeping the settings and counters.
    async fn reopen(&mut self) -> Result<(), HandshakeError> {
        let mut fresh = Self::connect(&self.url, self.tls.clone(), self.connect_timeout).await?;
        fresh.forced = self.forced;
        fresh.handshakes = self.handshakes;
        fresh.response_timeout = self.response_timeout;
        *self = fresh;
        Ok(())
    }

    async fn start<S>(io: S) -> Result<(SendRequest<Full<Bytes>>, JoinHandle<()>), HandshakeError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| HandshakeError::Io(Box::new(e)))?;
        let driver = tokio::spawn(async move {
            // The connection's end is seen by the sender (`is_closed`, request errors).
            let _ = conn.await;
        });
        Ok((sender, driver))
    }

    /// Uses only `scheme`, even when the server prefers or also offers the other one.
    /// Defaults to choosing per [`Scheme::choose`] (NTLM when both are offered).
    #[must_use]
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.forced = Some(scheme);
        self
    }

    /// How long to wait for each response, headers and body. Defaults to
    /// [`DEFAULT_RESPONSE_TIMEOUT`] (30 s), generous for a login behind a slow domain controller.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sends `req` (its URI's path and query are used; the host is the connection's). If the answer
    /// is a 401 offering NTLM or Negotiate, runs the handshake on this connection (method, headers
    /// and body repeated on every leg, each response read completely) and returns the final
    /// response. Once authenticated, later requests go without a header; a 401 on an authenticated
    /// connection (servers that re-challenge every request) leads to one new handshake, and its
    /// failure is an error, never a loop.
    ///
    /// # Errors
    /// [`HandshakeError::NotOffered`] for a 401 without NTLM/Negotiate, [`HandshakeError::Rejected`]
    /// when the credentials are refused, [`HandshakeError::MalformedChallenge`] for an unusable
    /// challenge, and connection errors. After a transport error or timeout the connection is closed.
    pub async fn send(
        &mut self,
        req: Request<Bytes>,
        creds: &WindowsCredentials,
    ) -> Result<Response<Bytes>, HandshakeError> {
        self.send_as(req, &WindowsIdentity::from(creds.clone()))
            .await
    }

    /// [`send`](Self::send) as `identity`: with the `kerberos` feature, Kerberos inside Negotiate first
    /// (the ticket cache, or a password for `user@REALM`), NTLM with the password when Kerberos cannot get
    /// a ticket for the server or the server offers only NTLM; never back and forth.
    ///
    /// # Errors
    /// As [`send`](Self::send); with the `kerberos` feature also `HandshakeError::Kerberos` when
    /// Kerberos fails and NTLM cannot be used instead.
    pub async fn send_as(
        &mut self,
        req: Request<Bytes>,
        identity: &WindowsIdentity,
    ) -> Result<Response<Bytes>, HandshakeError> {
        let (parts, body) = req.into_parts();
        let first = self.round_trip(&parts, &body, None).await?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        // Re-challenged (or never authenticated): the connection no longer counts as authenticated.
        self.authenticated = None;
        let scheme = Scheme::choose(first.headers(), self.forced)?;
        // Only the handshake's own legs must share a connection: a server that closes it after the first,
        // anonymous 401 gets the handshake on a new one.
        let closing = first
            .headers()
            .get(CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if closing || self.sender.is_closed() {
            tracing::debug!(host = %self.host, "server closed the connection after its first 401; reconnecting");
            self.reopen().await?;
        }
        #[cfg(feature = "kerberos")]
        if let Some(answer) = self
            .try_kerberos(first.headers(), &parts, &body, identity)
            .await?
        {
            return Ok(answer);
        }
        let Some(creds) = identity.credentials() else {
            return Err(Protocol::NoPassword.into());
        };
        self.handshake(scheme, &parts, &body, creds).await
    }

    async fn handshake(
        &mut self,
        scheme: Scheme,
        parts: &http::request::Parts,
        body: &Bytes,
        creds: &WindowsCredentials,
    ) -> Result<Response<Bytes>, HandshakeError> {
        self.handshakes += 1;
        // Negotiate goes as SPNEGO first (IIS, gss-ntlmssp and pyspnego all take it). A server that does
        // not understand SPNEGO (it re-offers, or answers with a raw NTLMSSP challenge) gets raw NTLMSSP
        // under the Negotiate label, as Windows sends when Kerberos is out of reach. Only the NEGOTIATE leg,
        // which proves nothing about the password, is ever repeated.
        match self.attempt(scheme, scheme, parts, body, creds).await {
            Err(Attempt::NotUnderstood(error))
                if scheme == Scheme::Negotiate && !self.is_closed() =>
            {
                tracing::debug!(
                    host = %self.host,
                    "server did not take SPNEGO; trying raw NTLMSSP inside Negotiate"
                );
                let _ = error;
                self.attempt(Scheme::Negotiate, Scheme::Ntlm, parts, body, creds)
                    .await
                    .map_err(Attempt::into_error)
            }
            other => other.map_err(Attempt::into_error),
        }
    }

    /// One handshake: the `label` scheme in the headers, the messages of a `context` context (NTLM for
    /// raw NTLMSSP, Negotiate for SPNEGO).
    async fn attempt(
        &mut self,
        label: Scheme,
        context: Scheme,
        parts: &http::request::Parts,
        body: &Bytes,
        creds: &WindowsCredentials,
    ) -> Result<Response<Bytes>, Attempt> {
        let spnego = label == Scheme::Negotiate && context == Scheme::Negotiate;
        let mut ctx =
            ClientContext::new(context, creds, &self.host, self.channel_binding.as_deref())
                .map_err(|e| Attempt::Failed(e.into()))?;
        let negotiate = ctx.first_token().map_err(|e| Attempt::Failed(e.into()))?;

        tracing::debug!(host = %self.host, scheme = label.as_str(), spnego, leg = "negotiate", "windows authentication");
        let challenge = self.leg(label, parts, body, &negotiate).await?;
        if challenge.status() == StatusCode::BAD_REQUEST && spnego {
            return Err(Attempt::NotUnderstood(Protocol::NegotiateBadRequest.into()));
        }
        if challenge.status() != StatusCode::UNAUTHORIZED {
            return Err(Attempt::Failed(
                Protocol::NoChallenge {
                    scheme: label,
                    status: challenge.status().as_u16(),
                }
                .into(),
            ));
        }
        let token = match challenge_data(challenge.headers(), label) {
            Some(Some(data)) => data,
            // A bare `WWW-Authenticate` again: the server refused the NEGOTIATE message.
            _ if spnego => {
                return Err(Attempt::NotUnderstood(HandshakeError::Rejected {
                    scheme: label,
                }));
            }
            _ => return Err(Attempt::Failed(HandshakeError::Rejected { scheme: label })),
        };
        let token = B64_LENIENT
            .decode(token)
            .map_err(|e| Attempt::Failed(HandshakeError::malformed(label, Malformed::Base64(e))))?;
        if spnego && token.starts_with(b"NTLMSSP\0") {
            return Err(Attempt::NotUnderstood(HandshakeError::malformed(
                label,
                Malformed::RawWhereSpnego,
            )));
        }
        let authenticate = ctx.answer(&token).map_err(|e| {
            Attempt::Failed(match e {
                ChallengeError::Rejected => HandshakeError::Rejected { scheme: label },
                ChallengeError::Malformed(cause) => HandshakeError::malformed(label, cause),
            })
        })?;

        tracing::debug!(host = %self.host, scheme = label.as_str(), leg = "authenticate", "windows authentication");
        let last = self.leg(label, parts, body, &authenticate).await?;
        if last.status() == StatusCode::UNAUTHORIZED {
            tracing::debug!(host = %self.host, scheme = label.as_str(), "windows credentials refused");
            return Err(Attempt::Failed(HandshakeError::Rejected { scheme: label }));
        }
        if spnego && let Some(Some(data)) = challenge_data(last.headers(), label) {
            // The server's final token: a `reject` fails the login; otherwise its mechListMIC is checked,
            // and a token that does not verify is logged, not fatal (NTLM gives no real mutual
            // authentication, and servers differ in what they send with the 2xx).
            let token = B64_LENIENT.decode(data).unwrap_or_default();
            if NegTokenResp::parse(&token).is_ok_and(|resp| resp.is_reject()) {
                return Err(Attempt::Failed(HandshakeError::Rejected { scheme: label }));
            }
            if let Err(cause) = ctx.finish(&token) {
                tracing::warn!(host = %self.host, cause = %cause, "final negotiate token did not verify; accepting the answer");
            }
        }
        self.authenticated = Some(label);
        tracing::debug!(
            host = %self.host,
            scheme = label.as_str(),
            status = last.status().as_u16(),
            handshakes = self.handshakes,
            "connection authenticated"
        );
        Ok(last)
    }

    async fn leg(
        &mut self,
        scheme: Scheme,
        parts: &http::request::Parts,
        body: &Bytes,
        token: &[u8],
    ) -> Result<Response<Bytes>, HandshakeError> {
        if self.sender.is_closed() {
            self.broken = true;
            return Err(Protocol::ClosedBetweenLegs(scheme).into());
        }
        let value = format!("{} {}", scheme.as_str(), STANDARD.encode(token));
        self.round_trip(parts, body, Some(value)).await
    }

    async fn round_trip(
        &mut self,
        parts: &http::request::Parts,
        body: &Bytes,
        authorization: Option<String>,
    ) -> Result<Response<Bytes>, HandshakeError> {
        if self.broken {
            return Err(Protocol::Broken.into());
        }
        let mut req = Request::new(Full::new(body.clone()));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = origin_form(&parts.uri);
        *req.version_mut() = Version::HTTP_11;
        let headers = req.headers_mut();
        for (name, value) in &parts.headers {
            // Hop-by-hop and framing headers are this connection's business.
            let ours = [HOST, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING].contains(name)
                || (authorization.is_some() && name == AUTHORIZATION);
            if !ours {
                headers.append(name.clone(), value.clone());
            }
        }
        headers.insert(HOST, self.host_header.clone());
        if let Some(value) = authorization {
            let mut value = HeaderValue::from_str(&value).map_err(|_| Protocol::TokenHeader)?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }

        let sender = &mut self.sender;
        let exchange = async {
            sender.ready().await?;
            let response = sender.send_request(req).await?;
            let (head, body) = response.into_parts();
            // Read the whole body: the next leg must not start before this response has ended.
            let body = body.collect().await?.to_bytes();
            Ok::<_, hyper::Error>(Response::from_parts(head, body))
        };
        match tokio::time::timeout(self.response_timeout, exchange).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                self.broken = true;
                Err(HandshakeError::Io(Box::new(e)))
            }
            Err(_) => {
                self.broken = true;
                Err(HandshakeError::Timeout)
            }
        }
    }

    /// How many handshakes ran on this connection.
    pub fn handshakes(&self) -> u32 {
        self.handshakes
    }

    /// The scheme this connection is authenticated with, if the last handshake succeeded and no
    /// 401 has been seen since.
    pub fn authenticated(&self) -> Option<Scheme> {
        self.authenticated
    }

    /// Whether the connection can no longer carry requests (the server closed it, or an earlier
    /// transport error or timeout left it in an unknown state).
    pub fn is_closed(&self) -> bool {
        self.broken || self.sender.is_closed()
    }
}

/// `/path?query` of `uri` (`/` when empty): the request-target of an origin-form request.
fn origin_form(uri: &Uri) -> Uri {
    uri.path_and_query()
        .map(|pq| pq.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("/")
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"))
}

/// What the server's final Negotiate token (the `WWW-Authenticate` data sent with the 2xx) says.
#[cfg(feature = "fuzzing")]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FinalToken {
    /// SPNEGO `reject`: the login fails.
    Rejected,
    /// Not readable, or it does not verify.
    Unverified,
    /// Read and verified.
    Verified,
}

/// The final-token steps of [`NtlmConnection::send`] on their own, for the fuzz targets: decode
/// `data`, look for a `reject`, feed the token to `ctx`.
#[cfg(feature = "fuzzing")]
pub(crate) fn final_token(ctx: &mut ClientContext, data: &str) -> FinalToken {
    let token = B64_LENIENT.decode(data).unwrap_or_default();
    if NegTokenResp::parse(&token).is_ok_and(|resp| resp.is_reject()) {
        return FinalToken::Rejected;
    }
    match ctx.finish(&token) {
        Ok(()) => FinalToken::Verified,
        Err(_) => FinalToken::Unverified,
    }
}
