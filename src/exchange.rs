//! One login-side HTTP exchange, shared by every backend: send, refuse redirects, read a bounded body,
//! and turn what came back into a typed error when it is not what the backend expected.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{Endpoint, Error, RejectReason, Result, ServerMessage};
use crate::redact::Secrets;
use crate::token;

pub(crate) use crate::json::get_ci;

/// The largest login answer read, in bytes. Real ones are a few kilobytes.
pub(crate) const MAX_LOGIN_BODY: usize = 1024 * 1024;

/// A complete answer to a login-side request.
pub(crate) struct Reply {
    pub(crate) backend: &'static str,
    pub(crate) endpoint: Endpoint,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The secrets the backend holds or has issued: removed from any server text this reply puts in
    /// an error.
    pub(crate) secrets: Secrets,
}

/// Sends `request` and reads the whole answer, at most [`MAX_LOGIN_BODY`] bytes. `secrets` are what
/// the backend holds or has issued; every error made from the answer has them removed.
///
/// Redirects are refused: a login must not be sent anywhere but the configured server.
pub(crate) async fn send(
    backend: &'static str,
    secrets: &Secrets,
    http: &reqwest::Client,
    request: reqwest::RequestBuilder,
) -> Result<Reply> {
    let request = request.build().map_err(|e| {
        Error::config(
            backend,
            format!("could not build the login request ({})", e.without_url()),
        )
    })?;
    let endpoint = Endpoint::new(request.method().clone(), request.url());
    let sent_to = request.url().clone();
    let started = std::time::Instant::now();
    let mut response = http.execute(request).await.map_err(|e| {
        let error = Error::transport(backend, endpoint.clone(), e);
        tracing::debug!(error = %error, "login request failed");
        error
    })?;
    let status = response.status();
    tracing::debug!(
        backend,
        endpoint = %endpoint,
        status = status.as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "login request answered"
    );
    if response.url() != &sent_to || status.is_redirection() {
        let target = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| sent_to.join(l).ok())
            .or_else(|| (response.url() != &sent_to).then(|| response.url().clone()))
            .map(|u| format!(" to {}", secrets.scrub(&redirect_target(&u))))
            .unwrap_or_default();
        return Err(Error::InvalidResponse {
            backend,
            endpoint,
            status,
            cause: format!(
                "the server redirected the login{target}; login requests are never redirected, check the server URL"
            ),
        });
    }
    let headers = response.headers().clone();
    let mut body = BytesMut::new();
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| Error::transport(backend, endpoint.clone(), e))?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > MAX_LOGIN_BODY {
            return Err(Error::InvalidResponse {
                backend,
                endpoint,
                status,
                cause: format!("the answer is larger than {} KiB", MAX_LOGIN_BODY / 1024),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        backend,
        endpoint,
        status,
        headers,
        body: body.freeze(),
        secrets: secrets.clone(),
    })
}

/// Where a redirect points: origin (scheme, host, port) and path, never the query or userinfo.
fn redirect_target(url: &url::Url) -> String {
    format!(
        "{}{}",
        url.origin().ascii_serialization(),
        Endpoint::new(Method::GET, url).path()
    )
}

impl Reply {
    /// True when the answer is an HTML page (by content type or by its first character).
    pub(crate) fn is_html(&self) -> bool {
        let declared = self
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("html"));
        declared || self.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
    }

    /// Parses the body as JSON, with an error that says what was wrong without quoting the body.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(self.invalid("an empty body where JSON was expected"));
        }
        if self.is_html() {
            return Err(self.invalid("an HTML page where JSON was expected"));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            use serde_json::error::Category;
            // Never include serde's message for data errors: it can quote values from the body.
            self.invalid(match e.classify() {
                Category::Eof => format!(
                    "truncated JSON (the body ends after {} bytes)",
                    self.body.len()
                ),
                Category::Syntax => {
                    format!("malformed JSON at line {} column {}", e.line(), e.column())
                }
                Category::Data => format!(
                    "JSON of an unexpected shape at line {} column {}",
                    e.line(),
                    e.column()
                ),
                Category::Io => "the body could not be read".to_owned(),
            })
        })
    }

    /// The server's own code and message in an error answer, read from its JSON body by `parse` (the
    /// vendor's error shape); `None` when the body is not JSON or says nothing.
    pub(crate) fn server_message(
        &self,
        parse: fn(&serde_json::Value) -> Option<ServerMessage>,
    ) -> Option<ServerMessage> {
        self.json::<serde_json::Value>()
            .ok()
            .and_then(|body| parse(&body))
    }

    /// The body as UTF-8 text.
    #[allow(
        dead_code,
        reason = "for backends whose token comes as plain text (Pyramid)"
    )]
    pub(crate) fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.body).map_err(|_| self.invalid("the body is not UTF-8 text"))
    }

    /// How long the server asked to wait: `Retry-After` in seconds or as an HTTP date.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(self.headers.get(RETRY_AFTER)?.to_str().ok()?)
    }

    /// An unreadable-answer error for this reply. Any server text in `cause` loses its secrets.
    pub(crate) fn invalid(&self, cause: impl Into<String>) -> Error {
        Error::InvalidResponse {
            backend: self.backend,
            endpoint: self.endpoint.clone(),
            status: self.status,
            cause: self.secrets.scrub(&cause.into()),
        }
    }

    /// A status error (429, 5xx, unexpected 4xx) for this reply.
    pub(crate) fn status_error(&self, server: Option<ServerMessage>) -> Error {
        Error::Status {
            backend: self.backend,
            endpoint: self.endpoint.clone(),
            status: self.status,
            retry_after: self.retry_after(),
            server: self.redact(server),
        }
    }

    /// A login-rejected error for this reply.
    pub(crate) fn rejected(&self, reason: RejectReason, server: Option<ServerMessage>) -> Error {
        Error::LoginRejected {
            backend: self.backend,
            endpoint: self.endpoint.clone(),
            status: self.status,
            reason,
            server: self.redact(server),
        }
    }

    /// The one place server text becomes part of an error: every secret the backend holds or issued,
    /// and any token-like value in this very answer, is removed first.
    fn redact(&self, server: Option<ServerMessage>) -> Option<ServerMessage> {
        let server = server?;
        let issued = self.issued_tokens();
        let issued: Vec<&str> = issued.iter().map(String::as_str).collect();
        Some(server.scrubbed(|text, cut| {
            let clean = self.secrets.scrub_with(text, &issued);
            if cut {
                self.secrets.scrub_cut(&clean)
            } else {
                clean
            }
        }))
    }

    /// Strings in this answer that sit under a token-like key (`token`, `access_token`, `result`, …):
    /// a refusal that carries a token must not print it.
    fn issued_tokens(&self) -> Vec<String> {
        const KEYS: [&str; 6] = [
            "token",
            "accesstoken",
            "access_token",
            "result",
            "refresh_token",
            "id_token",
        ];
        fn walk(value: &serde_json::Value, depth: usize, out: &mut Vec<String>) {
            if depth > 4 {
                return;
            }
            if let Some(object) = value.as_object() {
                for (key, value) in object {
                    match value {
                        serde_json::Value::String(text)
                            if KEYS.contains(&key.to_ascii_lowercase().as_str())
                                && text.len() >= 4 =>
                        {
                            out.push(text.clone());
                        }
                        other => walk(other, depth + 1, out),
                    }
                }
            }
        }
        let mut out = Vec::new();
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&self.body) {
            walk(&value, 0, &mut out);
        }
        out
    }

    /// The token in `field`, checked: a usable token, or the error a missing or unusable one stands
    /// for. `server` is the answer's own error message, if any: a missing token with a message is a
    /// refusal (classified by `classify`); without one, and any unusable token, an unreadable answer.
    pub(crate) fn token(
        &self,
        field: token::Field<'_>,
        server: Option<ServerMessage>,
        classify: impl FnOnce(&ServerMessage) -> RejectReason,
    ) -> Result<secrecy::SecretString> {
        match (field, server) {
            (token::Field::Usable(token), _) => Ok(secrecy::SecretString::from(token.to_owned())),
            (token::Field::Missing(_), Some(server)) => {
                Err(self.rejected(classify(&server), Some(server)))
            }
            (token::Field::Missing(cause) | token::Field::Unusable(cause), _) => Err(self.invalid(
                format!("{cause}; no request is sent with an unusable credential"),
            )),
        }
    }
}

/// Which of a backend's candidate endpoints this server has (a v2 login path or v1, one token URL or
/// another), found by trying them in order and remembered, shared by clones so the probe happens once
/// per server.
#[derive(Clone, Debug, Default)]
pub(crate) struct EndpointProbe {
    /// 0 while unknown, else the index of the candidate that answered plus one.
    found: Arc<AtomicUsize>,
}

/// What [`EndpointProbe::send`] came back with.
pub(crate) enum Probed {
    /// The candidate at this index answered (with success or with an error of its own).
    Answered(usize, Reply),
    /// Every candidate answered as a missing endpoint, in order.
    NoneAnswered(Vec<Reply>),
}

impl EndpointProbe {
    /// The index of the candidate found by an earlier probe.
    pub(crate) fn found(&self) -> Option<usize> {
        self.found.load(Ordering::Acquire).checked_sub(1)
    }

    /// Remembers that the candidate at `index` is the one this server has.
    pub(crate) fn remember(&self, index: usize) {
        self.found.store(index + 1, Ordering::Release);
    }

    /// Sends to the remembered candidate alone (forgetting it when it now answers as missing: the
    /// server changed), or else to each of `candidates` in turn until one does not answer as
    /// `is_missing`. Remembering the one that answered is the caller's choice (after a successful login,
    /// say).
    pub(crate) async fn send<Fut>(
        &self,
        candidates: usize,
        send: impl Fn(usize) -> Fut,
        is_missing: fn(&Reply) -> bool,
    ) -> Result<Probed>
    where
        Fut: Future<Output = Result<Reply>>,
    {
        if let Some(index) = self.found().filter(|&index| index < candidates) {
            let reply = send(index).await?;
            if is_missing(&reply) {
                self.found.store(0, Ordering::Release);
            }
            return Ok(Probed::Answered(index, reply));
        }
        let mut missing = Vec::new();
        for index in 0..candidates {
            let reply = send(index).await?;
            if !is_missing(&reply) {
                return Ok(Probed::Answered(index, reply));
            }
            missing.push(reply);
        }
        Ok(Probed::NoneAnswered(missing))
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Reads a JSON value that may be a string or a number as text (error codes come as both).
pub(crate) fn as_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(content_type: &str, body: &str) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, content_type.parse().unwrap());
        Reply {
            backend: "test",
            endpoint: Endpoint::new(Method::POST, &url::Url::parse("http://h/login").unwrap()),
            status: StatusCode::OK,
            headers,
            body: Bytes::from(body.to_owned()),
            secrets: Secrets::default(),
        }
    }

    fn cause(error: Error) -> String {
        match error {
            Error::InvalidResponse { cause, .. } => cause,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn html_is_named_as_such() {
        let error = reply("text/html", "<html><body>Sign in</body></html>")
            .json::<serde_json::Value>()
            .unwrap_err();
        assert!(cause(error).contains("HTML page"));
        let error = reply("application/json", "  <!DOCTYPE html>")
            .json::<serde_json::Value>()
            .unwrap_err();
        assert!(cause(error).contains("HTML page"));
    }

    #[test]
    fn truncated_and_malformed_json_are_told_apart() {
        let truncated = reply("application/json", r#"{"result":"abc"#).json::<serde_json::Value>();
        assert!(cause(truncated.unwrap_err()).contains("truncated"));
        let malformed =
            reply("application/json", r#"{"result" "abc"}"#).json::<serde_json::Value>();
        assert!(cause(malformed.unwrap_err()).contains("malformed"));
    }

    #[test]
    fn data_errors_do_not_quote_the_body() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Wire {
            count: u32,
        }
        let error = reply("application/json", r#"{"count":"secret-token-value"}"#)
            .json::<Wire>()
            .unwrap_err();
        assert!(!error.to_string().contains("secret-token-value"));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        let soon = SystemTime::now() + Duration::from_secs(120);
        let parsed = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(parsed <= Duration::from_secs(120) && parsed >= Duration::from_secs(110));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn case_insensitive_lookup() {
        let value = serde_json::json!({"Result": "t", "success": true});
        assert_eq!(get_ci(&value, "result").and_then(|v| v.as_str()), Some("t"));
        assert_eq!(as_text(&serde_json::json!(1000)).as_deref(), Some("1000"));
    }
}
