//! Hostile and broken servers, at the library level: each test serves one misbehaviour from a raw-TCP
//! server, asserts the typed error (backend, endpoint, cause, no secret in any form), then lets the
//! server behave and asserts that the next call on the same `AuthClient` works (no stuck failure, no
//! poisoned connection pool), and that no request ever left with an empty or made-up credential.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rpa_auth::{
    ApiVersion, AuthClient, AutomationAnywhereLogin, Error, PyramidPasswordLogin,
    PyramidWindowsLogin, SecretString, TransportKind, UiPathBearerLogin,
    UiPathClientCredentialsLogin,
};
use support::hostile_server::{Action, Handler, HostileServer, Request, http, json};

/// The password (or client secret, or API key) of every login: a quote, a backslash, a slash, a plus,
/// a space and a non-ASCII letter, so each encoding differs from the raw text.
const SECRET: &str = "Pa55 w\"rd\\/+é";
/// The multi-factor code of the Automation Anywhere logins.
const MFA: &str = "402913";
/// The token a well-behaved server issues.
const GOOD: &str = "good-token-1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vendor {
    UiPath,
    OAuth,
    Aa,
    Pyramid,
    PyramidWindows,
}

impl Vendor {
    fn backend(self) -> &'static str {
        match self {
            Self::UiPath => "uipath",
            Self::OAuth => "uipath-oauth",
            Self::Aa => "aa",
            Self::Pyramid => "pyramid",
            Self::PyramidWindows => "pyramid-windows",
        }
    }

    fn login_path(self) -> &'static str {
        match self {
            Self::UiPath => "/api/Account/Authenticate",
            Self::OAuth => "/identity/connect/token",
            Self::Aa => "/v2/authentication",
            Self::Pyramid => "/API2/auth/authenticateUser",
            Self::PyramidWindows => "/API2/auth/authenticateUserWindows",
        }
    }

    fn call_path(self) -> &'static str {
        match self {
            Self::UiPath | Self::OAuth => "/odata/Jobs",
            Self::Aa => "/v1/devices/list",
            Self::Pyramid | Self::PyramidWindows => "/API2/access/getMe",
        }
    }

    fn client_with(self, base: &str, http: reqwest::Client) -> AuthClient {
        let secret = || SecretString::from(SECRET);
        let builder = match self {
            Self::UiPath => {
                AuthClient::builder(UiPathBearerLogin::new(base, "admin", secret()).unwrap())
            }
            Self::OAuth => AuthClient::builder(
                UiPathClientCredentialsLogin::new(base, "app", secret())
                    .unwrap()
                    .token_url(&format!("{base}identity/connect/token"))
                    .unwrap(),
            ),
            Self::Aa => AuthClient::builder(
                AutomationAnywhereLogin::new(base, "jdoe", secret())
                    .unwrap()
                    .mfa_code(SecretString::from(MFA))
                    .unwrap()
                    .api_version(ApiVersion::V2),
            ),
            Self::Pyramid => {
                AuthClient::builder(PyramidPasswordLogin::new(base, "analyst", secret()).unwrap())
            }
            Self::PyramidWindows => AuthClient::builder(
                PyramidWindowsLogin::new(base, r"CORP\analyst", secret()).unwrap(),
            ),
        };
        builder
            .http_client(http)
            .rejected_login_cooldown(Duration::ZERO)
            .login_retries(0)
            .allow_http(true)
            .build()
            .unwrap()
    }

    fn client(self, base: &str) -> AuthClient {
        self.client_with(base, http_client(reqwest::Client::builder()))
    }

    async fn call(self, client: &AuthClient) -> rpa_auth::Result<reqwest::Response> {
        let path = self.call_path().trim_start_matches('/');
        match self {
            Self::UiPath | Self::OAuth => client.get(path).send().await,
            _ => client.post(path).json(&serde_json::json!({})).send().await,
        }
    }
}

fn http_client(builder: reqwest::ClientBuilder) -> reqwest::Client {
    builder
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

fn is_login(request: &Request) -> bool {
    let path = request.path.to_ascii_lowercase();
    [
        "/authenticate",
        "/connect/token",
        "/authentication",
        "/authenticateuser",
    ]
    .iter()
    .any(|p| path.contains(p))
}

/// The well-behaved server of every vendor: logins answer `GOOD`, calls carrying it answer 200.
fn good(request: &Request) -> Action {
    let path = request.path.to_ascii_lowercase();
    if path.ends_with("/api/account/authenticate") {
        return json(
            200,
            &format!(r#"{{"result":"{GOOD}","success":true,"__abp":true}}"#),
        );
    }
    if path.ends_with("/connect/token") {
        return json(
            200,
            &format!(r#"{{"access_token":"{GOOD}","expires_in":3600,"token_type":"Bearer"}}"#),
        );
    }
    if path.ends_with("/authentication") {
        return json(200, &format!(r#"{{"token":"{GOOD}","user":{{"id":1}}}}"#));
    }
    if path.contains("/auth/authenticateuser") {
        return Action::Respond(http(200, Some("text/plain"), GOOD.as_bytes()));
    }
    let bearer = request.header("authorization") == Some(&format!("Bearer {GOOD}"));
    let header = request.header("x-authorization") == Some(GOOD);
    let body = request.body_text().contains(&format!(r#""auth":"{GOOD}""#));
    if bearer || header || body {
        json(200, r#"{"ok":true}"#)
    } else {
        json(401, r#"{"message":"not logged in"}"#)
    }
}

fn behave() -> Handler {
    Arc::new(good)
}

/// Misbehaves on logins only.
fn on_login(action: impl Fn(&Request) -> Action + Send + Sync + 'static) -> Handler {
    Arc::new(move |request| {
        if is_login(request) {
            action(request)
        } else {
            good(request)
        }
    })
}

/// Misbehaves on calls only.
fn on_call(action: impl Fn(&Request) -> Action + Send + Sync + 'static) -> Handler {
    Arc::new(move |request| {
        if is_login(request) {
            good(request)
        } else {
            action(request)
        }
    })
}

/// Every form in which `SECRET`, `MFA` or a token could come back.
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    vec![
        secret.to_owned(),
        json[1..json.len() - 1].to_owned(),
        form.replace('+', "%20"),
        form,
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ]
}

/// No form of any secret in the error, its `Debug`, or any error in its source chain.
fn assert_no_secret(error: &Error, extra: &[&str]) {
    let mut texts = vec![error.to_string(), format!("{error:?}")];
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        texts.push(inner.to_string());
        source = inner.source();
    }
    for text in &texts {
        for secret in [SECRET, MFA].iter().chain(extra) {
            for form in forms(secret) {
                assert!(!text.contains(&form), "{form:?} in {text}");
            }
        }
    }
}

/// What the failed step should have said.
struct Expect {
    endpoint: &'static str,
    words: &'static [&'static str],
}

/// Runs one behaviour: the first call fails as `check` says, the server then behaves, and the next call
/// on the same client succeeds.
async fn run_case(
    vendor: Vendor,
    hostile: Handler,
    expect: Expect,
    check: impl FnOnce(&Error),
) -> (HostileServer, AuthClient) {
    let server = HostileServer::start(hostile).await;
    let client = vendor.client(&server.url());
    let error = vendor
        .call(&client)
        .await
        .expect_err("the misbehaving server must fail the call");
    assert_error(vendor, &error, &expect);
    check(&error);
    recover(vendor, &server, &client).await;
    (server, client)
}

fn assert_error(vendor: Vendor, error: &Error, expect: &Expect) {
    let text = error.to_string();
    assert_eq!(error.backend(), vendor.backend(), "{text}");
    let path = match expect.endpoint {
        "login" => vendor.login_path(),
        "call" => vendor.call_path(),
        other => other,
    };
    assert_eq!(
        error.endpoint().map(|e| e.path()),
        Some(path),
        "endpoint of {text}"
    );
    for word in expect.words {
        assert!(text.contains(word), "{word:?} missing from {text}");
    }
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(!text.contains("http://127.0.0.1"), "no URL: {text}");
    assert_no_secret(error, &[GOOD]);
}

async fn recover(vendor: Vendor, server: &HostileServer, client: &AuthClient) {
    server.set(behave());
    let response = vendor
        .call(client)
        .await
        .unwrap_or_else(|e| panic!("the same client must work once the server behaves: {e}"));
    assert_eq!(response.status(), 200);
    // No request ever left with an empty or made-up credential.
    for request in server.requests().iter().filter(|r| !is_login(r)) {
        let bearer = request.header("authorization").unwrap_or("Bearer x");
        assert!(
            bearer.len() > "Bearer ".len() && !bearer.ends_with(' '),
            "{request:?}"
        );
        assert_ne!(request.header("x-authorization"), Some(""), "{request:?}");
        let body = request.body_text();
        for made_up in [
            r#""auth":"""#,
            r#""auth":"null""#,
            r#""auth":"true""#,
            r#""auth":"0""#,
        ] {
            assert!(!body.contains(made_up), "{body}");
        }
    }
}

fn invalid(error: &Error) {
    assert!(matches!(error, Error::InvalidResponse { .. }), "{error:?}");
}

fn rejected(error: &Error) {
    assert!(error.is_login_rejected(), "{error:?}");
}

fn transport(kind: TransportKind) -> impl FnOnce(&Error) {
    move |error| match error {
        Error::Transport { kind: got, .. } => assert_eq!(*got, kind, "{error}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
}

const LOGIN_UNUSABLE: Expect = Expect {
    endpoint: "login",
    words: &["unreadable answer", "token"],
};

// ---------------------------------------------------------------------------------------------------
// Defect class 1: a credential that is not one is never sent.

#[tokio::test]
async fn uipath_result_object_with_empty_access_token() {
    let hostile = on_login(|_| json(200, r#"{"result":{"accessToken":""},"success":true}"#));
    run_case(Vendor::UiPath, hostile, LOGIN_UNUSABLE, invalid).await;
}

#[tokio::test]
async fn uipath_empty_and_blank_and_spaced_results() {
    for body in [
        r#"{"result":"","success":true}"#,
        r#"{"result":"   ","success":true}"#,
        r#"{"result":"tok en","success":true}"#,
        r#"{"result":"tok\u0000en","success":true}"#,
    ] {
        let hostile = on_login(move |_| json(200, body));
        run_case(Vendor::UiPath, hostile, LOGIN_UNUSABLE, invalid).await;
    }
}

#[tokio::test]
async fn uipath_null_number_boolean_and_list_results() {
    for body in [
        r#"{"result":null,"success":true}"#,
        r#"{"result":12345,"success":true}"#,
        r#"{"result":true,"success":true}"#,
        r#"{"result":["tok"],"success":true}"#,
        r#"{"result":{"other":"tok"},"success":true}"#,
    ] {
        let hostile = on_login(move |_| json(200, body));
        run_case(Vendor::UiPath, hostile, LOGIN_UNUSABLE, invalid).await;
    }
}

#[tokio::test]
async fn pyramid_json_null_is_not_the_token_null() {
    let hostile = on_login(|_| Action::Respond(http(200, Some("application/json"), b"null")));
    run_case(Vendor::Pyramid, hostile, LOGIN_UNUSABLE, invalid).await;
}

#[tokio::test]
async fn pyramid_json_scalars_and_empty_strings() {
    for (kind, body) in [
        ("application/json", "true"),
        ("application/json", "12345"),
        ("application/json", r#""""#),
        ("application/json", r#""  ""#),
        ("text/plain", ""),
        ("text/plain", "  \r\n"),
        ("text/plain", "null"),
    ] {
        let hostile = on_login(move |_| Action::Respond(http(200, Some(kind), body.as_bytes())));
        run_case(Vendor::Pyramid, hostile, LOGIN_UNUSABLE, invalid).await;
    }
}

#[tokio::test]
async fn pyramid_windows_null_names_its_own_backend() {
    let hostile = on_login(|_| Action::Respond(http(200, Some("application/json"), b"null")));
    run_case(Vendor::PyramidWindows, hostile, LOGIN_UNUSABLE, invalid).await;
}

#[tokio::test]
async fn aa_empty_null_and_object_tokens() {
    for body in [
        r#"{"token":"","user":{}}"#,
        r#"{"token":"   ","user":{}}"#,
        r#"{"token":{"value":"x"},"user":{}}"#,
        r#"{"token":0}"#,
    ] {
        let hostile = on_login(move |_| json(200, body));
        run_case(Vendor::Aa, hostile, LOGIN_UNUSABLE, invalid).await;
    }
    // A null token without any message: no token at all.
    let hostile = on_login(|_| json(200, r#"{"token":null,"user":{}}"#));
    run_case(Vendor::Aa, hostile, LOGIN_UNUSABLE, invalid).await;
}

#[tokio::test]
async fn oauth_empty_numeric_and_control_character_tokens() {
    for body in [
        r#"{"access_token":"","token_type":"Bearer","expires_in":3600}"#,
        r#"{"access_token":123,"token_type":"Bearer"}"#,
        r#"{"access_token":"a\u0007b","token_type":"Bearer"}"#,
        r#"{"access_token":false}"#,
    ] {
        let hostile = on_login(move |_| json(200, body));
        run_case(Vendor::OAuth, hostile, LOGIN_UNUSABLE, invalid).await;
    }
}

// ---------------------------------------------------------------------------------------------------
// Defect class 2: secrets echoed by the server never reach the error.

fn echoed(status: u16, message: String) -> Handler {
    let body = serde_json::json!({ "message": message, "errorCode": 0, "code": "E1", "error": "invalid_request", "error_description": message }).to_string();
    on_login(move |_| json(status, &body))
}

#[tokio::test]
async fn aspnet_model_validation_repeats_the_raw_password() {
    let message = format!("The value '{SECRET}' is not valid for Password.");
    for vendor in [Vendor::UiPath, Vendor::Aa, Vendor::OAuth] {
        let expect = Expect {
            endpoint: "login",
            words: &["[redacted]", "is not valid for Password"],
        };
        run_case(vendor, echoed(400, message.clone()), expect, rejected).await;
    }
}

#[tokio::test]
async fn echoed_request_body_json_escaped() {
    let body =
        serde_json::json!({ "usernameOrEmailAddress": "admin", "password": SECRET }).to_string();
    let message = format!("Could not bind the request body {body}");
    let expect = Expect {
        endpoint: "login",
        words: &["[redacted]", "Could not bind"],
    };
    run_case(Vendor::UiPath, echoed(400, message), expect, rejected).await;
}

#[tokio::test]
async fn echoed_form_body_url_encoded_with_plus_and_percent_twenty() {
    let form: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    let lower_hex: String = SECRET
        .bytes()
        .map(|b| match b {
            b' ' => "+".to_owned(),
            b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
            b => format!("%{b:02x}"),
        })
        .collect();
    for encoded in [form.clone(), form.replace('+', "%20"), lower_hex] {
        let message = format!("bad request: grant_type=client_credentials&client_secret={encoded}");
        let expect = Expect {
            endpoint: "login",
            words: &["[redacted]"],
        };
        run_case(Vendor::OAuth, echoed(400, message), expect, rejected).await;
    }
}

#[tokio::test]
async fn echoed_basic_authorization_in_base64_both_alphabets() {
    for encoded in [
        STANDARD.encode(format!("app:{SECRET}")),
        URL_SAFE_NO_PAD.encode(format!("app:{SECRET}")),
        STANDARD.encode(SECRET),
    ] {
        let message = format!("Authorization: Basic {encoded} was refused");
        let expect = Expect {
            endpoint: "login",
            words: &["[redacted]", "was refused"],
        };
        run_case(Vendor::OAuth, echoed(401, message), expect, rejected).await;
    }
}

#[tokio::test]
async fn echoed_html_escaped_password_in_a_pyramid_error() {
    let html: String = SECRET.chars().map(|c| format!("&#{};", c as u32)).collect();
    let body = format!(r#"{{"error":"user analyst with password {html} is unknown"}}"#);
    let hostile = on_login(move |_| json(401, &body));
    let expect = Expect {
        endpoint: "login",
        words: &["[redacted]", "is unknown"],
    };
    run_case(Vendor::Pyramid, hostile, expect, rejected).await;
}

#[tokio::test]
async fn echoed_mfa_code_and_api_key() {
    let hostile = on_login(|_| {
        json(
            401,
            &serde_json::json!({"code": "MFA_INVALID", "message": format!("mfa code {MFA} rejected for {SECRET}")}).to_string(),
        )
    });
    let expect = Expect {
        endpoint: "login",
        words: &["[redacted]", "rejected for"],
    };
    run_case(Vendor::Aa, hostile, expect, |e| {
        assert_eq!(
            e.reject_reason(),
            Some(rpa_auth::RejectReason::MfaInvalid),
            "{e}"
        );
    })
    .await;
    // An API-key login: the key comes back in `details`.
    let server = HostileServer::start(on_login(|_| {
        json(
            400,
            &serde_json::json!({"code": "AUTH", "details": format!("apiKey {SECRET} unknown")})
                .to_string(),
        )
    }))
    .await;
    let client = AuthClient::builder(
        AutomationAnywhereLogin::with_api_key(&server.url(), "bot", SecretString::from(SECRET))
            .unwrap()
            .api_version(ApiVersion::V2),
    )
    .rejected_login_cooldown(Duration::ZERO)
    .build()
    .unwrap();
    let error = Vendor::Aa.call(&client).await.unwrap_err();
    assert!(error.to_string().contains("[redacted]"), "{error}");
    assert_no_secret(&error, &[]);
    recover(Vendor::Aa, &server, &client).await;
}

#[tokio::test]
async fn echoed_previous_token_after_a_refused_relogin() {
    let issued = Arc::new(AtomicU64::new(0));
    let server = HostileServer::start(behave()).await;
    let client = Vendor::UiPath.client(&server.url());
    Vendor::UiPath.call(&client).await.unwrap();
    // The token is revoked; the next login is refused with a message naming the old token.
    let count = issued.clone();
    server.set(Arc::new(move |request: &Request| {
        if is_login(request) {
            count.fetch_add(1, Ordering::SeqCst);
            json(
                400,
                &format!(
                    r#"{{"message":"session {GOOD} was revoked; {}","errorCode":1000}}"#,
                    STANDARD.encode(GOOD)
                ),
            )
        } else {
            json(401, "{}")
        }
    }));
    let error = Vendor::UiPath.call(&client).await.unwrap_err();
    assert!(error.is_login_rejected(), "{error}");
    assert!(
        error.to_string().contains("session [redacted] was revoked"),
        "{error}"
    );
    assert_no_secret(&error, &[GOOD]);
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    recover(Vendor::UiPath, &server, &client).await;
}

#[tokio::test]
async fn refusal_carrying_a_token_does_not_print_it() {
    let hostile = on_login(|_| {
        json(
            200,
            r#"{"result":"issued-but-refused-token","success":false,"error":{"code":1,"message":"token issued-but-refused-token not allowed"}}"#,
        )
    });
    let expect = Expect {
        endpoint: "login",
        words: &["[redacted] not allowed"],
    };
    run_case(Vendor::UiPath, hostile, expect, |e| {
        assert!(!e.to_string().contains("issued-but-refused-token"));
    })
    .await;
}

#[tokio::test]
async fn secret_straddling_the_cut_of_a_long_message() {
    let message = format!("{}{SECRET}", "x".repeat(4090));
    let expect = Expect {
        endpoint: "login",
        words: &["xxxx"],
    };
    run_case(Vendor::UiPath, echoed(400, message), expect, rejected).await;
    let message = format!("{} {SECRET}", "y".repeat(195));
    let expect = Expect {
        endpoint: "login",
        words: &["yyyy"],
    };
    run_case(Vendor::UiPath, echoed(400, message), expect, rejected).await;
}

#[tokio::test]
async fn echoed_secret_in_a_status_error_and_a_token_type() {
    let message = format!("upstream failed for password={SECRET}");
    let expect = Expect {
        endpoint: "login",
        words: &["HTTP 503", "[redacted]"],
    };
    run_case(Vendor::UiPath, echoed(503, message), expect, |e| {
        assert!(matches!(e, Error::Status { .. }), "{e:?}");
    })
    .await;
    let hostile = on_login(|_| {
        json(
            200,
            &serde_json::json!({"access_token": GOOD, "token_type": SECRET}).to_string(),
        )
    });
    let expect = Expect {
        endpoint: "login",
        words: &["token_type", "[redacted]"],
    };
    run_case(Vendor::OAuth, hostile, expect, invalid).await;
}

// ---------------------------------------------------------------------------------------------------
// Defect class 3: transport errors keep their cause, in words, without a URL.

fn raw(bytes: &'static [u8]) -> impl Fn(&Request) -> Action + Send + Sync + 'static {
    move |_| Action::RespondClose(bytes.to_vec())
}

async fn transport_case(
    vendor: Vendor,
    misbehave: impl Fn(&Request) -> Action + Send + Sync + 'static,
    on: &'static str,
    words: &'static [&'static str],
    kind: TransportKind,
) {
    let hostile = if on == "login" {
        on_login(misbehave)
    } else {
        on_call(misbehave)
    };
    run_case(
        vendor,
        hostile,
        Expect {
            endpoint: on,
            words,
        },
        transport(kind),
    )
    .await;
}

#[tokio::test]
async fn invalid_status_lines() {
    transport_case(
        Vendor::UiPath,
        raw(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"),
        "login",
        &["malformed HTTP answer", "invalid status line"],
        TransportKind::Malformed,
    )
    .await;
    transport_case(
        Vendor::Aa,
        raw(b"HTTP/1.1 99999 Nope\r\n\r\n"),
        "call",
        &["malformed HTTP answer", "status line"],
        TransportKind::Malformed,
    )
    .await;
    transport_case(
        Vendor::Pyramid,
        raw(b"HELLO THERE\r\n\r\n"),
        "login",
        &["malformed HTTP answer"],
        TransportKind::Malformed,
    )
    .await;
}

#[tokio::test]
async fn bad_chunked_encoding() {
    transport_case(
        Vendor::UiPath,
        raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n"),
        "login",
        &["bad chunked encoding"],
        TransportKind::Malformed,
    )
    .await;
    transport_case(
        Vendor::OAuth,
        raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdefgh\r\n0\r\n\r\n"),
        "login",
        &["bad chunked encoding"],
        TransportKind::Malformed,
    )
    .await;
}

#[tokio::test]
async fn conflicting_content_length() {
    transport_case(
        Vendor::UiPath,
        raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}{}{}{}"),
        "login",
        &["Content-Length"],
        TransportKind::Malformed,
    )
    .await;
    transport_case(
        Vendor::Pyramid,
        raw(b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n"),
        "call",
        &["Content-Length"],
        TransportKind::Malformed,
    )
    .await;
}

#[tokio::test]
async fn too_many_and_too_long_headers() {
    let many: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\n{}Content-Length: 0\r\n\r\n",
            (0..300)
                .map(|n| format!("X-H{n}: v\r\n"))
                .collect::<String>()
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    transport_case(
        Vendor::UiPath,
        raw(many),
        "login",
        &["too many or too long headers"],
        TransportKind::Malformed,
    )
    .await;
    let long: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nX-Long: {}\r\nContent-Length: 0\r\n\r\n",
            "a".repeat(600_000)
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    transport_case(
        Vendor::Aa,
        raw(long),
        "call",
        &["too many or too long headers"],
        TransportKind::Malformed,
    )
    .await;
}

#[tokio::test]
async fn bodies_cut_short() {
    transport_case(
        Vendor::UiPath,
        raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"result\":\"abc"),
        "login",
        &["cut short"],
        TransportKind::BodyCut,
    )
    .await;
    transport_case(
        Vendor::Pyramid,
        raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\nabc"),
        "login",
        &["cut short"],
        TransportKind::BodyCut,
    )
    .await;
}

#[tokio::test]
async fn closed_before_answering_and_reset() {
    transport_case(
        Vendor::UiPath,
        |_| Action::Close,
        "login",
        &["closed the connection before the answer was complete"],
        TransportKind::Reset,
    )
    .await;
    transport_case(
        Vendor::OAuth,
        |_| Action::Reset,
        "login",
        &["failed in transit"],
        TransportKind::Reset,
    )
    .await;
    transport_case(
        Vendor::Aa,
        |_| Action::Reset,
        "call",
        &["failed in transit"],
        TransportKind::Reset,
    )
    .await;
}

#[tokio::test]
async fn silence_is_a_timeout() {
    transport_case(
        Vendor::UiPath,
        |_| Action::Hang,
        "login",
        &["timed out"],
        TransportKind::Timeout,
    )
    .await;
    transport_case(
        Vendor::Pyramid,
        |_| Action::Hang,
        "call",
        &["timed out"],
        TransportKind::Timeout,
    )
    .await;
}

#[tokio::test]
async fn refused_connection_then_the_server_comes_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = Vendor::UiPath.client(&format!("http://{port}/"));
    let error = Vendor::UiPath.call(&client).await.unwrap_err();
    assert_error(
        Vendor::UiPath,
        &error,
        &Expect {
            endpoint: "login",
            words: &["could not connect", "connection refused"],
        },
    );
    transport(TransportKind::Connect)(&error);
    let server = HostileServer::start_on(port, behave()).await;
    recover(Vendor::UiPath, &server, &client).await;
}

/// Fails the first lookups, then resolves to the server.
struct FlakyDns {
    to: SocketAddr,
    failures: AtomicU64,
}

impl reqwest::dns::Resolve for FlakyDns {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let fail = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let to = self.to;
        Box::pin(async move {
            if fail {
                Err("no such host".into())
            } else {
                Ok(Box::new(std::iter::once(to)) as reqwest::dns::Addrs)
            }
        })
    }
}

#[tokio::test]
async fn name_lookup_failure_then_success() {
    let server = HostileServer::start(behave()).await;
    let dns = Arc::new(FlakyDns {
        to: server.addr,
        failures: AtomicU64::new(1),
    });
    let http = http_client(reqwest::Client::builder().dns_resolver(dns));
    let base = format!("http://orchestrator.invalid:{}/", server.addr.port());
    let client = Vendor::Aa.client_with(&base, http);
    let error = Vendor::Aa.call(&client).await.unwrap_err();
    assert_error(
        Vendor::Aa,
        &error,
        &Expect {
            endpoint: "login",
            words: &["could not connect", "host name could not be resolved"],
        },
    );
    assert!(
        !error.to_string().contains("orchestrator.invalid"),
        "{error}"
    );
    transport(TransportKind::Connect)(&error);
    recover(Vendor::Aa, &server, &client).await;
}

#[tokio::test]
async fn tls_handshake_answered_in_plain_text_then_real_tls() {
    let pki = support::tls::TestPki::new();
    let server = HostileServer::start_tls(behave(), pki.acceptor()).await;
    server.answer_tls_with_plain_text(true);
    let http = http_client(
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()]),
    );
    let client = Vendor::OAuth.client_with(&server.url(), http);
    let error = Vendor::OAuth.call(&client).await.unwrap_err();
    assert_error(
        Vendor::OAuth,
        &error,
        &Expect {
            endpoint: "login",
            words: &["could not connect", "TLS handshake failed"],
        },
    );
    transport(TransportKind::Connect)(&error);
    server.answer_tls_with_plain_text(false);
    recover(Vendor::OAuth, &server, &client).await;
}

// ---------------------------------------------------------------------------------------------------
// Weak spots and other misbehaviours.

#[tokio::test]
async fn refused_login_redirect_names_origin_and_path_never_query() {
    let hostile = on_login(|_| {
        Action::Respond(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/sso/login?password=leak&ReturnUrl=%2F\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        )
    });
    let server = HostileServer::start(hostile).await;
    let client = Vendor::UiPath.client(&server.url());
    let error = Vendor::UiPath.call(&client).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("redirected the login to http://127.0.0.1:1/sso/login;"),
        "{text}"
    );
    assert!(
        !text.contains("leak") && !text.contains("ReturnUrl"),
        "{text}"
    );
    invalid(&error);
    recover(Vendor::UiPath, &server, &client).await;
}

#[tokio::test]
async fn redirect_to_the_same_path_on_another_port_is_told_apart() {
    let hostile = on_login(|request| {
        Action::Respond(
            format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://127.0.0.1:8443{}\r\nContent-Length: 0\r\n\r\n",
                request.path
            )
            .into_bytes(),
        )
    });
    let server = HostileServer::start(hostile).await;
    let client = Vendor::Pyramid.client(&server.url());
    let error = Vendor::Pyramid.call(&client).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("to https://127.0.0.1:8443/API2/auth/authenticateUser;"),
        "{error}"
    );
    recover(Vendor::Pyramid, &server, &client).await;
}

#[tokio::test]
async fn oversized_html_truncated_and_throttled_answers() {
    let big: &'static [u8] =
        Box::leak(http(200, Some("application/json"), &vec![b' '; 2 << 20]).into_boxed_slice());
    type Case = (Vendor, Handler, Expect, fn(&Error));
    let cases: Vec<Case> = vec![
        (
            Vendor::UiPath,
            on_login(move |_| Action::Respond(big.to_vec())),
            Expect {
                endpoint: "login",
                words: &["larger than 1024 KiB"],
            },
            invalid,
        ),
        (
            Vendor::Aa,
            on_login(|_| {
                Action::Respond(http(
                    200,
                    Some("text/html"),
                    b"<html><body>Sign in</body></html>",
                ))
            }),
            Expect {
                endpoint: "login",
                words: &["HTML page"],
            },
            invalid,
        ),
        (
            Vendor::OAuth,
            on_login(|_| json(200, r#"{"access_token":"abc"#)),
            Expect {
                endpoint: "login",
                words: &["truncated JSON"],
            },
            invalid,
        ),
        (
            Vendor::Pyramid,
            on_login(|_| {
                Action::Respond(
                    b"HTTP/1.1 503 Busy\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n".to_vec(),
                )
            }),
            Expect {
                endpoint: "login",
                words: &["HTTP 503", "retry after 120 s"],
            },
            |e| assert!(e.is_transient(), "{e}"),
        ),
        (
            Vendor::UiPath,
            on_login(|_| json(429, r#"{"message":"slow down","errorCode":429}"#)),
            Expect {
                endpoint: "login",
                words: &["HTTP 429", "slow down"],
            },
            |e| assert!(e.is_transient(), "{e}"),
        ),
    ];
    for (vendor, hostile, expect, check) in cases {
        run_case(vendor, hostile, expect, check).await;
    }
}

#[tokio::test]
async fn calls_answered_401_forever_then_accepted() {
    let hostile = on_call(|_| json(401, r#"{"message":"nope"}"#));
    let expect = Expect {
        endpoint: "call",
        words: &["still answered HTTP 401 after a fresh login"],
    };
    run_case(Vendor::Aa, hostile, expect, |e| {
        assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    })
    .await;
}
