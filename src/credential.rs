//! [`Credential`]: what a login yields — the secret, where it goes on a request, when it expires.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::error::Result;
use crate::future::BoxFuture;

/// Where a credential is placed on each request.
///
/// Placement is data, so the [`AuthClient`](crate::AuthClient) has one code path for every vendor.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// `Authorization: Bearer <token>` (UiPath).
    Bearer,
    /// The raw token in a named header, e.g. `X-Authorization` (Automation Anywhere) or `paToken`
    /// (Pyramid API3).
    Header(HeaderName),
    /// A top-level property of the JSON request body, e.g. `"auth"` (Pyramid API2). A request without
    /// a body gets `{"<field>": "<token>"}`.
    JsonBodyField(String),
    /// A cookie, e.g. `PyramidAuth=<token>`.
    Cookie(String),
    /// No token at all: requests travel over connections that Windows authentication (NTLM /
    /// Negotiate) has authenticated, through the credential's [`AuthenticatedTransport`].
    Connection,
}

/// Sends requests over connections a login has authenticated (Windows authentication binds the login
/// to the TCP connection, not to a token). A credential with [`Placement::Connection`] carries one.
pub trait AuthenticatedTransport: Send + Sync + fmt::Debug {
    /// Sends `request` over an authenticated connection and returns the complete response.
    fn send(&self, request: reqwest::Request) -> BoxFuture<'_, Result<reqwest::Response>>;
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer => f.write_str("Authorization: Bearer"),
            Self::Header(name) => write!(f, "header {name}"),
            Self::JsonBodyField(field) => write!(f, "JSON body field \"{field}\""),
            Self::Cookie(name) => write!(f, "cookie {name}"),
            Self::Connection => f.write_str("authenticated connection"),
        }
    }
}

/// A logged-in credential: the secret value, where it goes, when it expires, and the non-secret headers
/// that travel with it (tenant, folder).
///
/// Expiry is measured on a monotonic clock ([`tokio::time::Instant`]), so a wrong wall clock does not matter.
///
/// ```
/// use std::time::Duration;
/// use rpa_auth::{Credential, Placement, SecretString};
///
/// let credential = Credential::new(SecretString::from("eyJhbGciOi..."), Placement::Bearer)
///     .expires_in(Duration::from_secs(30 * 60));
/// assert!(!format!("{credential:?}").contains("eyJ"));
/// ```
#[derive(Clone)]
pub struct Credential {
    secret: SecretString,
    placement: Placement,
    issued_at: Instant,
    expires_at: Option<Instant>,
    headers: HeaderMap,
    transport: Option<Arc<dyn AuthenticatedTransport>>,
}

impl Credential {
    /// A credential issued now, with no known expiry (it lives until the server answers 401).
    pub fn new(secret: SecretString, placement: Placement) -> Self {
        Self {
            secret,
            placement,
            issued_at: Instant::now(),
            expires_at: None,
            headers: HeaderMap::new(),
            transport: None,
        }
    }

    /// A credential that is a set of authenticated connections rather than a token
    /// ([`Placement::Connection`]); requests go through `transport`.
    pub fn over_connection(transport: Arc<dyn AuthenticatedTransport>) -> Self {
        Self {
            transport: Some(transport),
            ..Self::new(SecretString::from(String::new()), Placement::Connection)
        }
    }

    /// A credential read back from a token store, its times already on this process's clock.
    pub(crate) fn restored(
        secret: SecretString,
        placement: Placement,
        headers: HeaderMap,
        issued_at: Instant,
        expires_at: Option<Instant>,
    ) -> Self {
        Self {
            secret,
            placement,
            issued_at,
            expires_at,
            headers,
            transport: None,
        }
    }

    /// The transport of a [`Placement::Connection`] credential.
    pub fn transport(&self) -> Option<&Arc<dyn AuthenticatedTransport>> {
        self.transport.as_ref()
    }

    /// Sets the lifetime, counted from when the credential was created.
    #[must_use]
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        // A lifetime too long to represent (a server's `exp` far in the future) means no known expiry.
        self.expires_at = self.issued_at.checked_add(lifetime);
        self
    }

    /// Adds a non-secret header sent with every request that carries this credential, unless the request
    /// sets that header itself (e.g. `X-UIPATH-OrganizationUnitId`).
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The secret value. Handle with care: never log it.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// Where the credential goes on a request.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The non-secret headers that travel with the credential.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// When the credential was created.
    pub fn issued_at(&self) -> Instant {
        self.issued_at
    }

    /// When the credential expires, if known.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// The lifetime the credential was issued with, if known.
    pub fn lifetime(&self) -> Option<Duration> {
        self.expires_at
            .map(|at| at.saturating_duration_since(self.issued_at))
    }

    /// True when the credential has expired at `now`.
    pub fn is_expired_at(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// Puts the credential on `request` where the server expects it.
    ///
    /// # Errors
    /// A message when the request cannot carry the credential: a JSON-body placement on a body that is not
    /// a JSON object, or a secret that is not a valid header value.
    #[cfg(test)]
    pub(crate) fn apply(&self, request: &mut reqwest::Request) -> Result<(), String> {
        PlacedCredential::new(self.clone()).apply(request)
    }
}

/// A credential with the header it places made once, for every request that carries it: the
/// `Authorization: Bearer …` value, the named header or the cookie pair, marked sensitive. A JSON-body
/// placement has nothing to prepare: it rewrites each body.
pub(crate) struct PlacedCredential {
    credential: Credential,
    header: Result<Option<(HeaderName, HeaderValue)>, String>,
}

impl PlacedCredential {
    /// Prepares `credential` for placing.
    pub(crate) fn new(credential: Credential) -> Self {
        let secret = credential.secret.expose_secret();
        if credential.placement != Placement::Connection
            && let Err(cause) = crate::token::check(secret)
        {
            // The last guard: a login that let an empty or blank token through sends nothing.
            let header = Err(format!(
                "the credential is unusable ({cause}); nothing was sent"
            ));
            return Self { credential, header };
        }
        let header = match &credential.placement {
            Placement::Bearer => {
                sensitive_header(&format!("Bearer {secret}")).map(|v| Some((AUTHORIZATION, v)))
            }
            Placement::Header(name) => sensitive_header(secret).map(|v| Some((name.clone(), v))),
            Placement::Cookie(name) => {
                sensitive_header(&format!("{name}={secret}")).map(|v| Some((COOKIE, v)))
            }
            Placement::JsonBodyField(_) | Placement::Connection => Ok(None),
        };
        Self { credential, header }
    }

    /// The credential.
    pub(crate) fn credential(&self) -> &Credential {
        &self.credential
    }

    /// Puts the credential on `request` where the server expects it.
    ///
    /// # Errors
    /// A message when the request cannot carry the credential: a JSON-body placement on a body that is not
    /// a JSON object, or a secret that is not a valid header value.
    pub(crate) fn apply(&self, request: &mut reqwest::Request) -> Result<(), String> {
        let credential = &self.credential;
        for (name, value) in &credential.headers {
            if !request.headers().contains_key(name) {
                request.headers_mut().insert(name.clone(), value.clone());
            }
        }
        let header = self.header.as_ref().map_err(Clone::clone)?;
        match &credential.placement {
            Placement::Cookie(name) => {
                let existing = request.headers().get(COOKIE).map(HeaderValue::to_str);
                let joined = match existing {
                    Some(Ok(existing)) if !existing.is_empty() => {
                        let secret = credential.secret.expose_secret();
                        Some(sensitive_header(&format!("{existing}; {name}={secret}"))?)
                    }
                    _ => None,
                };
                if let Some(value) = joined.or_else(|| header.as_ref().map(|(_, v)| v.clone())) {
                    request.headers_mut().insert(COOKIE, value);
                }
            }
            Placement::JsonBodyField(field) => {
                let secret = credential.secret.expose_secret();
                let body = insert_json_field(request.body().map(|b| b.as_bytes()), field, secret)?;
                *request.body_mut() = Some(body.into());
                if !request.headers().contains_key(CONTENT_TYPE) {
                    request
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
            }
            Placement::Bearer | Placement::Header(_) | Placement::Connection => {
                if let Some((name, value)) = header {
                    request.headers_mut().insert(name.clone(), value.clone());
                }
            }
        }
        Ok(())
    }
}

/// A header value made from a secret, marked sensitive (kept out of logs and HTTP/2 tables).
pub(crate) fn sensitive_header(text: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| "the credential contains characters not allowed in a header".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}

/// Adds `field: secret` at the top level of a JSON object body, leaving every other byte's meaning alone.
fn insert_json_field(
    body: Option<Option<&[u8]>>,
    field: &str,
    secret: &str,
) -> Result<Vec<u8>, String> {
    let mut object = match body {
        None => serde_json::Map::new(),
        Some(None) => {
            return Err(format!(
                "the credential goes in the JSON body field \"{field}\", but the body is a stream"
            ));
        }
        Some(Some(bytes)) if bytes.iter().all(u8::is_ascii_whitespace) => serde_json::Map::new(),
        Some(Some(bytes)) => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(serde_json::Value::Object(object)) => object,
            Ok(serde_json::Value::Null) => serde_json::Map::new(),
            _ => {
                return Err(format!(
                    "the credential goes in the JSON body field \"{field}\", but the body is not a JSON object"
                ));
            }
        },
    };
    object.insert(
        field.to_owned(),
        serde_json::Value::String(secret.to_owned()),
    );
    serde_json::to_vec(&object).map_err(|e| format!("could not write the JSON body: {e}"))
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("secret", &"** redacted **")
            .field("placement", &self.placement)
            .field("lifetime", &self.lifetime())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "tok+en/with=base64";

    fn request(body: Option<&str>) -> reqwest::Request {
        let mut request = reqwest::Request::new(
            reqwest::Method::POST,
            url::Url::parse("http://127.0.0.1:1/x").unwrap(),
        );
        if let Some(body) = body {
            *request.body_mut() = Some(body.to_owned().into());
        }
        request
    }

    fn credential(placement: Placement) -> Credential {
        Credential::new(SecretString::from(TOKEN), placement)
    }

    #[test]
    fn bearer_header_is_marked_sensitive() {
        let mut req = request(None);
        credential(Placement::Bearer).apply(&mut req).unwrap();
        let value = req.headers().get(AUTHORIZATION).unwrap();
        assert_eq!(value.to_str().unwrap(), format!("Bearer {TOKEN}"));
        assert!(value.is_sensitive());
    }

    #[test]
    fn named_header_carries_raw_token() {
        let mut req = request(None);
        let name = HeaderName::from_static("x-authorization");
        credential(Placement::Header(name.clone()))
            .apply(&mut req)
            .unwrap();
        let value = req.headers().get(name).unwrap();
        assert_eq!(value.to_str().unwrap(), TOKEN);
        assert!(value.is_sensitive());
    }

    #[test]
    fn cookie_joins_existing_cookies() {
        let mut req = request(None);
        req.headers_mut()
            .insert(COOKIE, HeaderValue::from_static("lang=en"));
        credential(Placement::Cookie("PyramidAuth".into()))
            .apply(&mut req)
            .unwrap();
        let value = req
            .headers()
            .get(COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(value, format!("lang=en; PyramidAuth={TOKEN}"));
    }

    #[test]
    fn json_field_is_added_beside_existing_fields() {
        let mut req = request(Some(r#"{"data":{"id":7},"other":[1,2]}"#));
        credential(Placement::JsonBodyField("auth".into()))
            .apply(&mut req)
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(req.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body["auth"], TOKEN);
        assert_eq!(body["data"]["id"], 7);
        assert_eq!(body["other"][1], 2);
    }

    #[test]
    fn json_field_creates_body_when_absent() {
        let mut req = request(None);
        credential(Placement::JsonBodyField("auth".into()))
            .apply(&mut req)
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(req.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({ "auth": TOKEN }));
        assert_eq!(req.headers()[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn json_field_refuses_non_object_body() {
        let mut req = request(Some("[1,2,3]"));
        let error = credential(Placement::JsonBodyField("auth".into()))
            .apply(&mut req)
            .unwrap_err();
        assert!(error.contains("not a JSON object"));
        assert!(!error.contains(TOKEN));
    }

    #[test]
    fn request_header_wins_over_credential_header() {
        let name = HeaderName::from_static("x-uipath-organizationunitid");
        let mut req = request(None);
        req.headers_mut()
            .insert(name.clone(), HeaderValue::from_static("2"));
        credential(Placement::Bearer)
            .with_header(name.clone(), HeaderValue::from_static("1"))
            .apply(&mut req)
            .unwrap();
        assert_eq!(req.headers()[&name], "2");
    }

    #[test]
    fn debug_is_redacted() {
        let text = format!(
            "{:?}",
            credential(Placement::Bearer).expires_in(Duration::from_secs(60))
        );
        assert!(!text.contains(TOKEN));
        assert!(text.contains("redacted"));
    }

    #[test]
    fn absurd_lifetime_is_no_expiry_not_a_panic() {
        let credential = credential(Placement::Bearer).expires_in(Duration::from_secs(u64::MAX));
        assert_eq!(credential.expires_at(), None);
    }

    #[test]
    fn cookie_header_is_marked_sensitive() {
        let mut req = request(None);
        credential(Placement::Cookie("PyramidAuth".into()))
            .apply(&mut req)
            .unwrap();
        assert!(req.headers().get(COOKIE).unwrap().is_sensitive());
    }

    #[test]
    fn placed_header_is_made_once_and_put_on_every_request_marked_sensitive() {
        let placed = PlacedCredential::new(credential(Placement::Bearer));
        for _ in 0..2 {
            let mut req = request(None);
            placed.apply(&mut req).unwrap();
            let value = &req.headers()[AUTHORIZATION];
            assert_eq!(value.to_str().unwrap(), format!("Bearer {TOKEN}"));
            assert!(value.is_sensitive());
        }
    }

    #[test]
    fn a_secret_not_allowed_in_a_header_fails_the_request_without_quoting_it() {
        let placed = PlacedCredential::new(Credential::new(
            // Every token that passes the token check is a valid header value; a cookie name from the
            // configuration may still not be.
            SecretString::from("secret-token"),
            Placement::Cookie("bad\nname".into()),
        ));
        let mut req = request(None);
        let error = placed.apply(&mut req).unwrap_err();
        assert!(error.contains("not allowed in a header"), "{error}");
        assert!(!error.contains("secret"));
        assert!(req.headers().get(COOKIE).is_none());
    }

    #[test]
    fn a_token_with_a_line_break_is_never_placed() {
        let placed = PlacedCredential::new(Credential::new(
            SecretString::from("line\nbreak"),
            Placement::Header(HeaderName::from_static("x-authorization")),
        ));
        let mut req = request(None);
        let error = placed.apply(&mut req).unwrap_err();
        assert!(error.contains("nothing was sent"), "{error}");
        assert!(!error.contains("line"));
        assert!(req.headers().get("x-authorization").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_is_measured_from_issue() {
        let credential = credential(Placement::Bearer).expires_in(Duration::from_secs(10));
        assert!(!credential.is_expired_at(Instant::now()));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(credential.is_expired_at(Instant::now()));
        assert_eq!(credential.lifetime(), Some(Duration::from_secs(10)));
    }
}
