//! Pyramid Analytics: password login at `/API2/auth/authenticateUser` or
//! `/API3/authentication/authenticateUser`, and Windows single sign-on at `authenticateUserWindows`
//! behind NTLM / Negotiate (vendor-apis.md §3).
//!
//! Every Pyramid method is a `POST` with a JSON body. API2 wraps the credentials in `{"data": {…}}` and
//! takes the token back as the top-level `"auth"` property of every later body; API3 (2023.10+) takes a flat
//! body and the token in the `paToken` header; browsers carry it in the `PyramidAuth` cookie. The token comes
//! back as a bare base64 string (some servers send it as a JSON string) and contains `+`, `/` and `=`,
//! which must arrive unchanged. Its lifetime is not documented: a configurable default applies, and a 401
//! (Pyramid's "YOU DON'T HAVE THE AUTHORIZATION" page) leads to a new login.

mod password;
mod windows;

pub use password::PyramidPasswordLogin;
pub use windows::PyramidWindowsLogin;

use std::time::Duration;

use reqwest::header::HeaderName;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::credential::Placement;
use crate::env::Env;
use crate::error::{Error, RejectReason, Result, ServerMessage};
use crate::exchange::{Reply, get_ci};
use crate::token;

const BACKEND: &str = "pyramid";

/// API2 password login path.
const API2_LOGIN_PATH: &str = "API2/auth/authenticateUser";
/// API3 password login path.
const API3_LOGIN_PATH: &str = "API3/authentication/authenticateUser";
/// API2 Windows (single sign-on) login path, behind NTLM / Negotiate.
const API2_WINDOWS_LOGIN_PATH: &str = "API2/auth/authenticateUserWindows";
/// API3 Windows (single sign-on) login path, behind NTLM / Negotiate.
const API3_WINDOWS_LOGIN_PATH: &str = "API3/authentication/authenticateUserWindows";

/// The API2 body property that carries the token.
const AUTH_FIELD: &str = "auth";
/// The API3 header that carries the token.
const TOKEN_HEADER: &str = "patoken";
/// The browser cookie that carries the token.
const AUTH_COOKIE: &str = "PyramidAuth";

/// How long a token is used before logging in again, since Pyramid does not say: 20 minutes. A token the
/// server expires sooner is renewed on its 401.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(20 * 60);

/// Environment variable: the Pyramid server URL.
const ENV_URL: &str = "PYRAMID_URL";
/// Environment variable: the user name (for Windows login `DOMAIN\user`, `user@domain` or a plain name).
const ENV_USERNAME: &str = "PYRAMID_USERNAME";
/// Environment variable: the password.
const ENV_PASSWORD: &str = "PYRAMID_PASSWORD";
/// Environment variable: the `domain` login field for the password login; the Windows domain for the
/// Windows login.
const ENV_DOMAIN: &str = "PYRAMID_DOMAIN";
/// Environment variable: the API generation, `2` or `3` (also `API2`, `API3`).
const ENV_API: &str = "PYRAMID_API";

/// The URL, user name (checked as a Windows account name when `windows`), password and API generation.
fn read_common(env: &Env<'_>, windows: bool) -> Result<(String, String, SecretString, PyramidApi)> {
    let url = env.required(ENV_URL)?;
    let username = if windows {
        env.windows_user(ENV_USERNAME)?
    } else {
        env.required(ENV_USERNAME)?
    };
    let password = env.secret(ENV_PASSWORD)?;
    Ok((url, username, password, read_api(env)?))
}

/// `PYRAMID_API`, defaulting to API2.
fn read_api(env: &Env<'_>) -> Result<PyramidApi> {
    Ok(match env.optional(ENV_API)? {
        None => PyramidApi::default(),
        Some(text) => match text.to_ascii_uppercase().as_str() {
            "2" | "API2" => PyramidApi::Api2,
            "3" | "API3" => PyramidApi::Api3,
            _ => {
                return Err(
                    env.malformed(ENV_API, &format!("is not 2 or 3 (API2, API3): `{text}`"))
                );
            }
        },
    })
}

/// Writes the setters both Pyramid logins share (API generation, token placement, token lifetime), for a
/// type with `api`, `placement` and `token_lifetime` fields.
macro_rules! token_setters {
    () => {
        /// The API generation. Defaults to [`PyramidApi::Api2`](crate::PyramidApi::Api2), which every
        /// server since 2018.5 has.
        pub fn api(mut self, api: $crate::PyramidApi) -> Self {
            self.api = api;
            self
        }

        /// Where later calls carry the token. Defaults to
        /// [`PyramidPlacement::Api`](crate::PyramidPlacement::Api).
        pub fn placement(mut self, placement: $crate::PyramidPlacement) -> Self {
            self.placement = placement;
            self
        }

        /// How long a token is used before logging in again, since Pyramid does not say. Defaults to 20
        /// minutes; a token the server expires sooner is renewed on its 401.
        pub fn token_lifetime(mut self, lifetime: std::time::Duration) -> Self {
            self.token_lifetime = lifetime;
            self
        }
    };
}
use token_setters;

/// Which generation of Pyramid's REST API to log in with.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PyramidApi {
    /// `/API2/...` (2018.5+): `{"data": {…}}` bodies, token in the body's `auth` property.
    #[default]
    Api2,
    /// `/API3/...` (2023.10+): flat bodies, token in the `paToken` header.
    Api3,
}

/// Where later calls carry a Pyramid token.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PyramidPlacement {
    /// As the API expects: API2 the body's `auth` property, API3 the `paToken` header.
    #[default]
    Api,
    /// The `PyramidAuth` cookie, as a browser session does.
    Cookie,
}

fn placement_for(api: PyramidApi, placement: PyramidPlacement) -> Placement {
    match (placement, api) {
        (PyramidPlacement::Cookie, _) => Placement::Cookie(AUTH_COOKIE.to_owned()),
        (PyramidPlacement::Api, PyramidApi::Api2) => {
            Placement::JsonBodyField(AUTH_FIELD.to_owned())
        }
        (PyramidPlacement::Api, PyramidApi::Api3) => {
            Placement::Header(HeaderName::from_static(TOKEN_HEADER))
        }
    }
}

/// The token from a Pyramid login answer: a bare base64 string or a JSON string.
///
/// The declared content type decides how the body is read: a JSON body (`application/json`, `+json`)
/// is parsed as JSON, so `null`, a number or an object is never taken for a token; any other body is
/// the token as text, unless it is a bare JSON literal (`null`, `true`, a number), which no server
/// issues as a token.
pub(crate) fn read_token(reply: &Reply) -> Result<SecretString> {
    if !reply.status.is_success() {
        return Err(error_for(reply));
    }
    if reply.is_html() {
        return Err(reply.invalid("an HTML page where the token was expected"));
    }
    let text = reply.text()?.trim().trim_start_matches('\u{feff}');
    let declared_json = reply
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    let looks_json = text.starts_with(['"', '{', '['])
        || serde_json::from_str::<Value>(text).is_ok_and(|v| !v.is_string());
    let field_value;
    let field = if declared_json || looks_json {
        field_value = serde_json::from_str::<Value>(text)
            .map_err(|_| reply.invalid("malformed JSON where the token was expected"))?;
        if field_value.is_object() {
            return Err(match server_message(&field_value) {
                Some(server) => reply.rejected(RejectReason::Other, Some(server)),
                None => reply.invalid("a JSON object where the token was expected"),
            });
        }
        token::field(Some(&field_value), &[])
    } else if text.is_empty() {
        token::Field::Unusable("the answer is empty where the token was expected")
    } else {
        match token::check(text) {
            Ok(()) => token::Field::Usable(text),
            Err(cause) => token::Field::Unusable(cause),
        }
    };
    let token = reply.token(field, None, |_| RejectReason::Other)?;
    if !token
        .expose_secret()
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=-_.".contains(&b))
    {
        return Err(reply.invalid("an answer that is not a token (unexpected characters)"));
    }
    Ok(token)
}

/// Maps a non-2xx login answer to an error. Pyramid refuses credentials with a 401 HTML page.
fn error_for(reply: &Reply) -> Error {
    let server = reply.server_message(server_message);
    match reply.status.as_u16() {
        401 | 403 => reply.rejected(RejectReason::BadCredentials, server),
        400 => reply.rejected(RejectReason::Other, server),
        // Some Pyramid versions refuse credentials with a bare 500 (vendor-apis.md §3.1, §3.7): treat it
        // as a refusal, so the credentials are not sent again in a loop, and say what it may mean.
        500 if server.is_none() && (reply.body.is_empty() || reply.is_html()) => reply.rejected(
            RejectReason::Other,
            Some(ServerMessage::new("error", None, None).with_hint(
                "the server answered HTTP 500 without detail, which is how some Pyramid versions refuse wrong credentials",
            )),
        ),
        _ => reply.status_error(server),
    }
}

/// `{"error": "..."}` or `{"errorMessage": "..."}` replies, top level or under `data`.
fn server_message(body: &Value) -> Option<ServerMessage> {
    let scope = get_ci(body, "data")
        .filter(|d| d.is_object())
        .unwrap_or(body);
    let message = ["error", "errorMessage", "message"]
        .iter()
        .find_map(|key| {
            get_ci(scope, key)
                .or_else(|| get_ci(body, key))
                .and_then(Value::as_str)
        })
        .filter(|m| !m.is_empty())?;
    Some(ServerMessage::new("error", None, Some(message.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::CONTENT_TYPE;
    use reqwest::header::HeaderMap;
    use secrecy::ExposeSecret;
    use url::Url;

    fn reply(status: u16, content_type: &str, body: &str) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, content_type.parse().unwrap());
        Reply {
            backend: BACKEND,
            endpoint: crate::Endpoint::new(
                reqwest::Method::POST,
                &Url::parse("http://h/API2/auth/authenticateUser").unwrap(),
            ),
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: Bytes::from(body.to_owned()),
            secrets: crate::redact::Secrets::default(),
        }
    }

    const TOKEN: &str = "+/+/aGVsbG8gd29ybGQ=";

    #[test]
    fn bare_and_json_string_tokens_arrive_unchanged() {
        let bare = read_token(&reply(200, "text/plain", TOKEN)).unwrap();
        assert_eq!(bare.expose_secret(), TOKEN);
        let quoted = read_token(&reply(200, "application/json", &format!("\"{TOKEN}\""))).unwrap();
        assert_eq!(quoted.expose_secret(), TOKEN);
        let padded = read_token(&reply(200, "text/plain", &format!("{TOKEN}\r\n"))).unwrap();
        assert_eq!(padded.expose_secret(), TOKEN);
    }

    #[test]
    fn empty_html_and_object_answers_are_errors() {
        for (content_type, body) in [
            ("text/plain", ""),
            ("text/html", "<html><body>Sign in</body></html>"),
            ("text/plain", "<!DOCTYPE html><html></html>"),
            ("application/json", r#"{"data":{"id":1}}"#),
            ("text/plain", "two words"),
        ] {
            let error = read_token(&reply(200, content_type, body)).unwrap_err();
            assert!(
                matches!(error, Error::InvalidResponse { .. }),
                "{body}: {error:?}"
            );
        }
        let error =
            read_token(&reply(200, "application/json", r#"{"error":"Bad user"}"#)).unwrap_err();
        assert!(error.is_login_rejected());
        assert!(error.to_string().contains("Bad user"));
    }

    #[test]
    fn refusals_by_status() {
        let html = "<html><title>YOU DON'T HAVE THE AUTHORIZATION</title></html>";
        let error = read_token(&reply(401, "text/html", html)).unwrap_err();
        assert_eq!(error.reject_reason(), Some(RejectReason::BadCredentials));
        // A bare 500 is how some versions refuse credentials: a refusal, with a hint.
        let error = read_token(&reply(500, "text/plain", "")).unwrap_err();
        assert_eq!(error.reject_reason(), Some(RejectReason::Other));
        assert!(error.to_string().contains("without detail"), "{error}");
        // A 500 that says what went wrong is a server error.
        let error = read_token(&reply(
            500,
            "application/json",
            r#"{"error":"database down"}"#,
        ))
        .unwrap_err();
        assert!(matches!(error, Error::Status { .. }));
    }

    #[test]
    fn byte_order_mark_before_the_token_is_dropped() {
        let token = read_token(&reply(200, "text/plain", &format!("\u{feff}{TOKEN}"))).unwrap();
        assert_eq!(token.expose_secret(), TOKEN);
    }

    #[test]
    fn placements_follow_the_api() {
        assert_eq!(
            placement_for(PyramidApi::Api2, PyramidPlacement::Api),
            Placement::JsonBodyField("auth".into())
        );
        assert_eq!(
            placement_for(PyramidApi::Api3, PyramidPlacement::Api),
            Placement::Header(HeaderName::from_static("patoken"))
        );
        assert_eq!(
            placement_for(PyramidApi::Api3, PyramidPlacement::Cookie),
            Placement::Cookie("PyramidAuth".into())
        );
    }

    #[test]
    fn debug_hides_password() {
        let login =
            PyramidPasswordLogin::new("https://p.example.com", "u", SecretString::from("s3cr3t"))
                .unwrap();
        assert!(!format!("{login:?}").contains("s3cr3t"));
    }
}
