//! UiPath OAuth2 client credentials against the Orchestrator emulator: token, expiry, errors, token
//! endpoint derivation and fallback; configuration from the environment.

mod support;

use std::time::Duration;

use rpa_auth::emulator::uipath::{IdentityProfile, UiPathEmulator, WrongTokenPath};
use rpa_auth::{
    AuthClient, Error, ExposeSecret, RejectReason, SecretString, UiPathClientCredentialsLogin,
};
use support::env_vars::{config_message, vars, with};
use support::servers::canned;

const CLIENT_ID: &str = "7f1c6a2e-robot";
const CLIENT_SECRET: &str = "s3cr3t-Ap+p/=value";
const SCOPES: &[&str] = &["OR.Jobs", "OR.Folders.Read", "OR.Queues"];

async fn emulator(profile: IdentityProfile) -> UiPathEmulator {
    UiPathEmulator::builder()
        .client(CLIENT_ID, CLIENT_SECRET, SCOPES)
        .identity(profile)
        .start()
        .await
        .unwrap()
}

fn login(url: &str) -> UiPathClientCredentialsLogin {
    UiPathClientCredentialsLogin::new(url, CLIENT_ID, SecretString::from(CLIENT_SECRET)).unwrap()
}

fn urls(login: &UiPathClientCredentialsLogin) -> Vec<String> {
    login.token_urls().iter().map(|u| u.to_string()).collect()
}

fn assert_no_secret(error: &Error) {
    let text = format!("{error} {error:?}");
    assert!(!text.contains(CLIENT_SECRET), "{text}");
}

#[tokio::test]
async fn client_credentials_token_works_on_odata() {
    let emulator = emulator(IdentityProfile::OnPremises).await;
    let login = login(emulator.url().as_str())
        .scope("OR.Jobs OR.Folders.Read")
        .unwrap()
        .folder_path("Shared")
        .tenant_header("Default")
        .unwrap();
    let client = AuthClient::new(login).unwrap();
    let response = client.get("odata/Jobs").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = client.get("/odata/Queues").send().await.unwrap();
    assert_eq!(response.status(), 200);

    assert_eq!(emulator.tokens_issued(), 1);
    assert_eq!(emulator.token_requests(), 1);
    assert_eq!(emulator.token_path_misses(), 0);
    assert_eq!(emulator.calls(), 2);
    assert_eq!(emulator.unexpected_requests(), 0);
    let recorded = emulator.recorded();
    let token_request = &recorded[0];
    assert_eq!(token_request.path, "/identity/connect/token");
    assert_eq!(
        token_request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let call = &recorded[1];
    assert!(
        call.headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    assert_eq!(call.headers["x-uipath-folderpath"], "Shared");
    assert_eq!(call.headers["x-uipath-tenantname"], "Default");
}

#[tokio::test]
async fn lifetime_comes_from_expires_in_and_defaults_to_an_hour() {
    let emulator = UiPathEmulator::builder()
        .client(CLIENT_ID, CLIENT_SECRET, SCOPES)
        .oauth_token_lifetime(Duration::from_secs(120))
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let credential = login(emulator.url().as_str()).login(&http).await.unwrap();
    assert_eq!(credential.lifetime(), Some(Duration::from_secs(120)));

    let silent = UiPathEmulator::builder()
        .client(CLIENT_ID, CLIENT_SECRET, SCOPES)
        .oauth_token_lifetime(Duration::from_secs(120))
        .expires_in(false)
        .start()
        .await
        .unwrap();
    let credential = login(silent.url().as_str()).login(&http).await.unwrap();
    assert_eq!(credential.lifetime(), Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn short_lived_token_is_renewed() {
    let emulator = UiPathEmulator::builder()
        .client(CLIENT_ID, CLIENT_SECRET, SCOPES)
        .oauth_token_lifetime(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let client = AuthClient::new(login(emulator.url().as_str())).unwrap();
    assert_eq!(
        client.get("odata/Users").send().await.unwrap().status(),
        200
    );
    assert_eq!(
        client.get("odata/Users").send().await.unwrap().status(),
        200
    );
    assert_eq!(emulator.tokens_issued(), 1);
    // Renewed at half its life, before the server would refuse it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        client.get("odata/Users").send().await.unwrap().status(),
        200
    );
    assert_eq!(emulator.tokens_issued(), 2);
    assert_eq!(emulator.rejected_calls(), 0);
}

#[tokio::test]
async fn wrong_secret_is_invalid_client() {
    let emulator = emulator(IdentityProfile::OnPremises).await;
    let login = UiPathClientCredentialsLogin::new(
        emulator.url().as_str(),
        CLIENT_ID,
        SecretString::from("not-the-secret"),
    )
    .unwrap();
    let error = login.login(&reqwest::Client::new()).await.unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::InvalidClient));
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(
        error.server_message().unwrap().code(),
        Some("invalid_client")
    );
    assert!(
        error.to_string().contains("client secret is wrong"),
        "{error}"
    );
    assert!(!error.to_string().contains("not-the-secret"));
    assert_eq!(emulator.failed_token_requests(), 1);
}

#[tokio::test]
async fn unregistered_scope_is_invalid_scope() {
    let emulator = emulator(IdentityProfile::OnPremises).await;
    let login = login(emulator.url().as_str())
        .scope("OR.Jobs OR.Administration")
        .unwrap();
    let error = login.login(&reqwest::Client::new()).await.unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::InvalidScope));
    assert!(error.to_string().contains("OR.Administration"), "{error}");
    assert_no_secret(&error);
}

#[tokio::test]
async fn offline_access_is_invalid_scope_with_its_own_explanation() {
    let emulator = emulator(IdentityProfile::OnPremises).await;
    let login = login(emulator.url().as_str())
        .scope("OR.Jobs offline_access")
        .unwrap();
    let error = login.login(&reqwest::Client::new()).await.unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::InvalidScope));
    assert!(
        error.to_string().contains("remove it from the scope"),
        "{error}"
    );
}

#[tokio::test]
async fn unsupported_grant_type_is_explained() {
    let server = canned(400, r#"{"error":"unsupported_grant_type"}"#).await;
    let url = server.url().to_string();
    let error = login(&url)
        .login(&reqwest::Client::new())
        .await
        .unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::Unsupported));
    assert!(
        error
            .to_string()
            .contains("does not accept client credentials"),
        "{error}"
    );
    assert_no_secret(&error);
}

#[tokio::test]
async fn emulator_refuses_other_grants_and_accepts_basic_auth() {
    let emulator = emulator(IdentityProfile::Cloud).await;
    let http = reqwest::Client::new();
    let url = emulator.url().join("identity_/connect/token").unwrap();
    let answer = http
        .post(url.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&client_id={CLIENT_ID}&client_secret={}",
            url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");

    use base64::Engine;
    let escape = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        escape(CLIENT_ID),
        escape(CLIENT_SECRET)
    ));
    let answer = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
        .body("grant_type=client_credentials&scope=OR.Jobs")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "OR.Jobs");
    assert_eq!(body["expires_in"], 3600);
}

#[test]
fn cloud_urls_decide_the_token_endpoint() {
    let login1 = login("https://cloud.uipath.com/acme/DefaultTenant/orchestrator_/");
    assert_eq!(
        urls(&login1),
        ["https://cloud.uipath.com/acme/identity_/connect/token"]
    );
    assert_eq!(
        login1.base_url().as_str(),
        "https://cloud.uipath.com/acme/DefaultTenant/orchestrator_/"
    );

    // UiPath's SDKs write UIPATH_URL without `orchestrator_`.
    let login2 = login("https://cloud.uipath.com/acme/DefaultTenant");
    assert_eq!(
        login2.base_url().as_str(),
        "https://cloud.uipath.com/acme/DefaultTenant/orchestrator_/"
    );
    assert_eq!(
        urls(&login2),
        ["https://cloud.uipath.com/acme/identity_/connect/token"]
    );

    let login3 = login("https://staging.uipath.com/acme/Dev/orchestrator_/");
    assert_eq!(
        urls(&login3),
        ["https://staging.uipath.com/acme/identity_/connect/token"]
    );

    let login4 = login("https://cloud.uipath.com/");
    assert_eq!(
        urls(&login4),
        ["https://cloud.uipath.com/identity_/connect/token"]
    );
}

#[test]
fn other_urls_try_both_forms_from_the_host_root() {
    let on_premises = login("https://orchestrator.corp.example/");
    assert_eq!(
        urls(&on_premises),
        [
            "https://orchestrator.corp.example/identity/connect/token",
            "https://orchestrator.corp.example/identity_/connect/token",
        ]
    );
    // Automation Suite layout: `identity_` first.
    let suite = login("https://automation.corp.example/acme/Default/orchestrator_/");
    assert_eq!(
        urls(&suite),
        [
            "https://automation.corp.example/identity_/connect/token",
            "https://automation.corp.example/identity/connect/token",
        ]
    );
    let explicit = login("https://orchestrator.corp.example/")
        .token_url("https://orchestrator.corp.example/identity/connect/token")
        .unwrap();
    assert_eq!(
        urls(&explicit),
        ["https://orchestrator.corp.example/identity/connect/token"]
    );
}

#[tokio::test]
async fn fallback_is_probed_once_and_remembered() {
    for (profile, answer) in [
        (IdentityProfile::Cloud, WrongTokenPath::NotFound),
        (IdentityProfile::Cloud, WrongTokenPath::MethodNotAllowed),
    ] {
        let emulator = UiPathEmulator::builder()
            .client(CLIENT_ID, CLIENT_SECRET, SCOPES)
            .identity(profile)
            .wrong_token_path(answer)
            .start()
            .await
            .unwrap();
        let login = login(emulator.url().as_str());
        let http = reqwest::Client::new();
        for _ in 0..3 {
            login.login(&http).await.unwrap();
        }
        assert_eq!(emulator.token_path_misses(), 1, "{answer:?}");
        assert_eq!(emulator.tokens_issued(), 3);
        assert_eq!(
            urls(&login),
            [emulator
                .url()
                .join("identity_/connect/token")
                .unwrap()
                .to_string()]
        );
    }

    // Automation Suite layout against an on-premises server: the other way round.
    let emulator = emulator(IdentityProfile::OnPremises).await;
    let base = emulator.url().join("acme/Default/orchestrator_/").unwrap();
    let client = AuthClient::new(login(base.as_str())).unwrap();
    for _ in 0..3 {
        client.invalidate();
        assert_eq!(
            client.get("odata/Users").send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(emulator.token_path_misses(), 1);
    assert_eq!(emulator.tokens_issued(), 3);
    assert_eq!(emulator.unexpected_requests(), 0);
}

#[tokio::test]
async fn automation_suite_layout_needs_no_probe() {
    let emulator = emulator(IdentityProfile::Cloud).await;
    let base = emulator.url().join("acme/Default/orchestrator_/").unwrap();
    let client = AuthClient::new(login(base.as_str()).folder_id(7)).unwrap();
    let response = client.get("odata/Jobs").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(emulator.token_path_misses(), 0);
    assert_eq!(
        emulator.recorded()[1].path,
        "/acme/Default/orchestrator_/odata/Jobs"
    );
}

#[tokio::test]
async fn explicit_wrong_endpoint_says_which_is_right() {
    let emulator = emulator(IdentityProfile::OnPremises).await;
    let token_url = emulator.url().join("identity_/connect/token").unwrap();
    let login = login(emulator.url().as_str())
        .token_url(token_url.as_str())
        .unwrap();
    let error = login.login(&reqwest::Client::new()).await.unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::Unsupported));
    assert_eq!(error.status().map(|s| s.as_u16()), Some(405));
    assert_eq!(
        error.server_message().unwrap().code(),
        Some("UnsupportedApiVersion")
    );
    let text = error.to_string();
    assert!(text.contains("/identity/connect/token"), "{text}");
    assert!(text.contains("UIPATH_TOKEN_URL"), "{text}");

    // And the explicit URL is used as given: no probing.
    assert_eq!(emulator.token_requests(), 1);
}

#[tokio::test]
async fn neither_endpoint_is_explained() {
    let server = canned(404, "").await;
    let url = server.url().to_string();
    let error = login(&url)
        .login(&reqwest::Client::new())
        .await
        .unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::Unsupported));
    let text = error.to_string();
    assert!(text.contains("neither /identity/connect/token"), "{text}");
    assert!(text.contains("2020.4"), "{text}");

    // A portal that answers every path with its sign-in page is no token endpoint either.
    let server = canned(200, "<!DOCTYPE html><html>Sign in</html>").await;
    let url = server.url().to_string();
    let error = login(&url)
        .login(&reqwest::Client::new())
        .await
        .unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::Unsupported));
}

const OAUTH_ENV: &[(&str, &str)] = &[
    ("UIPATH_URL", "https://cloud.uipath.com/acme/DefaultTenant"),
    ("UIPATH_CLIENT_ID", CLIENT_ID),
    ("UIPATH_CLIENT_SECRET", CLIENT_SECRET),
    ("UIPATH_SCOPE", "OR.Jobs OR.Folders.Read"),
    ("UIPATH_TENANT", "DefaultTenant"),
    ("UIPATH_FOLDER_PATH", "Shared/Finance"),
];

#[test]
fn client_credentials_from_env() {
    let login = UiPathClientCredentialsLogin::from_env_with(vars(OAUTH_ENV)).unwrap();
    assert_eq!(login.scopes(), ["OR.Jobs", "OR.Folders.Read"]);
    assert_eq!(
        login.base_url().as_str(),
        "https://cloud.uipath.com/acme/DefaultTenant/orchestrator_/"
    );
    assert_eq!(
        urls(&login),
        ["https://cloud.uipath.com/acme/identity_/connect/token"]
    );
    assert!(!format!("{login:?}").contains(CLIENT_SECRET));

    // uipathcli's name for the scopes; UIPATH_SCOPE wins when both are set.
    let pairs = with(OAUTH_ENV, "UIPATH_SCOPE", None);
    let pairs = with(&pairs, "UIPATH_AUTH_SCOPES", Some("OR.Queues"));
    let login = UiPathClientCredentialsLogin::from_env_with(vars(&pairs)).unwrap();
    assert_eq!(login.scopes(), ["OR.Queues"]);
    let pairs = with(OAUTH_ENV, "UIPATH_AUTH_SCOPES", Some("OR.Queues"));
    let login = UiPathClientCredentialsLogin::from_env_with(vars(&pairs)).unwrap();
    assert_eq!(login.scopes(), ["OR.Jobs", "OR.Folders.Read"]);

    let pairs = with(OAUTH_ENV, "UIPATH_URL", Some("https://orch.corp.example/"));
    let pairs = with(
        &pairs,
        "UIPATH_TOKEN_URL",
        Some("https://orch.corp.example/identity/connect/token"),
    );
    let login = UiPathClientCredentialsLogin::from_env_with(vars(&pairs)).unwrap();
    assert_eq!(
        urls(&login),
        ["https://orch.corp.example/identity/connect/token"]
    );
}

#[test]
fn client_credentials_from_env_names_what_is_missing() {
    for name in ["UIPATH_URL", "UIPATH_CLIENT_ID", "UIPATH_CLIENT_SECRET"] {
        let error = UiPathClientCredentialsLogin::from_env_with(vars(&with(OAUTH_ENV, name, None)))
            .unwrap_err();
        assert_eq!(error.backend(), "uipath-oauth");
        let message = config_message(error, &[CLIENT_SECRET]);
        assert!(
            message.contains(name) && message.contains("not set"),
            "{message}"
        );
    }
    // Optional ones may be absent.
    let minimal = [
        ("UIPATH_URL", "https://orch.corp.example/"),
        ("UIPATH_CLIENT_ID", CLIENT_ID),
        ("UIPATH_CLIENT_SECRET", CLIENT_SECRET),
    ];
    let login = UiPathClientCredentialsLogin::from_env_with(vars(&minimal)).unwrap();
    assert!(login.scopes().is_empty());
}

#[test]
fn client_credentials_from_env_names_what_is_malformed() {
    for (name, value) in [
        ("UIPATH_URL", "not a url"),
        ("UIPATH_URL", "ftp://orch.corp.example/"),
        ("UIPATH_CLIENT_ID", "   "),
        ("UIPATH_CLIENT_SECRET", ""),
        ("UIPATH_SCOPE", "OR.Jobs \"OR.Queues\""),
        ("UIPATH_TOKEN_URL", "identity/connect/token"),
        ("UIPATH_TOKEN_URL", "http://idp.corp.example/connect/token"),
        ("UIPATH_FOLDER_ID", "Shared"),
        ("UIPATH_TENANT", "Default\u{7f}"),
    ] {
        let error =
            UiPathClientCredentialsLogin::from_env_with(vars(&with(OAUTH_ENV, name, Some(value))))
                .unwrap_err();
        assert_no_secret(&error);
        let message = config_message(error, &[CLIENT_SECRET]);
        assert!(message.contains(name), "{name}={value}: {message}");
    }
}

#[tokio::test]
async fn token_never_appears_in_debug_output() {
    let emulator = emulator(IdentityProfile::OnPremises).await;
    let credential = login(emulator.url().as_str())
        .login(&reqwest::Client::new())
        .await
        .unwrap();
    let token = credential.secret().expose_secret().to_owned();
    assert!(!token.is_empty());
    assert!(!format!("{credential:?}").contains(&token));
}
