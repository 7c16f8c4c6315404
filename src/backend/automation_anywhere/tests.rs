//! Unit tests of `backend::automation_anywhere`.

use super::*;
use bytes::Bytes;
use reqwest::header::HeaderMap;

const BASE: &str = "https://cr.example.com/";

fn password_login() -> AutomationAnywhereLogin {
    AutomationAnywhereLogin::new(BASE, "jdoe", SecretString::from("hunter2")).unwrap()
}

fn reply(status: u16, path: &str, body: &str) -> Reply {
    Reply {
        backend: BACKEND,
        endpoint: Endpoint::new(
            reqwest::Method::POST,
            &Url::parse(&format!("http://h/{path}")).unwrap(),
        ),
        status: StatusCode::from_u16(status).unwrap(),
        headers: HeaderMap::new(),
        body: Bytes::from(body.to_owned()),
        secrets: Secrets::default(),
    }
}

#[test]
fn body_has_mfa_code_as_number_and_escapes_domain_backslash() {
    let login = AutomationAnywhereLogin::new(BASE, r"corp\jdoe", SecretString::from("pw"))
        .unwrap()
        .mfa_code(SecretString::from("012345"))
        .unwrap()
        .multiple_login(true);
    let body = login.login_body();
    assert_eq!(body["mfaCode"], serde_json::json!(12345));
    assert_eq!(body["multipleLogin"], Value::Bool(true));
    assert!(body.get("apiKey").is_none());
    let wire = serde_json::to_string(&body).unwrap();
    assert!(wire.contains(r#""username":"corp\\jdoe""#), "{wire}");
}

#[test]
fn api_key_body_has_no_password() {
    let login =
        AutomationAnywhereLogin::with_api_key(BASE, "bot", SecretString::from(r"k\ey")).unwrap();
    let body = login.login_body();
    assert_eq!(body["apiKey"], Value::String(r"k\ey".into()));
    assert!(body.get("password").is_none() && body.get("mfaCode").is_none());
    assert!(body.get("multipleLogin").is_none());
}

#[test]
fn constructors_and_mfa_code_validate_eagerly() {
    assert!(AutomationAnywhereLogin::new(BASE, " ", SecretString::from("p")).is_err());
    assert!(AutomationAnywhereLogin::new(BASE, "u", SecretString::from("")).is_err());
    assert!(AutomationAnywhereLogin::with_api_key(BASE, "u", SecretString::from(" ")).is_err());
    assert!(
        AutomationAnywhereLogin::with_api_key("ftp://x/", "u", SecretString::from("k")).is_err()
    );
    for bad in ["", "12a456", "-123456", "12345678901", "1 2"] {
        let error = password_login()
            .mfa_code(SecretString::from(bad))
            .unwrap_err();
        assert!(
            !error.to_string().contains(bad) || bad.is_empty(),
            "{error}"
        );
    }
    assert!(
        password_login()
            .mfa_code(SecretString::from(" 654321 "))
            .is_ok()
    );
}

#[test]
fn errors_are_classified() {
    let login = password_login();
    let mfa = password_login().mfa_code(SecretString::from("1")).unwrap();
    let cases: [(&AutomationAnywhereLogin, u16, &str, RejectReason); 8] = [
        (
            &login,
            401,
            r#"{"code":"x","details":null,"message":"Invalid credentials"}"#,
            RejectReason::BadCredentials,
        ),
        (
            &login,
            401,
            r#"{"code":"authentication.mfa.required","details":null,"message":"Code needed"}"#,
            RejectReason::MfaRequired,
        ),
        (
            &mfa,
            401,
            r#"{"code":"x","message":"Invalid multi-factor authentication code"}"#,
            RejectReason::MfaInvalid,
        ),
        (
            &login,
            401,
            r#"{"code":"x","message":"User account is disabled"}"#,
            RejectReason::AccountDisabled,
        ),
        (
            &login,
            403,
            r#"{"code":"x","message":"User is locked"}"#,
            RejectReason::AccountLocked,
        ),
        (
            &login,
            400,
            r#"{"code":"x","message":"v1/authentication is deprecated"}"#,
            RejectReason::Unsupported,
        ),
        (
            &login,
            500,
            r#"{"code":"x","message":"v1/authentication is deprecated"}"#,
            RejectReason::Unsupported,
        ),
        (
            &login,
            400,
            r#"{"code":"generic.bad.request","details":"Malformed"}"#,
            RejectReason::Other,
        ),
    ];
    for (login, status, body, reason) in cases {
        let error = login
            .read_login(&reply(status, LOGIN_V1_PATH, body))
            .unwrap_err();
        assert_eq!(error.reject_reason(), Some(reason), "{body}");
        assert!(error.to_string().contains("/v1/authentication"), "{error}");
    }
    let bare = login
        .read_login(&reply(401, LOGIN_V2_PATH, ""))
        .unwrap_err();
    assert_eq!(bare.reject_reason(), Some(RejectReason::BadCredentials));
}

#[test]
fn server_errors_are_status_errors_with_code() {
    let error = password_login()
        .read_login(&reply(
            500,
            LOGIN_V2_PATH,
            r#"{"code":"generic.server.exception","details":null,"message":"An unexpected problem occurred"}"#,
        ))
        .unwrap_err();
    assert!(matches!(error, Error::Status { .. }));
    assert_eq!(
        error.to_string(),
        "aa: POST /v2/authentication answered HTTP 500, code generic.server.exception: An unexpected problem occurred"
    );
}

#[test]
fn success_needs_a_token_and_keeps_nothing_else() {
    let login = password_login();
    let token = login
        .read_login(&reply(
            200,
            LOGIN_V2_PATH,
            r#"{"token":"a.b.c","user":{"id":9}}"#,
        ))
        .unwrap();
    assert_eq!(token.expose_secret(), "a.b.c");
    let error = login
        .read_login(&reply(200, LOGIN_V2_PATH, r#"{"user":{}}"#))
        .unwrap_err();
    assert!(matches!(error, Error::InvalidResponse { .. }));
    let error = login
        .read_login(&reply(
            200,
            LOGIN_V1_PATH,
            r#"{"message":"v1 is deprecated"}"#,
        ))
        .unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::Unsupported));
    let error = login
        .read_login(&reply(502, LOGIN_V2_PATH, "<html>x</html>"))
        .unwrap_err();
    assert!(error.is_transient());
}

#[test]
fn lifetime_comes_from_the_jwt_or_the_default() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"1","iat":1573107873,"exp":1573108173}"#);
    let jwt = format!("eyJhbGciOiJSUzUxMiJ9.{payload}.sig");
    let login = password_login();
    let credential = login.credential(SecretString::from(jwt));
    assert_eq!(credential.lifetime(), Some(Duration::from_secs(300)));
    assert_eq!(
        credential.placement(),
        &Placement::Header(HeaderName::from_static("x-authorization"))
    );
    let opaque = login.credential(SecretString::from("opaque"));
    assert_eq!(opaque.lifetime(), Some(DEFAULT_TOKEN_LIFETIME));
}

#[test]
fn api_version_is_forced_or_detected() {
    let login = password_login();
    assert_eq!(login.api_version_in_use(), None);
    login.detected.remember(1);
    assert_eq!(login.clone().api_version_in_use(), Some(ApiVersion::V1));
    let forced = password_login().api_version(ApiVersion::V2);
    assert_eq!(forced.api_version_in_use(), Some(ApiVersion::V2));
}

#[test]
fn debug_hides_secrets() {
    let login =
        AutomationAnywhereLogin::with_api_key(BASE, "bot", SecretString::from("k3y-s3cret"))
            .unwrap()
            .mfa_code(SecretString::from("987654"))
            .unwrap();
    let text = format!("{login:?}");
    assert!(
        !text.contains("k3y-s3cret") && !text.contains("987654"),
        "{text}"
    );
    assert!(text.contains("api key"));
}
