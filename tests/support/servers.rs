//! Test servers with routes of their own, all on the emulators' own server (`rpa_auth::emulator::Server`):
//! a bearer-token server for wrapper tests, and servers answering with a function of the request.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use rpa_auth::emulator::{EmuRequest, EmuResponse, Handler, Server};

/// What the server saw of one request: path, `Authorization` value, body.
pub type Seen = (String, Option<String>, Bytes);

#[derive(Default)]
struct Tokens {
    accepted: Mutex<HashSet<String>>,
    seen: Mutex<Vec<Seen>>,
}

impl Handler for Tokens {
    fn handle(&self, request: &EmuRequest) -> Option<EmuResponse> {
        let auth = request.header("authorization").map(str::to_owned);
        let token = auth.as_deref().and_then(|v| v.strip_prefix("Bearer "));
        let ok = token.is_some_and(|t| self.accepted.lock().unwrap().contains(t));
        self.seen.lock().unwrap().push((
            request.path().to_owned(),
            auth.clone(),
            request.body().clone(),
        ));
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        Some(EmuResponse::new(status, Bytes::from_static(b"{}")))
    }
}

pub struct TokenServer {
    server: Server,
    tokens: Arc<Tokens>,
}

impl TokenServer {
    pub async fn start() -> Self {
        let tokens = Arc::new(Tokens::default());
        let server = Server::start(tokens.clone()).await.unwrap();
        Self { server, tokens }
    }

    pub fn url(&self) -> String {
        self.server.url().to_string()
    }

    pub fn accept(&self, token: &str) {
        self.tokens
            .accepted
            .lock()
            .unwrap()
            .insert(token.to_owned());
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.tokens.seen.lock().unwrap().clone()
    }
}

/// Answers every request with `answer(request)`.
struct Answering<F>(F);

impl<F: Fn(&EmuRequest) -> EmuResponse + Send + Sync + 'static> Handler for Answering<F> {
    fn handle(&self, request: &EmuRequest) -> Option<EmuResponse> {
        Some((self.0)(request))
    }
}

/// A server that answers every request with `answer(request)`; it stops when dropped.
pub async fn answering(
    answer: impl Fn(&EmuRequest) -> EmuResponse + Send + Sync + 'static,
) -> Server {
    Server::start(Arc::new(Answering(answer))).await.unwrap()
}

/// A server that answers every request with `307` to `location`.
pub async fn redirecting_to(location: &str) -> Server {
    let location: HeaderValue = location.parse().unwrap();
    answering(move |_| {
        EmuResponse::new(StatusCode::TEMPORARY_REDIRECT, Bytes::new())
            .header(LOCATION, location.clone())
    })
    .await
}

/// A server that answers every request with `status` and the JSON `body`.
pub async fn canned(status: u16, body: &'static str) -> Server {
    answering(move |_| json(StatusCode::from_u16(status).unwrap(), body)).await
}

/// An answer with `status` and the JSON text `body` as it is.
pub fn json(status: StatusCode, body: &str) -> EmuResponse {
    EmuResponse::new(status, Bytes::from(body.to_owned()))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
}
