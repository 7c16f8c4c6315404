//! Entry points for the coverage-guided fuzz targets in `fuzz/` (feature `fuzzing`; not part of the
//! public API, no stability promise). Each one feeds arbitrary bytes to one parser a server's bytes
//! reach, and panics when an invariant breaks:
//!
//! - no parser panics, whatever the input;
//! - a login answer yields either a usable token (non-empty, no white space or control characters) or
//!   an error;
//! - no error's text contains the login's secret, however the server echoed it.
#![allow(missing_docs, unreachable_pub)]

use std::sync::Arc;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::backend::automation_anywhere::AutomationAnywhereLogin;
use crate::backend::uipath::UiPathClientCredentialsLogin;
use crate::emulator::windows::{AcceptStep, NtlmAcceptor, UserDirectory};
use crate::error::{Endpoint, Error, Result};
use crate::exchange::Reply;
use crate::ntlm::{Scheme, WindowsCredentials};
use crate::redact::Secrets;

/// The secret every fuzzed login holds; no error may print it.
pub const SECRET: &str = "Fuzz-S3cret!";

const STATUSES: [u16; 12] = [200, 201, 204, 400, 401, 403, 404, 405, 429, 500, 502, 503];
const CONTENT_TYPES: [Option<&str>; 5] = [
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("text/plain"),
    Some("text/html"),
    None,
];

/// The first byte picks the status, the second the content type (and a `Retry-After`); the rest is
/// the body.
fn reply(backend: &'static str, path: &str, input: &[u8], secrets: &Secrets) -> Reply {
    let status = input
        .first()
        .map_or(200, |b| STATUSES[usize::from(*b) % STATUSES.len()]);
    let shape = input.get(1).copied().unwrap_or(0);
    let mut headers = HeaderMap::new();
    if let Some(kind) = CONTENT_TYPES[usize::from(shape) % CONTENT_TYPES.len()] {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    }
    if shape & 0x80 != 0 {
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
    }
    let url = Url::parse("https://fuzz.example/")
        .and_then(|u| u.join(path))
        .unwrap_or_else(|_| unreachable!("a fixed URL"));
    Reply {
        backend,
        endpoint: Endpoint::new(reqwest::Method::POST, &url),
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        headers,
        body: Bytes::copy_from_slice(input.get(2..).unwrap_or_default()),
        secrets: secrets.clone(),
    }
}

fn secrets() -> Secrets {
    Secrets::new().with(&SecretString::from(SECRET))
}

/// The invariants of a login answer's outcome.
fn check(outcome: Result<SecretString>) {
    match outcome {
        Ok(token) => assert!(
            crate::token::check(token.expose_secret()).is_ok(),
            "an unusable token was accepted"
        ),
        Err(error) => check_error(&error),
    }
}

fn check_error(error: &Error) {
    let text = error.to_string();
    assert!(
        !text.contains(SECRET),
        "the secret reached an error: {text}"
    );
    let _ = format!("{error:?}");
}

/// UiPath `POST /api/Account/Authenticate` answers, success and error bodies.
pub fn uipath_login(input: &[u8]) {
    let secrets = secrets();
    let reply = reply("uipath", "api/Account/Authenticate", input, &secrets);
    check(crate::backend::uipath::bearer::read_token(&reply));
}

/// Automation Anywhere `POST /v2/authentication` answers, success and error bodies.
pub fn aa_login(input: &[u8]) {
    let Ok(login) =
        AutomationAnywhereLogin::new("https://fuzz.example/", "user", SecretString::from(SECRET))
    else {
        return;
    };
    let reply = reply("aa", "v2/authentication", input, &secrets());
    check(login.read_login(&reply));
}

/// UiPath OAuth token-endpoint answers, success and error bodies.
pub fn oauth_token(input: &[u8]) {
    let Ok(login) = UiPathClientCredentialsLogin::new(
        "https://fuzz.example/",
        "app",
        SecretString::from(SECRET),
    ) else {
        return;
    };
    let reply = reply("uipath-oauth", "identity/connect/token", input, &secrets());
    check(login.read_token(&reply).map(|(token, _)| token));
}

/// Pyramid `authenticateUser` answers (bare text, JSON string, JSON error), success and error bodies.
pub fn pyramid_login(input: &[u8]) {
    let secrets = secrets();
    let reply = reply("pyramid", "API2/auth/authenticateUser", input, &secrets);
    check(crate::backend::pyramid::read_token(&reply));
}

/// The JWT lifetime reader.
pub fn jwt_lifetime(input: &[u8]) {
    if let Ok(text) = std::str::from_utf8(input)
        && let Some(lifetime) = crate::jwt::lifetime(text)
    {
        assert!(lifetime.as_secs() > 0, "a zero lifetime was read");
    }
}

/// `Retry-After` values.
pub fn retry_after(input: &[u8]) {
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = crate::exchange::parse_retry_after(text);
    }
}

/// NTLM CHALLENGE validation, then `sspi`'s answer to every challenge the validation lets through.
pub fn ntlm_challenge(input: &[u8]) {
    let validated = crate::ntlm::message::parse_challenge(input);
    let credentials = WindowsCredentials::new(r"CORP\fuzz", SecretString::from(SECRET));
    let Ok(mut context) =
        crate::ntlm::context::ClientContext::new(Scheme::Ntlm, &credentials, "fuzz.example", None)
    else {
        return;
    };
    if context.first_token().is_err() {
        return;
    }
    let answered = context.answer(input);
    assert!(
        validated.is_ok() || answered.is_err(),
        "a challenge the validation refused was answered"
    );
}

/// The SPNEGO reader, on its own and as a Negotiate context's challenge.
pub fn spnego(input: &[u8]) {
    let _ = crate::ntlm::spnego::NegTokenResp::parse(input);
    let credentials = WindowsCredentials::new(r"CORP\fuzz", SecretString::from(SECRET));
    if let Ok(mut context) = crate::ntlm::context::ClientContext::new(
        Scheme::Negotiate,
        &credentials,
        "fuzz.example",
        None,
    ) && context.first_token().is_ok()
    {
        let _ = context.answer(input);
    }
}

/// The Negotiate final-token handling, after a real SPNEGO handshake with the test acceptor: the
/// input is the base64 text of the server's `WWW-Authenticate: Negotiate` data on the 2xx.
pub fn negotiate_final(input: &[u8]) {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    let Ok(data) = std::str::from_utf8(input) else {
        return;
    };
    let credentials = WindowsCredentials::new(r"CORP\fuzz", SecretString::from(SECRET));
    let users = Arc::new(UserDirectory::new().user("CORP", "fuzz", SecretString::from(SECRET)));
    let mut acceptor = NtlmAcceptor::new(users);
    let Ok(mut context) = crate::ntlm::context::ClientContext::new(
        Scheme::Negotiate,
        &credentials,
        "fuzz.example",
        None,
    ) else {
        return;
    };
    let Ok(first) = context.first_token() else {
        return;
    };
    let AcceptStep::Challenge(header) =
        acceptor.step(&format!("Negotiate {}", STANDARD.encode(first)))
    else {
        return;
    };
    let Some(challenge): Option<Vec<u8>> = header
        .split_once(' ')
        .and_then(|(_, b64)| STANDARD.decode(b64).ok())
    else {
        return;
    };
    let Ok(authenticate) = context.answer(&challenge) else {
        return;
    };
    let _ = acceptor.step(&format!("Negotiate {}", STANDARD.encode(authenticate)));
    let _ = crate::ntlm::connection::final_token(&mut context, data);
}

/// The secret scrubber: the first byte splits the input into a secret and a text. The scrubbed text
/// never contains the secret.
pub fn redact(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let split = input.first().map_or(0, |b| usize::from(*b % 24) + 1);
    let Some((secret, text)) = text
        .char_indices()
        .nth(split)
        .map(|(at, _)| text.split_at(at))
    else {
        return;
    };
    if secret.contains(crate::redact::MARKER) {
        return;
    }
    let secrets = Secrets::new().with(&SecretString::from(secret.to_owned()));
    let out = secrets.scrub(text);
    assert!(
        out.split(crate::redact::MARKER)
            .all(|piece| !piece.contains(secret)),
        "the secret survived: {secret:?} in {out:?}"
    );
    let _ = secrets.scrub_cut(text);
}

/// Real handshake messages from the emulators' acceptor, for seed corpora: the raw NTLM CHALLENGE,
/// the SPNEGO `NegTokenResp` carrying one, and the final `Negotiate` token (base64) of the 2xx.
pub fn handshake_samples() -> Option<(Vec<u8>, Vec<u8>, String)> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    let credentials = WindowsCredentials::new(r"CORP\fuzz", SecretString::from(SECRET));
    let users = Arc::new(UserDirectory::new().user("CORP", "fuzz", SecretString::from(SECRET)));
    let challenge_of =
        |scheme: Scheme| -> Option<(crate::ntlm::context::ClientContext, NtlmAcceptor, Vec<u8>)> {
            let mut acceptor = NtlmAcceptor::new(users.clone());
            let mut context = crate::ntlm::context::ClientContext::new(
                scheme,
                &credentials,
                "fuzz.example",
                None,
            )
            .ok()?;
            let first = context.first_token().ok()?;
            let AcceptStep::Challenge(header) =
                acceptor.step(&format!("{} {}", scheme.as_str(), STANDARD.encode(first)))
            else {
                return None;
            };
            let challenge = STANDARD.decode(header.split_once(' ')?.1).ok()?;
            Some((context, acceptor, challenge))
        };
    let (_, _, ntlm) = challenge_of(Scheme::Ntlm)?;
    let (mut context, mut acceptor, spnego) = challenge_of(Scheme::Negotiate)?;
    let authenticate = context.answer(&spnego).ok()?;
    let AcceptStep::Accepted {
        final_header: Some(final_header),
        ..
    } = acceptor.step(&format!("Negotiate {}", STANDARD.encode(authenticate)))
    else {
        return None;
    };
    let final_token = final_header.split_once(' ')?.1.to_owned();
    Some((ntlm, spnego, final_token))
}
