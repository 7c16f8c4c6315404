//! [`AuthMiddleware`]: the [`AuthClient`]'s login, refresh, placement and 401 retry as one more middleware
//! in a `reqwest_middleware::ClientWithMiddleware` chain. Enabled by the `middleware` feature.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use rpa_auth::middleware::AuthMiddleware;
//! use rpa_auth::{AuthClient, SecretString, UiPathBearerLogin};
//!
//! let login = UiPathBearerLogin::new("https://orch.example.com/", "admin", SecretString::from("…"))?;
//! let auth = AuthClient::new(login)?;
//! let client = reqwest_middleware::ClientBuilder::new(auth.http().clone())
//!     .with(AuthMiddleware::new(auth))
//!     .build();
//! let jobs = client.get("https://orch.example.com/odata/Jobs").send().await?;
//! # let _ = jobs; Ok(()) }
//! ```
//!
//! Put `AuthMiddleware` before a retry middleware, so every retried attempt carries the current
//! credential and a 401 is handled once, by the login logic, rather than retried blindly.

use std::fmt;

use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use crate::client::{AuthClient, SendFailure, Sender};

/// Logs in, refreshes, places the credential and retries once on 401, inside a middleware chain.
///
/// It shares the login cache of the [`AuthClient`] it is made from: clones of that client and the
/// middleware log in once between them. Requests to another origin than the client's server are refused
/// before anything is sent.
#[derive(Clone)]
pub struct AuthMiddleware {
    client: AuthClient,
}

impl AuthMiddleware {
    /// A middleware logging in with `client`'s authenticator and sharing its credential cache.
    pub fn new(client: AuthClient) -> Self {
        Self { client }
    }
}

impl fmt::Debug for AuthMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMiddleware")
            .field("client", &self.client)
            .finish()
    }
}

/// Sends through the rest of the chain.
struct ChainSender<'a> {
    next: Next<'a>,
    extensions: &'a mut Extensions,
}

impl Sender for ChainSender<'_> {
    type Error = reqwest_middleware::Error;

    fn send(
        &mut self,
        request: reqwest::Request,
    ) -> impl Future<Output = Result<reqwest::Response, reqwest_middleware::Error>> + Send + '_
    {
        self.next.clone().run(request, self.extensions)
    }
}

#[async_trait::async_trait]
impl Middleware for AuthMiddleware {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let mut sender = ChainSender { next, extensions };
        self.client
            .execute_with(request, &mut sender)
            .await
            .map_err(|failure| match failure {
                SendFailure::Auth(error) => reqwest_middleware::Error::middleware(error),
                SendFailure::Downstream(error, _) => error,
            })
    }
}
