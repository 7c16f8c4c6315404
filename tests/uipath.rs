//! UiPath bearer login against the built-in Orchestrator emulator, and its configuration from the environment.

mod support;

use std::time::Duration;

use rpa_auth::emulator::Fault;
use rpa_auth::emulator::uipath::{
    Envelope, ErrorBody, TokenFormat, UiPathEmulator, UiPathEmulatorBuilder,
};
use rpa_auth::{AuthClient, Error, ExposeSecret, RejectReason, SecretString, UiPathBearerLogin};
use support::env_vars::{config_message, vars, with};

const PASSWORD: &str = "Orch-S3cret!";
const LOGIN_PATH: &str = "/api/Account/Authenticate";

fn orchestrator() -> UiPathEmulatorBuilder {
    UiPathEmulator::builder().user("admin", PASSWORD)
}

fn login(emulator: &UiPathEmulator, password: &str) -> UiPathBearerLogin {
    UiPathBearerLogin::new(
        emulator.url().as_str(),
        "admin",
        SecretString::from(password.to_owned()),
    )
    .unwrap()
    .tenant("Default")
}

fn client(emulator: &UiPathEmulator, password: &str) -> AuthClient {
    AuthClient::builder(login(emulator, password))
        .login_retries(2)
        .build()
        .unwrap()
}

fn assert_clean(error: &Error) {
    let text = error.to_string();
    assert!(text.starts_with("uipath: "), "{text}");
    assert!(text.contains(LOGIN_PATH), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!format!("{error:?}").contains(PASSWORD));
}

#[tokio::test]
async fn logs_in_and_calls_odata_with_bearer_token() {
    let emulator = orchestrator().start().await.unwrap();
    let client = client(&emulator, PASSWORD);
    let response = client
        .get("odata/Users/UiPath.Server.Configuration.OData.GetCurrentUser")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let user: serde_json::Value = response.json_body().await;
    assert_eq!(user["UserName"], "admin");
    assert_eq!(emulator.logins(), 1);
    let sent = emulator.recorded();
    let call = sent.last().unwrap();
    let authorization = call.headers["authorization"].to_str().unwrap();
    assert!(authorization.starts_with("Bearer "));
    assert_eq!(emulator.unexpected_requests(), 0);
}

#[tokio::test]
async fn reuses_the_token_across_calls() {
    let emulator = orchestrator().start().await.unwrap();
    let client = client(&emulator, PASSWORD);
    for _ in 0..5 {
        assert_eq!(
            client.get("odata/Robots").send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(emulator.logins(), 1);
    assert_eq!(emulator.calls(), 5);
}

#[tokio::test]
async fn expired_token_leads_to_a_new_login() {
    // The server's tokens live 2 s; the client is told the same and renews before use.
    let emulator = orchestrator()
        .token_lifetime(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let client =
        AuthClient::new(login(&emulator, PASSWORD).token_lifetime(Duration::from_secs(2))).unwrap();
    assert_eq!(
        client.get("odata/Robots").send().await.unwrap().status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        client.get("odata/Robots").send().await.unwrap().status(),
        200
    );
    assert_eq!(emulator.logins(), 2);
    assert_eq!(
        emulator.rejected_calls(),
        0,
        "renewed before the server refused it"
    );
}

#[tokio::test]
async fn token_revoked_by_the_server_is_renewed_on_401() {
    let emulator = orchestrator().start().await.unwrap();
    let client = client(&emulator, PASSWORD);
    assert_eq!(
        client.get("odata/Robots").send().await.unwrap().status(),
        200
    );
    emulator.expire_all_tokens();
    assert_eq!(
        client.get("odata/Robots").send().await.unwrap().status(),
        200
    );
    assert_eq!(emulator.rejected_calls(), 1);
    assert_eq!(emulator.logins(), 2);
}

#[tokio::test]
async fn jwt_lifetime_is_read_from_the_token() {
    let emulator = orchestrator()
        .token_format(TokenFormat::Jwt)
        .token_lifetime(Duration::from_secs(90))
        .start()
        .await
        .unwrap();
    let credential = AuthClient::new(login(&emulator, PASSWORD))
        .unwrap()
        .credential()
        .await
        .unwrap();
    assert_eq!(credential.lifetime(), Some(Duration::from_secs(90)));
    let opaque = orchestrator().start().await.unwrap();
    let credential = AuthClient::new(login(&opaque, PASSWORD))
        .unwrap()
        .credential()
        .await
        .unwrap();
    assert_eq!(
        credential.lifetime(),
        Some(std::time::Duration::from_secs(30 * 60))
    );
}

#[tokio::test]
async fn every_envelope_and_error_generation_is_understood() {
    for envelope in [Envelope::CamelCase, Envelope::PascalCase] {
        for error_body in [
            ErrorBody::Abp,
            ErrorBody::Legacy,
            ErrorBody::Hybrid,
            ErrorBody::Modern,
        ] {
            let emulator = orchestrator()
                .envelope(envelope)
                .error_body(error_body)
                .start()
                .await
                .unwrap();
            let good = client(&emulator, PASSWORD);
            assert_eq!(
                good.get("odata/Robots").send().await.unwrap().status(),
                200,
                "{envelope:?}"
            );
            let bad = client(&emulator, "wrong");
            let error = bad.credential().await.unwrap_err();
            assert_eq!(
                error.reject_reason(),
                Some(RejectReason::BadCredentials),
                "{error_body:?}: {error}"
            );
            assert_eq!(
                error.server_message().and_then(|m| m.code()),
                Some("1000"),
                "{error_body:?}"
            );
            assert_clean(&error);
        }
    }
}

#[tokio::test]
async fn wrong_password_names_endpoint_and_error_code_without_the_password() {
    let emulator = orchestrator().start().await.unwrap();
    let client = client(&emulator, "not-the-password");
    let error = client.get("odata/Robots").send().await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("POST /api/Account/Authenticate"), "{text}");
    assert!(text.contains("errorCode 1000"), "{text}");
    assert!(!text.contains("not-the-password"));
    assert_eq!(error.status(), Some(reqwest::StatusCode::BAD_REQUEST));
    assert_eq!(emulator.failed_logins(), 1);
}

#[tokio::test]
async fn concurrent_calls_with_wrong_password_make_one_attempt() {
    let emulator = orchestrator().start().await.unwrap();
    let client = client(&emulator, "wrong");
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("odata/Robots").send().await })
        })
        .collect();
    for call in calls {
        assert!(call.await.unwrap().unwrap_err().is_login_rejected());
    }
    assert_eq!(emulator.failed_logins(), 1);
    // And a retry loop in the caller does not reach the server while the rejection is remembered.
    for _ in 0..20 {
        assert!(client.credential().await.is_err());
    }
    assert_eq!(emulator.failed_logins(), 1);
}

#[tokio::test]
async fn locked_account_is_reported_as_locked() {
    let emulator = orchestrator()
        .lockout(3, Duration::from_secs(300))
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        // Separate clients: each one is a separate program trying a wrong password.
        assert!(client(&emulator, "wrong").credential().await.is_err());
    }
    let error = client(&emulator, PASSWORD).credential().await.unwrap_err();
    assert_eq!(
        error.reject_reason(),
        Some(RejectReason::AccountLocked),
        "{error}"
    );
    assert_clean(&error);
}

#[tokio::test]
async fn html_page_instead_of_json_is_a_clear_error_and_the_client_recovers() {
    let emulator = orchestrator().start().await.unwrap();
    emulator.inject(Fault::HtmlPage { status: 200 }, Some(LOGIN_PATH), 1);
    let client = client(&emulator, PASSWORD);
    let error = client.credential().await.unwrap_err();
    assert!(matches!(error, Error::InvalidResponse { .. }), "{error:?}");
    assert!(error.to_string().contains("HTML page"), "{error}");
    assert_clean(&error);
    assert_eq!(
        client.get("odata/Robots").send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn truncated_json_is_a_clear_error_and_the_client_recovers() {
    let emulator = orchestrator().start().await.unwrap();
    emulator.inject(Fault::TruncatedJson, Some(LOGIN_PATH), 1);
    let client = client(&emulator, PASSWORD);
    let error = client.credential().await.unwrap_err();
    assert!(error.to_string().contains("truncated JSON"), "{error}");
    assert_clean(&error);
    assert_eq!(
        client.get("odata/Robots").send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let emulator = orchestrator().start().await.unwrap();
    emulator.inject(
        Fault::OversizedBody {
            bytes: 3 * 1024 * 1024,
        },
        Some(LOGIN_PATH),
        1,
    );
    let client = client(&emulator, PASSWORD);
    let error = client.credential().await.unwrap_err();
    assert!(error.to_string().contains("larger than"), "{error}");
    assert_clean(&error);
    assert!(client.credential().await.is_ok());
}

#[tokio::test]
async fn login_answered_429_waits_for_retry_after_then_succeeds() {
    let emulator = orchestrator().start().await.unwrap();
    emulator.inject(
        Fault::TooManyRequests {
            retry_after: Some(Duration::from_secs(1)),
        },
        Some(LOGIN_PATH),
        1,
    );
    let client = client(&emulator, PASSWORD);
    let started = std::time::Instant::now();
    client.credential().await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(emulator.logins(), 1);
}

#[tokio::test]
async fn login_answered_503_is_retried_then_reported() {
    let emulator = orchestrator().start().await.unwrap();
    emulator.inject(
        Fault::Unavailable { retry_after: None },
        Some(LOGIN_PATH),
        1,
    );
    assert!(client(&emulator, PASSWORD).credential().await.is_ok());

    emulator.inject(
        Fault::Unavailable {
            retry_after: Some(Duration::ZERO),
        },
        Some(LOGIN_PATH),
        3,
    );
    let error = client(&emulator, PASSWORD).credential().await.unwrap_err();
    assert_eq!(
        error.status(),
        Some(reqwest::StatusCode::SERVICE_UNAVAILABLE)
    );
    assert!(error.is_transient());
    assert_clean(&error);
}

#[tokio::test]
async fn timeout_is_a_typed_error_naming_the_endpoint() {
    let emulator = orchestrator().start().await.unwrap();
    emulator.inject(Fault::Delay(Duration::from_secs(3)), Some(LOGIN_PATH), 1);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = AuthClient::builder(login(&emulator, PASSWORD))
        .http_client(http)
        .build()
        .unwrap();
    let error = client.credential().await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_clean(&error);
    assert!(client.credential().await.is_ok());
}

#[tokio::test]
async fn folder_scoped_call_without_folder_gets_1101_and_with_folder_succeeds() {
    let emulator = orchestrator().start().await.unwrap();
    let without = client(&emulator, PASSWORD);
    let response = without.get("odata/Jobs").send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json_body().await;
    assert_eq!(body["errorCode"], 1101);

    let with = AuthClient::new(login(&emulator, PASSWORD).folder_id(7)).unwrap();
    assert_eq!(with.get("odata/Jobs").send().await.unwrap().status(), 200);
    let sent = emulator.recorded();
    assert_eq!(
        sent.last().unwrap().headers["x-uipath-organizationunitid"],
        "7"
    );

    let by_path =
        AuthClient::new(login(&emulator, PASSWORD).folder_path("Shared/Finance")).unwrap();
    assert_eq!(
        by_path.get("odata/Jobs").send().await.unwrap().status(),
        200
    );
    // A per-request folder header works too.
    let per_call = without
        .get("odata/Jobs")
        .header("X-UIPATH-OrganizationUnitId", "9")
        .send()
        .await
        .unwrap();
    assert_eq!(per_call.status(), 200);
}

#[tokio::test]
async fn multi_tenant_server_requires_the_tenancy_name() {
    let emulator = orchestrator()
        .require_tenancy_name(true)
        .start()
        .await
        .unwrap();
    let no_tenant = UiPathBearerLogin::new(
        emulator.url().as_str(),
        "admin",
        SecretString::from(PASSWORD),
    )
    .unwrap();
    let error = AuthClient::new(no_tenant)
        .unwrap()
        .credential()
        .await
        .unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::BadCredentials));
    assert!(client(&emulator, PASSWORD).credential().await.is_ok());
}

#[tokio::test]
async fn the_credential_secret_is_the_servers_token() {
    let emulator = orchestrator().start().await.unwrap();
    let client = client(&emulator, PASSWORD);
    let credential = client.credential().await.unwrap();
    assert!(!credential.secret().expose_secret().is_empty());
    client.get("odata/Robots").send().await.unwrap();
    let sent = emulator.recorded();
    assert_eq!(
        sent.last().unwrap().headers["authorization"],
        format!("Bearer {}", credential.secret().expose_secret()).as_str()
    );
}

trait JsonBody {
    async fn json_body(self) -> serde_json::Value;
}

impl JsonBody for reqwest::Response {
    async fn json_body(self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

const BEARER_ENV: &[(&str, &str)] = &[
    ("UIPATH_URL", "https://orch.corp.example/"),
    ("UIPATH_USERNAME", "admin"),
    ("UIPATH_PASSWORD", "hunter2-Pa55"),
    ("UIPATH_TENANT", "Default"),
    ("UIPATH_FOLDER_ID", "42"),
];

#[tokio::test]
async fn bearer_login_from_env_logs_in() {
    let emulator = UiPathEmulator::builder()
        .user("admin", "hunter2-Pa55")
        .require_tenancy_name(true)
        .start()
        .await
        .unwrap();
    let url = emulator.url().to_string();
    let pairs = with(BEARER_ENV, "UIPATH_URL", Some(&url));
    let login = UiPathBearerLogin::from_env_with(vars(&pairs)).unwrap();
    assert!(!format!("{login:?}").contains("hunter2"));
    let client = AuthClient::new(login).unwrap();
    let response = client.get("odata/Jobs").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        emulator.recorded()[1].headers["x-uipath-organizationunitid"],
        "42"
    );
}

#[test]
fn bearer_login_from_env_names_what_is_missing_or_malformed() {
    for name in ["UIPATH_URL", "UIPATH_USERNAME", "UIPATH_PASSWORD"] {
        let error =
            UiPathBearerLogin::from_env_with(vars(&with(BEARER_ENV, name, None))).unwrap_err();
        assert_eq!(error.backend(), "uipath");
        let message = config_message(error, &["hunter2"]);
        assert!(
            message.contains(name) && message.contains("not set"),
            "{message}"
        );
    }
    for (name, value) in [
        ("UIPATH_URL", "orch.corp.example"),
        ("UIPATH_PASSWORD", ""),
        ("UIPATH_FOLDER_ID", "4.2"),
    ] {
        let error = UiPathBearerLogin::from_env_with(vars(&with(BEARER_ENV, name, Some(value))))
            .unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(!text.contains("hunter2"), "{text}");
        let message = config_message(error, &["hunter2"]);
        assert!(message.contains(name), "{name}={value}: {message}");
    }
    // Optional ones may be absent.
    let pairs = with(
        &with(BEARER_ENV, "UIPATH_TENANT", None),
        "UIPATH_FOLDER_ID",
        None,
    );
    UiPathBearerLogin::from_env_with(vars(&pairs)).unwrap();
}

#[test]
fn debug_of_the_login_is_redacted() {
    let login = UiPathBearerLogin::new(
        "https://orch.example.com/",
        "admin",
        SecretString::from("pa55-w0rd"),
    )
    .unwrap();
    let text = format!("{login:?}");
    assert!(!text.contains("pa55-w0rd"), "{text}");
}

#[test]
fn debug_of_the_emulator_builder_hides_passwords_and_secrets() {
    let text = format!(
        "{:?}",
        UiPathEmulator::builder()
            .user("admin", "emu-pass-1")
            .windows_user("CORP", "robot", "emu-pass-2")
            .client("app", "emu-secret-3", &["OR.Jobs"])
    );
    for secret in ["emu-pass", "emu-secret"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains("admin"), "{text}");
}
