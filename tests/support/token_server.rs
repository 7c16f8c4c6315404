//! A server for wrapper tests, on the emulators' own server: it accepts `Authorization: Bearer <token>`
//! for the tokens it is told to accept, answers 401 otherwise, and records what it sees. Also a server
//! that answers every request with a redirect.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{HeaderValue, LOCATION};
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

struct Redirect(HeaderValue);

impl Handler for Redirect {
    fn handle(&self, _request: &EmuRequest) -> Option<EmuResponse> {
        Some(
            EmuResponse::new(StatusCode::TEMPORARY_REDIRECT, Bytes::new())
                .header(LOCATION, self.0.clone()),
        )
    }
}

/// A server that answers every request with `307` to `location`.
pub async fn redirecting_to(location: &str) -> Server {
    Server::start(Arc::new(Redirect(location.parse().unwrap())))
        .await
        .unwrap()
}
