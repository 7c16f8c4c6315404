//! A tiny hyper server on 127.0.0.1 that guards every path with [`NtlmAcceptor`] (one per connection).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rpa_auth::emulator::windows::{AcceptStep, NtlmAcceptor, UserDirectory};
use secrecy::SecretString;
use tokio::net::TcpListener;

/// How the server behaves.
#[derive(Clone, Debug)]
pub enum Mode {
    /// IIS default: the connection stays authenticated.
    Persist,
    /// `authPersistSingleRequest`: every request needs a new handshake.
    RechallengeEveryRequest,
    /// Answers any NEGOTIATE with this literal `WWW-Authenticate` value.
    FixedChallenge(String),
    /// Sends `Connection: close` with the challenge.
    CloseOnChallenge,
    /// Offers only `Basic` and `Bearer`.
    BasicOnly,
    /// Sends `Connection: close` with the first, anonymous 401 (the handshake must use a new connection).
    CloseOnAnonymous,
    /// Keeps the connection authenticated but closes it after every successful answer.
    CloseAfterSuccess,
    /// Offers only `Negotiate` and understands only raw NTLMSSP inside it, not SPNEGO: a SPNEGO token
    /// gets the bare offer again.
    RawNegotiateOnly,
}

pub const PASSWORD: &str = "Corr3ct-Horse";

pub fn directory() -> Arc<UserDirectory> {
    Arc::new(
        UserDirectory::new()
            .user("CORP", "alice", SecretString::from(PASSWORD))
            .user("CORP", "bob", SecretString::from("other")),
    )
}

struct ConnState {
    acceptor: NtlmAcceptor,
    user: Option<String>,
}

fn offers(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(
        b"<html>401 - Unauthorized</html>",
    )));
    *r.status_mut() = status;
    r.headers_mut()
        .append(WWW_AUTHENTICATE, "Negotiate".parse().expect("static"));
    r.headers_mut()
        .append(WWW_AUTHENTICATE, "NTLM".parse().expect("static"));
    r
}

async fn handle(
    state: Arc<Mutex<ConnState>>,
    mode: Mode,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let auth = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let method = req.method().to_string();
    // Drain the body on every leg.
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let ok = |user: &str, scheme: &str| {
        let user = user.replace('\\', "\\\\");
        let json = format!(
            r#"{{"user":"{user}","scheme":"{scheme}","method":"{method}","body_len":{}}}"#,
            body.len()
        );
        Response::new(Full::new(Bytes::from(json)))
    };
    if let Mode::BasicOnly = mode {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        r.headers_mut().append(
            WWW_AUTHENTICATE,
            "Basic realm=\"x\"".parse().expect("static"),
        );
        r.headers_mut()
            .append(WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
        return r;
    }
    let mut st = state.lock().expect("lock");
    let Some(auth) = auth else {
        return match (&st.user, &mode) {
            (Some(user), Mode::Persist) => ok(&user.clone(), "connection"),
            (_, Mode::RawNegotiateOnly) => {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::UNAUTHORIZED;
                r.headers_mut()
                    .append(WWW_AUTHENTICATE, "Negotiate".parse().expect("static"));
                r
            }
            (_, Mode::CloseOnAnonymous) => {
                let mut r = offers(StatusCode::UNAUTHORIZED);
                r.headers_mut()
                    .insert(hyper::header::CONNECTION, "close".parse().expect("static"));
                r
            }
            _ => offers(StatusCode::UNAUTHORIZED),
        };
    };
    let scheme = auth.split(' ').next().unwrap_or_default().to_owned();
    if let Mode::RawNegotiateOnly = mode {
        use base64::Engine as _;
        let data = auth.split(' ').nth(1).unwrap_or_default();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(data)
            .is_ok_and(|token| token.starts_with(b"NTLMSSP\0"));
        if !scheme.eq_ignore_ascii_case("negotiate") || !raw {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r.headers_mut()
                .append(WWW_AUTHENTICATE, "Negotiate".parse().expect("static"));
            return r;
        }
    }
    if let Mode::FixedChallenge(value) = &mode {
        let mut r = offers(StatusCode::UNAUTHORIZED);
        r.headers_mut()
            .insert(WWW_AUTHENTICATE, value.parse().expect("test header"));
        return r;
    }
    match st.acceptor.step(&auth) {
        AcceptStep::Challenge(value) => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, value.parse().expect("b64"));
            if let Mode::CloseOnChallenge = mode {
                r.headers_mut()
                    .insert(hyper::header::CONNECTION, "close".parse().expect("static"));
            }
            r
        }
        AcceptStep::Accepted {
            user,
            domain,
            final_header,
        } => {
            let name = format!("{domain}\\{user}");
            if matches!(mode, Mode::Persist) {
                st.user = Some(name.clone());
            }
            let mut r = ok(&name, &scheme);
            if let Mode::CloseAfterSuccess = mode {
                r.headers_mut()
                    .insert(hyper::header::CONNECTION, "close".parse().expect("static"));
            }
            if let Some(h) = final_header {
                r.headers_mut()
                    .insert(WWW_AUTHENTICATE, h.parse().expect("b64"));
            }
            r
        }
        AcceptStep::Rejected(_) => offers(StatusCode::UNAUTHORIZED),
    }
}

/// Starts the server; returns its address.
pub async fn start(mode: Mode) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let users = directory();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let _ = tcp.set_nodelay(true);
            let state = Arc::new(Mutex::new(ConnState {
                acceptor: NtlmAcceptor::new(users.clone()),
                user: None,
            }));
            let mode = mode.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let (state, mode) = (state.clone(), mode.clone());
                    async move { Ok::<_, Infallible>(handle(state, mode, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}
