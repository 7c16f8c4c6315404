//! The emulated Identity Server (vendor-apis.md §1.4): the OAuth2 client-credentials token endpoint
//! under either form of its path, and what the other form answers.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;

use base64::Engine;
use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::time::Instant;

use super::{Orchestrator, Session};
use crate::emulator::{EmuRequest, EmuResponse, json_response, lock, text_response};

/// Which token path the emulated Identity Server serves (vendor-apis.md §1.4).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityProfile {
    /// A standalone (on-premises) Orchestrator: `POST /identity/connect/token`.
    OnPremises,
    /// Automation Cloud and Automation Suite: `POST /identity_/connect/token`, also under `/{org}/`.
    Cloud,
}

/// What the token path of the other profile answers.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrongTokenPath {
    /// `405` with the `UnsupportedApiVersion` body a 2023.10 on-premises server sends for
    /// `/identity_/connect/token`.
    MethodNotAllowed,
    /// A plain `404`.
    NotFound,
}

/// An External Application registered for client credentials.
pub(super) struct OAuthClient {
    pub(super) tenant: String,
    pub(super) id: String,
    pub(super) secret: String,
    pub(super) scopes: Vec<String>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The profile whose token path `path` (lower-cased) is: `/identity/connect/token` (on-premises),
/// `/identity_/connect/token` or `/{org}/identity_/connect/token` (cloud).
pub(super) fn token_path(path: &str) -> Option<IdentityProfile> {
    if path == "/identity/connect/token" {
        return Some(IdentityProfile::OnPremises);
    }
    let rest = path.strip_suffix("/identity_/connect/token")?;
    let org_prefix = rest.len() > 1 && rest.starts_with('/') && !rest[1..].contains('/');
    (rest.is_empty() || org_prefix).then_some(IdentityProfile::Cloud)
}

impl Orchestrator {
    /// The Identity Server token endpoint (§1.4): client credentials only.
    pub(super) fn token(&self, request: &EmuRequest, profile: IdentityProfile) -> EmuResponse {
        self.counters.token_requests.fetch_add(1, Ordering::Relaxed);
        if profile != self.settings.identity {
            self.counters
                .token_path_misses
                .fetch_add(1, Ordering::Relaxed);
            return match self.settings.wrong_token_path {
                WrongTokenPath::MethodNotAllowed => json_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &json!({ "error": {
                        "code": "UnsupportedApiVersion",
                        "message": format!(
                            "The HTTP resource that matches the request URI '{}' does not support HTTP method '{}'.",
                            request.path, request.method
                        ),
                        "innerError": null,
                    }}),
                ),
                WrongTokenPath::NotFound => text_response(StatusCode::NOT_FOUND, "Not Found"),
            };
        }
        if request.method != Method::POST {
            return text_response(StatusCode::METHOD_NOT_ALLOWED, "");
        }
        let form_content = request.header("content-type").is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        if !form_content {
            return self.oauth_error("invalid_request");
        }
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let (client_id, secret) = match basic_credentials(request) {
            Some(pair) => pair,
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        let Some(client) = self
            .clients
            .iter()
            .find(|c| c.id == client_id && c.secret == secret)
        else {
            return self.oauth_error("invalid_client");
        };
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return self.oauth_error("unsupported_grant_type");
        }
        let requested: Vec<&str> = form
            .get("scope")
            .map(|s| s.split_ascii_whitespace().collect())
            .unwrap_or_default();
        let granted: Vec<String> = if requested.is_empty() {
            client.scopes.clone()
        } else if requested
            .iter()
            .all(|r| client.scopes.iter().any(|s| s == r))
        {
            requested.iter().map(|s| (*s).to_owned()).collect()
        } else {
            // Unregistered scopes, and `offline_access` (no refresh tokens for client credentials).
            return self.oauth_error("invalid_scope");
        };

        let lifetime = self.settings.oauth_token_lifetime;
        let session = Session {
            tenant: client.tenant.clone(),
            username: client.id.clone(),
            expires_at: Instant::now() + lifetime,
        };
        let token = self.issue_token(&session, lifetime);
        lock(&self.sessions).insert(token.clone(), session);
        self.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
        let mut body = json!({
            "access_token": token,
            "token_type": "Bearer",
            "scope": granted.join(" "),
        });
        if self.settings.send_expires_in {
            body["expires_in"] = json!(lifetime.as_secs());
        }
        json_response(StatusCode::OK, &body)
    }

    fn oauth_error(&self, error: &str) -> EmuResponse {
        self.counters
            .failed_token_requests
            .fetch_add(1, Ordering::Relaxed);
        json_response(StatusCode::BAD_REQUEST, &json!({ "error": error }))
    }
}

/// Client id and secret from `Authorization: Basic`, each form-urlencoded as RFC 6749 §2.3.1 says.
fn basic_credentials(request: &EmuRequest) -> Option<(String, String)> {
    let value = request.header("authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |text: &str| {
        url::form_urlencoded::parse(format!("x={text}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}
