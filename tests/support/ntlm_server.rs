//! A server on 127.0.0.1, the emulators' own, that guards every path with their Windows authentication
//! (`WindowsGate`, one NTLM acceptor per connection), in one of several behaviours.

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{CONNECTION, HeaderValue, WWW_AUTHENTICATE};
use rpa_auth::emulator::windows::{GateOutcome, UserDirectory};
use rpa_auth::emulator::{EmuRequest, EmuResponse, Handler, Server, WindowsAuthMode, WindowsGate};
use secrecy::SecretString;

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
    /// Closes the connection after every successful answer.
    CloseAfterSuccess,
    /// Offers only `Negotiate` and understands only raw NTLMSSP inside it, not SPNEGO: a SPNEGO token
    /// gets the bare offer again.
    RawNegotiateOnly,
}

pub const PASSWORD: &str = "Corr3ct-Horse";

pub fn directory() -> UserDirectory {
    UserDirectory::new()
        .user("CORP", "alice", SecretString::from(PASSWORD))
        .user("CORP", "bob", SecretString::from("other"))
}

struct Guarded {
    mode: Mode,
    gate: WindowsGate,
}

/// A 401 offering `schemes`.
fn offering(schemes: &[&'static str]) -> EmuResponse {
    schemes.iter().fold(
        EmuResponse::new(StatusCode::UNAUTHORIZED, Bytes::new()),
        |response, scheme| response.header(WWW_AUTHENTICATE, HeaderValue::from_static(scheme)),
    )
}

fn closing(response: EmuResponse) -> EmuResponse {
    response.header(CONNECTION, HeaderValue::from_static("close"))
}

/// Raw NTLMSSP under the `Negotiate` label.
fn is_raw_negotiate(authorization: Option<&str>) -> bool {
    use base64::Engine as _;
    let Some((scheme, data)) = authorization.and_then(|a| a.split_once(' ')) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("negotiate")
        && base64::engine::general_purpose::STANDARD
            .decode(data)
            .is_ok_and(|token| token.starts_with(b"NTLMSSP\0"))
}

/// The answer to an authenticated request: who, by which scheme (`connection` when the connection
/// already was), and what was sent.
fn ok(user: &str, scheme: &str, request: &EmuRequest) -> EmuResponse {
    let user = user.replace('\\', "\\\\");
    let json = format!(
        r#"{{"user":"{user}","scheme":"{scheme}","method":"{}","body_len":{}}}"#,
        request.method(),
        request.body().len()
    );
    EmuResponse::new(StatusCode::OK, Bytes::from(json))
}

impl Handler for Guarded {
    fn windows(&self) -> Option<&WindowsGate> {
        Some(&self.gate)
    }

    fn handle(&self, request: &EmuRequest) -> Option<EmuResponse> {
        let authorization = request.header("authorization");
        let scheme = authorization.map_or("connection", |a| a.split(' ').next().unwrap_or(a));
        let answer = match (&self.mode, authorization) {
            (Mode::BasicOnly, _) => offering(&["Basic realm=\"x\"", "Bearer"]),
            (Mode::FixedChallenge(value), Some(_)) => {
                offering(&[]).header(WWW_AUTHENTICATE, value.parse().expect("test header"))
            }
            (Mode::RawNegotiateOnly, authorization) if !is_raw_negotiate(authorization) => {
                offering(&["Negotiate"])
            }
            (Mode::CloseOnAnonymous, None) => closing(offering(&["Negotiate", "NTLM"])),
            _ => match self.gate.check(request) {
                GateOutcome::Pass { user, final_header } => {
                    let mut response = ok(&user, scheme, request);
                    if let Mode::CloseAfterSuccess = self.mode {
                        response = closing(response);
                    }
                    match final_header {
                        Some(value) => response.header(WWW_AUTHENTICATE, value),
                        None => response,
                    }
                }
                GateOutcome::Challenge(challenge) => match self.mode {
                    Mode::CloseOnChallenge => closing(challenge),
                    _ => challenge,
                },
                GateOutcome::Refuse(refusal) => refusal,
                other => panic!("unexpected gate outcome {other:?}"),
            },
        };
        Some(answer)
    }
}

/// Starts the server; it stops when the returned value is dropped.
pub async fn start(mode: Mode) -> Server {
    let gate_mode = match mode {
        Mode::Persist => WindowsAuthMode::PersistConnection,
        _ => WindowsAuthMode::RechallengeEveryRequest,
    };
    let gate = WindowsGate::new(directory(), gate_mode);
    Server::start(Arc::new(Guarded { mode, gate }))
        .await
        .expect("start the test server")
}
