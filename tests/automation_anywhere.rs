//! The Automation Anywhere backend against the Control Room emulator, in real time with short token
//! lifetimes (the emulator listens on a real socket).

mod support;

use std::time::Duration;

use rpa_auth::emulator::Fault;
use rpa_auth::emulator::automation_anywhere::{AutomationAnywhereEmulator, LockoutAction};
use rpa_auth::{ApiVersion, AutomationAnywhereLogin};
use rpa_auth::{AuthClient, Error, ExposeSecret, RejectReason, SecretString};
use support::env_vars::{config_message, vars, with};

const PASSWORD: &str = "p@ss-W0rd!";
const API_KEY: &str = "Zx8PqR2kLm9Vt4Yb7Nc1Wd6Hf3Gj5Ks0Ae2Bu8Io";
const MFA_CODE: u32 = 246_810;
const CALL: &str = "v1/devices/list";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn control_room() -> AutomationAnywhereEmulator {
    AutomationAnywhereEmulator::builder()
        .user("jdoe", PASSWORD)
        .user(r"corp\adsvc", PASSWORD)
        .api_key_user("bot", API_KEY)
        .mfa_user("secure", PASSWORD)
        .mfa_code(MFA_CODE)
        .start()
        .await
        .unwrap()
}

fn password(cr: &AutomationAnywhereEmulator, user: &str) -> AutomationAnywhereLogin {
    AutomationAnywhereLogin::new(cr.url().as_str(), user, SecretString::from(PASSWORD)).unwrap()
}

fn api_key(cr: &AutomationAnywhereEmulator) -> AutomationAnywhereLogin {
    AutomationAnywhereLogin::with_api_key(cr.url().as_str(), "bot", SecretString::from(API_KEY))
        .unwrap()
}

/// Sends `GET CALL` with the given headers, bypassing the client.
async fn raw_call(cr: &AutomationAnywhereEmulator, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = http().get(cr.url().join(CALL).unwrap());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

async fn token_of(client: &AuthClient) -> String {
    client
        .credential()
        .await
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn logs_in_by_password() {
    let cr = control_room().await;
    let client = AuthClient::new(password(&cr, "jdoe")).unwrap();
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!((cr.logins(), cr.calls(), cr.rejected_calls()), (1, 1, 0));
    assert_eq!(cr.unexpected_requests(), 0);
}

#[tokio::test]
async fn logs_in_by_api_key() {
    let cr = control_room().await;
    let client = AuthClient::new(api_key(&cr)).unwrap();
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!((cr.logins(), cr.calls()), (1, 1));
}

#[tokio::test]
async fn logs_in_by_password_and_mfa_code() {
    let cr = control_room().await;
    let login = password(&cr, "secure")
        .mfa_code(SecretString::from(MFA_CODE.to_string()))
        .unwrap();
    let client = AuthClient::new(login).unwrap();
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!((cr.logins(), cr.failed_logins()), (1, 0));
}

#[tokio::test]
async fn logs_in_as_domain_user() {
    let cr = control_room().await;
    let client = AuthClient::new(password(&cr, r"corp\adsvc")).unwrap();
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!(cr.logins(), 1);
}

#[tokio::test]
async fn token_goes_raw_in_x_authorization_and_bearer_is_rejected() {
    let cr = control_room().await;
    let client = AuthClient::new(password(&cr, "jdoe")).unwrap();
    client.get(CALL).send().await.unwrap();
    let token = token_of(&client).await;
    assert!(token.starts_with("eyJhbGciOiJSUzUxMiJ9."), "an RS512 JWT");

    let sent = cr
        .recorded()
        .into_iter()
        .find(|r| r.path.ends_with(CALL))
        .unwrap();
    assert_eq!(sent.headers["x-authorization"].to_str().unwrap(), token);
    assert!(!sent.headers.contains_key("authorization"));

    let bearer = format!("Bearer {token}");
    let (status, _) = error_code(raw_call(&cr, &[("x-authorization", &bearer)]).await).await;
    assert_eq!(status, 401, "a Bearer prefix is not a token");
    let (status, code) = error_code(raw_call(&cr, &[("authorization", &bearer)]).await).await;
    assert_eq!((status, code.as_str()), (401, "UM1117"));
    let (status, code) = error_code(raw_call(&cr, &[]).await).await;
    assert_eq!((status, code.as_str()), (401, "UM1117"));
    assert_eq!(
        raw_call(&cr, &[("x-authorization", &token)]).await.status(),
        200
    );
}

#[tokio::test]
async fn short_lived_token_from_jwt_is_renewed_before_expiry_under_50_tasks() {
    let cr = AutomationAnywhereEmulator::builder()
        .user("jdoe", PASSWORD)
        .token_lifetime(Duration::from_secs(3))
        .start()
        .await
        .unwrap();
    let client = AuthClient::new(password(&cr, "jdoe")).unwrap();
    let credential = client.credential().await.unwrap();
    assert_eq!(
        credential.lifetime(),
        Some(Duration::from_secs(3)),
        "exp - iat"
    );

    let until = tokio::time::Instant::now() + Duration::from_secs(7);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut calls = 0u32;
                while tokio::time::Instant::now() < until {
                    let response = client.get(CALL).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    calls += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                calls
            })
        })
        .collect();
    let mut calls = 0;
    for task in tasks {
        calls += task.await.unwrap();
    }
    assert!(calls > 500, "{calls} calls");
    assert_eq!(cr.expired_token_calls(), 0);
    assert_eq!(cr.rejected_calls(), 0);
    assert_eq!(cr.logins(), 1, "renewed by refresh, not by login");
    assert!(cr.refreshes() >= 2, "{} refreshes", cr.refreshes());
}

#[tokio::test]
async fn refused_refresh_logs_in_again() {
    let cr = AutomationAnywhereEmulator::builder()
        .user("jdoe", PASSWORD)
        .token_lifetime(Duration::from_secs(4))
        .refuse_refresh(true)
        .start()
        .await
        .unwrap();
    let client = AuthClient::new(password(&cr, "jdoe")).unwrap();
    let first = token_of(&client).await;
    tokio::time::sleep(Duration::from_millis(2400)).await; // past half the lifetime
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    let second = support::renewed(&client, &first).await;
    assert_eq!(
        (cr.logins(), cr.refreshes(), cr.rejected_calls()),
        (2, 0, 0)
    );

    cr.refuse_refresh(false);
    tokio::time::sleep(Duration::from_millis(2400)).await;
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    support::renewed(&client, &second).await;
    assert_eq!((cr.logins(), cr.refreshes()), (2, 1));
}

#[tokio::test]
async fn missing_mfa_code_is_mfa_required() {
    let cr = control_room().await;
    let error = password(&cr, "secure").login(&http()).await.unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::MfaRequired));
    assert!(
        error.to_string().contains("multi-factor code required"),
        "{error}"
    );
}

#[tokio::test]
async fn wrong_mfa_code_is_mfa_invalid() {
    let cr = control_room().await;
    let login = password(&cr, "secure")
        .mfa_code(SecretString::from("135791"))
        .unwrap();
    let error = login.login(&http()).await.unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::MfaInvalid));
    assert!(!error.to_string().contains("135791"));
}

#[tokio::test]
async fn user_disabled_after_three_failures_is_told_apart() {
    let cr = control_room().await;
    let wrong =
        AutomationAnywhereLogin::new(cr.url().as_str(), "jdoe", SecretString::from("wrong"))
            .unwrap();
    for _ in 0..3 {
        let error = wrong.login(&http()).await.unwrap_err();
        assert_eq!(error.reject_reason(), Some(RejectReason::BadCredentials));
    }
    let error = password(&cr, "jdoe").login(&http()).await.unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::AccountDisabled));
    assert!(
        error.to_string().starts_with(
            "aa: account disabled: login rejected by POST /v2/authentication (HTTP 401"
        ),
        "{error}"
    );

    assert!(cr.enable_user("jdoe"));
    password(&cr, "jdoe").login(&http()).await.unwrap();
}

#[tokio::test]
async fn locked_user_is_told_apart() {
    let cr = AutomationAnywhereEmulator::builder()
        .user("jdoe", PASSWORD)
        .disable_after(2)
        .lockout_action(LockoutAction::Lock(Duration::from_secs(60)))
        .start()
        .await
        .unwrap();
    let wrong =
        AutomationAnywhereLogin::new(cr.url().as_str(), "jdoe", SecretString::from("wrong"))
            .unwrap();
    for _ in 0..2 {
        wrong.login(&http()).await.unwrap_err();
    }
    let error = password(&cr, "jdoe").login(&http()).await.unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::AccountLocked));
}

#[tokio::test]
async fn two_concurrent_first_calls_log_in_once_and_the_first_token_stays_valid() {
    let cr = control_room().await;
    let client = AuthClient::new(password(&cr, "jdoe")).unwrap();
    let (a, b) = tokio::join!(client.get(CALL).send(), client.get(CALL).send());
    assert_eq!(
        (a.unwrap().status().as_u16(), b.unwrap().status().as_u16()),
        (200, 200)
    );
    assert_eq!(cr.logins(), 1);
    let first = token_of(&client).await;
    assert_eq!(
        raw_call(&cr, &[("x-authorization", &first)]).await.status(),
        200
    );

    // Why one client per user: a second password login of the same user ends the first session.
    let other = AuthClient::new(password(&cr, "jdoe")).unwrap();
    assert_eq!(other.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!(
        raw_call(&cr, &[("x-authorization", &first)]).await.status(),
        401
    );
    // The first client recovers by itself (401 → login → retry).
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!(cr.logins(), 3);
}

#[tokio::test]
async fn api_key_and_multiple_login_sessions_coexist() {
    let cr = control_room().await;
    let first = AuthClient::new(api_key(&cr)).unwrap();
    let second = AuthClient::new(api_key(&cr)).unwrap();
    let token = token_of(&first).await;
    token_of(&second).await;
    assert_eq!(
        raw_call(&cr, &[("x-authorization", &token)]).await.status(),
        200
    );

    let first = AuthClient::new(password(&cr, "jdoe")).unwrap();
    let second = AuthClient::new(password(&cr, "jdoe").multiple_login(true)).unwrap();
    let token = token_of(&first).await;
    token_of(&second).await;
    assert_eq!(
        raw_call(&cr, &[("x-authorization", &token)]).await.status(),
        200
    );
}

#[tokio::test]
async fn logout_then_call_logs_in_again_transparently() {
    let cr = control_room().await;
    let client = AuthClient::new(password(&cr, "jdoe")).unwrap();
    client.get(CALL).send().await.unwrap();
    let old = token_of(&client).await;
    client.logout().await.unwrap();
    assert_eq!(cr.logouts(), 1);
    assert_eq!(
        raw_call(&cr, &[("x-authorization", &old)]).await.status(),
        401
    );
    let rejected = cr.rejected_calls();

    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!(cr.logins(), 2);
    assert_eq!(cr.rejected_calls(), rejected, "no 401 on the way");
    assert_ne!(token_of(&client).await, old);
    client.logout().await.unwrap();
    client.logout().await.unwrap(); // nothing cached: nothing to do
    assert_eq!(cr.logouts(), 2);
}

#[tokio::test]
async fn validate_tells_live_tokens_from_ended_ones() {
    let cr = control_room().await;
    let login = password(&cr, "jdoe");
    let credential = login.login(&http()).await.unwrap();
    assert!(login.validate(&http(), &credential).await.unwrap());

    // The path form answers the same.
    let token = credential.secret().expose_secret();
    let url = cr
        .url()
        .join(&format!("v1/authentication/token/{token}"))
        .unwrap();
    let bytes = http().get(url).send().await.unwrap().bytes().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["valid"], true);

    login.logout(&http(), &credential).await.unwrap();
    assert!(!login.validate(&http(), &credential).await.unwrap());
    assert_eq!(cr.unexpected_requests(), 0);
}

#[tokio::test]
async fn falls_back_to_v1_on_404_and_remembers_it() {
    let cr = AutomationAnywhereEmulator::builder()
        .user("jdoe", PASSWORD)
        .v2_available(false)
        .start()
        .await
        .unwrap();
    let login = password(&cr, "jdoe");
    let client = AuthClient::new(login.clone()).unwrap();
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!(login.api_version_in_use(), Some(ApiVersion::V1));
    client.logout().await.unwrap();
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);

    let logins: Vec<_> = cr
        .recorded()
        .into_iter()
        .filter(|r| r.path.ends_with("/authentication"))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        logins,
        [
            "/v2/authentication",
            "/v1/authentication",
            "/v1/authentication"
        ]
    );
    assert_eq!(cr.logins(), 2);
}

#[tokio::test]
async fn deprecated_v1_is_avoided_by_default_and_reported_when_forced() {
    let cr = AutomationAnywhereEmulator::builder()
        .user("jdoe", PASSWORD)
        .v1_deprecated(true)
        .start()
        .await
        .unwrap();
    password(&cr, "jdoe").login(&http()).await.unwrap();
    let forced = password(&cr, "jdoe").api_version(ApiVersion::V1);
    let error = forced.login(&http()).await.unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::Unsupported));
    assert!(
        error.to_string().contains("POST /v1/authentication"),
        "{error}"
    );
    assert!(error.to_string().contains("deprecated"), "{error}");
}

#[tokio::test]
async fn every_error_names_the_endpoint_and_carries_no_secret() {
    let cr = AutomationAnywhereEmulator::builder()
        .user("jdoe", PASSWORD)
        .api_key_user("bot", API_KEY)
        .mfa_user("secure", PASSWORD)
        .user("off", PASSWORD)
        .mfa_code(MFA_CODE)
        .disable_after(0)
        .start()
        .await
        .unwrap();
    let url = cr.url();
    let base = url.as_str();
    let wrong_password =
        AutomationAnywhereLogin::new(base, "jdoe", SecretString::from("Wr0ng-Pa55")).unwrap();
    let wrong_key = AutomationAnywhereLogin::with_api_key(
        base,
        "bot",
        SecretString::from("Wr0ng-K3y-0000000000000000000000000000"),
    )
    .unwrap();
    let wrong_code = password(&cr, "secure")
        .mfa_code(SecretString::from("97531"))
        .unwrap();
    let unknown = AutomationAnywhereLogin::new(base, "gone", SecretString::from(PASSWORD)).unwrap();
    assert!(cr.disable_user("off"));
    let disabled = password(&cr, "off");
    let v1 = password(&cr, "jdoe").api_version(ApiVersion::V1);
    let good = password(&cr, "jdoe");

    let mut errors: Vec<Error> = Vec::new();
    for login in [
        &wrong_password,
        &wrong_key,
        &wrong_code,
        &unknown,
        &disabled,
    ] {
        errors.push(login.login(&http()).await.unwrap_err());
    }
    errors.push(password(&cr, "secure").login(&http()).await.unwrap_err());
    for fault in [
        Fault::InternalError,
        Fault::HtmlPage { status: 200 },
        Fault::TruncatedJson,
        Fault::TooManyRequests {
            retry_after: Some(Duration::from_secs(1)),
        },
        Fault::OversizedBody {
            bytes: 2 * 1024 * 1024,
        },
    ] {
        cr.inject(fault.clone(), Some("v2/authentication"), 1);
        errors.push(good.login(&http()).await.unwrap_err());
        cr.inject(fault, Some("v1/authentication"), 1);
        errors.push(v1.login(&http()).await.unwrap_err());
    }

    let credential = good.login(&http()).await.unwrap();
    let token = credential.secret().expose_secret().to_owned();
    cr.inject(Fault::InternalError, Some("v1/authentication/token"), 2);
    errors.push(good.validate(&http(), &credential).await.unwrap_err());
    errors.push(good.refresh(&http(), &credential).await.unwrap_err());
    cr.inject(
        Fault::Unavailable { retry_after: None },
        Some("v1/authentication/logout"),
        1,
    );
    errors.push(good.logout(&http(), &credential).await.unwrap_err());
    cr.inject(
        Fault::HtmlPage { status: 200 },
        Some("v1/authentication/token"),
        1,
    );
    errors.push(good.validate(&http(), &credential).await.unwrap_err());

    assert_eq!(errors.len(), 20);
    let secrets = [
        PASSWORD,
        API_KEY,
        "Wr0ng-Pa55",
        "Wr0ng-K3y",
        "97531",
        &MFA_CODE.to_string(),
        &token[..40],
        "token=",
    ];
    for error in &errors {
        let text = format!("{error} | {error:?}");
        assert!(
            text.contains("/v1/authentication") || text.contains("/v2/authentication"),
            "{text}"
        );
        for secret in &secrets {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[tokio::test]
async fn busy_login_is_retried_by_the_client() {
    let cr = control_room().await;
    cr.inject(
        Fault::Unavailable {
            retry_after: Some(Duration::from_secs(0)),
        },
        Some("v2/authentication"),
        1,
    );
    let client = AuthClient::new(api_key(&cr)).unwrap();
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!(cr.logins(), 1);
}

const AA_ENV: &[(&str, &str)] = &[
    ("AA_URL", "https://cr.example.com/"),
    ("AA_USERNAME", "adsvc"),
    ("AA_DOMAIN", "corp"),
    ("AA_PASSWORD", PASSWORD),
    ("AA_MFA_CODE", "246810"),
    ("AA_MULTIPLE_LOGIN", "true"),
    ("AA_API_VERSION", "v1"),
];

/// Values no error may quote: the secrets, and a URL's password.
const AA_SECRETS: &[&str] = &[PASSWORD, API_KEY, "246810", "12x", "url-Pa55"];

#[test]
fn from_env_reads_every_aa_variable() {
    let login = AutomationAnywhereLogin::from_env_with(vars(AA_ENV)).unwrap();
    let debug = format!("{login:?}");
    assert!(debug.contains(r#"username: "corp\\adsvc""#), "{debug}");
    assert!(debug.contains(r#"method: "password""#), "{debug}");
    assert!(debug.contains("mfa_code: Some"), "{debug}");
    assert!(debug.contains("multiple_login: Some(true)"), "{debug}");
    assert!(
        !debug.contains(PASSWORD) && !debug.contains("246810"),
        "{debug}"
    );
    assert_eq!(login.api_version_in_use(), Some(ApiVersion::V1));

    // The API key wins when both are set, as in the CLI.
    let pairs = with(AA_ENV, "AA_API_KEY", Some(API_KEY));
    let login = AutomationAnywhereLogin::from_env_with(vars(&pairs)).unwrap();
    assert!(format!("{login:?}").contains(r#"method: "api key""#));

    for (value, expected) in [
        ("0", "Some(false)"),
        ("FALSE", "Some(false)"),
        ("1", "Some(true)"),
    ] {
        let pairs = with(AA_ENV, "AA_MULTIPLE_LOGIN", Some(value));
        let login = AutomationAnywhereLogin::from_env_with(vars(&pairs)).unwrap();
        assert!(
            format!("{login:?}").contains(&format!("multiple_login: {expected}")),
            "{value}"
        );
    }
    for (value, expected) in [("V2", Some(ApiVersion::V2)), ("auto", None)] {
        let pairs = with(AA_ENV, "AA_API_VERSION", Some(value));
        let login = AutomationAnywhereLogin::from_env_with(vars(&pairs)).unwrap();
        assert_eq!(login.api_version_in_use(), expected, "{value}");
    }
}

#[test]
fn from_env_names_the_missing_aa_variable() {
    for name in ["AA_URL", "AA_USERNAME"] {
        let error =
            AutomationAnywhereLogin::from_env_with(vars(&with(AA_ENV, name, None))).unwrap_err();
        assert_eq!(error.backend(), "aa");
        let message = config_message(error, AA_SECRETS);
        assert!(
            message.contains(name) && message.contains("not set"),
            "{message}"
        );
    }
    // Neither secret: the error names both.
    for password in [None, Some("")] {
        let pairs = with(AA_ENV, "AA_PASSWORD", password);
        let error = AutomationAnywhereLogin::from_env_with(vars(&pairs)).unwrap_err();
        let message = config_message(error, AA_SECRETS);
        assert!(
            message.contains("AA_API_KEY") && message.contains("AA_PASSWORD"),
            "{message}"
        );
    }
    // Optional ones may be absent.
    let minimal = [
        ("AA_URL", "https://cr.example.com/"),
        ("AA_USERNAME", "bot"),
        ("AA_API_KEY", API_KEY),
    ];
    let login = AutomationAnywhereLogin::from_env_with(vars(&minimal)).unwrap();
    assert_eq!(login.api_version_in_use(), None);
    assert!(format!("{login:?}").contains("multiple_login: None"));
}

#[test]
fn from_env_names_the_malformed_aa_variable() {
    for (name, value) in [
        ("AA_URL", "cr.example.com"),
        ("AA_URL", "https://jdoe:url-Pa55@cr.example.com/"),
        ("AA_URL", "https://cr.example.com/?key=url-Pa55"),
        ("AA_USERNAME", "   "),
        ("AA_API_KEY", "   "),
        ("AA_MFA_CODE", "12x"),
        ("AA_MULTIPLE_LOGIN", "yes"),
        ("AA_API_VERSION", "v3"),
    ] {
        let error = AutomationAnywhereLogin::from_env_with(vars(&with(AA_ENV, name, Some(value))))
            .unwrap_err();
        let message = config_message(error, AA_SECRETS);
        assert!(message.contains(name), "{name}={value}: {message}");
    }
    // A domain twice: in AA_USERNAME and in AA_DOMAIN.
    let pairs = with(AA_ENV, "AA_USERNAME", Some(r"corp\adsvc"));
    let error = AutomationAnywhereLogin::from_env_with(vars(&pairs)).unwrap_err();
    let message = config_message(error, AA_SECRETS);
    assert!(
        message.contains("AA_DOMAIN") && message.contains("AA_USERNAME"),
        "{message}"
    );
}

#[tokio::test]
async fn from_env_logs_in_against_the_control_room() {
    let cr = control_room().await;
    let url = cr.url().to_string();

    // A directory user with a password and multipleLogin: two sessions side by side.
    let pairs = [
        ("AA_URL", url.as_str()),
        ("AA_USERNAME", "adsvc"),
        ("AA_DOMAIN", "corp"),
        ("AA_PASSWORD", PASSWORD),
        ("AA_MULTIPLE_LOGIN", "true"),
    ];
    let first =
        AuthClient::new(AutomationAnywhereLogin::from_env_with(vars(&pairs)).unwrap()).unwrap();
    let second =
        AuthClient::new(AutomationAnywhereLogin::from_env_with(vars(&pairs)).unwrap()).unwrap();
    let token = token_of(&first).await;
    assert_eq!(second.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!(
        raw_call(&cr, &[("x-authorization", &token)]).await.status(),
        200
    );

    // The API key wins over a wrong password.
    let pairs = [
        ("AA_URL", url.as_str()),
        ("AA_USERNAME", "bot"),
        ("AA_API_KEY", API_KEY),
        ("AA_PASSWORD", "not-the-password"),
    ];
    let client =
        AuthClient::new(AutomationAnywhereLogin::from_env_with(vars(&pairs)).unwrap()).unwrap();
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);

    // A multi-factor code.
    let code = MFA_CODE.to_string();
    let pairs = [
        ("AA_URL", url.as_str()),
        ("AA_USERNAME", "secure"),
        ("AA_PASSWORD", PASSWORD),
        ("AA_MFA_CODE", code.as_str()),
        ("AA_API_VERSION", "v2"),
    ];
    let client =
        AuthClient::new(AutomationAnywhereLogin::from_env_with(vars(&pairs)).unwrap()).unwrap();
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!((cr.logins(), cr.failed_logins()), (4, 0));
    assert_eq!(cr.unexpected_requests(), 0);
}

#[tokio::test]
async fn falls_back_to_v1_when_the_token_filter_answers_v2_with_um1117() {
    let cr = AutomationAnywhereEmulator::builder()
        .user("jdoe", PASSWORD)
        .v2_available(false)
        .missing_v2_answers_um1117(true)
        .start()
        .await
        .unwrap();
    let login = password(&cr, "jdoe");
    let client = AuthClient::new(login.clone()).unwrap();
    assert_eq!(client.get(CALL).send().await.unwrap().status(), 200);
    assert_eq!(login.api_version_in_use(), Some(ApiVersion::V1));
    assert_eq!(
        cr.failed_logins(),
        0,
        "the v2 refusal is not a failed login"
    );
}

#[test]
fn debug_of_the_emulator_builder_hides_passwords_keys_and_codes() {
    let text = format!(
        "{:?}",
        AutomationAnywhereEmulator::builder()
            .user("creator", "emu-pass-6")
            .api_key_user("runner", "emu-key-7")
            .mfa_code(424_242)
    );
    for secret in ["emu-pass", "emu-key", "424242"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains("creator"), "{text}");
}
